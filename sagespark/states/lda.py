"""Spectral LDA's mergeable state: the corpus's moments, projected.

Method of moments for latent Dirichlet allocation (Anandkumar, Foster, Hsu, Kakade &
Liu, "A Spectral Algorithm for Latent Dirichlet Allocation", NIPS 2012; Anandkumar,
Ge, Hsu, Kakade & Telgarsky, JMLR 15, 2014), SageMaker's LDA. A document of term
counts c (length L >= 3) gives unbiased estimates of the moments of three distinct
token positions, with c2 = 1 / (L (L-1)), c3 = 1 / (L (L-1) (L-2)):

    E[x1]          = c / L
    E[x1 x x2]      = c2 (c c^T - diag c)
    E[x1 x x2 x x3] = c3 (c x c x c - sum_v c_v (c x e_v x e_v + e_v x c x e_v
                                              + e_v x e_v x c) + 2 sum_v c_v e_v x e_v x e_v)

averaged over documents, each weighted by its length L (``weighting='tokens'``, the
default: every token counts once) or equally ('documents'), times the row's weight.
Each document's estimates are unbiased, so any weights that do not depend on the
topics give unbiased averages; weighting by L lowers their variance, because a short
document's estimates are the noisiest (docs/lda.md for the measurements). With the Dirichlet
prior's sum alpha0, M2 = alpha0 (alpha0+1) E2 - alpha0^2 M1 M1^T = sum_i alpha_i mu_i mu_i^T
and M3 = alpha0 (alpha0+1) (alpha0+2) / 2 [E3 - alpha0/(alpha0+2) sym(E2 x M1)
+ 2 alpha0^2 / ((alpha0+1)(alpha0+2)) M1^{x3}] = sum_i alpha_i mu_i^{x3}, for topics mu_i.

Nothing V x V is ever formed. The state keeps the moments seen through a V x l
matrix U (l = ``width``): M1 (V), the diagonal sums s2 = sum c2 c and s3 = sum c3 c (V),
Y2 = sum c2 c p^T and Y3 = sum c3 c p^T (V x l), G2 = sum c2 p p^T (l x l) and
T1 = sum c3 p x p x p (l^3), with p = U^T c per document: every term of E2(U, U) and
E3(U, U, U) is a sum of these, so states merge by addition. U is either

- a random-sign matrix Omega (``basis=None``), each entry a hash of (seed, word,
  column), regenerated wherever it is needed and never shipped ('projection'
  whitening: one pass), or
- an orthonormal basis Q of the range of E2 Omega, found from a first pass that
  keeps only M1, s2 and Y2 (``third=False``; ``next_pass`` computes Q): the second
  pass sees the third moment in the data's own top subspace ('sketch' whitening, the
  default: two passes, the randomized range finder of Halko, Martinsson & Tropp 2011).

The state holds no alpha0 and no k: ``finalize(k, alpha0, ...)`` whitens with the
top k + extra eigenpairs of U^T M2 U (W = U B with W^T M2 W = I), forms the whitened
k' x k' x k' tensor M3(W, W, W) = sum_i alpha_i^{-1/2} nu_i^{x3} with orthonormal nu_i,
decomposes it by the robust tensor power method with deflation (restarts, the one
with the largest eigenvalue kept), and un-whitens without a pseudo-inverse:
alpha_i = lambda_i^{-2} and mu_i = lambda_i (M2 U) B nu_i, where M2 U comes from Y2.
Each topic is projected onto the probability simplex. Of the k + extra components, the
k whose un-whitened topics lie closest to the simplex (the l1 distance to their
projection; a true topic sums to 1 with no negative mass) are kept, ordered by alpha.
SageMaker keeps the largest alpha instead; measured on synthetic corpora, the
components of noise directions have small lambda, so large alpha, and that rule kept
them (docs/lda.md). An extra component is whitened only where M2's spectrum shows no
gap after the k-th eigenvalue (``EXTRA_EIGENVALUE_RATIO``). Each topic is then mixed with a share ``smoothing`` of the corpus's
word frequencies, so that every word has a positive probability (``TOPIC_SMOOTHING``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from sagespark.kernels import CSRMatrix, Features, take_rows
from sagespark.kernels.lda import fold_in, random_sign_rows, signed_projection
from sagespark.kernels.linalg import add_transpose_matmul, matmul, weighted_column_sums
from sagespark.states.base import State

WHITENINGS = ("sketch", "projection")
# How documents weigh in the moments: each by its tokens L (each token counts once), or
# each the same (the per-document averages of Anandkumar et al.)
DOCUMENT_WEIGHTINGS = ("tokens", "documents")
# Each topic is (1 - s) * its simplex projection + s * b, b the corpus's word frequencies
# M1 mixed with 1% of the uniform distribution: no word has probability 0, and a word
# the decomposition left out of every topic keeps its share of the corpus (the default
# s; LDA's topicSmoothing, docs/lda.md for the measurements).
TOPIC_SMOOTHING = 0.1
BACKGROUND_UNIFORM = 0.01
# The transform's fixed point (sagespark.kernels.lda.fold_in).
# An extra component is whitened only where M2's spectrum shows no gap after the k-th
# eigenvalue: its eigenvalue is at least this fraction of the k-th (a noise direction,
# far below, would be amplified by 1 / sqrt(eigenvalue) into the whitened tensor).
EXTRA_EIGENVALUE_RATIO = 0.25
FOLD_IN_MAX_ITER = 200
FOLD_IN_TOL = 1e-6
# Rows of p x p expanded at once in the third-moment GEMM, and words per block of the
# finalize's V x k'^2 products: about 32 MB each.
_BLOCK_VALUES = 1 << 22


@dataclass(frozen=True)
class LDASolution:
    """finalize(): k topics and their Dirichlet prior."""

    topics: np.ndarray  # V x k, each column a distribution over the words
    alpha: np.ndarray  # k, the prior per topic, decreasing
    documents: float  # (weighted) documents of 3 or more tokens that gave the moments
    tensor_eigenvalues: np.ndarray  # lambda_i of the whitened tensor, per kept topic


class LDAMoments(State):
    """See the module docstring. ``third``: accumulate the third moment (False only in
    the first pass of 'sketch' whitening); ``weighting``: DOCUMENT_WEIGHTINGS."""

    kind: ClassVar[str] = "lda_moments"

    def __init__(self, n_words: int, width: int, seed: int = 0, third: bool = True,
                 basis: np.ndarray | None = None, weighting: str = "tokens") -> None:  # fmt: skip
        if n_words < 1 or not 1 <= width <= n_words:
            raise ValueError(f"need a vocabulary of >= 1 words and 1 <= width <= vocabulary, got {n_words} and {width}")
        if weighting not in DOCUMENT_WEIGHTINGS:
            raise ValueError(f"documentWeighting must be one of {DOCUMENT_WEIGHTINGS}, got {weighting!r}")
        self.n_words, self.width, self.seed, self.third = int(n_words), int(width), int(seed) % 2**63, bool(third)
        self.weighting = weighting
        self.basis = np.zeros((0, self.width)) if basis is None else np.ascontiguousarray(basis, dtype=np.float64)
        if basis is not None and self.basis.shape != (self.n_words, self.width):
            raise ValueError(f"basis has shape {self.basis.shape}, expected {(self.n_words, self.width)}")
        self.basis_id = _basis_id(self.seed, self.width, basis)
        self.documents, self.short_documents, self.tokens = 0.0, 0, 0.0
        self.m1, self.s2 = np.zeros(n_words), np.zeros(n_words)
        self.y2, self.g2 = np.zeros((n_words, self.width)), np.zeros((self.width, self.width))
        third_shape = (n_words, self.width) if self.third else (0, self.width)
        self.s3 = np.zeros(n_words if self.third else 0)
        self.y3 = np.zeros(third_shape)
        self.t1 = np.zeros((self.width, self.width**2) if self.third else (0, self.width**2))

    # ------------------------------------------------------------------ the pass
    @property
    def projects_randomly(self) -> bool:
        return self.basis_id.startswith("signs")

    def _project(self, x: CSRMatrix) -> np.ndarray:
        if self.projects_randomly:
            return signed_projection(x.indptr, x.indices, x.data, self.seed, self.width)
        if len(self.basis) == 0:
            raise ValueError("this lda_moments state was shipped without its basis: complete it first (completed_from)")
        return matmul(x, self.basis)

    def update(self, x: Features, weights: np.ndarray | None = None) -> "LDAMoments":
        if x.shape[1] != self.n_words:
            raise ValueError(f"expected {self.n_words} words (the vocabulary), found {x.shape[1]}")
        x = _csr(x)
        w = np.ones(x.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
        lengths = document_lengths(x)
        short = lengths < 3
        keep = ~short & (w > 0)
        x, w, n = take_rows(x, keep), w[keep], lengths[keep]
        p = self._project(x)
        self.short_documents += int(short.sum())
        if not keep.any():
            return self
        self.documents += float(w.sum())
        self.tokens += float(w @ n)
        w = w * n if self.weighting == "tokens" else w
        c2 = w / (n * (n - 1))
        self.m1 += weighted_column_sums(x, w / n)
        self.s2 += weighted_column_sums(x, c2)
        weighted = p * c2[:, None]
        add_transpose_matmul(x, weighted, self.y2)
        self.g2 += weighted.T @ p
        if self.third:
            c3 = c2 / (n - 2)
            self.s3 += weighted_column_sums(x, c3)
            weighted = p * c3[:, None]
            add_transpose_matmul(x, weighted, self.y3)
            step = max(1, _BLOCK_VALUES // self.width**2)
            for start in range(0, len(p), step):
                rows = p[start : start + step]
                self.t1 += weighted[start : start + step].T @ (rows[:, :, None] * rows[:, None, :]).reshape(len(rows), -1)
        return self

    # -------------------------------------------------------------- merging
    def _check_mergeable(self, other: "LDAMoments") -> None:
        if not isinstance(other, LDAMoments):
            raise TypeError(f"cannot merge an lda_moments state with {getattr(other, 'kind', type(other).__name__)}")
        mine = (self.n_words, self.width, self.third, self.basis_id, self.weighting)
        theirs = (other.n_words, other.width, other.third, other.basis_id, other.weighting)
        if mine != theirs:
            raise ValueError(
                f"cannot merge LDA moments of (vocabulary, width, third moment, basis, weighting) {mine} and {theirs}: "
                "both must come from fits with the same vocabulary size, k, extraTopics, oversampling, seed and, "
                "for 'sketch' whitening, the same first pass (continue a model with setInitialModel)"
            )  # fmt: skip

    def merge(self, other: "LDAMoments") -> "LDAMoments":
        self._check_mergeable(other)
        merged = LDAMoments.from_arrays(self.to_arrays())
        if len(merged.basis) == 0:
            merged.basis = other.basis
        merged.documents += other.documents
        merged.short_documents += other.short_documents
        merged.tokens += other.tokens
        for name in ("m1", "s2", "y2", "g2", "s3", "y3", "t1"):
            setattr(merged, name, getattr(merged, name) + getattr(other, name))
        return merged

    def partition_result(self) -> "LDAMoments":
        """Without the basis (V x l, the same in every partition): completed_from puts
        it back on the driver."""
        if len(self.basis) == 0:
            return self
        result = LDAMoments.from_arrays(self.to_arrays())
        result.basis = np.zeros((0, self.width))
        return result

    def completed_from(self, start: "LDAMoments") -> "LDAMoments":
        if len(self.basis) == 0 and len(start.basis) and start.basis_id == self.basis_id:
            self.basis = start.basis
        return self

    def for_partition(self, partition: int) -> "LDAMoments":
        """A second pass starts every partition from the empty state ``next_pass`` gave."""
        return self

    def next_pass(self) -> "LDAMoments":
        """The start of the 'sketch' whitening's second pass: empty moments seen through
        Q, an orthonormal basis of the range of E2 Omega from this first pass."""
        if self.third:
            raise ValueError("this lda_moments state already holds the third moment: it makes no further pass")
        return self.continuation(self.range_basis())

    def continuation(self, basis: np.ndarray | None = None) -> "LDAMoments":
        """Empty moments in this state's basis (or ``basis``), with the third moment:
        what a new corpus is folded into to merge with this state."""
        if basis is None and not self.projects_randomly:
            basis = self.basis
        return LDAMoments(self.n_words, self.width, self.seed, True, basis, self.weighting)

    def range_basis(self) -> np.ndarray:
        """Q (V x l): orthonormal columns spanning E2 Omega = (Y2 - diag(s2) Omega) / n."""
        if self.documents <= 0:
            raise ValueError(_NO_DOCUMENTS)
        omega = random_sign_rows(self.seed, np.arange(self.n_words), self.width)
        q, _ = np.linalg.qr(self.y2 - self.s2[:, None] * omega)
        return q

    # ------------------------------------------------------------- finalize
    @property
    def mass(self) -> float:
        """The moments' normalizer: the sum of the documents' weights in them."""
        return self.tokens if self.weighting == "tokens" else self.documents

    @property
    def max_topics(self) -> int:
        """The largest k + extra topics this state can decompose: its width."""
        return self.width

    def _u(self) -> np.ndarray:
        if self.projects_randomly:
            return random_sign_rows(self.seed, np.arange(self.n_words), self.width)
        return self.basis

    def finalize(self, k: int, alpha0: float = 1.0, extra_topics: int = 0, max_restarts: int = 10,
                 max_iterations: int = 1000, tol: float = 1e-8, seed: int = 0,
                 smoothing: float = TOPIC_SMOOTHING) -> LDASolution:  # fmt: skip
        if not self.third:
            raise ValueError("this lda_moments state holds only the first pass of 'sketch' whitening")
        if self.documents <= 0:
            raise ValueError(_NO_DOCUMENTS)
        if alpha0 <= 0:
            raise ValueError(f"alpha0 (the sum of the Dirichlet prior) must be > 0, got {alpha0}")
        if not 0 <= smoothing < 1:
            raise ValueError(f"topicSmoothing must be in [0, 1), got {smoothing}")
        wanted = k + extra_topics
        if k < 1 or extra_topics < 0 or wanted > self.max_topics:
            raise ValueError(f"k={k} with {extra_topics} extra topics is outside what this state supports: "
                             f"1 <= k + extra <= {self.max_topics} (its width; fit with a larger k or oversampling)")  # fmt: skip
        u, m1, a, e2 = self.projected_moments()
        n = self.mass
        m2 = alpha0 * (alpha0 + 1) * e2 - alpha0**2 * np.outer(a, a)
        values, vectors = np.linalg.eigh((m2 + m2.T) / 2)
        values, vectors = values[::-1], vectors[:, ::-1]
        rank = int(np.sum(values[:k] > max(values[0], 0.0) * 1e-10))
        if rank < k:
            raise ValueError(f"the corpus's second moment has {rank} positive direction(s), fewer than k={k}: "
                             "fit fewer topics or give more documents")  # fmt: skip
        rank += int(np.sum(values[k:wanted] >= EXTRA_EIGENVALUE_RATIO * values[k - 1]))
        whiten = vectors[:, :rank] / np.sqrt(values[:rank])  # B: W = U B, W^T M2 W = I
        tensor = self._whitened_third_moment(whiten, e2, a, alpha0)
        rng = np.random.default_rng(seed)
        lambdas, nus = power_decomposition(tensor, rank, max_restarts, max_iterations, tol, rng)
        m2_u = alpha0 * (alpha0 + 1) * (self.y2 - self.s2[:, None] * u) / n - alpha0**2 * np.outer(m1, a)
        positive = lambdas > 0
        lambdas, nus = lambdas[positive], nus[:, positive]
        if len(lambdas) < k:
            raise ValueError(f"the whitened third moment gave {len(lambdas)} topic(s), fewer than k={k}: fit fewer "
                             "topics or give more documents")  # fmt: skip
        alpha = 1.0 / lambdas**2
        raw = (m2_u @ (whiten @ nus)) * lambdas
        projected = np.column_stack([simplex_projection(column) for column in raw.T])
        distance = np.abs(raw - projected).sum(axis=0)
        order = np.argsort(distance, kind="stable")[:k]
        order = order[np.argsort(-alpha[order], kind="stable")]
        topics = projected[:, order]
        background = BACKGROUND_UNIFORM / self.n_words + (1 - BACKGROUND_UNIFORM) * m1
        topics = (1 - smoothing) * topics + smoothing * background[:, None]
        return LDASolution(topics, alpha[order], self.documents, lambdas[order])

    def projected_moments(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(U, M1, U^T M1, E2(U, U)): the first two moments and the basis they are seen in."""
        u, n = self._u(), self.mass
        m1 = self.m1 / n
        return u, m1, u.T @ m1, (self.g2 - u.T @ (self.s2[:, None] * u)) / n

    def projected_third_moment(self, whiten: np.ndarray | None = None) -> np.ndarray:
        """E3(W, W, W) for W = U B (B = ``whiten``, l x r; the identity when None), r x r x r:
        (T1(B, B, B) - sym(sum_v y3_v x w_v x w_v) + 2 sum_v s3_v w_v^{x3}) / n, where w_v
        is word v's row of W."""
        u = self._u()
        whiten = np.eye(self.width) if whiten is None else whiten
        r, width = whiten.shape[1], self.width
        t1 = (whiten.T @ self.t1).reshape(r, width, width)
        t1 = np.einsum("ibc,bj,ck->ijk", t1, whiten, whiten, optimize=True)
        ub, yb = u @ whiten, self.y3 @ whiten
        diagonal, cross = np.zeros((r, r, r)), np.zeros((r, r, r))
        step = max(1, _BLOCK_VALUES // r**2)
        for start in range(0, self.n_words, step):
            block = ub[start : start + step]
            pairs = (block[:, :, None] * block[:, None, :]).reshape(len(block), -1)
            cross += (yb[start : start + step].T @ pairs).reshape(r, r, r)
            diagonal += ((block * self.s3[start : start + step, None]).T @ pairs).reshape(r, r, r)
        return (t1 - _sym3(cross) + 2 * diagonal) / self.mass

    def _whitened_third_moment(self, whiten: np.ndarray, e2: np.ndarray, a: np.ndarray, alpha0: float) -> np.ndarray:
        """M3(W, W, W) for W = U B (see the module docstring), r x r x r."""
        e3 = self.projected_third_moment(whiten)
        e2w, m = whiten.T @ e2 @ whiten, whiten.T @ a
        pairs_m = np.einsum("ij,k->ijk", e2w, m)
        sym_e2_m = pairs_m + np.transpose(pairs_m, (0, 2, 1)) + np.transpose(pairs_m, (2, 0, 1))
        m3 = e3 - alpha0 / (alpha0 + 2) * sym_e2_m + 2 * alpha0**2 / ((alpha0 + 1) * (alpha0 + 2)) * np.einsum(
            "i,j,k->ijk", m, m, m)  # fmt: skip
        return alpha0 * (alpha0 + 1) * (alpha0 + 2) / 2 * m3

    # --------------------------------------------------------- serialization
    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "n_words": np.array(self.n_words), "width": np.array(self.width), "seed": np.array(self.seed),
            "third": np.array(self.third), "basis_id": np.array(self.basis_id), "basis": self.basis,
            "weighting": np.array(self.weighting),
            "documents": np.array(self.documents), "short_documents": np.array(self.short_documents),
            "tokens": np.array(self.tokens), "m1": self.m1, "s2": self.s2, "y2": self.y2, "g2": self.g2,
            "s3": self.s3, "y3": self.y3, "t1": self.t1,
        }  # fmt: skip

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "LDAMoments":
        state = cls.__new__(cls)
        state.n_words, state.width, state.seed = int(arrays["n_words"]), int(arrays["width"]), int(arrays["seed"])
        state.third, state.basis_id, state.weighting = bool(arrays["third"]), str(arrays["basis_id"]), str(arrays["weighting"])
        state.documents, state.short_documents = float(arrays["documents"]), int(arrays["short_documents"])
        state.tokens = float(arrays["tokens"])
        for name in ("basis", "m1", "s2", "y2", "g2", "s3", "y3", "t1"):
            setattr(state, name, np.array(arrays[name], dtype=np.float64))
        v, w, third = state.n_words, state.width, state.n_words if state.third else 0
        expected = {"m1": (v,), "s2": (v,), "y2": (v, w), "g2": (w, w), "s3": (third,), "y3": (third, w),
                    "t1": (w if state.third else 0, w * w)}  # fmt: skip
        for name, shape in expected.items():
            if getattr(state, name).shape != shape:
                raise ValueError(f"lda_moments state array '{name}' has shape {getattr(state, name).shape}, "
                                 f"expected {shape}")  # fmt: skip
        if state.basis.shape not in ((0, w), (v, w)):
            raise ValueError(f"lda_moments state array 'basis' has shape {state.basis.shape}, expected (0 or {v}, {w})")
        return state


