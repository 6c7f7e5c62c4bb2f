"""The ``sagespark`` command: ``train ALGORITHM``, ``predict``, ``describe``, ``demo``.

Runs on an embedded local Spark, or under spark-submit against any master (the active
session is used when there is one)::

    sagespark train kmeans --input features.parquet --k 100 --output model
    sagespark predict --model model --input features.parquet --output scored.parquet
    sagespark describe model
    spark-submit --master yarn "$(python -c 'import sagespark.cli as c; print(c.__file__)')" \\
        train kmeans --input s3://bucket/features.parquet --k 100 --output s3://bucket/model

Every Estimator's Params are options of its ``train`` subcommand, generated from the
Params themselves (the names, docs and defaults of the Python API). Progress goes to
stderr, one line per pass; stdout gets a short summary and then one JSON line (only the
JSON with ``--json``). An existing output is replaced only with ``--overwrite``. An
error is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

USAGE_ERROR = 2
# subcommand name -> (public module, Estimator class)
ALGORITHMS = {
    "kmeans": ("sagespark.clustering", "KMeans"),
    "lda": ("sagespark.clustering", "LDA"),
    "pca": ("sagespark.feature", "PCA"),
    "standard-scaler": ("sagespark.feature", "StandardScaler"),
    "robust-scaler": ("sagespark.feature", "RobustScaler"),
    "quantile-discretizer": ("sagespark.feature", "QuantileDiscretizer"),
    "linear-learner-classifier": ("sagespark.classification", "LinearLearnerClassifier"),
    "linear-learner-regressor": ("sagespark.regression", "LinearLearnerRegressor"),
    "fm-classifier": ("sagespark.classification", "FMClassifier"),
    "fm-regressor": ("sagespark.regression", "FMRegressor"),
    "knn-classifier": ("sagespark.classification", "KNNClassifier"),
    "knn-regressor": ("sagespark.regression", "KNNRegressor"),
    "word2vec": ("sagespark.feature", "Word2Vec"),
    "blazingtext-classifier": ("sagespark.classification", "BlazingTextClassifier"),
    "xgboost-classifier": ("sagespark.classification", "XGBoostClassifier"),
    "xgboost-regressor": ("sagespark.regression", "XGBoostRegressor"),
}
FORMATS = ("parquet", "csv", "json")
# the model classes `predict` and `describe` load: sagespark's and pyspark.ml's (a
# PipelineModel may hold both); a folder naming anything else is refused
LOADABLE = ("sagespark.", "pyspark.ml.")


class CommandError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def _estimator_class(algorithm: str) -> type:
    module, name = ALGORITHMS[algorithm]
    return getattr(importlib.import_module(module), name)


def _session():
    from sagespark.spark.session import local_session

    return local_session()


# -------------------------------------------------------------------- reading
def _format(path: str, fmt: str | None) -> str:
    """``fmt``, or the path's extension when it names one of FORMATS, else parquet."""
    return fmt or next((f for f in FORMATS if path.rstrip("/").endswith(f".{f}")), "parquet")


def _read(spark, path: str, fmt: str | None):
    """A DataFrame from parquet, CSV (header, inferred types) or JSON Lines."""
    fmt = _format(path, fmt)
    reader = spark.read
    if fmt == "csv":
        reader = reader.option("header", "true").option("inferSchema", "true")
    return getattr(reader, fmt)(path)


def _check_output(spark, path: str, overwrite: bool) -> None:
    """Refuse an existing output before any work (where the session can see the file
    system: not on Spark Connect, where the write itself refuses it)."""
    from sagespark.spark.session import spark_context

    context = spark_context(spark.range(0))
    if overwrite or context is None:
        return
    hadoop_path = context._jvm.org.apache.hadoop.fs.Path(path)
    if hadoop_path.getFileSystem(context._jsc.hadoopConfiguration()).exists(hadoop_path):
        raise CommandError(f"{path} already exists; pass --overwrite to replace it")


@contextlib.contextmanager
def _refusing_existing(path: str) -> Iterator[None]:
    """A write that found ``path`` already there (Spark's errors for it differ by
    writer) becomes the one-line CommandError."""
    try:
        yield
    except Exception as exc:
        if "already exists" in str(exc) or "PATH_ALREADY_EXISTS" in str(exc):
            raise CommandError(f"{path} already exists; pass --overwrite to replace it") from None
        raise


