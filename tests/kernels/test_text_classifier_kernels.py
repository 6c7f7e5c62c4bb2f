"""The text classifier's kernels (sagespark.kernels.text_classifier) against plain numpy
and Python: fastText's word n-gram rows, the softmax SGD steps, and the scores."""

from __future__ import annotations

import numpy as np

from sagespark.kernels.text_classifier import document_inputs, document_probabilities, train_documents
from sagespark.kernels.tokens import Tokens

N_WORDS, BUCKETS, D, CLASSES, ALPHA = 5, 7, 3, 3, 0.1


def ngram_rows(hashes, n_words, buckets, word_ngrams):
    """fastText's addWordNgrams, in Python integers."""
    rows = []
    for i in range(len(hashes)):
        h = int(hashes[i])
        for j in range(i + 1, min(len(hashes), i + word_ngrams)):
            h = (h * 116049371 + int(hashes[j])) % (1 << 64)
            rows.append(n_words + h % buckets)
    return rows


def test_inputs_are_the_known_words_then_the_hashed_ngrams_of_every_token():
    tokens = Tokens.of([["a", "zz", "b", "c"]])
    ids, hashes = np.array([0, -1, 1, 2], np.int32), tokens.hashes()
    out = np.empty(20, np.int64)
    for word_ngrams in (1, 2, 3):
        count = document_inputs(ids, hashes, 0, 4, N_WORDS, BUCKETS, word_ngrams, out)
        assert out[:count].tolist() == [0, 1, 2] + ngram_rows(hashes, N_WORDS, BUCKETS, word_ngrams)


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def test_training_takes_the_softmax_steps_of_the_numpy_reference():
    rng = np.random.default_rng(0)
    w_in = rng.normal(size=(N_WORDS + BUCKETS, D)).astype(np.float32)
    w_out = rng.normal(size=(CLASSES, D)).astype(np.float32)
    docs = [[0, 1, -1], [2, 2], [-1], [3, 4, 0, 1]]
    labels = np.array([0, 2, 1, 1], np.float64)
    ids = np.array(sum(docs, []), np.int32)
    offsets = np.concatenate([[0], np.cumsum([len(d) for d in docs])]).astype(np.int64)
    hashes = rng.integers(0, 1 << 32, len(ids)).astype(np.uint32)
    a, b = w_in.astype(np.float64), w_out.astype(np.float64)
    out = np.empty(32, np.int64)
    for r, label in enumerate(labels):
        count = document_inputs(ids, hashes, offsets[r], offsets[r + 1], N_WORDS, BUCKETS, 2, out)
        if count == 0:
            continue
        rows = out[:count].copy()
        h = a[rows].mean(axis=0)
        g = ALPHA * (np.eye(CLASSES)[int(label)] - softmax(b @ h))
        grad = g @ b
        b += np.outer(g, h)
        np.add.at(a, rows, grad / count)
    steps_in, steps_out = np.zeros(len(w_in)), np.zeros(CLASSES)
    read = train_documents(ids, hashes, offsets, labels, w_in, w_out, steps_in, steps_out, N_WORDS, BUCKETS, 2,
                           ALPHA, 0.0, 1e12, 1.0)  # fmt: skip
    assert read == len(ids)
    np.testing.assert_allclose(w_out, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w_in, a, rtol=1e-5, atol=1e-6)
    assert steps_out.tolist() == [3.0, 3.0, 3.0]  # the document [-1] has no input
    scores, probabilities = document_probabilities(ids, hashes, offsets, w_in, w_out, N_WORDS, BUCKETS, 2)
    first = w_in[[0, 1] + ngram_rows(hashes[:3], N_WORDS, BUCKETS, 2)].astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(scores[0], w_out @ first, rtol=1e-5)
    np.testing.assert_allclose(probabilities[0], softmax(w_out @ first), rtol=1e-5)
    np.testing.assert_allclose(probabilities[2], np.full(CLASSES, 1 / CLASSES))  # no input: h = 0
