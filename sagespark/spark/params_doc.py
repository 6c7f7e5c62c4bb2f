"""The Params reference (docs/params.md), generated from the stages' own Params so it
cannot drift from the code: ``python -m sagespark.spark.params_doc > docs/params.md``
(a test checks that the committed page equals this output)."""

from __future__ import annotations

from typing import Any

from pyspark.ml.param import Params


def stages() -> list[Params]:
    """Every public sagespark Estimator, in the order of the user guide."""
    from sagespark.classification import FMClassifier, KNNClassifier, LinearLearnerClassifier
    from sagespark.clustering import KMeans
    from sagespark.feature import PCA, QuantileDiscretizer, RobustScaler, StandardScaler
    from sagespark.regression import FMRegressor, KNNRegressor, LinearLearnerRegressor

    classes = [KMeans, PCA, StandardScaler, RobustScaler, QuantileDiscretizer, LinearLearnerClassifier,
               LinearLearnerRegressor, FMClassifier, FMRegressor, KNNClassifier, KNNRegressor]  # fmt: skip
    return [cls() for cls in classes]


def finalize_params(stage: Params) -> frozenset[str]:
    """The params a fitted model's ``finalize`` can change without reading data."""
    if type(stage).__name__ == "KMeans":
        from sagespark.clustering import FINALIZE_PARAMS

        return FINALIZE_PARAMS
    return getattr(stage, "FINALIZE_PARAMS", frozenset())


def _value(value: Any, uid: str) -> str:
    text = repr(value).replace(uid, "<uid>")  # MLlib's default output columns embed the uid
    return f"`{text}`" if len(text) <= 40 else f"`{text[:37]}...`"


def stage_table(stage: Params) -> str:
    cls = type(stage)
    finalize = finalize_params(stage)
    lines = [f"## {cls.__name__}", "", f"`{cls.__module__}.{cls.__name__}`", "",
             "| param | default | finalize | description |", "| --- | --- | --- | --- |"]  # fmt: skip
    for param in sorted(stage.params, key=lambda p: p.name):
        default = _value(stage.getOrDefault(param), stage.uid) if stage.hasDefault(param) else ""
        doc = " ".join(param.doc.split()).replace("|", "\\|")
        lines.append(f"| `{param.name}` | {default} | {'yes' if param.name in finalize else ''} | {doc} |")
    return "\n".join(lines)


def page() -> str:
    header = [
        "# Params reference",
        "",
        "Generated from the stages' own Params by `python -m sagespark.spark.params_doc > docs/params.md`;",
        "a test fails when this page and the code disagree. *finalize*: the fitted model's",
        "`finalize(...)` can change the param without reading data (and fitMultiple over it",
        "makes one pass). Seeds default to a stable hash of the class name.",
    ]
    return "\n\n".join(["\n".join(header)] + [stage_table(stage) for stage in stages()]) + "\n"


if __name__ == "__main__":
    print(page(), end="")
