"""The ``sagespark`` command: ``demo``, ``train kmeans``, ``predict``.

Runs on an embedded local Spark, or under spark-submit against any master (the active
session is used when there is one)::

    spark-submit --master yarn "$(python -c 'import sagespark.cli as c; print(c.__file__)')" \\
        train kmeans --input s3://bucket/features.parquet --k 100 --output s3://bucket/model
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np


def _session():
    from sagespark.spark.session import local_session

    return local_session()


def generate_blobs(spark, path: str, rows: int, dim: int, clusters: int, seed: int = 0, partitions: int = 8) -> None:
    """Gaussian blobs of unequal sizes as parquet with a vector column 'features'
    (generated inside Spark, so any size works)."""
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F

    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, 10.0, (clusters, dim))
    cumulative = np.cumsum(rng.dirichlet(np.full(clusters, 2.0)))
    cluster = F.lit(clusters - 1)
    u = F.rand(seed)
    for c in reversed(range(clusters - 1)):
        cluster = F.when(u < float(cumulative[c]), F.lit(c)).otherwise(cluster)
    mean_of = F.array(*[F.array(*[F.lit(float(v)) for v in m]) for m in means])
    df = spark.range(rows, numPartitions=partitions).withColumn("cluster", cluster)
    values = F.array(*[F.element_at(F.element_at(mean_of, F.col("cluster") + 1), j + 1) + F.randn(seed + 1 + j)
                       for j in range(dim)])  # fmt: skip
    df.select(array_to_vector(values).alias("features")).write.mode("overwrite").parquet(path)


def _train(spark, args) -> dict:
    from sagespark.clustering import KMeans

    df = spark.read.parquet(args.input)
    start = time.perf_counter()
    model = KMeans(k=args.k, featuresCol=args.features_col, seed=args.seed).fit(df)
    seconds = time.perf_counter() - start
    model.write().overwrite().save(args.output)
    return {"model": args.output, "k": args.k, "rows": model.summary.numRows, "fit_seconds": round(seconds, 3)}


def _predict(spark, args) -> dict:
    from sagespark.clustering import KMeansModel

    model = KMeansModel.load(args.model)
    model.transform(spark.read.parquet(args.input)).write.mode("overwrite").parquet(args.output)
    return {"predictions": args.output}


def _demo(spark, args) -> dict:
    """Fit sagespark KMeans and MLlib KMeans on the same parquet data; save, load,
    transform; print costs (one evaluation pass for both) and timings."""
    from pyspark.ml.clustering import KMeans as MLlibKMeans

    from sagespark.clustering import KMeans, KMeansModel

    workdir = Path(tempfile.mkdtemp(prefix="sagespark-demo-"))
    path = args.input or str(workdir / "blobs.parquet")
    if not args.input:
        generate_blobs(spark, path, args.rows, args.dim, args.clusters)
    df = spark.read.parquet(path).cache()
    rows = df.count()
    start = time.perf_counter()
    model = KMeans(k=args.k, seed=args.seed).fit(df)
    ours = time.perf_counter() - start
    model.write().overwrite().save(str(workdir / "model"))
    loaded = KMeansModel.load(str(workdir / "model"))
    predicted = loaded.transform(df).select("prediction").distinct().count()
    start = time.perf_counter()
    mllib = MLlibKMeans(k=args.k, seed=args.seed, maxIter=20).fit(df)
    theirs = time.perf_counter() - start
    cost_ours = loaded.computeCost(df).ssd
    cost_mllib = loaded.computeCost(df, np.array(mllib.clusterCenters())).ssd
    return {
        "rows": rows, "k": args.k, "distinct_predictions": predicted,
        "sagespark_fit_s": round(ours, 3), "mllib_fit_s": round(theirs, 3),
        "speedup": round(theirs / ours, 2), "sagespark_cost": cost_ours, "mllib_cost": cost_mllib,
        "cost_ratio": round(cost_ours / cost_mllib, 4), "model_dir": str(workdir / "model"),
    }  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sagespark", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="fit, save, load, transform; compare with MLlib KMeans")
    demo.add_argument("--input", help="parquet with a vector column 'features' (default: generated blobs)")
    demo.add_argument("--rows", type=int, default=200_000)
    demo.add_argument("--dim", type=int, default=16)
    demo.add_argument("--clusters", type=int, default=20)
    demo.add_argument("--k", type=int, default=20)
    demo.add_argument("--seed", type=int, default=1)
    train = commands.add_parser("train", help="train a model from parquet and save it")
    train.add_argument("algorithm", choices=["kmeans"])
    train.add_argument("--input", required=True)
    train.add_argument("--k", type=int, required=True)
    train.add_argument("--features-col", default="features")
    train.add_argument("--seed", type=int, default=1)
    train.add_argument("--output", required=True, help="model directory")
    predict = commands.add_parser("predict", help="add predictions to parquet with a saved model")
    predict.add_argument("--model", required=True)
    predict.add_argument("--input", required=True)
    predict.add_argument("--output", required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    spark = _session()
    run = {"demo": _demo, "train": _train, "predict": _predict}[args.command]
    print(json.dumps(run(spark, args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
