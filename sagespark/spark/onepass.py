"""The shape every state-backed stage shares: an Estimator that folds the data into a
State in one pass (merging an initial model's state for incremental training), and a
Model that keeps the state, re-finalizes without data, and saves it as arrays.

A subclass Estimator says how to build a partition's state (``_new_state``) and the
model from a pass (``_model_class``); ``FINALIZE_PARAMS`` lists the params the state can
serve after the pass, so fitMultiple runs one pass per group of paramMaps differing only
in them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
from pyspark.ml import Estimator, Model
from pyspark.sql import Column, DataFrame

from sagespark.spark.fold import FoldResult, collect_arrow, fold_dataset, shipped
from sagespark.spark.params import HasAccessors
from sagespark.spark.persistence import ArraysPersisted
from sagespark.spark.progress import (
    FINALIZE_PHASE, FOLD_PHASE, MERGE_PHASE, PhaseClock, job_description, pass_description, record_pass,
)  # fmt: skip
from sagespark.spark.tuning import SharedPassIterator
from sagespark.states import State, state_from_bytes
from sagespark.udfs.arrow import FeatureSpec, decode
from sagespark.udfs.fold import partition_start_state


@dataclass(frozen=True)
class FitSummary:
    """What a fit saw and did: rows folded into the state and rows skipped as invalid
    (handleInvalid='skip'), both including those of an initial model; the passes over
    the data and the wall seconds of each phase (``fold``, ``merge``, ``finalize``; see
    sagespark.spark.progress), both of this fit alone. Models sharing one pass
    (fitMultiple) report the same fold and merge seconds."""

    numRows: int
    numRowsSkipped: int
    numPasses: int = 1
    phaseSeconds: dict[str, float] = field(default_factory=dict, compare=False)

    def continuing(self, initial: "FitSummary | None") -> "FitSummary":
        """This fit's summary counting the rows of the model it continued, if any."""
        if initial is None:
            return self
        return replace(self, numRows=self.numRows + initial.numRows,
                       numRowsSkipped=self.numRowsSkipped + initial.numRowsSkipped)  # fmt: skip

    def with_phase(self, name: str, seconds: float) -> "FitSummary":
        return replace(self, phaseSeconds={**self.phaseSeconds, name: seconds})

    def _metadata(self) -> dict:
        return {"rows": self.numRows, "skipped": self.numRowsSkipped, "passes": self.numPasses,
                "phaseSeconds": dict(self.phaseSeconds)}  # fmt: skip

    @staticmethod
    def _fields_from_metadata(metadata: dict) -> dict:
        """The FitSummary fields saved by ``_metadata`` (models saved before passes and
        phases were recorded load with 1 pass and no phases)."""
        return {"numRows": int(metadata["rows"]), "numRowsSkipped": int(metadata["skipped"]),
                "numPasses": int(metadata.get("passes", 1)),
                "phaseSeconds": {str(k): float(v) for k, v in metadata.get("phaseSeconds", {}).items()}}  # fmt: skip


@dataclass(frozen=True)
class EpochsSummary(FitSummary):
    """FitSummary of an SGD fit: the passes made and, per pass, its objective (the
    early-stopping curve of the linear learner, the progressive loss of factorization
    machines)."""

    numEpochs: int = 1
    objectiveHistory: tuple[float, ...] = ()

    def _metadata(self) -> dict:
        return {**super()._metadata(), "epochs": self.numEpochs, "history": list(self.objectiveHistory)}


def continued_state(state: State, initial: Any, clock: PhaseClock) -> State:
    """``state`` merged into the state of ``initial`` (the model a fit continues; timed
    as the merge phase), or ``state`` itself when there is none."""
    if initial is None:
        return state
    with clock.phase(MERGE_PHASE):
        return initial._state.merge(state)


@dataclass(frozen=True)
class PassResult:
    state: State
    summary: FitSummary


