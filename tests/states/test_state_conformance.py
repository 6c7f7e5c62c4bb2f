"""What every State promises (sagespark.states.base), checked for every registered
kind: its bytes round-trip, merge leaves its inputs unchanged, finalize is pure, and for
the exact states a stream split in two and merged equals the whole stream (both merge
orders). The approximate states' merges are checked against their error bounds in their
own test modules. A kind without a case fails the suite."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from sagespark.kernels import CSRMatrix
from sagespark.kernels.tokens import Tokens
from sagespark.states import (
    ColumnSummary, ExactCovariance, ExactLeastSquares, FMConfig, FMState, FrequentDirections, KMeansState,
    KNNSample, LDAMoments, LinearLearnerState, Moments, QuantileSketches, RandomSignSketch, ReservoirSample,
    TextClassifierState, VocabularyCounts, Word2VecState,
)  # fmt: skip
from sagespark.states.base import _REGISTRY, FORMAT_VERSION, State, state_from_bytes
from sagespark.states.linear import Normalization, TrainingConfig, packed_hyperparameters

D = 4


def _linear_learner(stream: int) -> LinearLearnerState:
    config = TrainingConfig("binary_classifier", "logistic", 1.0, 1, "adam", 0.9, 0.999, 1e-8, 50, True, 20, 0.9,
                            1e-5, 0.0, False, 7)  # fmt: skip
    norm = Normalization(np.zeros(D), np.ones(D), False, 0.0, 1.0, np.ones(2))
    lrs, wds, l1s = packed_hyperparameters(2, 0.05, 0.0, 0.0)
    return LinearLearnerState(config, norm, lrs, wds, l1s, np.zeros((D, 2)), np.zeros(2)).for_partition(stream)


def _fm(stream: int) -> FMState:
    config = FMConfig(predictor="binary_classifier", factors=2, optimizer="adam", mini_batch_size=10, beta1=0.9,
                      beta2=0.999, eps=1e-8, bias_lr=0.05, linear_lr=0.02, factors_lr=0.02, bias_wd=0.0,
                      linear_wd=1e-3, factors_wd=1e-3)  # fmt: skip
    rng = np.random.default_rng(0)
    return FMState(config, 0.1, np.zeros(D), rng.normal(size=(D, 2)) * 0.1).for_partition(stream)


W2V = {"vector_size": 3, "min_count": 1.0, "epochs": 1, "rounds": 2, "window": 2, "seed": 5}
TEXT = {"vector_size": 3, "min_count": 1.0, "epochs": 1, "rounds": 2, "buckets": 4, "seed": 5}


def _word2vec_start() -> Word2VecState:
    """The model a round starts from: the vocabulary of the case data's words."""
    state = Word2VecState.new_for_partition(0, **W2V)
    return state.update(as_tokens(data(0)[0], None)[0]).next_pass()


def _vectors(state: Word2VecState) -> tuple[np.ndarray, ...]:
    """A word2vec finalize's words, counts and vectors (what the golden records hold;
    its subwords, None without them, came later)."""
    solution = state.finalize()
    return solution.words, solution.counts, solution.vectors


def _classifier(counted: TextClassifierState) -> tuple[Any, ...]:
    """The started classifier's fields the golden record holds (end_of_row came later)."""
    solution = counted.next_pass().finalize()
    return solution.words, solution.w_in, solution.w_out, solution.buckets, solution.word_ngrams


@dataclasses.dataclass(frozen=True)
class Case:
    new: Callable[[int], State]  # stream (partition) index -> an empty state
    finalize: Callable[[State], Any]
    labels: bool = False  # update takes labels
    weighted: bool = True  # update takes row weights other than 1
    exact: bool = False  # split-and-merged equals whole
    counts: bool = False  # update takes term counts (count_data), not real features
    tokens: bool = False  # update takes Tokens (as_tokens of the data) and row weights
    after: Callable[[State], State] = lambda state: state  # what the fed state becomes (a partition's result)
    # what must not change (default: the state's arrays); KLL sketches sort their
    # buffers when queried, which changes their bytes but not the items they hold
    view: Callable[[State], Any] = lambda state: state.to_arrays()


