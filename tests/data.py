"""Small synthetic data shared by the tests (numpy only; no JVM)."""

from __future__ import annotations

import numpy as np


def blobs(n: int = 3000, d: int = 4, centers: int = 5, seed: int = 0, spread: float = 8.0) -> np.ndarray:
    """Gaussian blobs of unequal sizes, rows shuffled."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, spread, (centers, d))
    sizes = rng.multinomial(n, rng.dirichlet(np.full(centers, 3.0)))
    x = np.vstack([rng.normal(m, 1.0, (s, d)) for m, s in zip(means, sizes)])
    return x[rng.permutation(n)]


def kmeans_cost(x: np.ndarray, centers: np.ndarray) -> float:
    """Exact sum of squared distances to the nearest center (brute force)."""
    d2 = ((x[:, None, :] - np.asarray(centers)[None, :, :]) ** 2).sum(-1)
    return float(d2.min(axis=1).sum())


def lda_corpus(documents: int, words: int, topics: int, alpha0: float = 1.0, lengths: tuple[int, int] = (3, 200),
               topic_concentration: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Documents drawn from a known LDA: (term counts documents x words, the topics
    words x topics, the symmetric prior alpha). Topics ~ Dirichlet(topic_concentration),
    mixtures ~ Dirichlet(alpha0 / topics), lengths uniform in ``lengths``."""
    rng = np.random.default_rng(seed)
    beta = rng.dirichlet(np.full(words, topic_concentration), size=topics).T
    alpha = np.full(topics, alpha0 / topics)
    theta = rng.dirichlet(alpha, size=documents)
    n = rng.integers(lengths[0], lengths[1] + 1, size=documents)
    counts = np.vstack([rng.multinomial(length, beta @ mix) for length, mix in zip(n, theta)]).astype(np.float64)
    return counts, beta, alpha


def matched_l1(found: np.ndarray, true: np.ndarray) -> float:
    """Mean l1 distance between true topics (columns) and found ones, matched one to one
    by the Hungarian algorithm."""
    from scipy.optimize import linear_sum_assignment

    cost = np.abs(true[:, :, None] - found[:, None, :]).sum(axis=0)
    rows, columns = linear_sum_assignment(cost)
    return float(cost[rows, columns].mean())


def token_halves(counts, seed: int = 0):
    """Each document's tokens split in two at random (each token to the first half with
    probability 1/2): scipy CSR matrices (first, second) of the same shape."""
    import scipy.sparse as sp

    counts = sp.csr_matrix(counts, dtype=np.float64)
    first = counts.copy()
    first.data = np.random.default_rng(seed).binomial(counts.data.astype(np.int64), 0.5).astype(np.float64)
    second = counts.copy()
    second.data = counts.data - first.data
    return first, second


def completion_perplexity(topics: np.ndarray, alpha: np.ndarray, counts, seed: int = 0) -> float:
    """Held-out document completion, the same for every topic model: each document's
    mixture is folded in (sagespark.kernels.lda.fold_in) from a random half of its tokens
    under the model's topics (words x k, columns summing to 1) and prior, and the other
    half is scored: exp of the result is the perplexity per held-out token (lower is
    better)."""
    from sagespark.kernels.lda import fold_in

    first, second = token_halves(counts, seed)
    theta, _ = fold_in(first.indptr.astype(np.int64), first.indices, first.data, topics, alpha, 200, 1e-6)
    scored = second.tocoo()
    probability = np.einsum("ij,ij->i", theta[scored.row], topics[scored.col])
    return float(-(scored.data * np.log(probability)).sum() / scored.data.sum())


def npmi_coherence(topics: np.ndarray, counts, top: int = 10) -> float:
    """Mean over topics of the mean normalized pointwise mutual information of its
    ``top`` most probable words' pairs, from document co-occurrence in ``counts``
    (Bouma 2009; -1 for a pair that never co-occurs; higher is better)."""
    import scipy.sparse as sp

    present = (sp.csr_matrix(counts) > 0).astype(np.float64).tocsc()
    documents, scores = present.shape[0], []
    for topic in topics.T:
        words = present[:, np.argsort(-topic, kind="stable")[:top]]
        single = np.asarray(words.sum(axis=0)).ravel() / documents
        joint = (words.T @ words).toarray() / documents
        i, j = np.triu_indices(top, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            npmi = np.log(joint[i, j] / (single[i] * single[j])) / -np.log(joint[i, j])
        scores.append(np.where(joint[i, j] > 0, npmi, -1.0).mean())
    return float(np.mean(scores))


def planted_sentences(n: int = 1500, clusters: int = 10, per_cluster: int = 20, length: int = 8, mix: float = 0.3,
                      seed: int = 0) -> list[list[str]]:  # fmt: skip
    """Sentences of ``length`` words, each from one of ``clusters`` groups of words
    ("c<group>w<word>"), a fraction ``mix`` of its words drawn from a random group."""
    rng = np.random.default_rng(seed)
    rows = []
    for cluster in rng.integers(0, clusters, n):
        groups = np.where(rng.random(length) < mix, rng.integers(0, clusters, length), cluster)
        rows.append([f"c{g}w{w}" for g, w in zip(groups, rng.integers(0, per_cluster, length))])
    return rows


def spelled_sentences(seed: int = 1, **planted) -> tuple[list[list[str]], dict[str, int]]:
    """planted_sentences with each word spelled as 6 random letters (so its spelling says
    nothing of its group), and each spelling's group."""
    rng = np.random.default_rng(seed)
    spelling: dict[str, str] = {}
    rows = [[spelling.setdefault(w, "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), 6))) for w in row]
            for row in planted_sentences(**planted)]  # fmt: skip
    return rows, {spelled: int(w[1 : w.index("w")]) for w, spelled in spelling.items()}


def cluster_purity(words: np.ndarray, vectors: np.ndarray, neighbours: int = 5) -> float:
    """The fraction of each word's nearest neighbours (cosine) from its own group
    (planted_sentences' words); 1 / clusters by chance."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    groups = np.array([w.split("w")[0] for w in words])
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    nearest = np.argsort(-similarity, axis=1)[:, :neighbours]
    return float((groups[nearest] == groups[:, None]).mean())