def _save_model(model, path: str, overwrite: bool) -> None:
    writer = model.write()
    with _refusing_existing(path):
        (writer.overwrite() if overwrite else writer).save(path)


def _write_rows(df, path: str, fmt: str | None, overwrite: bool) -> None:
    fmt = _format(path, fmt)
    writer = df.write.mode("overwrite" if overwrite else "errorifexists")
    with _refusing_existing(path):
        getattr(writer.option("header", "true") if fmt == "csv" else writer, fmt)(path)


# -------------------------------------------------------------------- params
def _param_value(stage: Any, name: str, text: str) -> Any:
    """The option's text as the Param's value: JSON where it parses (numbers, booleans,
    lists), else the text; a comma-separated text for a list Param is split."""
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    param = stage.getParam(name)
    try:
        return param.typeConverter(value)
    except (TypeError, ValueError):
        if isinstance(value, str) and "," in value:
            try:
                return param.typeConverter([_param_value_item(v) for v in value.split(",")])
            except (TypeError, ValueError):
                pass
        raise CommandError(f"--{name} {text!r}: not a valid value ({param.doc})") from None


def _param_value_item(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _add_param_options(parser: argparse.ArgumentParser, estimator: Any) -> None:
    group = parser.add_argument_group("params", "the Estimator's Params (see the Python API for each)")
    for param in sorted(estimator.params, key=lambda p: p.name):
        default = estimator.getOrDefault(param) if estimator.hasDefault(param) else None
        shown = "" if default is None else f" (default: {json.dumps(default)})"
        group.add_argument(f"--{param.name}", metavar="VALUE", help=f"{param.doc}{shown}".replace("%", "%%"))


# ------------------------------------------------------------------ progress
class _PassPrinter(list):
    """A ``recorded_passes`` list that prints each pass as it starts (stderr)."""

    def __init__(self, start: float, quiet: bool) -> None:
        super().__init__()
        self.start, self.quiet = start, quiet

    def append(self, description: str) -> None:
        super().append(description)
        _say(f"{description.removeprefix('sagespark ')} (at {time.perf_counter() - self.start:.1f} s)", self.quiet)


def _printed_passes(quiet: bool):
    from sagespark.spark.progress import recorded_passes

    return recorded_passes(_PassPrinter(time.perf_counter(), quiet))


def _say(line: str, quiet: bool = False) -> None:
    if not quiet:
        print(f"sagespark: {line}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ commands
def _train(spark, args) -> dict:
    estimator = _estimator_class(args.algorithm)()
    given = {name: getattr(args, f"param_{name}") for name in (p.name for p in estimator.params)}
    estimator._set(**{name: _param_value(estimator, name, text) for name, text in given.items() if text is not None})
    _check_output(spark, args.output, args.overwrite)
    _say(f"reading {args.input}", args.json)
    df = _read(spark, args.input, args.format)
    start = time.perf_counter()
    with _printed_passes(args.json) as passes:
        model = estimator.fit(df)
    seconds = time.perf_counter() - start
    _say(f"fitted in {seconds:.1f} s ({len(passes)} pass(es)); writing {args.output}", args.json)
    _save_model(model, args.output, args.overwrite)
    summary = model.summary
    return {"summary": repr(model), "model": args.output, "algorithm": args.algorithm, "class": type(model).__name__,
            "rows": summary.numRows, "rows_skipped": summary.numRowsSkipped, "passes": summary.numPasses,
            "fit_seconds": round(seconds, 3)}  # fmt: skip


def load_any_model(path: str) -> Any:
    """The model saved at ``path``: a sagespark Model or a pyspark.ml one (a
    PipelineModel, say), the class read from the folder's metadata and allowed only
    from those packages."""
    metadata = _metadata(path)
    class_name = metadata.get("class", "")
    if not class_name.startswith(LOADABLE):
        raise CommandError(f"{path} holds a {class_name!r}, not a sagespark or pyspark.ml model")
    module, _, name = class_name.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise CommandError(f"{path} holds a {class_name!r}, which this sagespark cannot load") from None
    return cls.load(path)


def _metadata(path: str) -> dict:
    from pyspark.ml.util import DefaultParamsReader
    from pyspark.sql import SparkSession

    try:
        return DefaultParamsReader.loadMetadata(path, SparkSession.getActiveSession())
    except Exception as exc:  # Spark's path-not-found and parse errors have no common type
        raise CommandError(f"{path} is not a saved model (no readable metadata/): {_first_line(exc)}") from None


def _predict(spark, args) -> dict:
    _check_output(spark, args.output, args.overwrite)
    model = load_any_model(args.model)
    _say(f"loaded {type(model).__name__} from {args.model}; scoring {args.input}", args.json)
    start = time.perf_counter()
    _write_rows(model.transform(_read(spark, args.input, args.format)), args.output, args.output_format,
                args.overwrite)  # fmt: skip
    seconds = time.perf_counter() - start
    _say(f"wrote {args.output} in {seconds:.1f} s", args.json)
    return {"summary": f"{type(model).__name__} scored {args.input} into {args.output}", "predictions": args.output,
            "model": args.model, "class": type(model).__name__, "seconds": round(seconds, 3)}  # fmt: skip


def describe(model: Any) -> dict:
    """What a model is: its class and repr, the params it was set with, its training
    summary (sagespark models), or its stages (a PipelineModel)."""
    info: dict[str, Any] = {"class": f"{type(model).__module__}.{type(model).__name__}", "summary": repr(model)}
    info["params"] = {p.name: _jsonable(v) for p, v in model.extractParamMap().items()}
    summary = getattr(model, "summary", None) if getattr(model, "hasSummary", True) else None
    if summary is not None and hasattr(summary, "__dataclass_fields__"):
        info["trainingSummary"] = {k: _jsonable(v) for k, v in vars(summary).items()}
    if hasattr(model, "stages"):
        info["stages"] = [describe(stage) for stage in model.stages]
    return info


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.generic,)):
        return value.item()
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)


