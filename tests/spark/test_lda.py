"""sagespark.clustering.LDA on Spark: the fit equals the state folded without Spark,
finalize and fitMultiple equal fresh fits, incremental training merges moments, the
model's outputs against independent computations, text through CountVectorizer, and
bad input."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import CountVectorizer, RegexTokenizer
from pyspark.ml.functions import vector_to_array
from pyspark.ml.linalg import Vectors

from sagespark.clustering import LDA, LDAModel
from sagespark.kernels import CSRMatrix
from sagespark.kernels.lda import fold_in
from sagespark.states import LDAMoments
from tests.data import lda_corpus, matched_l1

WORDS, TOPICS = 60, 5


@pytest.fixture(scope="module")
def corpus():
    x, beta, alpha = lda_corpus(3000, WORDS, TOPICS, lengths=(3, 100), topic_concentration=0.2, seed=4)
    x[:7] = 0.0
    x[:7, 0] = [0, 1, 2, 0, 1, 2, 1]  # 7 documents of fewer than 3 tokens
    return x, beta, alpha


def sparse_rows(x):
    return [Vectors.sparse(x.shape[1], {j: float(v) for j, v in enumerate(r) if v}) for r in x]


@pytest.fixture(scope="module")
def df(spark, corpus):
    x = corpus[0]
    rows = [(i, v, float(1 + i % 2)) for i, v in enumerate(sparse_rows(x))]
    return spark.createDataFrame(rows, ["id", "features", "w"]).repartitionByRange(4, "id").cache()


def local_fit(x, k, seed, width, w=None):
    """The two passes of 'sketch' whitening without Spark."""
    first = LDAMoments(x.shape[1], width, seed=seed, third=False).update(CSRMatrix.from_dense(x), w)
    return first.next_pass().update(CSRMatrix.from_dense(x), w)


def test_the_spark_fit_equals_the_state_folded_without_spark(df, corpus):
    x = corpus[0]
    model = LDA(k=TOPICS, seed=9, weightCol="w").fit(df)
    width = TOPICS + 2 + 10
    state = local_fit(x, TOPICS, 9, width, w=1.0 + np.arange(len(x)) % 2)
    np.testing.assert_allclose(model.state.t1, state.t1, rtol=1e-9, atol=1e-12 * np.abs(state.t1).max())
    expected = state.finalize(TOPICS, 1.0, 2, seed=9)
    np.testing.assert_allclose(model.topicsMatrix().toArray(), expected.topics, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(model.estimatedDocConcentration().toArray(), expected.alpha, rtol=1e-7)
    summary = model.summary
    assert (summary.numRows, summary.numPasses, summary.numShortDocuments) == (3000, 2, 7)
    assert summary.numDocuments == pytest.approx(1.5 * 3000 - (1 + 2 + 1 + 2 + 1 + 2 + 1), rel=1e-12)


def test_the_topics_of_the_generating_lda_are_found(df, corpus):
    """3000 documents of 3-100 tokens: measured l1 0.035, alpha0 0.991 (smoothing off)."""
    x, beta, _ = corpus
    model = LDA(k=TOPICS, topicSmoothing=0.0).fit(df)
    assert matched_l1(model.topicsMatrix().toArray(), beta) <= 0.06
    assert model.estimatedDocConcentration().toArray().sum() == pytest.approx(1.0, rel=0.05)
    assert model.vocabSize() == WORDS and not model.isDistributed()


def test_finalize_and_fit_multiple_equal_fresh_fits_of_the_same_width(df):
    """k = 6 has 2 extra topics and width 6 + 2 + 10 = 18; k = 4 (1 extra topic) with
    oversampling 13 has the same width, so the same state."""
    model = LDA(k=6).fit(df)
    for k, alpha0 in ((4, 0.5), (6, 2.0)):
        fresh = LDA(k=k, alpha0=alpha0, oversampling=18 - k - (-(-k // 4))).fit(df)
        np.testing.assert_allclose(model.finalize(k=k, alpha0=alpha0).topicsMatrix().toArray(),
                                   fresh.topicsMatrix().toArray(), rtol=1e-9, atol=1e-12)  # fmt: skip
    estimator = LDA(k=6)
    grid = [{estimator.k: 4, estimator.alpha0: 0.5}, {estimator.k: 6, estimator.alpha0: 2.0},
            {estimator.docConcentration: [0.5]}]
    models = dict(estimator.fitMultiple(df, grid))
    assert models[2].summary.phaseSeconds["fold"] == models[0].summary.phaseSeconds["fold"]  # one shared pass
    for index, params in ((0, {"k": 4, "alpha0": 0.5}), (1, {"k": 6, "alpha0": 2.0}), (2, {"alpha0": 3.0})):
        np.testing.assert_allclose(models[index].topicsMatrix().toArray(),
                                   model.finalize(**params).topicsMatrix().toArray(), rtol=1e-12)  # fmt: skip


def test_incremental_training_merges_a_new_corpus_into_the_models_moments(spark, df, corpus):
    x = corpus[0]
    first = LDA(k=TOPICS, seed=2).fit(df.where("id < 2000"))
    later = df.where("id >= 2000")
    continued = LDA(k=TOPICS, seed=2).setInitialModel(first).fit(later)
    expected = first.state.merge(first.state.continuation().update(CSRMatrix.from_dense(x[2000:])))
    np.testing.assert_allclose(continued.state.t1, expected.t1, rtol=1e-9, atol=1e-12 * np.abs(expected.t1).max())
    assert continued.summary.numPasses == 1 and continued.summary.numRows == 3000
    np.testing.assert_allclose(continued.topicsMatrix().toArray(), expected.finalize(TOPICS, 1.0, 2, seed=2).topics,
                               rtol=1e-7, atol=1e-12)  # fmt: skip


def test_transform_and_likelihood_agree_with_the_fold_in_of_the_model(df, corpus):
    """topicDistribution is the fold-in under the model's topics and prior; logLikelihood
    sums sum_v c_v log(theta . beta_v), here recomputed in numpy from transform's theta;
    the perplexity is within 1% of the generating model's (measured 3.4338 vs 3.4190 with
    the default topicSmoothing 0.1; 3.4183 without smoothing)."""
    x, beta, alpha = corpus
    model = LDA(k=TOPICS).fit(df)
    out = model.transform(df).orderBy("id").select(vector_to_array("topicDistribution").alias("t")).collect()
    theta = np.array([row["t"] for row in out])
    topics, prior = model.topicsMatrix().toArray(), model.estimatedDocConcentration().toArray()
    csr = CSRMatrix.from_dense(x)
    expected, _ = fold_in(csr.indptr, csr.indices, csr.data, topics, prior, 200, 1e-6)
    np.testing.assert_allclose(theta, expected, atol=1e-12)
    np.testing.assert_allclose(theta.sum(axis=1), 1.0, rtol=1e-12)
    loglik = sum(c[c > 0] @ np.log(topics[c > 0] @ t) for c, t in zip(x, theta))
    assert model.logLikelihood(df) == pytest.approx(loglik, rel=1e-9)
    assert model.logPerplexity(df) == pytest.approx(-loglik / x.sum(), rel=1e-9)
    _, true_loglik = fold_in(csr.indptr, csr.indices, csr.data, beta, alpha, 200, 1e-6)
    assert model.logPerplexity(df) <= -true_loglik.sum() / x.sum() * 1.01


def test_describe_topics_is_mllibs_frame_of_the_most_probable_words(df):
    model = LDA(k=TOPICS).fit(df)
    described = model.describeTopics(4)
    assert described.schema.simpleString() == "struct<topic:int,termIndices:array<int>,termWeights:array<double>>"
    topics = model.topicsMatrix().toArray()
    for row in described.collect():
        column = topics[:, row["topic"]]
        assert row["termIndices"] == np.argsort(-column, kind="stable")[:4].tolist()
        np.testing.assert_allclose(row["termWeights"], np.sort(column)[::-1][:4], rtol=1e-15)


def test_text_through_count_vectorizer_in_a_saved_pipeline(spark, tmp_path):
    """Documents about two subjects: the two topics' top words are the two subjects'."""
    rng = np.random.default_rng(0)
    subjects = [["ball", "goal", "team", "match", "score", "coach"], ["rain", "cloud", "storm", "wind", "sun", "snow"]]
    texts = [" ".join(rng.choice(subjects[i % 2], size=12)) for i in range(400)]
    docs = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], ["id", "text"])
    pipeline = Pipeline(stages=[RegexTokenizer(inputCol="text", outputCol="words"),
                                CountVectorizer(inputCol="words", outputCol="features"),
                                LDA(k=2, extraTopics=0)])  # fmt: skip
    fitted = pipeline.fit(docs)
    fitted.write().save(str(tmp_path / "pipeline"))
    loaded = PipelineModel.load(str(tmp_path / "pipeline"))
    vocabulary = loaded.stages[1].vocabulary
    lda = loaded.stages[-1]
    assert isinstance(lda, LDAModel)
    found = [{vocabulary[i] for i in row["termIndices"]} for row in lda.describeTopics(6).collect()]
    assert sorted(found, key=sorted) == sorted(map(set, subjects), key=sorted)
    mixtures = loaded.transform(docs).orderBy("id").select(vector_to_array("topicDistribution").alias("t")).collect()
    dominant = np.array([np.argmax(row["t"]) for row in mixtures])
    assert len(set(dominant[::2])) == 1 and len(set(dominant[1::2])) == 1 and dominant[0] != dominant[1]


def test_bad_input_is_one_clear_error(spark, df):
    frame = spark.createDataFrame([(0, Vectors.dense([1.0, 2.0, 3.0])), (1, Vectors.dense([1.0, -1.0, 4.0])),
                                   (2, Vectors.dense([0.5, 2.0, 3.0])), (3, Vectors.dense([2.0, 2.0, 2.0]))],
                                  ["id", "features"]).coalesce(1)  # fmt: skip
    with pytest.raises(ValueError) as info:
        LDA(k=1).fit(frame)
    assert str(info.value) == ("column 'features', partition 0: 2 row(s) hold a negative or non-integer value, "
                               "expected term counts. Set handleInvalid='skip' to drop such rows and count them.")  # fmt: skip
    skipped = LDA(k=1, extraTopics=0, handleInvalid="skip").fit(frame)
    assert (skipped.summary.numRows, skipped.summary.numRowsSkipped) == (2, 2)
    with pytest.raises(ValueError, match="k=5 with 2 extra topics needs more words than the vocabulary's 3"):
        LDA(k=5).fit(frame.where("id in (0, 3)"))
    with pytest.raises(ValueError, match="no documents of 3 or more tokens"):
        LDA(k=1, extraTopics=0).fit(spark.createDataFrame([(0, Vectors.dense([1.0, 1.0, 0.0]))], ["id", "features"]))
    model = LDA(k=TOPICS).fit(df)
    narrow = spark.createDataFrame([(0, Vectors.dense([1.0, 2.0, 3.0]))], ["id", "features"])
    with pytest.raises(Exception, match=f"1 row\\(s\\) have dimension 3, expected {WORDS}"):
        model.transform(narrow).collect()
    for params, message in (({"k": 0}, "k must be > 0"), ({"whitening": "exact"}, "whitening must be one of"),
                            ({"docConcentration": [0.1, 0.2]}, "docConcentration has 2 values"),
                            ({"alpha0": -1.0}, "alpha0")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            LDA(**params).fit(df)