class OnePassEstimator(Estimator, HasAccessors):
    FINALIZE_PARAMS: ClassVar[frozenset[str]] = frozenset()

    def __init__(self) -> None:
        super().__init__()
        self._initial_model: StateModel | None = None

    # what a subclass provides ------------------------------------------------
    def _input(self, dataset: DataFrame, n_features: int | None) -> tuple[list[Column], FeatureSpec]:
        raise NotImplementedError

    def _new_state(self, spec: FeatureSpec) -> Callable[[int], State]:
        """partition index -> an empty state (a picklable callable) for rows of ``spec``."""
        raise NotImplementedError

    def _model_class(self) -> type["StateModel"]:
        raise NotImplementedError

    def _jvm_state(self, dataset: DataFrame, spec: FeatureSpec) -> State | None:
        """The pass's state from Spark's own aggregates in one JVM job, where they are
        faster than shipping the rows to Python (sagespark.spark.jvm_states); None for
        the Python pass (the default, and whenever a row is invalid)."""
        return None

    def _state_bytes(self, spec: FeatureSpec) -> int | None:
        """An estimate of one partition state's serialized size, when known: small
        states are merged on the driver without tree levels (see fold_dataset)."""
        return None

    def _num_passes(self) -> int:
        """Passes over the data (default 1). Each pass after the first starts every
        partition from the last pass's merged state (``State.next_pass`` on the driver,
        then ``State.for_partition``)."""
        return 1

    def _aggregation_depth(self) -> int:
        """The merge tree's depth: the aggregationDepth param where the stage has one."""
        return int(self.getOrDefault("aggregationDepth")) if self.hasParam("aggregationDepth") else 2

    # shared -------------------------------------------------------------------
    def setInitialModel(self, model: "StateModel | None") -> "OnePassEstimator":
        """Continue training: the next fit merges the new data's state into this model's
        (incremental training). Not a Param, so not saved with the estimator."""
        self._initial_model = model
        return self

    def getInitialModel(self) -> "StateModel | None":
        return self._initial_model

    def _fit_pass(self, dataset: DataFrame) -> PassResult:
        initial = self._initial_model
        columns, spec = self._input(dataset, initial.numFeatures if initial is not None else None)
        new_state = self._new_state(spec)
        new_state(0)  # validate the params on the driver before a job starts
        passes, clock, state = self._num_passes(), PhaseClock(), None
        if passes == 1:
            with job_description(dataset, pass_description(self, 1, 1), record=False), clock.phase(FOLD_PHASE):
                state = self._jvm_state(dataset, spec)
        if state is not None:
            record_pass(pass_description(self, 1, 1))
            rows, skipped = state.count, 0
            clock.add({MERGE_PHASE: 0.0})  # the JVM job merged its partitions itself
        else:
            state, rows, skipped, passes = self._fold_passes(dataset, columns, spec, new_state, passes, clock)
        state = continued_state(state, initial, clock)
        summary = FitSummary(rows, skipped, passes, clock.seconds)
        return PassResult(state, summary.continuing(initial.summary if initial is not None else None))

    def _fold_passes(self, dataset: DataFrame, columns: list[Column], spec: FeatureSpec,
                     new_state: Callable[[int], State], passes: int, clock: PhaseClock) -> tuple[State, int, int, int]:  # fmt: skip
        """(state, rows, skipped, passes made) of ``passes`` folds (``_passes_from`` may
        change the number), each after the first started from the one before
        (``partition_start_state``). The rows and skipped rows are the first pass's,
        which reads every row (``_pass_rows`` may give a later pass fewer)."""
        start, number, first = self._first_start(new_state), 1, None
        while True:
            rows = self._pass_rows(dataset, start)
            result = fold_pass(self, rows, columns, spec, start, number, passes, clock, self._aggregation_depth(),
                               self._state_bytes(spec))  # fmt: skip
            first = first or result
            if number < passes:
                start = result.state.next_pass()
                passes = self._passes_from(start, passes)
            if number >= passes:
                return result.state, first.rows, first.skipped, number
            number += 1

    def _pass_rows(self, dataset: DataFrame, start: State | Callable[[int], State]) -> DataFrame:
        """The rows the pass that starts from ``start`` reads (all, by default; a round
        of word2vec reads only its rows)."""
        return dataset

    def _passes_from(self, start: State, passes: int) -> int:
        """The fit's number of passes once the next pass's start is known (``passes``,
        the number ``_num_passes`` gave, by default). Word2vec's rounds per epoch follow
        from the partitions its first pass saw; a number no larger than the passes made
        stops the fit (early stopping)."""
        return passes

    def _first_start(self, new_state: Callable[[int], State]) -> State | Callable[[int], State]:
        """What the first pass starts from: ``new_state`` (a fresh state per partition),
        or a State every partition starts from (continuing an initial model whose
        state fixes a basis, as spectral LDA's 'sketch' whitening does)."""
        return new_state

    def _model(self, result: PassResult) -> "StateModel":
        model = self._model_class()._from_state(result.state, result.summary)
        model._resetUid(self.uid)
        clock = PhaseClock()
        with clock.phase(FINALIZE_PHASE):
            model = self._copyValues(model)._finalized()
        model._summary = result.summary.with_phase(FINALIZE_PHASE, clock.seconds[FINALIZE_PHASE])
        return model

    def _fit(self, dataset: DataFrame) -> "StateModel":
        return self._model(self._fit_pass(dataset))

    def fitMultiple(self, dataset: DataFrame, paramMaps: Sequence[dict]) -> SharedPassIterator:
        """One pass per group of paramMaps that differ only in FINALIZE_PARAMS."""
        estimators = [self.copy(pm) for pm in paramMaps]

        def pass_key(param_map: dict) -> tuple:
            return tuple(sorted((p.name, repr(v)) for p, v in param_map.items() if p.name not in self.FINALIZE_PARAMS))

        def run_pass(indices: list[int]) -> PassResult:
            return self._shared_pass_estimator([estimators[i] for i in indices])._fit_pass(dataset)

        return SharedPassIterator(paramMaps, pass_key, run_pass, lambda i, r: estimators[i]._model(r))

    def _shared_pass_estimator(self, estimators: list["OnePassEstimator"]) -> "OnePassEstimator":
        """Which of the estimators sharing a pass runs it (one whose state serves all)."""
        return estimators[0]

    def copy(self, extra: dict | None = None) -> "OnePassEstimator":
        copied = super().copy(extra)
        copied._initial_model = self._initial_model
        return copied