def _describe(spark, args) -> dict:
    return describe(load_any_model(args.model))


def _demo(spark, args) -> dict:
    """Fit sagespark KMeans and MLlib KMeans on the same parquet data; save, load,
    transform; print costs (one evaluation pass for both) and timings. The generated
    data and the model are removed afterwards (``--keep`` keeps them)."""
    from pyspark.ml.clustering import KMeans as MLlibKMeans

    from sagespark.clustering import KMeans, KMeansModel

    workdir = Path(tempfile.mkdtemp(prefix="sagespark-demo-"))
    try:
        path = args.input or str(workdir / "blobs.parquet")
        if not args.input:
            _say(f"generating {args.rows:,} rows x {args.dim} dims in {args.clusters} blobs", args.json)
            generate_blobs(spark, path, args.rows, args.dim, args.clusters)
        df = spark.read.parquet(path).cache()
        rows = df.count()
        _say(f"fitting sagespark KMeans(k={args.k}) on {rows:,} rows", args.json)
        start = time.perf_counter()
        with _printed_passes(args.json):
            model = KMeans(k=args.k, seed=args.seed).fit(df)
        ours = time.perf_counter() - start
        model.write().overwrite().save(str(workdir / "model"))
        loaded = KMeansModel.load(str(workdir / "model"))
        predicted = loaded.transform(df).select("prediction").distinct().count()
        _say(f"sagespark fitted in {ours:.1f} s; fitting MLlib KMeans(k={args.k}, maxIter=20)", args.json)
        start = time.perf_counter()
        mllib = MLlibKMeans(k=args.k, seed=args.seed, maxIter=20).fit(df)
        theirs = time.perf_counter() - start
        _say(f"MLlib fitted in {theirs:.1f} s; computing both costs", args.json)
        cost_ours = loaded.computeCost(df).ssd
        cost_mllib = loaded.computeCost(df, np.array(mllib.clusterCenters())).ssd
        df.unpersist()
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return {
        "summary": f"KMeans(k={args.k}) on {rows:,} rows: sagespark {ours:.1f} s, MLlib {theirs:.1f} s "
                   f"({theirs / ours:.1f}x MLlib's speed); cost {cost_ours / cost_mllib:.3f}x MLlib's",
        "rows": rows, "k": args.k, "distinct_predictions": predicted,
        "sagespark_fit_s": round(ours, 3), "mllib_fit_s": round(theirs, 3),
        "speedup": round(theirs / ours, 2), "sagespark_cost": cost_ours, "mllib_cost": cost_mllib,
        "cost_ratio": round(cost_ours / cost_mllib, 4), **({"workdir": str(workdir)} if args.keep else {}),
    }  # fmt: skip


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


