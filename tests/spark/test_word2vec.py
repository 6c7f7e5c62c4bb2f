"""sagespark.feature.Word2Vec on Spark: the fit equals the state folded without Spark,
planted clusters on 4 partitions, the model's outputs against numpy and gensim, subword
vectors for unknown words, save and load (and a folder saved by an earlier version), a
Pipeline from raw text, and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import RegexTokenizer
from pyspark.ml.functions import vector_to_array
from pyspark.ml.linalg import Vectors

from sagespark.feature import Word2Vec, Word2VecModel
from tests.data import cluster_purity, planted_sentences, spelled_sentences
from tests.spark.test_saved_models import assert_token_model_loads, write_token_model
from tests.states.test_word2vec_state import local_fit

PLANTED = planted_sentences()
SMALL = {"vectorSize": 10, "minCount": 1, "samplingThreshold": 0.0, "seed": 3}
SAVED = Path(__file__).parent / "saved_models" / "tokens" / "Word2Vec.json"


@pytest.fixture(scope="module")
def sentences(spark):
    rows = [(i, words) for i, words in enumerate(PLANTED)]
    return spark.createDataFrame(rows, "id long, words array<string>").coalesce(1).cache()


@pytest.fixture(scope="module")
def model(sentences):
    return Word2Vec(inputCol="words", maxIter=2, mode="skipgram", **SMALL).fit(sentences)


def test_the_spark_fit_equals_the_state_folded_without_spark(model):
    """One partition, one Arrow batch: the same steps from the same seeds (to float32
    rounding: fastmath lets a SIMD sum's order follow the arrays' alignment)."""
    local = local_fit(PLANTED, 1, batch=10_000, vector_size=10, min_count=1.0, sample=0.0, seed=3 % (1 << 63),
                      epochs=2, mode="skipgram")  # fmt: skip
    assert model._state.words.tolist() == local.words.tolist()
    np.testing.assert_allclose(model._state.w_in, local.w_in, rtol=0, atol=1e-5)
    summary = model.summary
    assert (summary.numPasses, summary.roundsPerEpoch, summary.vocabularySize) == (3, 1, 200)
    assert summary.trainWords == 8 * len(PLANTED) and summary.numRows == len(PLANTED)


def test_planted_clusters_become_neighbours_on_four_partitions(sentences):
    model = Word2Vec(inputCol="words", maxIter=2, numPartitions=4, **SMALL).fit(sentences)
    assert model.summary.roundsPerEpoch == 16 and model.summary.numPasses == 1 + 2 * 16
    assert model.summary.numRows == len(PLANTED)  # every row, though a round's pass reads only its own
    assert model._state.config.merge_rule == "saturating"  # the default
    assert cluster_purity(model._state.words, model._state.w_in) >= 0.95


def test_transform_gives_each_rows_mean_vector_through_collect_cache_parquet_and_a_stream(spark, model, tmp_path):
    vectors = {w: v.toArray() for w, v in model.getVectors().collect()}
    rows = [(0, ["c0w1", "c1w2", "unseen"]), (1, []), (2, ["unseen"])]
    df = spark.createDataFrame(rows, "id int, words array<string>")
    out = model.copy().setOutputCol("mean").transform(df).cache()
    out.write.parquet(str(tmp_path / "out"))
    for frame in (out, spark.read.parquet(str(tmp_path / "out"))):
        got = [np.asarray(r[0]) for r in frame.orderBy("id").select(vector_to_array("mean")).collect()]
        np.testing.assert_allclose(got[0], (vectors["c0w1"] + vectors["c1w2"]) / 2, rtol=1e-6)
        assert (got[1] == 0).all() and (got[2] == 0).all()  # no known word: zeros, as MLlib's
    df.write.parquet(str(tmp_path / "in"))
    streamed = model.copy().setOutputCol("mean").transform(spark.readStream.schema(df.schema).parquet(str(tmp_path / "in")))
    query = (streamed.writeStream.format("memory").queryName("word2vec_stream").trigger(availableNow=True)
             .option("checkpointLocation", str(tmp_path / "checkpoint")).start())  # fmt: skip
    query.awaitTermination()
    assert query.exception() is None
    found = spark.table("word2vec_stream").orderBy("id").select(vector_to_array("mean")).collect()
    np.testing.assert_array_equal(np.array([r[0] for r in found]), np.array(got))
    spark.sql("DROP VIEW IF EXISTS word2vec_stream")


def test_find_synonyms_ranks_by_cosine_and_leaves_the_word_out(model):
    words = model._state.words
    unit = model._state.w_in / np.linalg.norm(model._state.w_in, axis=1, keepdims=True)
    similarity = unit @ unit[words.tolist().index("c3w7")]
    expected = [w for w in words[np.argsort(-similarity)] if w != "c3w7"][:4]
    found = model.findSynonymsArray("c3w7", 4)
    assert [w for w, _ in found] == expected
    np.testing.assert_allclose([s for _, s in found], np.sort(similarity)[::-1][1:5], rtol=1e-6)
    frame = model.findSynonyms(Vectors.dense(model._state.w_in[words.tolist().index("c3w7")]), 4)
    assert [r.word for r in frame.collect()][0] == "c3w7"  # a vector query keeps every word
    with pytest.raises(ValueError, match="'nope' is not in the vocabulary .* no vector \\(fit with subwords=True"):
        model.findSynonymsArray("nope", 3)


def test_save_load_and_the_word2vec_text_format_that_gensim_reads(model, tmp_path):
    from gensim.models import KeyedVectors

    model.write().save(str(tmp_path / "m"))
    loaded = Word2VecModel.load(str(tmp_path / "m"))
    np.testing.assert_array_equal(loaded._state.w_in, model._state.w_in)
    assert loaded.getMode() == "skipgram" and loaded.summary.numPasses == 3
    loaded.saveWord2VecFormat(str(tmp_path / "vectors.txt"))
    vectors = KeyedVectors.load_word2vec_format(str(tmp_path / "vectors.txt"), binary=False)
    assert vectors.index_to_key == model._state.words.tolist()
    np.testing.assert_array_equal(vectors.vectors, model._state.w_in)  # float32 written exactly


@pytest.mark.matrix
def test_a_pipeline_from_raw_text_fits_saves_and_loads(spark, tmp_path):
    text = [(" ".join(words),) for words in PLANTED[:400]]
    df = spark.createDataFrame(text, "text string")
    pipeline = Pipeline(stages=[RegexTokenizer(inputCol="text", outputCol="words", pattern=" "),
                                Word2Vec(inputCol="words", outputCol="vec", maxIter=1, **SMALL)])  # fmt: skip
    fitted = pipeline.fit(df)
    fitted.write().save(str(tmp_path / "p"))
    expected = fitted.transform(df).select(vector_to_array("vec")).collect()
    found = PipelineModel.load(str(tmp_path / "p")).transform(df).select(vector_to_array("vec")).collect()
    np.testing.assert_array_equal(np.array([r[0] for r in found]), np.array([r[0] for r in expected]))


def test_subwords_give_unknown_words_vectors_in_transform_find_synonyms_and_a_reloaded_model(spark, tmp_path):
    """An unknown word's vector is the mean of its n-grams' trained rows (the state's
    SubwordVectors, checked exactly in tests/states); transform and findSynonyms use it."""
    rows, _ = spelled_sentences()
    df = spark.createDataFrame([(words,) for words in rows[:400]], "words array<string>").coalesce(1)
    model = Word2Vec(inputCol="words", maxIter=1, subwords=True, buckets=10_000, **SMALL).fit(df)
    solution = model._state.finalize()
    word = solution.words[0]
    candidates = ["#", "&", "+", "="]
    found, vectors = solution.subwords.vectors([word + "qz"] + candidates)
    none = candidates[found[1:].tolist().index(False)]  # a token whose only n-gram "<x>" no vocabulary word uses
    query = spark.createDataFrame([(0, [word, word + "qz", none]), (1, [none])], "id int, words array<string>")
    model.write().save(str(tmp_path / "m"))
    for fitted in (model, Word2VecModel.load(str(tmp_path / "m"))):
        got = [np.asarray(r[0]) for r in fitted.transform(query).orderBy("id").select(vector_to_array("vector")).collect()]
        np.testing.assert_allclose(got[0], (solution.vectors[0] + vectors[0]) / 2, rtol=1e-5)  # none left out
        assert (got[1] == 0).all()
        by_word, by_vector = fitted.findSynonymsArray(word + "qz", 3), fitted.findSynonymsArray(vectors[0], 3)
        assert [w for w, _ in by_word] == [w for w, _ in by_vector]
        np.testing.assert_allclose([s for _, s in by_word], [s for _, s in by_vector], rtol=1e-6)
    with pytest.raises(ValueError, match="is not in the vocabulary .* and has no trained character n-gram"):
        model.findSynonymsArray(none, 3)


def test_bad_input_is_one_clear_error(spark):
    numbers = spark.createDataFrame([([1, 2],)], "words array<int>")
    with pytest.raises(ValueError, match="column 'words' must be an array<string> of tokens.*found array<int>"):
        Word2Vec(inputCol="words").fit(numbers)
    with pytest.raises(ValueError, match="set inputCol"):
        Word2Vec().fit(numbers)
    nulls = spark.createDataFrame([(["a", "b"],), (None,), (["a", None],)], "words array<string>").coalesce(1)
    with pytest.raises(ValueError, match=r"column 'words', partition 0: 1 row\(s\) are null"):
        Word2Vec(inputCol="words", minCount=1).fit(nulls)
    skipped = Word2Vec(inputCol="words", minCount=1, maxIter=1, handleInvalid="skip").fit(nulls)
    assert (skipped.summary.numRows, skipped.summary.numRowsSkipped) == (1, 2)
    with pytest.raises(ValueError, match="the vocabulary is empty.*minCount=5"):
        Word2Vec(inputCol="words").fit(nulls.where("words is not null and size(words) = 2 and words[1] = 'b'"))
    with pytest.raises(ValueError, match="roundsPerEpoch must be 'auto' or an integer >= 1"):
        Word2Vec(inputCol="words", roundsPerEpoch=0).fit(nulls)
    with pytest.raises(ValueError, match="does not continue a fitted model"):
        Word2Vec(inputCol="words").setInitialModel(skipped)


def test_a_model_saved_before_loads_and_gives_the_same_outputs(spark, tmp_path):
    assert_token_model_loads(spark, SAVED, Word2VecModel, "vector", tmp_path / "model")


def _write_saved() -> None:
    """The saved folder the test above loads (``python -m tests.spark.test_word2vec``;
    never rewrite it)."""
    from sagespark.spark.session import local_session

    spark = local_session("local[2]", driver_memory="2g", shuffle_partitions=4)
    df = spark.createDataFrame([(words,) for words in PLANTED[:200]], "words array<string>").coalesce(1)
    model = Word2Vec(inputCol="words", vectorSize=4, maxIter=1, **{k: v for k, v in SMALL.items() if k != "vectorSize"}).fit(df)
    write_token_model(SAVED, model, df, "vector")
    spark.stop()


if __name__ == "__main__":
    if not SAVED.exists():
        _write_saved()