_NO_DOCUMENTS = "no documents of 3 or more tokens were seen: the moments are empty"


def _basis_id(seed: int, width: int, basis: np.ndarray | None) -> str:
    if basis is None:
        return f"signs:{seed}:{width}"
    return "basis:" + hashlib.sha256(np.ascontiguousarray(basis, dtype=np.float64).tobytes()).hexdigest()[:32]


def _sym3(t: np.ndarray) -> np.ndarray:
    """t[i,j,k] + t[j,i,k] + t[k,i,j] for t symmetric in its last two indices: the three
    placements of the document vector in sum_v y_v x u_v x u_v."""
    return t + np.transpose(t, (1, 0, 2)) + np.transpose(t, (1, 2, 0))


def power_decomposition(tensor: np.ndarray, rank: int, restarts: int, iterations: int, tol: float,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The robust tensor power method with deflation (Anandkumar et al., JMLR 2014):
    for each of ``rank`` components, ``restarts`` random starts iterate
    v <- T(I, v, v) / ||T(I, v, v)|| until v moves by at most ``tol`` (or ``iterations``),
    the start with the largest T(v, v, v) is kept, and lambda v x v x v is subtracted.
    The starts iterate together: one (r x r^2) (r^2 x starts) product per step.
    Returns (lambdas, vectors as columns)."""
    r, starts = tensor.shape[0], max(1, restarts)
    residual = tensor.reshape(r, r * r).copy()
    lambdas, vectors = np.zeros(rank), np.zeros((r, rank))
    for component in range(rank):
        v = rng.standard_normal((r, starts))
        v /= np.linalg.norm(v, axis=0)
        moving = np.arange(starts)
        for _ in range(max(1, iterations)):
            image = residual @ _column_squares(v[:, moving])
            norm = np.linalg.norm(image, axis=0)
            image = image / np.where(norm > 0, norm, 1.0)
            moved = np.linalg.norm(image - v[:, moving], axis=0)
            v[:, moving[norm > 0]] = image[:, norm > 0]
            moving = moving[(norm > 0) & (moved > tol)]
            if len(moving) == 0:
                break
        values = np.einsum("is,is->s", v, residual @ _column_squares(v))
        best = int(np.argmax(values))
        lambdas[component], vectors[:, component] = values[best], v[:, best]
        residual -= values[best] * np.outer(v[:, best], np.outer(v[:, best], v[:, best]).ravel())
    return lambdas, vectors


def _column_squares(v: np.ndarray) -> np.ndarray:
    """Column j is v_j x v_j flattened (r^2 x columns)."""
    return (v[:, None, :] * v[None, :, :]).reshape(v.shape[0] ** 2, v.shape[1])


def simplex_projection(v: np.ndarray) -> np.ndarray:
    """The Euclidean projection of v onto the probability simplex (Duchi, Shalev-Shwartz,
    Singer & Chandra 2008): max(v - tau, 0) with tau making the sum 1."""
    ordered = np.sort(v)[::-1]
    cumulative = np.cumsum(ordered) - 1.0
    index = np.arange(1, len(v) + 1)
    last = np.flatnonzero(ordered - cumulative / index > 0)[-1]
    return np.maximum(v - cumulative[last] / (last + 1), 0.0)


def document_lengths(x: CSRMatrix) -> np.ndarray:
    """Tokens per document (row sums of the counts)."""
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    return np.bincount(rows, x.data, minlength=x.shape[0])


def _csr(x: Features) -> CSRMatrix:
    return CSRMatrix.from_dense(x) if isinstance(x, np.ndarray) else x


def lda_topic_mixtures(x: Features, word_topics: np.ndarray, alpha: np.ndarray) -> dict[str, np.ndarray]:
    """An LDAModel's scorer: each document's topic mixture (sagespark.kernels.lda.fold_in)."""
    x = _csr(x)
    theta, _ = fold_in(x.indptr, x.indices, x.data, word_topics, alpha, FOLD_IN_MAX_ITER, FOLD_IN_TOL)
    return {"topicDistribution": theta}


def lda_likelihood_sums(x: Features, weights: np.ndarray, word_topics: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """[sum w log p(doc | theta, beta), sum w tokens, sum w] of a batch, theta folded in."""
    x = _csr(x)
    _, loglik = fold_in(x.indptr, x.indices, x.data, word_topics, alpha, FOLD_IN_MAX_ITER, FOLD_IN_TOL)
    return np.array([weights @ loglik, weights @ document_lengths(x), weights.sum()])
