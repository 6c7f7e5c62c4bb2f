"""The estimator and model skeleton of the stages whose state trains in rounds
(sagespark.states.rounds: a vocabulary pass, then rounds merged across partitions):
Word2Vec and BlazingTextClassifier. A fit makes 1 + maxIter x roundsPerEpoch passes (or
fewer, when the state's ``_passes_from`` says so: early stopping) over the training
columns, repartitioned and cached for the fit (``training_rows``)."""

from __future__ import annotations

from dataclasses import asdict
from functools import partial
from typing import Any, Callable, ClassVar

from pyspark.sql import DataFrame

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
        return start.total_passes

    def _fit_pass(self, dataset: DataFrame) -> PassResult:
        if not self.isDefined("inputCol"):
            raise ValueError("set inputCol to an array<string> column of tokens")
        columns = self._training_columns()
        missing = [c for c in columns if c not in dataset.columns]
        if missing:
            raise ValueError(f"column(s) {missing} not found; the dataset has {dataset.columns}")
        with training_rows(dataset, columns, self.getOrDefault("numPartitions")) as rows:
            return super()._fit_pass(rows)


class RoundTrainedModel(StateModel):
    """The model of a RoundTrainedEstimator: the state's finalized solution, cached."""

    def _finalized(self) -> "RoundTrainedModel":
        self._solution
        return self

    @property
    def _solution(self) -> Any:
        return self._finalize_cached((), self._state.finalize)
