"""Spectral LDA's state (sagespark.states.lda) against independent references: the
moments against brute-force enumeration of ordered token triples, merges against the
whole corpus, and the finalized topics against the LDA that generated the corpus
(matched by the Hungarian algorithm)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sagespark.kernels import CSRMatrix
from sagespark.states import LDAMoments, state_from_bytes
from sagespark.states.lda import power_decomposition, simplex_projection
from tests.data import lda_corpus, matched_l1


def brute_force_moments(x: np.ndarray, w: np.ndarray, by_tokens: bool):
    """The weighted means over documents of 3+ tokens of E[x1], E[x1 x x2] and
    E[x1 x x2 x x3] over every ordered choice of distinct token positions, each document
    weighted by w (times its tokens when ``by_tokens``)."""
    v = x.shape[1]
    e1, e2, e3, total = np.zeros(v), np.zeros((v, v)), np.zeros((v, v, v)), 0.0
    for counts, weight in zip(x, w):
        tokens = np.repeat(np.arange(v), counts.astype(int))
        if len(tokens) < 3:
            continue
        weight = weight * len(tokens) if by_tokens else weight
        total += weight
        e1 += weight * np.bincount(tokens, minlength=v) / len(tokens)
        pairs = list(itertools.permutations(tokens.tolist(), 2))
        for a, b in pairs:
            e2[a, b] += weight / len(pairs)
        triples = list(itertools.permutations(tokens.tolist(), 3))
        for a, b, c in triples:
            e3[a, b, c] += weight / len(triples)
    return e1 / total, e2 / total, e3 / total, total


def tiny_corpus(seed=0, n=40, v=6):
    rng = np.random.default_rng(seed)
    x = np.zeros((n, v))
    for row in x:
        np.add.at(row, rng.integers(0, v, rng.integers(0, 7)), 1.0)  # 0 to 6 tokens: some documents short
    return x, rng.random(n) + 0.5


def states_of(x, w, width=4, seed=5, weighting="tokens"):
    """A random-sign state and a state in a random orthonormal basis, fed x in batches."""
    v = x.shape[1]
    basis = np.linalg.qr(np.random.default_rng(seed).normal(size=(v, width)))[0]
    states = [LDAMoments(v, width, seed=seed, weighting=weighting),
              LDAMoments(v, width, seed=seed, basis=basis, weighting=weighting)]  # fmt: skip
    for state in states:
        for start in range(0, len(x), 7):
            state.update(x[start : start + 7], w[start : start + 7])
    return states


@pytest.mark.parametrize("weighting", ["tokens", "documents"])
@pytest.mark.parametrize("which", ["random signs", "orthonormal basis"])
def test_moments_equal_brute_force_enumeration_of_token_triples(which, weighting):
    x, w = tiny_corpus()
    e1, e2, e3, total = brute_force_moments(x, w, weighting == "tokens")
    state = states_of(x, w, weighting=weighting)[which == "orthonormal basis"]
    u, m1, a, e2_u = state.projected_moments()
    assert state.mass == pytest.approx(total, rel=1e-14)
    assert state.short_documents == int((x.sum(axis=1) < 3).sum()) > 0
    np.testing.assert_allclose(m1, e1, atol=1e-14)
    np.testing.assert_allclose(a, u.T @ e1, atol=1e-13)
    np.testing.assert_allclose(e2_u, u.T @ e2 @ u, atol=1e-13)
    np.testing.assert_allclose((state.y2 - state.s2[:, None] * u) / state.mass, e2 @ u, atol=1e-13)
    expected = np.einsum("abc,ai,bj,ck->ijk", e3, u, u, u)
    np.testing.assert_allclose(state.projected_third_moment(), expected, atol=1e-13)
    whiten = np.random.default_rng(1).normal(size=(state.width, 3))
    np.testing.assert_allclose(state.projected_third_moment(whiten),
                               np.einsum("abc,ai,bj,ck->ijk", e3, u @ whiten, u @ whiten, u @ whiten), atol=1e-12)  # fmt: skip


def assert_same_moments(found: LDAMoments, expected: LDAMoments, rtol: float) -> None:
    assert found.basis_id == expected.basis_id
    for name, value in expected.to_arrays().items():
        if name not in ("basis_id", "weighting"):
            np.testing.assert_allclose(found.to_arrays()[name], value, rtol=rtol, atol=1e-14, err_msg=name)


def test_dense_and_sparse_rows_give_the_same_moments():
    x, w = tiny_corpus(1)
    dense = states_of(x, w)[0]
    assert_same_moments(LDAMoments(x.shape[1], 4, seed=5).update(CSRMatrix.from_dense(x), w), dense, 1e-13)


def test_a_split_corpus_merged_in_either_order_equals_the_whole():
    x, w = tiny_corpus(2, n=60)
    for whole, a, b in zip(states_of(x, w), states_of(x[:25], w[:25]), states_of(x[25:], w[25:])):
        for merged in (a.merge(b), b.merge(a)):
            assert_same_moments(merged, whole, 1e-12)


def test_shipped_without_its_basis_and_completed_on_the_driver():
    x, w = tiny_corpus(3)
    state = states_of(x, w)[1]
    shipped = state_from_bytes(state.partition_result().to_bytes())
    assert shipped.basis.shape == (0, state.width)
    with pytest.raises(ValueError, match="shipped without its basis"):
        shipped.update(x[:5])
    completed = shipped.completed_from(state.continuation())
    np.testing.assert_array_equal(completed.basis, state.basis)
    np.testing.assert_array_equal(completed.finalize(2).topics, state.finalize(2).topics)


def test_states_of_other_bases_do_not_merge():
    x, w = tiny_corpus(4)
    signs, basis = states_of(x, w)
    with pytest.raises(ValueError, match="same vocabulary size, k, extraTopics, oversampling, seed"):
        signs.merge(basis)
    with pytest.raises(ValueError, match="cannot merge LDA moments"):
        signs.merge(LDAMoments(6, 4, seed=6))
    with pytest.raises(ValueError, match="cannot merge LDA moments"):
        signs.merge(LDAMoments(6, 4, seed=5, weighting="documents"))
    with pytest.raises(ValueError, match="documentWeighting must be one of"):
        LDAMoments(6, 4, weighting="words")
    with pytest.raises(ValueError, match="expected 6 words"):
        signs.update(np.ones((2, 7)))


def test_errors_name_what_is_missing():
    empty = LDAMoments(6, 4, seed=1).update(np.array([[1.0, 1, 0, 0, 0, 0]]))  # one document of 2 tokens
    assert empty.short_documents == 1
    with pytest.raises(ValueError, match="no documents of 3 or more tokens"):
        empty.finalize(2)
    x, w = tiny_corpus(5)
    state = states_of(x, w)[0]
    with pytest.raises(ValueError, match=r"1 <= k \+ extra <= 4"):
        state.finalize(4, extra_topics=1)
    with pytest.raises(ValueError, match="alpha0"):
        state.finalize(2, alpha0=0.0)
    with pytest.raises(ValueError, match="already holds the third moment"):
        state.next_pass()
    first = LDAMoments(6, 4, seed=1, third=False).update(x)
    with pytest.raises(ValueError, match="only the first pass"):
        first.finalize(2)
    with pytest.raises(ValueError, match="width <= vocabulary"):
        LDAMoments(3, 4)


def fit(x, k, alpha0=1.0, whitening="sketch", extra=None, seed=3):
    """What LDA does with its defaults, without Spark: width k + extra + max(10, k + extra)."""
    extra = -(-k // 4) if extra is None else extra
    width = min(x.shape[1], k + extra + max(10, k + extra))

    def fold(state):
        for start in range(0, len(x), 5000):
            state.update(CSRMatrix.from_dense(x[start : start + 5000]))
        return state

    state = fold(LDAMoments(x.shape[1], width, seed=seed, third=whitening == "projection"))
    if whitening == "sketch":
        state = fold(state.next_pass())
    return state, state.finalize(k, alpha0, extra, seed=0, smoothing=0.0)


# (documents, words, topics): the mean l1 error reached by 'sketch' whitening at the
# defaults, smoothing off (measured 0.020, 0.0066, 0.072, 0.024 on these corpora; with
# documentWeighting='documents' 0.032, 0.012, 0.133, 0.044), held with a margin
RECOVERY = [(10_000, 200, 5, 0.03), (100_000, 200, 5, 0.01), (10_000, 500, 20, 0.1), (100_000, 500, 20, 0.035)]


@pytest.mark.parametrize("documents, words, topics, tolerance", RECOVERY)
def test_topics_and_prior_of_a_known_lda_are_recovered(documents, words, topics, tolerance):
    x, beta, alpha = lda_corpus(documents, words, topics, alpha0=1.0, seed=1)
    _, solution = fit(x, topics)
    assert matched_l1(solution.topics, beta) <= tolerance
    assert solution.alpha.sum() == pytest.approx(1.0, rel=0.03)
    np.testing.assert_allclose(solution.topics.sum(axis=0), 1.0, rtol=1e-12)
    assert (np.diff(solution.alpha) <= 0).all()


@pytest.mark.parametrize("alpha0, tolerance", [(0.3, 0.025), (3.0, 0.045)])
def test_the_prior_sum_alpha0_is_recovered(alpha0, tolerance):
    """Measured l1 0.016 (alpha0 0.300) and 0.030 (alpha0 2.978) at 10k documents."""
    x, beta, _ = lda_corpus(10_000, 200, 5, alpha0=alpha0, seed=1)
    _, solution = fit(x, 5, alpha0=alpha0)
    assert matched_l1(solution.topics, beta) <= tolerance
    assert solution.alpha.sum() == pytest.approx(alpha0, rel=0.03)


def test_projection_whitening_against_sketch():
    """One pass in a random subspace: good where the subspace is a fair share of the
    vocabulary (k = 5 of 200 words, width 17: l1 0.0070 vs sketch's 0.0066 at 100k
    documents); docs/lda.md shows where it is not (k = 20 of 500 words)."""
    x, beta, _ = lda_corpus(100_000, 200, 5, seed=1)
    _, projection = fit(x, 5, whitening="projection")
    _, sketch = fit(x, 5)
    assert matched_l1(projection.topics, beta) <= 0.012
    assert matched_l1(sketch.topics, beta) <= matched_l1(projection.topics, beta)


def test_extra_components_in_noise_directions_are_not_whitened():
    """On an exact LDA corpus M2 has k eigenvalues far above the rest: the extra
    components would whiten noise, so they are dropped and extra = 0 is the same fit."""
    x, _, _ = lda_corpus(20_000, 200, 5, seed=2)
    state, with_extra = fit(x, 5, extra=2)
    np.testing.assert_allclose(state.finalize(5, 1.0, 0, seed=0, smoothing=0.0).topics, with_extra.topics, rtol=1e-12)


def test_finalize_over_k_and_alpha0_equals_a_fresh_fit_of_the_same_width():
    x, _, _ = lda_corpus(5_000, 100, 6, seed=3)
    state, _ = fit(x, 6)
    width = state.width
    for k, alpha0 in ((4, 0.5), (6, 2.0)):
        fresh = LDAMoments(x.shape[1], width, seed=3, third=False).update(x)
        fresh = fresh.next_pass().update(x)
        np.testing.assert_allclose(state.finalize(k, alpha0, 1, seed=0).topics,
                                   fresh.finalize(k, alpha0, 1, seed=0).topics, rtol=1e-9, atol=1e-12)  # fmt: skip


def test_power_decomposition_recovers_an_orthogonal_tensor():
    rng = np.random.default_rng(0)
    vectors = np.linalg.qr(rng.normal(size=(6, 6)))[0][:, :4]
    lambdas = np.array([3.0, 2.0, 1.5, 1.0])
    tensor = np.einsum("r,ir,jr,kr->ijk", lambdas, vectors, vectors, vectors)
    found, found_vectors = power_decomposition(tensor, 4, 5, 1000, 1e-12, rng)
    order = np.argsort(-found)  # each start converges to some component, not the largest first
    np.testing.assert_allclose(found[order], lambdas, rtol=1e-9)
    np.testing.assert_allclose(found_vectors[:, order].T @ vectors, np.eye(4), atol=1e-8)


def test_simplex_projection_is_the_nearest_point_of_the_simplex():
    """On the simplex, and the optimality condition <v - p, q - p> <= 0 for every point q
    of the simplex (checked at its vertices, which suffices by linearity)."""
    rng = np.random.default_rng(1)
    for _ in range(50):
        v = rng.normal(size=8) * rng.choice([0.1, 1.0, 5.0])
        p = simplex_projection(v)
        assert p.min() >= 0 and p.sum() == pytest.approx(1.0, abs=1e-12)
        assert ((v - p) @ (np.eye(8) - p).T <= 1e-12).all()