# -------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sagespark", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--json", action="store_true", help="print only the JSON result (no progress or summary)")
    demo = commands.add_parser("demo", parents=[output], help="fit sagespark and MLlib KMeans on generated blobs and compare")
    demo.add_argument("--input", help="parquet with a vector column 'features' (default: generated blobs)")
    demo.add_argument("--rows", type=int, default=200_000, help="rows to generate (default: 200000)")
    demo.add_argument("--dim", type=int, default=16, help="dimensions of the generated rows (default: 16)")
    demo.add_argument("--clusters", type=int, default=20, help="blobs to generate (default: 20)")
    demo.add_argument("--k", type=int, default=20, help="clusters to fit (default: 20)")
    demo.add_argument("--seed", type=int, default=1, help="the fits' seed (default: 1)")
    demo.add_argument("--keep", action="store_true", help="keep the generated data and model (default: removed)")
    train = commands.add_parser("train", help="fit an algorithm on a dataset and save the model")
    algorithms = train.add_subparsers(dest="algorithm", required=True, metavar="ALGORITHM")
    for name in ALGORITHMS:
        estimator = _estimator_class(name)()
        sub = algorithms.add_parser(name, parents=[output], help=f"{type(estimator).__name__}: "
                                    f"{(type(estimator).__doc__ or '').strip().splitlines()[0]}")  # fmt: skip
        _io_options(sub, "dataset to fit", "directory to save the model in")
        _add_param_options(sub, estimator)
        for action in sub._actions:  # the Params' values land as param_<name>
            if action.dest in {p.name for p in estimator.params}:
                action.dest = f"param_{action.dest}"
    predict = commands.add_parser("predict", parents=[output], help="add a saved model's outputs to a dataset "
                                  "(any sagespark model or pyspark.ml PipelineModel)")  # fmt: skip
    predict.add_argument("--model", required=True, help="a saved model directory")
    _io_options(predict, "dataset to score", "where to write the scored rows")
    predict.add_argument("--output-format", choices=FORMATS, help="format of --output (default: from its extension)")
    show = commands.add_parser("describe", help="what a saved model is: class, params, training summary, stages")
    show.add_argument("model", help="a saved model directory")
    return parser


def _io_options(parser: argparse.ArgumentParser, input_help: str, output_help: str) -> None:
    parser.add_argument("--input", required=True, help=f"{input_help} (parquet, CSV with a header, or JSON Lines)")
    parser.add_argument("--format", choices=FORMATS, help="format of --input (default: from its extension, else parquet)")
    parser.add_argument("--output", required=True, help=output_help)
    parser.add_argument("--overwrite", action="store_true", help="replace --output if it exists")


COMMANDS: dict[str, Callable[[Any, argparse.Namespace], dict]] = {
    "demo": _demo, "train": _train, "predict": _predict, "describe": _describe,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = COMMANDS[args.command](_session(), args)
    except CommandError as exc:
        return _fail(str(exc))
    except Exception as exc:  # Spark's and the stages' errors: one line, not a traceback
        if not _is_user_error(exc):
            raise
        return _fail(_first_line(exc))
    if not getattr(args, "json", False) and "summary" in result:
        print(result["summary"])
    print(json.dumps(result))
    return 0


def _is_user_error(exc: Exception) -> bool:
    from pyspark.errors import PySparkException

    return isinstance(exc, (ValueError, TypeError, OSError, PySparkException))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    text = re.sub(r"^An error occurred while calling \S+\.\s*", "", text)
    return text.splitlines()[0] if text else type(exc).__name__


def _fail(message: str) -> int:
    print(f"sagespark: error: {message}", file=sys.stderr)
    return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