def train_epochs(estimator: Any, rows: DataFrame, columns: list[Column], spec: FeatureSpec, start: State,
                 epochs: int, patience: int, tolerance: float, state_bytes: Callable[[State], int],
                 clock: PhaseClock) -> tuple[State, list[float], Any]:  # fmt: skip
    """The SGD learners' passes: each folds the data from the state the last pass
    merged, and after each the state's ``selection_loss()`` (validation rows, or the
    progressive loss of the pass: every batch scored before it is trained on) is the
    signal. A pass whose signal does not improve on the best by ``tolerance``
    (relative) counts against ``patience``; the loop stops after ``patience`` such
    passes, when a pass already converged within itself (``converged_within_pass``:
    its progressive loss curve flattened, the common case on large data), or after
    ``epochs`` passes. Returns the state of the pass with the best signal (the last
    pass when none is finite), the signal per pass, and the last fold's result."""
    history: list[float] = []
    best, best_state, stale, state, result = np.inf, None, 0, start, None
    for epoch in range(epochs):
        result = fold_pass(estimator, rows, columns, spec, state, epoch + 1, epochs, clock, state_bytes=state_bytes(state))
        state = result.state
        state.epochs += 1
        loss = state.selection_loss()
        history.append(loss)
        if np.isfinite(loss) and (not np.isfinite(best) or loss < best * (1 - tolerance)):
            best, best_state, stale = loss, state, 0
        else:
            stale += 1
        if stale >= patience or state.converged_within_pass(tolerance):
            break
    return (best_state if best_state is not None else state), history, result


def fold_pass(estimator: Any, rows: DataFrame, columns: list[Column], spec: FeatureSpec,
              start: State | Callable[[int], State], number: int, passes: int, clock: PhaseClock,
              aggregation_depth: int = 2, state_bytes: int | None = None) -> FoldResult:  # fmt: skip
    """Pass ``number`` of ``passes``, timed into ``clock``: every partition folds its
    rows into a new state (``start`` a partition index -> state factory) or into the
    state a merged ``start`` gives it (``State.for_partition``; shipped as bytes or a
    broadcast), and the merged result is whole again (``State.completed_from``)."""
    description = pass_description(estimator, number, passes)
    if not isinstance(start, State):
        result = fold_dataset(rows, columns, spec, start, aggregation_depth, state_bytes, description)
    else:
        with shipped(rows, start.to_bytes()) as start_bytes:
            result = fold_dataset(rows, columns, spec, partial(partition_start_state, start=start_bytes),
                                  aggregation_depth, state_bytes, description)  # fmt: skip
        result = replace(result, state=result.state.completed_from(start))
    clock.add(result.seconds)
    return result