CASES: dict[str, Case] = {
    "moments": Case(lambda s: Moments(), lambda st: st.finalize(), exact=True),
    "pca_regular": Case(lambda s: ExactCovariance(D), lambda st: st.finalize(2), exact=True),
    "pca_randomized": Case(lambda s: RandomSignSketch(D, 6, seed=3, stream=(0, s)), lambda st: st.finalize(2)),
    "pca_fd": Case(lambda s: FrequentDirections(D, 3, seed=3), lambda st: st.finalize(2)),
    "linear_exact": Case(lambda s: ExactLeastSquares(D), lambda st: st.finalize((0.0, 0.1)), labels=True, exact=True),
    "linear_learner": Case(_linear_learner, lambda st: st.finalize(), labels=True),
    "factorization_machine": Case(_fm, lambda st: st.finalize(), labels=True),
    "kmeans": Case(lambda s: KMeansState(3, seed=1, mini_batch_size=40, stream_id=s), lambda st: st.finalize(3)),
    "reservoir_sample": Case(lambda s: ReservoirSample(30, seed=1, stream_id=s), lambda st: st.finalize()),
    "knn_sample": Case(lambda s: KNNSample(30, 1, s), lambda st: st.finalize(), labels=True),
    "quantile_sketches": Case(lambda s: QuantileSketches(200), lambda st: st.finalize([0.1, 0.5, 0.9]), weighted=False,
                              view=lambda st: (st.counts(), st.copy().finalize(np.linspace(0, 1, 101)))),
    "column_summary": Case(lambda s: ColumnSummary(200), lambda st: st.finalize()),
    # exact moments, but the finalize's power iterations stop at a tolerance: merges are
    # checked array by array in test_lda_state.py
    "lda_moments": Case(lambda s: LDAMoments(D, D, seed=3), lambda st: st.finalize(2, 1.0, 1), counts=True),
    "vocabulary_counts": Case(lambda s: VocabularyCounts(), lambda st: st.finalize(2.0), tokens=True, exact=True),
    # the vocabulary pass (its finalize: the model the first round starts from), then a
    # training round's partition results
    "word2vec": Case(lambda s: Word2VecState.new_for_partition(s, **W2V), lambda st: _vectors(st.next_pass()),
                     tokens=True, weighted=False, exact=True),
    "word2vec_round": Case(lambda s: _word2vec_start().for_partition(s),
                           lambda st: _vectors(st.completed_from(_word2vec_start())), tokens=True, weighted=False,
                           after=lambda st: st.partition_result()),
    # the vocabulary and label pass (its finalize: the model the first round starts from)
    "text_classifier": Case(lambda s: TextClassifierState.new_for_partition(s, **TEXT), lambda st: _classifier(st),
                            labels=True, tokens=True, weighted=False, exact=True),
}


def data(seed: int, n: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, D)) + np.arange(D)
    return x, (x[:, 0] + rng.normal(size=n) > 0).astype(np.float64), rng.random(n) + 0.5


def count_data(seed: int, n: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Term counts of D words from two topics, n documents of 0 to 9 tokens."""
    rng = np.random.default_rng(seed)
    topics = np.array([[0.5, 0.3, 0.1, 0.1], [0.1, 0.1, 0.3, 0.5]])
    x = np.vstack([rng.multinomial(length, topics[t]) for length, t in zip(rng.integers(0, 10, n), rng.integers(0, 2, n))])
    return x.astype(np.float64), np.zeros(n), rng.random(n) + 0.5


def as_tokens(x: np.ndarray, w: np.ndarray | None) -> tuple[Tokens, np.ndarray | None]:
    """Each row as a sentence: each value a word ("w" and its integer part)."""
    return Tokens.of([["w" + str(v) for v in row] for row in np.floor(x).astype(int)]), w


def fed(kind: str, stream: int, rows: slice = slice(None)) -> State:
    case = CASES[kind]
    x, y, w = count_data(0) if case.counts else data(0)
    state = case.new(stream)
    for start in range(0, len(x[rows]), 25):  # several batches
        batch = slice(start, start + 25)
        args = (x[rows][batch], w[rows][batch] if case.weighted else None)
        args = as_tokens(*args) if case.tokens else args
        state.update(*args, labels=y[rows][batch]) if case.labels else state.update(*args)
    return case.after(state)


def arrays_of(value: Any) -> list[np.ndarray]:
    """Every number in a finalize result or a state's arrays, as numpy arrays in order."""
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, CSRMatrix):
        return [value.indptr, value.indices, value.data]
    if isinstance(value, (bool, int, float, np.number, str)) or value is None:
        return [np.asarray(str(value) if value is None else value)]
    if dataclasses.is_dataclass(value):
        return [a for f in dataclasses.fields(value) for a in arrays_of(getattr(value, f.name))]
    if isinstance(value, dict):
        return [a for key in sorted(value) for a in arrays_of(value[key])]
    if isinstance(value, (tuple, list)):
        return [a for item in value for a in arrays_of(item)]
    return arrays_of(vars(value))


