"""word2vec's training loop over one partition's sentences (numba), with negative
sampling in BlazingText's three modes.

Words are vocabulary ids; ``w_in`` (V x d, the word vectors) and ``w_out`` (V x d, the
output vectors) are float32 and updated in place. For an input vector u and an output
vector v with label y (1 for the word observed, 0 for a noise word), one step of the
negative-sampling objective log sigma(u.v) + sum_noise log sigma(-u.v') is

    g = alpha (y - sigma(u . v)),     v += g u,     u += g v   (from the old v),

with the learning rate alpha = stepSize * max(1e-4, 1 - words / total) decaying on the
words read so far by all partitions (``progress`` before the call plus this call's
words times ``scale``, the number of partitions training at the same time).

Before training, each occurrence of word w is kept with probability ``keep[w]``
(subsampling) and a sentence is cut into pieces of at most ``max_length`` words. Each
center word gets a window of b words either side, b uniform in 1..window (word2vec's
reduced window), and its context words c:

- ``SKIPGRAM``: every context word c predicts the center w (input u = w_in[c], output
  w_out[w]) against its own ``negative`` noise words (word2vec's C code);
- ``CBOW``: the mean h of the context words' vectors predicts the center, and the
  gradient on h is added to every context word (word2vec's and fastText's rule);
- ``BATCH_SKIPGRAM``: the skip-gram pairs of one center share one draw of noise words
  (Ji et al., "Parallelizing Word2Vec in Shared and Distributed Memory", 2016): for the
  b' <= batch_size context words A (b' x d) and the outputs B = [center; noise]
  ((K+1) x d), G = alpha (Y - sigma(A B^T)), then A += G B and B += G^T A, both from the
  old A and B: matrix products in place of vector ones.

Noise words are drawn from the unigram^0.75 distribution (``cumulative``, its running
sums) by binary search; a draw equal to the center is skipped. ``updates_in`` /
``updates_out`` count the steps that changed each row of w_in and w_out (a batch is one
step), which the merge of a round weighs (sagespark.states.word2vec).
"""

from __future__ import annotations

import numba
import numpy as np

SKIPGRAM, CBOW, BATCH_SKIPGRAM = 0, 1, 2
MODES = {"skipgram": SKIPGRAM, "cbow": CBOW, "batch_skipgram": BATCH_SKIPGRAM}
MIN_RATE = 1e-4  # the learning rate never falls below stepSize * MIN_RATE (word2vec's floor)
_MAX_EXP = 30.0


@numba.njit(cache=True, nogil=True, fastmath=True, inline="always")
def _sigmoid(x: float) -> float:
    if x > _MAX_EXP:
        return 1.0
    if x < -_MAX_EXP:
        return 0.0
    return 1.0 / (1.0 + np.exp(-x))


@numba.njit(cache=True, nogil=True, fastmath=True, inline="always")
def _noise_word(cumulative: np.ndarray) -> int:
    return int(np.searchsorted(cumulative, np.random.random() * cumulative[-1], side="right"))


@numba.njit(cache=True, nogil=True, fastmath=True)
def _negative_step(u, target, w_out, cumulative, negative, alpha, grad, updates_out):
    """Input vector u (a row of w_in, or cbow's context mean) against the target's output
    vector and ``negative`` noise words: updates their output vectors and sets ``grad``
    to u's change (from the old output vectors)."""
    d = w_out.shape[1]
    grad[:] = 0.0
    for k in range(negative + 1):
        if k == 0:
            out, label = target, 1.0
        else:
            out, label = _noise_word(cumulative), 0.0
            if out == target:
                continue
        dot = np.float32(0.0)
        for j in range(d):
            dot += u[j] * w_out[out, j]
        g = np.float32(alpha * (label - _sigmoid(dot)))
        for j in range(d):
            grad[j] += g * w_out[out, j]
            w_out[out, j] += g * u[j]
        updates_out[out] += 1.0


@numba.njit(cache=True, nogil=True, fastmath=True)
def _cbow_step(sentence, lo, hi, center, w_in, w_out, cumulative, negative, alpha, h, grad, updates_in, updates_out):
    d = w_in.shape[1]
    h[:] = 0.0
    count = 0
    for c in range(lo, hi):
        if c != center:
            count += 1
            for j in range(d):
                h[j] += w_in[sentence[c], j]
    if count == 0:
        return
    for j in range(d):
        h[j] /= np.float32(count)
    _negative_step(h, sentence[center], w_out, cumulative, negative, alpha, grad, updates_out)
    for c in range(lo, hi):
        if c != center:
            word = sentence[c]
            for j in range(d):
                w_in[word, j] += grad[j]
            updates_in[word] += 1.0


