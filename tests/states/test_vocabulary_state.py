"""The vocabulary state (sagespark.states.vocabulary) against exact counting with
collections.Counter, and the Misra-Gries summary against its guarantees."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from sagespark.kernels.tokens import Tokens
from sagespark.states import VocabularyCounts, state_from_bytes
from sagespark.states.vocabulary import negative_sampling_distribution, subsampling_keep_probabilities


def zipf_tokens(n=20_000, words=3_000, seed=0):
    rng = np.random.default_rng(seed)
    return np.char.add("w", np.minimum(rng.zipf(1.3, n), words).astype(str)), rng.random(n) + 0.5


def counter(tokens, weights):
    counts = Counter()
    for token, weight in zip(tokens.tolist(), weights.tolist()):
        counts[token] += weight
    return counts


def one_per_row(tokens):
    """A batch of one-token rows (so a row's weight is its token's)."""
    return Tokens(np.arange(len(tokens) + 1, dtype=np.int64), pa.array(tokens.tolist(), pa.string()))


def fed(capacity, tokens, weights, batch=1000):
    state = VocabularyCounts(capacity)
    for start in range(0, len(tokens), batch):
        state.update(one_per_row(tokens[start : start + batch]), weights[start : start + batch])
    return state


def test_exact_counts_equal_a_counter_and_merge_in_either_order():
    tokens, weights = zipf_tokens()
    expected = counter(tokens, weights)
    whole = fed(0, tokens, weights)
    a, b = fed(0, tokens[:7_000], weights[:7_000]), fed(0, tokens[7_000:], weights[7_000:])
    for state in (whole, a.merge(b), b.merge(a), state_from_bytes(whole.to_bytes())):
        assert dict(zip(state.words.tolist(), state.counts.tolist())) == pytest.approx(dict(expected), rel=1e-12)
        assert state.tokens == pytest.approx(weights.sum(), rel=1e-12) and state.error == 0.0


def test_finalize_orders_by_count_then_word_and_applies_min_count_and_max_words():
    state = VocabularyCounts().update(Tokens.of([["b", "a", "c"], ["a", "b", "d", "a"]]))
    vocabulary = state.finalize()
    assert vocabulary.words.tolist() == ["a", "b", "c", "d"] and vocabulary.counts.tolist() == [3, 2, 1, 1]
    assert state.finalize(min_count=2).words.tolist() == ["a", "b"]
    assert state.finalize(max_words=3).words.tolist() == ["a", "b", "c"]
    assert vocabulary.tokens == 7


@pytest.mark.parametrize("capacity", [50, 400])
def test_the_capped_summary_keeps_its_misra_gries_guarantees_through_merges(capacity):
    """Every kept count is within [true - error, true], error <= (tokens - kept) / (m + 1),
    at most m words are kept, and every word whose true count exceeds error is kept."""
    tokens, weights = zipf_tokens(seed=1)
    expected = counter(tokens, weights)
    parts = [fed(capacity, tokens[i::4], weights[i::4]) for i in range(4)]
    state = parts[0].merge(parts[1]).merge(parts[2].merge(parts[3]))
    kept = dict(zip(state.words.tolist(), state.counts.tolist()))
    assert len(kept) <= capacity
    assert state.error <= (weights.sum() - state.counts.sum()) / (capacity + 1) + 1e-9
    for word, count in kept.items():
        assert expected[word] - state.error - 1e-9 <= count <= expected[word] + 1e-9
    assert {w for w, c in expected.items() if c > state.error + 1e-9} <= set(kept)


def test_word2vec_sampling_tables_match_the_formulas():
    counts, tokens = np.array([1000.0, 100.0, 1.0]), 10_000.0
    keep = subsampling_keep_probabilities(counts, tokens, 1e-3)
    f = counts / tokens
    np.testing.assert_allclose(keep, np.minimum(1, np.sqrt(1e-3 / f) + 1e-3 / f))
    assert keep[-1] == 1.0 and (subsampling_keep_probabilities(counts, tokens, 0.0) == 1).all()
    noise = negative_sampling_distribution(counts)
    np.testing.assert_allclose(noise, counts**0.75 / (counts**0.75).sum())


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="capacity must be 0"):
        VocabularyCounts(-1)
    with pytest.raises(ValueError, match="got 1 weights for 2 rows"):
        VocabularyCounts().update(Tokens.of([["a"], ["b", "c"]]), np.array([1.0]))
    with pytest.raises(ValueError, match="capacity 0 and 5"):
        VocabularyCounts().merge(VocabularyCounts(5))
