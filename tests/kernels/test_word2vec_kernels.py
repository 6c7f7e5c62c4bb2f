"""The word2vec kernels (sagespark.kernels.word2vec) against a plain numpy reference of
each mode's negative-sampling steps, made deterministic: window 1 (every reduced window
is 1), no subsampling, and a noise distribution with all its mass on one word; and the
step itself against a finite-difference gradient of the objective. With subwords a
word's input vector is the mean of several rows (its own and its n-grams' buckets, some
shared between words) and a step's change goes to each of them."""

from __future__ import annotations

import numpy as np
import pytest

from sagespark.kernels.word2vec import MODES, document_means, train_sentences

V, D, NOISE, ALPHA = 6, 4, 5, 0.05
WORD_ROWS = [[w] for w in range(V)]  # no subwords: a word's input is its own row
SUBWORD_ROWS = [[0, 6, 7], [1, 7], [2, 8, 8], [3], [4, 6, 8], [5, 7]]  # rows 6-8: buckets (8 twice in word 2)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def start(seed=0, input_rows=WORD_ROWS):
    rng = np.random.default_rng(seed)
    rows = 1 + max(max(r) for r in input_rows)
    return rng.normal(size=(rows, D)).astype(np.float32) * 0.5, rng.normal(size=(V, D)).astype(np.float32) * 0.5


def pair_step(u, v_rows, labels, w_out, alpha):
    """Skip-gram with negatives for input vector u against output rows (in order):
    g = alpha (y - sigma(u.v)); v += g u; the returned change of u sums g v (old v)."""
    grad = np.zeros(D)
    for row, label in zip(v_rows, labels):
        g = alpha * (label - sigmoid(u @ w_out[row]))
        grad += g * w_out[row]
        w_out[row] += g * u
    return grad


def reference(sentence, mode, negative, w_in, w_out, input_rows=WORD_ROWS):
    """The steps of one sentence with window 1 and every noise draw = NOISE."""
    w_in, w_out = w_in.astype(np.float64), w_out.astype(np.float64)

    def vector(word):
        return w_in[input_rows[word]].mean(axis=0)

    def add(word, change):
        for row in input_rows[word]:
            w_in[row] += change

    n = len(sentence)
    for i in range(n):
        center, context = sentence[i], [sentence[c] for c in (i - 1, i + 1) if 0 <= c < n]
        noise = [NOISE] * negative if center != NOISE else []
        if mode == "skipgram":
            for word in context:
                add(word, pair_step(vector(word), [center] + noise, [1.0] + [0.0] * len(noise), w_out, ALPHA))
        elif mode == "cbow":  # the mean of all the context words' rows
            h = np.mean([w_in[row] for w in context for row in input_rows[w]], axis=0)
            grad = pair_step(h, [center] + noise, [1.0] + [0.0] * len(noise), w_out, ALPHA)
            for word in context:
                add(word, grad)
        else:  # one batch: A = context vectors, B = [center; noise], both updated from the old values
            a, b = np.array([vector(w) for w in context]), w_out[[center] + noise].copy()
            y = np.array([1.0] + [0.0] * len(noise))
            g = ALPHA * (y - sigmoid(a @ b.T))
            for word, change in zip(context, g @ b):
                add(word, change)
            np.add.at(w_out, [center] + noise, g.T @ a)
    return w_in, w_out


def flat_rows(input_rows):
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in input_rows])]).astype(np.int64)
    return offsets, np.concatenate(input_rows).astype(np.int64)


def run(sentences, mode, negative, w_in, w_out, batch_size=11, input_rows=WORD_ROWS, max_length=1000):
    ids = np.concatenate(sentences).astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sentences])]).astype(np.int64)
    cumulative = np.cumsum(np.eye(V)[NOISE])  # every noise draw is NOISE
    steps_in, steps_out = np.zeros(len(w_in)), np.zeros(V)
    read = train_sentences(ids, offsets, np.ones(V), cumulative, *flat_rows(input_rows), w_in, w_out, steps_in,
                           steps_out, MODES[mode], 1, negative, batch_size, max_length, ALPHA, 0.0, 1e12, 1.0, 7)  # fmt: skip
    return read, steps_in, steps_out