@numba.njit(cache=True, nogil=True, fastmath=True)
def _batch_step(inputs, n_inputs, outputs, labels, w_in, w_out, alpha, scores, delta_in):
    """One shared-negatives mini-batch: A = w_in[inputs], B = w_out[outputs] (an
    output labelled -1 is skipped)."""
    d = w_in.shape[1]
    n_out = len(outputs)
    for a in range(n_inputs):
        for o in range(n_out):
            if labels[o] < 0.0:
                scores[a, o] = 0.0
                continue
            dot = np.float32(0.0)
            for j in range(d):
                dot += w_in[inputs[a], j] * w_out[outputs[o], j]
            scores[a, o] = alpha * (labels[o] - _sigmoid(dot))
    delta_in[:n_inputs] = 0.0
    for a in range(n_inputs):  # G B, from the old B
        for o in range(n_out):
            g = scores[a, o]
            if g != 0.0:
                for j in range(d):
                    delta_in[a, j] += g * w_out[outputs[o], j]
    for o in range(n_out):  # B + G^T A, from the old A
        for a in range(n_inputs):
            g = scores[a, o]
            if g != 0.0:
                for j in range(d):
                    w_out[outputs[o], j] += g * w_in[inputs[a], j]
    for a in range(n_inputs):
        for j in range(d):
            w_in[inputs[a], j] += delta_in[a, j]


@numba.njit(cache=True, nogil=True, fastmath=True)
def _train_piece(sentence, n, mode, window, negative, batch_size, alpha, w_in, w_out, cumulative, updates_in,
                 updates_out, grad, h, inputs, outputs, labels, scores, delta_in):  # fmt: skip
    for i in range(n):
        reach = 1 + np.random.randint(window)
        lo, hi = max(0, i - reach), min(n, i + reach + 1)
        center = sentence[i]
        if mode == CBOW:
            _cbow_step(sentence, lo, hi, i, w_in, w_out, cumulative, negative, alpha, h, grad, updates_in, updates_out)
        elif mode == SKIPGRAM:
            for c in range(lo, hi):
                if c != i:
                    word = sentence[c]
                    _negative_step(w_in[word], center, w_out, cumulative, negative, alpha, grad, updates_out)
                    for j in range(w_in.shape[1]):
                        w_in[word, j] += grad[j]
                    updates_in[word] += 1.0
        else:
            outputs[0], labels[0] = center, 1.0
            for k in range(1, negative + 1):
                outputs[k] = _noise_word(cumulative)
                labels[k] = 0.0
                if outputs[k] == center:  # a draw of the center itself gets no gradient
                    labels[k] = -1.0
            updates_out[center] += 1.0
            for k in range(1, negative + 1):
                updates_out[outputs[k]] += 1.0
            n_inputs = 0
            for c in range(lo, hi + 1):
                if c < hi and c != i:
                    inputs[n_inputs] = sentence[c]
                    updates_in[sentence[c]] += 1.0
                    n_inputs += 1
                if n_inputs == batch_size or (c == hi and n_inputs > 0):
                    _batch_step(inputs, n_inputs, outputs, labels, w_in, w_out, alpha, scores, delta_in)
                    n_inputs = 0


@numba.njit(cache=True, nogil=True, fastmath=True)
def train_sentences(ids, offsets, keep, cumulative, w_in, w_out, updates_in, updates_out, mode, window, negative,
                    batch_size, max_length, step_size, progress, total, scale, seed):  # fmt: skip
    """Train on the sentences ``ids[offsets[r]:offsets[r+1]]`` (vocabulary ids, -1 for
    words out of the vocabulary, which are dropped); returns the in-vocabulary words
    read (before subsampling)."""
    np.random.seed(seed)
    d = w_in.shape[1]
    sentence = np.empty(max_length, dtype=np.int64)
    grad, h = np.zeros(d, np.float32), np.zeros(d, np.float32)
    inputs, outputs = np.empty(batch_size, dtype=np.int64), np.empty(negative + 1, dtype=np.int64)
    labels = np.empty(negative + 1)
    scores = np.empty((batch_size, negative + 1), np.float32)
    delta_in = np.empty((batch_size, d), np.float32)
    read = 0
    for r in range(len(offsets) - 1):
        alpha = step_size * max(MIN_RATE, 1.0 - (progress + read * scale) / total)
        n = 0
        for t in range(offsets[r], offsets[r + 1]):
            word = ids[t]
            if word < 0:
                continue
            read += 1
            if keep[word] < 1.0 and np.random.random() >= keep[word]:
                continue
            sentence[n] = word
            n += 1
            if n == max_length:
                _train_piece(sentence, n, mode, window, negative, batch_size, alpha, w_in, w_out, cumulative,
                             updates_in, updates_out, grad, h, inputs, outputs, labels, scores, delta_in)  # fmt: skip
                n = 0
        if n > 1:
            _train_piece(sentence, n, mode, window, negative, batch_size, alpha, w_in, w_out, cumulative, updates_in,
                         updates_out, grad, h, inputs, outputs, labels, scores, delta_in)  # fmt: skip
    return read


@numba.njit(cache=True, nogil=True, fastmath=True)
def document_means(ids, offsets, vectors):
    """Each row's mean of ``vectors[ids[t]]`` over its ids >= 0 (zeros when none)."""
    out = np.zeros((len(offsets) - 1, vectors.shape[1]))
    for r in range(len(offsets) - 1):
        count = 0
        for t in range(offsets[r], offsets[r + 1]):
            if ids[t] >= 0:
                count += 1
                for j in range(vectors.shape[1]):
                    out[r, j] += vectors[ids[t], j]
        if count > 0:
            out[r] /= count
    return out
