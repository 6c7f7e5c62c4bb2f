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

- ``SKIPGRAM``: every context word c predicts the center w (input u: c's input vector,
  output w_out[w]) against its own ``negative`` noise words (word2vec's C code);
- ``CBOW``: the mean h of the context words' input rows predicts the center, and the
  gradient on h is added to every one of those rows (word2vec's and fastText's rule);
- ``BATCH_SKIPGRAM``: the skip-gram pairs of one center share one draw of noise words
  (Ji et al., "Parallelizing Word2Vec in Shared and Distributed Memory", 2016): for the
  input vectors A (b' x d) of b' <= batch_size context words and the outputs
  B = [center; noise] ((K+1) x d), G = alpha (Y - sigma(A B^T)), then A += G B and
  B += G^T A, both from the old A and B: matrix products in place of vector ones.

A word's input vector is the mean of its input rows
``input_rows[input_offsets[w]:input_offsets[w+1]]`` of ``w_in``: the word's own row
alone, or with ``subwords`` (fastText's model, Bojanowski et al. 2017) its row and the
rows of its character n-grams' buckets; a step's change to the mean is added to each of
its rows (fastText's rule), and each row counts the step.

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


@numba.njit(cache=True, nogil=True, fastmath=True, inline="always")
def _add_rows(word, input_offsets, input_rows, w_in, out):
    """out += the sum of word's input rows; returns how many there are."""
    for k in range(input_offsets[word], input_offsets[word + 1]):
        for j in range(w_in.shape[1]):
            out[j] += w_in[input_rows[k], j]
    return input_offsets[word + 1] - input_offsets[word]


@numba.njit(cache=True, nogil=True, fastmath=True, inline="always")
def _input_vector(word, input_offsets, input_rows, w_in, h):
    """The word's input vector: its single row itself, or the mean of its rows in h."""
    if input_offsets[word + 1] - input_offsets[word] == 1:
        return w_in[input_rows[input_offsets[word]]]
    h[:] = 0.0
    n = _add_rows(word, input_offsets, input_rows, w_in, h)
    for j in range(w_in.shape[1]):
        h[j] /= np.float32(n)
    return h


@numba.njit(cache=True, nogil=True, fastmath=True, inline="always")
def _scatter(word, input_offsets, input_rows, w_in, change, updates_in):
    """Add a change of the word's input vector to each of its rows."""
    for k in range(input_offsets[word], input_offsets[word + 1]):
        row = input_rows[k]
        for j in range(w_in.shape[1]):
            w_in[row, j] += change[j]
        updates_in[row] += 1.0


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
def _cbow_step(sentence, lo, hi, center, input_offsets, input_rows, w_in, w_out, cumulative, negative, alpha, h, grad,
               updates_in, updates_out):  # fmt: skip
    h[:] = 0.0
    count = 0
    for c in range(lo, hi):
        if c != center:
            count += _add_rows(sentence[c], input_offsets, input_rows, w_in, h)
    if count == 0:
        return
    for j in range(w_in.shape[1]):
        h[j] /= np.float32(count)
    _negative_step(h, sentence[center], w_out, cumulative, negative, alpha, grad, updates_out)
    for c in range(lo, hi):
        if c != center:
            _scatter(sentence[c], input_offsets, input_rows, w_in, grad, updates_in)


@numba.njit(cache=True, nogil=True, fastmath=True)
def _batch_step(inputs, n_inputs, outputs, labels, input_offsets, input_rows, w_in, w_out, alpha, a_rows, scores, delta_in,
                updates_in):  # fmt: skip
    """One shared-negatives mini-batch: A = the input vectors of ``inputs`` (gathered
    into a_rows), B = w_out[outputs] (an output labelled -1 is skipped)."""
    d = w_in.shape[1]
    n_out = len(outputs)
    for a in range(n_inputs):
        a_rows[a] = _input_vector(inputs[a], input_offsets, input_rows, w_in, a_rows[a])
        for o in range(n_out):
            if labels[o] < 0.0:
                scores[a, o] = 0.0
                continue
            dot = np.float32(0.0)
            for j in range(d):
                dot += a_rows[a, j] * w_out[outputs[o], j]
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
                    w_out[outputs[o], j] += g * a_rows[a, j]
    for a in range(n_inputs):
        _scatter(inputs[a], input_offsets, input_rows, w_in, delta_in[a], updates_in)


@numba.njit(cache=True, nogil=True, fastmath=True)
def _train_piece(sentence, n, mode, window, negative, batch_size, alpha, input_offsets, input_rows, w_in, w_out,
                 cumulative, updates_in, updates_out, grad, h, inputs, outputs, labels, a_rows, scores, delta_in):  # fmt: skip
    for i in range(n):
        reach = 1 + np.random.randint(window)
        lo, hi = max(0, i - reach), min(n, i + reach + 1)
        center = sentence[i]
        if mode == CBOW:
            _cbow_step(sentence, lo, hi, i, input_offsets, input_rows, w_in, w_out, cumulative, negative, alpha, h,
                       grad, updates_in, updates_out)  # fmt: skip
        elif mode == SKIPGRAM:
            for c in range(lo, hi):
                if c != i:
                    word = sentence[c]
                    u = _input_vector(word, input_offsets, input_rows, w_in, h)
                    _negative_step(u, center, w_out, cumulative, negative, alpha, grad, updates_out)
                    _scatter(word, input_offsets, input_rows, w_in, grad, updates_in)
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
                    n_inputs += 1
                if n_inputs == batch_size or (c == hi and n_inputs > 0):
                    _batch_step(inputs, n_inputs, outputs, labels, input_offsets, input_rows, w_in, w_out, alpha,
                                a_rows, scores, delta_in, updates_in)  # fmt: skip
                    n_inputs = 0


@numba.njit(cache=True, nogil=True, fastmath=True)
def train_sentences(ids, offsets, keep, cumulative, input_offsets, input_rows, w_in, w_out, updates_in, updates_out,
                    mode, window, negative, batch_size, max_length, step_size, progress, total, scale, seed):  # fmt: skip
    """Train on the sentences ``ids[offsets[r]:offsets[r+1]]`` (vocabulary ids, -1 for
    words out of the vocabulary, which are dropped); word w's input rows are
    ``input_rows[input_offsets[w]:input_offsets[w+1]]``. Returns the in-vocabulary
    words read (before subsampling)."""
    np.random.seed(seed)
    d = w_in.shape[1]
    sentence = np.empty(max_length, dtype=np.int64)
    grad, h = np.zeros(d, np.float32), np.zeros(d, np.float32)
    inputs, outputs = np.empty(batch_size, dtype=np.int64), np.empty(negative + 1, dtype=np.int64)
    labels = np.empty(negative + 1)
    a_rows = np.empty((batch_size, d), np.float32)
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
                _train_piece(sentence, n, mode, window, negative, batch_size, alpha, input_offsets, input_rows, w_in,
                             w_out, cumulative, updates_in, updates_out, grad, h, inputs, outputs, labels, a_rows,
                             scores, delta_in)  # fmt: skip
                n = 0
        if n > 1:
            _train_piece(sentence, n, mode, window, negative, batch_size, alpha, input_offsets, input_rows, w_in, w_out,
                         cumulative, updates_in, updates_out, grad, h, inputs, outputs, labels, a_rows, scores,
                         delta_in)  # fmt: skip
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