def scaler_sample(rows: DataFrame, columns: list[Column], spec: FeatureSpec, count: int):
    """(features, labels, weights) of the first ``count`` valid rows (one small job
    reading only the partitions it needs), or None when none of them is valid; invalid
    rows are left to the pass to report or skip. The SGD learners normalize from it."""
    if count < 1:
        raise ValueError(f"numPointForScaler must be > 0, got {count}")
    table = collect_arrow(rows.select(*columns).limit(count))
    if table.num_rows == 0:
        raise ValueError("the dataset is empty: there are no rows to fit")
    arrays = {name: table.column(name).combine_chunks() for name in spec.fields}
    decoded = decode(arrays, replace(spec, handle_invalid="skip"), 0)
    if len(decoded.weights) == 0:
        return None
    return decoded.features, decoded.labels, decoded.weights


class StateModel(Model, HasAccessors, ArraysPersisted):
    """A Model that keeps its State; subclasses set ``_finalized()`` (derive what
    transform needs from the state and the params) and ``numFeatures``."""

    FINALIZE_PARAMS: ClassVar[frozenset[str]] = frozenset()
    _state: State
    _summary: FitSummary

    @classmethod
    def _from_state(cls, state: State, summary: FitSummary) -> "StateModel":
        model = cls()
        model._state, model._summary = state, summary
        return model

    def _finalized(self) -> "StateModel":
        return self

    def _loaded(self) -> None:
        """Called once a loaded model has its params (ArraysModelReader): a model that
        saved derived results beside its state takes them back here."""

    def _finalize_cached(self, key: tuple, finalize: Callable[[], Any]) -> Any:
        """``finalize()`` computed once per ``key`` (the finalize-time param values),
        so properties can read the solution freely."""
        cached = getattr(self, "_cached_solution", None)
        if cached is None or cached[0] != key:
            cached = (key, finalize())
            self._cached_solution = cached
        return cached[1]

    def __repr__(self) -> str:
        """What the model is: its class, uid, dimension, what ``_describe`` adds, and
        the rows and passes it was fitted on (MLlib prints class, uid and sizes)."""
        fields = {"uid": self.uid, "numFeatures": self.numFeatures, **self._describe(),
                  "rows": self._summary.numRows, "passes": self._summary.numPasses}  # fmt: skip
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in fields.items())})"

    def _describe(self) -> dict[str, Any]:
        """What ``repr`` shows besides the dimension and the fit's rows and passes."""
        return {}

    @property
    def state(self) -> State:
        """The mergeable state behind the model (a copy)."""
        return state_from_bytes(self._state.to_bytes())

    @property
    def summary(self) -> FitSummary:
        return self._summary

    @property
    def numFeatures(self) -> int:
        raise NotImplementedError

    def finalize(self, **params: Any) -> "StateModel":
        """A new model from the kept state with other finalize-time params; no data."""
        unknown = set(params) - self.FINALIZE_PARAMS
        if unknown:
            raise ValueError(f"not finalize-time params: {sorted(unknown)}; those are {sorted(self.FINALIZE_PARAMS)}")
        copied = self.copy()
        copied._set(**params)
        return copied._finalized()

    def copy(self, extra: dict | None = None) -> "StateModel":
        copied = super().copy(extra)
        copied._state, copied._summary = self._state, self._summary
        return copied._finalized()

    # persistence: the state's arrays plus the summary ------------------------
    def _model_metadata(self) -> dict:
        return self._summary._metadata()

    def _model_arrays(self) -> dict[str, np.ndarray]:
        return {"state": np.frombuffer(self._state.to_bytes(), dtype=np.uint8)}

    @classmethod
    def _from_saved(cls, arrays: dict[str, np.ndarray], metadata: dict) -> "StateModel":
        state = state_from_bytes(np.asarray(arrays["state"], dtype=np.uint8).tobytes())
        return cls._from_state(state, FitSummary(**FitSummary._fields_from_metadata(metadata)))


class EpochsModel(StateModel):
    """A StateModel whose summary is an EpochsSummary (saved with the model)."""

    _summary: EpochsSummary

    @classmethod
    def _from_saved(cls, arrays: dict[str, np.ndarray], metadata: dict) -> "EpochsModel":
        model = super()._from_saved(arrays, metadata)
        model._summary = EpochsSummary(**FitSummary._fields_from_metadata(metadata), numEpochs=int(metadata["epochs"]),
                                       objectiveHistory=tuple(float(h) for h in metadata["history"]))  # fmt: skip
        return model
