"""The word2vec state (sagespark.states.word2vec) folded without Spark: planted word
clusters become nearest neighbours on 1, 2 and 8 partitions, with subwords words out of
the vocabulary get vectors near their stem's group, the round merge rules against
hand-worked rows, and its errors."""

from __future__ import annotations

from functools import reduce

import numpy as np
import pytest

from sagespark.kernels.tokens import Tokens, subword_buckets
from sagespark.states import Word2VecRound, Word2VecState
from sagespark.states.rounds import SATURATION_STEPS, auto_rounds
from tests.data import cluster_purity, planted_sentences, spelled_sentences


def local_fit(rows: list[list[str]], partitions: int, batch: int = 500, **config):
    """Every pass of a fit, the rows dealt round-robin to ``partitions``."""
    parts = [[Tokens.of(rows[p::partitions][i : i + batch]) for i in range(0, len(rows[p::partitions]), batch)]
             for p in range(partitions)]  # fmt: skip

    def fed(state, batches):
        for tokens in batches:
            state.update(tokens)
        return state

    counted = [fed(Word2VecState.new_for_partition(p, **config), part) for p, part in enumerate(parts)]
    model = reduce(lambda a, b: a.merge(b), counted).next_pass()
    while model.passes < model.total_passes:
        results = [fed(model.for_partition(p), part).partition_result() for p, part in enumerate(parts)]
        model = reduce(lambda a, b: a.merge(b), results).completed_from(model)
    return model


PLANTED = planted_sentences()
SMALL = {"vector_size": 10, "min_count": 1.0, "sample": 0.0, "seed": 3}


@pytest.mark.parametrize("mode, epochs", [("batch_skipgram", 2), ("skipgram", 2), ("cbow", 6)])
@pytest.mark.parametrize("partitions", [1, 2, 8])
def test_planted_clusters_are_nearest_neighbours_on_any_number_of_partitions(mode, epochs, partitions):
    """10 groups of 20 words: chance is 0.1; the saturating merge keeps >= 0.95 at 8."""
    model = local_fit(PLANTED, partitions, mode=mode, epochs=epochs, **SMALL)
    assert model.config.rounds == auto_rounds(partitions)
    assert cluster_purity(model.words, model.w_in) >= 0.95


def test_averaging_the_partitions_loses_what_the_saturating_merge_keeps():
    """The SPARK-24666 rule on 8 partitions makes 1/8 of the progress on the words all
    of them train (measured 0.40 here, against 1.0)."""
    averaged = local_fit(PLANTED, 8, mode="skipgram", epochs=2, merge_rule="average", **SMALL)
    assert cluster_purity(averaged.words, averaged.w_in) < 0.7


SPELLED, GROUP = spelled_sentences()
SUBWORDS = {**SMALL, "subwords": True, "buckets": 100_000}


def neighbour_purity(queries: np.ndarray, groups: np.ndarray, words: np.ndarray, vectors: np.ndarray) -> float:
    """The fraction of each query's 5 nearest words (cosine) from the query's group."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    nearest = np.argsort(-(queries @ unit.T), axis=1)[:, :5]
    return float((np.array([GROUP[w] for w in words])[nearest] == groups[:, None]).mean())


@pytest.mark.parametrize("mode, epochs, partitions", [("batch_skipgram", 2, 1), ("batch_skipgram", 2, 8),
                                                      ("skipgram", 2, 8), ("cbow", 6, 8)])  # fmt: skip
def test_subwords_give_an_unknown_word_a_vector_near_its_stems_group(mode, epochs, partitions):
    """Words spelled at random, so only training relates a spelling to a group: the
    unknown word "<word>qz" shares n-grams with one vocabulary word and none of its
    group. Its 5 nearest words are of that word's group: 1.0 measured (the untrained
    model's n-grams: 0.28, the word itself and chance)."""
    model = local_fit(SPELLED, partitions, mode=mode, epochs=epochs, **SUBWORDS)
    solution = model.finalize()
    words, groups = solution.words, np.array([GROUP[w] for w in solution.words])
    found, unknown = solution.subwords.vectors([w + "qz" for w in words])
    assert found.all()
    assert neighbour_purity(unknown, groups, words, solution.vectors) >= 0.9
    assert neighbour_purity(solution.vectors, groups, words, solution.vectors) >= 0.95  # the word itself among them
    untrained = Word2VecState.new_for_partition(0, mode=mode, **SUBWORDS).update(Tokens.of(SPELLED)).next_pass()
    _, before = untrained.finalize().subwords.vectors([w + "qz" for w in words])
    assert neighbour_purity(before, groups, words, untrained.finalize().vectors) < 0.4


