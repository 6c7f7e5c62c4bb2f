"""The estimator and model skeleton of the stages whose state trains in rounds
(sagespark.states.rounds: a vocabulary pass, then rounds merged across partitions):
Word2Vec and BlazingTextClassifier. A fit makes 1 + maxIter x roundsPerEpoch passes (or
fewer, when the estimator's ``_passes_from`` says so: early stopping) over the training
columns, repartitioned and cached for the fit (``training_rows``)."""

from __future__ import annotations

from dataclasses import asdict
from functools import partial
from typing import Any, Callable, ClassVar

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sagespark.spark.features import training_rows
from sagespark.spark.onepass import OnePassEstimator, PassResult, StateModel
from sagespark.states.base import State, new_state
from sagespark.states.rounds import RoundTrainedState
from sagespark.udfs.arrow import FeatureSpec


class RoundTrainedEstimator(OnePassEstimator):
    """A subclass sets ``state_class`` and gives its state's config (``_config``) and the
    columns a fit reads (``_training_columns``); it has HasTrainingRounds' params and
    inputCol."""

    state_class: ClassVar[type[RoundTrainedState]]
    _config: Callable[[], Any]  # the state's config from the params (the stage's params mixin has it)

    def _training_columns(self) -> list[str]:
        return [self.getOrDefault("inputCol")]

    def setInitialModel(self, model: "StateModel | None") -> "RoundTrainedEstimator":
        if model is not None:
            raise ValueError(f"{type(self).__name__} does not continue a fitted model (its vocabulary is fixed by its "
                             "first pass); fit on the old and the new data together")  # fmt: skip
        return super().setInitialModel(model)

    def _new_state(self, spec: FeatureSpec) -> Callable[[int], State]:
        return partial(new_state, kind=self.state_class.kind, **asdict(self._config()))

    def _num_passes(self) -> int:
        config = self._config()
        return 1 + config.epochs * max(config.rounds, 1)

    def _passes_from(self, start: RoundTrainedState, passes: int) -> int:
        """All the epochs' rounds; the next round's result size is known from here."""
        self._round_bytes = round_result_bytes(start)
        return start.total_passes

    def _state_bytes(self, spec: FeatureSpec) -> int | None:
        """A round's partition result is at most the model's rows: known once the
        vocabulary pass has started the model, so a round of a small model merges on
        the driver without a tree level's shuffle stage (fold_dataset)."""
        return getattr(self, "_round_bytes", None)

    def _pass_rows(self, dataset: DataFrame, start: State | Callable[[int], State]) -> DataFrame:
        """A training round reads only its rows: each row's round (the same every
        epoch) is a hash of its position, filtered on the JVM, so a pass converts and
        ships 1/roundsPerEpoch of the cached rows to Python, not all of them."""
        if not isinstance(start, RoundTrainedState) or not start.training or start.config.rounds == 1:
            return dataset
        config = start.config
        key = F.pmod(F.xxhash64(F.monotonically_increasing_id(), F.lit(config.seed)), F.lit(config.rounds))
        return dataset.where(key == F.lit((start.passes - 1) % config.rounds))

    def _fit_pass(self, dataset: DataFrame) -> PassResult:
        self._round_bytes = None
        if not self.isDefined("inputCol"):
            raise ValueError("set inputCol to an array<string> column of tokens")
        columns = self._training_columns()
        missing = [c for c in columns if c not in dataset.columns]
        if missing:
            raise ValueError(f"column(s) {missing} not found; the dataset has {dataset.columns}")
        with training_rows(dataset, columns, self.getOrDefault("numPartitions")) as rows:
            return super()._fit_pass(rows)


def round_result_bytes(start: RoundTrainedState) -> int:
    """The most a partition's round result takes: every row of both matrices changed
    (float32 changes and float64 steps, partitions and row index per row)."""
    rows = len(start.w_in) + len(start.w_out)
    return rows * (4 * start.config.vector_size + 24)


class RoundTrainedModel(StateModel):
    """The model of a RoundTrainedEstimator: the state's finalized solution, cached."""

    def _finalized(self) -> "RoundTrainedModel":
        self._solution
        return self

    @property
    def _solution(self) -> Any:
        return self._finalize_cached((), self._state.finalize)