def assert_same(a: Any, b: Any, rtol: float = 0.0) -> None:
    left, right = arrays_of(a), arrays_of(b)
    assert len(left) == len(right)
    for p, q in zip(left, right):
        if rtol and np.issubdtype(np.asarray(p).dtype, np.floating):
            np.testing.assert_allclose(p, q, rtol=rtol, atol=rtol)
        else:
            np.testing.assert_array_equal(p, q)


def test_every_registered_state_has_a_case():
    assert set(CASES) == set(_REGISTRY), set(CASES) ^ set(_REGISTRY)


@pytest.mark.parametrize("kind", CASES)
def test_bytes_round_trip_keeps_the_state_and_its_model(kind):
    state = fed(kind, 0)
    back = state_from_bytes(state.to_bytes())
    assert type(back) is type(state) and back.kind == kind
    assert_same(back.to_arrays(), state.to_arrays())
    assert_same(CASES[kind].finalize(back), CASES[kind].finalize(state))


@pytest.mark.parametrize("kind", CASES)
def test_merge_leaves_its_inputs_unchanged(kind):
    a, b = fed(kind, 0, slice(0, 60)), fed(kind, 1, slice(60, None))
    view = CASES[kind].view
    before = (view(a), view(b))
    merged = a.merge(b)
    assert type(merged) is type(a)
    assert_same((view(a), view(b)), before)
    assert_same(state_from_bytes(merged.to_bytes()).to_arrays(), merged.to_arrays())


@pytest.mark.parametrize("kind", CASES)
def test_finalize_is_pure_and_repeatable(kind):
    state, view = fed(kind, 0), CASES[kind].view
    before = view(state)
    first = CASES[kind].finalize(state)
    assert_same(view(state), before)
    assert_same(CASES[kind].finalize(state), first)


@pytest.mark.parametrize("kind", [kind for kind, case in CASES.items() if case.exact])
def test_a_split_stream_merged_in_either_order_equals_the_whole(kind):
    whole = CASES[kind].finalize(fed(kind, 0))
    a, b = fed(kind, 0, slice(0, 50)), fed(kind, 1, slice(50, None))
    assert_same(CASES[kind].finalize(a.merge(b)), whole, rtol=1e-10)
    assert_same(CASES[kind].finalize(b.merge(a)), whole, rtol=1e-10)


GOLDEN = Path(__file__).parent / "golden"


def golden_record(kind: str) -> dict:
    """A fed state's bytes (base64 text, so the fixture is not a binary file) and what
    it finalized to when it was written."""
    state = fed(kind, 0)
    return {"kind": kind, "format": FORMAT_VERSION, "bytes": base64.b64encode(state.to_bytes()).decode(),
            "finalize": [a.tolist() for a in arrays_of(CASES[kind].finalize(state))]}  # fmt: skip


@pytest.mark.parametrize("kind", CASES)
def test_golden_bytes_written_by_an_earlier_version_still_load_and_finalize_the_same(kind):
    """tests/states/golden/<kind>.json holds bytes written when the file was made
    (`python -m tests.states.test_state_conformance` writes missing ones): a change
    that reads them differently, or finalizes them differently, fails here."""
    record = json.loads((GOLDEN / f"{kind}.json").read_text())
    state = state_from_bytes(base64.b64decode(record["bytes"]))
    assert state.kind == kind
    found = arrays_of(CASES[kind].finalize(state))
    assert len(found) == len(record["finalize"])
    for value, expected in zip(found, record["finalize"]):
        if np.asarray(value).dtype.kind in "US":
            assert np.asarray(value).tolist() == expected
        else:
            np.testing.assert_allclose(np.asarray(value, dtype=np.float64), np.asarray(expected, dtype=np.float64),
                                       rtol=1e-12, atol=1e-12)  # fmt: skip


if __name__ == "__main__":
    GOLDEN.mkdir(exist_ok=True)
    for name in CASES:
        path = GOLDEN / f"{name}.json"
        if not path.exists():
            path.write_text(json.dumps(golden_record(name)) + "\n")
