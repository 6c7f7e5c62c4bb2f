"""The fastText text classifier's loops (BlazingText's supervised mode), in numba.

A document's inputs are its words in the vocabulary (ids 0..n_words-1) and its word
n-grams for n = 2..word_ngrams, each hashed into one of ``buckets`` rows after the
words' (row n_words + h % buckets, h folding the tokens' hashes as fastText's
addWordNgrams does: h = h * 116049371 + hash, over every token, in the vocabulary or
not). With A (the input rows, (n_words + buckets) x d) and B (one output row per
class, C x d), a document of inputs I and label y is

    h = mean_{i in I} A_i,      p = softmax(B h),      loss = -log p_y,

and one SGD step at rate alpha is, with g_c = alpha (1[c = y] - p_c),

    B_c += g_c h  (every class),      A_i += (sum_c g_c B_c) / |I|  (every input, old B),

fastText's update (its supervised gradient is divided by the number of inputs). The rate
decays linearly on the tokens all partitions have read, as word2vec's
(sagespark.kernels.word2vec).
"""

from __future__ import annotations

import numba
import numpy as np

from sagespark.kernels.word2vec import MIN_RATE

_NGRAM_MULTIPLIER = np.uint64(116049371)


@numba.njit(cache=True, nogil=True)
def document_inputs(ids, hashes, start, end, n_words, buckets, word_ngrams, out):
    """The input rows of the document ``ids[start:end]`` into ``out``; returns how many."""
    count = 0
    for t in range(start, end):
        if ids[t] >= 0:
            out[count] = ids[t]
            count += 1
    if buckets > 0:
        for i in range(start, end):
            h = np.uint64(hashes[i])
            for j in range(i + 1, min(end, i + word_ngrams)):
                h = h * _NGRAM_MULTIPLIER + np.uint64(hashes[j])
                out[count] = n_words + np.int64(h % np.uint64(buckets))
                count += 1
    return count


@numba.njit(cache=True, nogil=True, fastmath=True)
def _hidden(w_in, inputs, count, h):
    h[:] = 0.0
    for k in range(count):
        for j in range(w_in.shape[1]):
            h[j] += w_in[inputs[k], j]
    for j in range(w_in.shape[1]):
        h[j] /= np.float32(count)


@numba.njit(cache=True, nogil=True, fastmath=True)
def _softmax(w_out, h, p):
    best = -np.inf
    for c in range(w_out.shape[0]):
        score = 0.0
        for j in range(w_out.shape[1]):
            score += w_out[c, j] * h[j]
        p[c] = score
        best = max(best, score)
    total = 0.0
    for c in range(w_out.shape[0]):
        p[c] = np.exp(p[c] - best)
        total += p[c]
    for c in range(w_out.shape[0]):
        p[c] /= total


@numba.njit(cache=True, nogil=True, fastmath=True)
def train_documents(ids, hashes, offsets, labels, w_in, w_out, steps_in, steps_out, n_words, buckets, word_ngrams,
                    step_size, progress, total, scale):  # fmt: skip
    """One pass of SGD over the documents ``ids[offsets[r]:offsets[r+1]]`` (vocabulary
    ids, -1 out of it; ``hashes`` the tokens' hashes) with class ``labels[r]``; returns
    the tokens read. Documents with no input are skipped."""
    d, classes = w_in.shape[1], w_out.shape[0]
    longest = 0
    for r in range(len(offsets) - 1):
        longest = max(longest, offsets[r + 1] - offsets[r])
    inputs = np.empty(longest * max(word_ngrams, 1), dtype=np.int64)
    h, grad, p = np.zeros(d, np.float32), np.zeros(d, np.float32), np.zeros(classes)
    read = 0
    for r in range(len(offsets) - 1):
        alpha = step_size * max(MIN_RATE, 1.0 - (progress + read * scale) / total)
        read += offsets[r + 1] - offsets[r]
        count = document_inputs(ids, hashes, offsets[r], offsets[r + 1], n_words, buckets, word_ngrams, inputs)
        if count == 0:
            continue
        _hidden(w_in, inputs, count, h)
        _softmax(w_out, h, p)
        grad[:] = 0.0
        for c in range(classes):
            g = np.float32(alpha * ((1.0 if c == labels[r] else 0.0) - p[c]))
            for j in range(d):
                grad[j] += g * w_out[c, j]
                w_out[c, j] += g * h[j]
            steps_out[c] += 1.0
        for k in range(count):
            for j in range(d):
                w_in[inputs[k], j] += grad[j] / np.float32(count)
            steps_in[inputs[k]] += 1.0
    return read


@numba.njit(cache=True, nogil=True, fastmath=True)
def document_probabilities(ids, hashes, offsets, w_in, w_out, n_words, buckets, word_ngrams):
    """(scores B h, softmax probabilities) per document; a document with no input gets
    h = 0 (uniform probabilities), as fastText predicts for an empty line."""
    d, classes, n = w_in.shape[1], w_out.shape[0], len(offsets) - 1
    longest = 0
    for r in range(n):
        longest = max(longest, offsets[r + 1] - offsets[r])
    inputs = np.empty(longest * max(word_ngrams, 1), dtype=np.int64)
    scores, probabilities = np.zeros((n, classes)), np.zeros((n, classes))
    h, p = np.zeros(d, np.float32), np.zeros(classes)
    for r in range(n):
        count = document_inputs(ids, hashes, offsets[r], offsets[r + 1], n_words, buckets, word_ngrams, inputs)
        if count == 0:
            h[:] = 0.0
        else:
            _hidden(w_in, inputs, count, h)
        for c in range(classes):
            score = 0.0
            for j in range(d):
                score += w_out[c, j] * h[j]
            scores[r, c] = score
        _softmax(w_out, h, p)
        probabilities[r] = p
    return scores, probabilities