def test_a_subword_model_has_a_row_per_used_bucket_and_means_of_rows_as_vectors():
    """Each word's vector is the mean of its row and its n-grams' bucket rows; an unknown
    word's is the mean of its n-grams' rows that the vocabulary uses (exact)."""
    model = Word2VecState.new_for_partition(0, **SUBWORDS).update(Tokens.of([["where", "here", "wh"]])).next_pass()
    buckets = {w: subword_buckets([w], 3, 6, 100_000)[1] for w in ("where", "here", "wh", "hereby", "zzz")}
    used = np.unique(np.concatenate([buckets[w] for w in ("where", "here", "wh")]))
    np.testing.assert_array_equal(model.bucket_ids, used)
    assert model.w_in.shape == (3 + len(used), 10) and model.w_out.shape == (3, 10)
    row = {b: 3 + i for i, b in enumerate(used)}
    solution = model.finalize()
    index = solution.words.tolist().index("where")
    expected = model.w_in[[index] + [row[b] for b in buckets["where"]]].astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(solution.vectors[index], expected, rtol=1e-6)
    found, vectors = solution.subwords.vectors(["hereby", "zzz"])
    known = [row[b] for b in buckets["hereby"] if b in row]  # <he, <her, <here, her, here, ere
    assert len(known) == 6 and not set(buckets["zzz"]) & set(row) and found.tolist() == [True, False]
    np.testing.assert_allclose(vectors[0], model.w_in[known].astype(np.float64).mean(axis=0), rtol=1e-6)
    back = Word2VecState.from_arrays(model.to_arrays())
    np.testing.assert_array_equal(back.input_rows, model.input_rows)
    np.testing.assert_array_equal(back.finalize().vectors, solution.vectors)


def round_of(rows, change_in, steps_in):
    """A partition's result that changed only input rows."""
    change = np.asarray(change_in, np.float32)
    nothing = (np.zeros(0, np.int64), np.zeros((0, change.shape[1]), np.float32), np.zeros(0))
    return Word2VecRound.of((np.asarray(rows), change, np.asarray(steps_in, float)), nothing, 10.0, np.zeros(2))


@pytest.mark.parametrize("rule", ["saturating", "average", "sum"])
def test_a_round_moves_each_row_by_its_rule(rule):
    """Row 0 changed by two partitions (3 and 500 steps), row 2 by one (4 steps)."""
    start = Word2VecState.new_for_partition(0, vector_size=2, min_count=1.0, merge_rule=rule)
    start = start.update(Tokens.of([["a", "b", "c", "a"]])).next_pass()
    a = round_of([0, 2], [[1.0, 2.0], [0.5, 0.0]], [3, 4])
    b = round_of([0], [[3.0, -2.0]], [500])
    after = a.merge(b).completed_from(start)
    c = 1.0 / SATURATION_STEPS
    s = lambda n: 1 - (1 - c) ** n  # noqa: E731
    # the partitions' changes as shipped: divided by s(steps) under the saturating rule
    row0 = {"sum": [4.0, 0.0], "average": [2.0, 0.0],
            "saturating": s(503) * (np.array([1.0, 2.0]) + np.array([3.0, -2.0])) / 2}[rule]  # fmt: skip
    row2 = {"sum": [0.5, 0.0], "average": [0.5, 0.0], "saturating": s(4) * np.array([0.5, 0.0])}[rule]
    np.testing.assert_allclose(after.w_in[0] - start.w_in[0], row0, rtol=1e-5)
    np.testing.assert_allclose(after.w_in[2] - start.w_in[2], row2, rtol=1e-5)
    np.testing.assert_array_equal(after.w_in[1], start.w_in[1])
    assert after.passes == start.passes + 1 and after.words_read == 20.0 and after.partitions == 2


def test_the_saturating_merge_sums_few_steps_and_averages_many():
    """A partition's shipped change is Delta / s(n): with one step per partition the
    merge is nearly the sum, with thousands nearly the mean."""
    start = Word2VecState.new_for_partition(0, vector_size=1, min_count=1.0).update(Tokens.of([["a"]])).next_pass()
    for steps, expected in ((1, 2.0), (5000, 1.0)):
        shipped = [round_of([0], [[1.0 / (1 - (1 - 1 / SATURATION_STEPS) ** steps)]], [steps]) for _ in range(2)]
        moved = shipped[0].merge(shipped[1]).completed_from(start).w_in[0, 0] - start.w_in[0, 0]
        assert moved == pytest.approx(expected, rel=0.01)


def test_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match="minCount=5 times; the most frequent word occurs 2 times"):
        Word2VecState.new_for_partition(0).update(Tokens.of([["a", "a", "b"]])).next_pass()
    with pytest.raises(ValueError, match=r"invalid params \['vectorSize'\]"):
        Word2VecState.new_for_partition(0, vector_size=0)
    with pytest.raises(ValueError, match="mode must be one of"):
        Word2VecState.new_for_partition(0, mode="glove")
    model = Word2VecState.new_for_partition(0, min_count=1.0).update(Tokens.of([["a", "b"]])).next_pass()
    with pytest.raises(ValueError, match="trains on a partition's state"):
        model.update(Tokens.of([["a", "b"]]))
    with pytest.raises(ValueError, match="trained word2vec states do not merge"):
        model.merge(model)