@pytest.mark.parametrize("mode", ["skipgram", "cbow", "batch_skipgram"])
@pytest.mark.parametrize("negative", [1, 3])
@pytest.mark.parametrize("input_rows", [WORD_ROWS, SUBWORD_ROWS], ids=["words", "subwords"])
def test_each_mode_takes_the_steps_of_the_numpy_reference(mode, negative, input_rows):
    sentence = np.array([0, 1, 2, 1, 3, 5, 4, 0])
    w_in, w_out = start(input_rows=input_rows)
    expected_in, expected_out = reference(sentence, mode, negative, w_in, w_out, input_rows)
    read, steps_in, steps_out = run([sentence], mode, negative, w_in, w_out, input_rows=input_rows)
    assert read == len(sentence)
    np.testing.assert_allclose(w_in, expected_in, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(w_out, expected_out, rtol=1e-4, atol=1e-5)
    changed_in = np.abs(w_in - start(input_rows=input_rows)[0]).sum(axis=1) > 0
    assert ((steps_in > 0) == changed_in).all() and steps_out[NOISE] > 0


def test_a_step_is_the_learning_rate_times_the_gradient_of_the_objective():
    """log sigma(u.v) + log sigma(-u.v'): its gradient in u by central differences
    equals the skip-gram step's change of u divided by the learning rate."""
    w_in, w_out = start(3)
    u, rows = w_in[1].astype(np.float64), [2, NOISE]

    def objective(vector):
        return np.log(sigmoid(vector @ w_out[2])) + np.log(sigmoid(-vector @ w_out[NOISE]))

    eps = 1e-6
    numeric = np.array([(objective(u + eps * e) - objective(u - eps * e)) / (2 * eps) for e in np.eye(D)])
    grad = pair_step(u, rows, [1.0, 0.0], w_out.astype(np.float64), 1.0)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6)
    # and the kernel on the sentence [1, 2] with window 1 takes exactly that first step on row 1
    w_in2, w_out2 = start(3)
    run([np.array([1, 2])], "skipgram", 1, w_in2, w_out2)
    expected_in, _ = reference(np.array([1, 2]), "skipgram", 1, *start(3))
    np.testing.assert_allclose(w_in2, expected_in, rtol=1e-4, atol=1e-6)


def test_words_outside_the_vocabulary_are_dropped_and_short_sentences_skipped():
    w_in, w_out = start()
    before = w_in.copy()
    read, steps_in, _ = run([np.array([-1, 3, -1]), np.array([2])], "skipgram", 1, w_in, w_out)
    assert read == 2 and (steps_in == 0).all() and (w_in == before).all()  # one word per sentence: no pairs


def test_a_long_sentence_is_cut_after_max_length_words():
    """With max_length 2, [0 1 2 3] trains as [0 1] and [2 3]: 1 and 2 are never paired."""
    w_in, w_out = start()
    run([np.array([0, 1, 2, 3])], "skipgram", 1, w_in, w_out, max_length=2)
    expected_in, expected_out = start()
    for piece in ([0, 1], [2, 3]):
        expected_in, expected_out = reference(np.array(piece), "skipgram", 1, expected_in, expected_out)
    np.testing.assert_allclose(w_in, expected_in, rtol=1e-4, atol=1e-6)


def test_document_means_average_the_known_words():
    vectors = np.arange(12, dtype=np.float32).reshape(4, 3)
    out = document_means(np.array([0, 2, -1, -1, 3], np.int32), np.array([0, 3, 4, 5]), vectors)
    np.testing.assert_allclose(out, [(vectors[0] + vectors[2]) / 2, np.zeros(3), vectors[3]])
