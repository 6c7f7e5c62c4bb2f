"""The Params tables of the docs, generated from the stages' own Params so they cannot
drift from the code: docs/params.md (every stage) and the block each user guide page
holds for its stages, with the SageMaker hyperparameter each param maps to (read from
docs/from_sagemaker.md). ``python docs/params_doc.py --write`` rewrites them;
a test checks that the committed docs equal this output.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from pyspark.ml.param import Params


def stages() -> list[Params]:
    """Every public sagespark Estimator, in the order of the user guide."""
    from sagespark.classification import (
        BlazingTextClassifier, FMClassifier, KNNClassifier, LinearLearnerClassifier, XGBoostClassifier,
    )  # fmt: skip
    from sagespark.clustering import LDA, KMeans
    from sagespark.feature import PCA, QuantileDiscretizer, RobustScaler, StandardScaler, Word2Vec
    from sagespark.regression import FMRegressor, KNNRegressor, LinearLearnerRegressor, XGBoostRegressor

    classes = [KMeans, PCA, StandardScaler, RobustScaler, QuantileDiscretizer, LinearLearnerClassifier,
               LinearLearnerRegressor, FMClassifier, FMRegressor, KNNClassifier, KNNRegressor, LDA, Word2Vec,
               BlazingTextClassifier, XGBoostClassifier, XGBoostRegressor]  # fmt: skip
    return [cls() for cls in classes]


def finalize_params(stage: Params) -> frozenset[str]:
    """The params a fitted model's ``finalize`` can change without reading data."""
    return getattr(stage, "FINALIZE_PARAMS", frozenset())


def _value(value: Any, uid: str) -> str:
    text = repr(value).replace(uid, "<uid>")  # MLlib's default output columns embed the uid
    return f"`{text}`" if len(text) <= 40 else f"`{text[:37]}...`"


def stage_table(stage: Params, heading: str = "##", sagemaker: dict[str, str] | None = None) -> str:
    """The stage's params: name, default, finalize-time or not, (the SageMaker
    hyperparameter,) description."""
    cls = type(stage)
    finalize = finalize_params(stage)
    columns = ["param", "default", "finalize"] + (["SageMaker"] if sagemaker is not None else []) + ["description"]
    lines = [f"{heading} {cls.__name__}", "", f"`{cls.__module__}.{cls.__name__}`", "",
             "| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]  # fmt: skip
    for param in sorted(stage.params, key=lambda p: p.name):
        default = _value(stage.getOrDefault(param), stage.uid) if stage.hasDefault(param) else ""
        doc = " ".join(param.doc.split()).replace("|", "\\|")
        cells = [f"`{param.name}`", default, "yes" if param.name in finalize else ""]
        if sagemaker is not None:
            cells.append(f"`{sagemaker[param.name]}`" if param.name in sagemaker else "")
        lines.append("| " + " | ".join(cells + [doc]) + " |")
    return "\n".join(lines)


def page() -> str:
    header = [
        "# Params reference",
        "",
        "Generated from the stages' own Params by `python docs/params_doc.py --write`;",
        "a test fails when this page and the code disagree. *finalize*: the fitted model's",
        "`finalize(...)` can change the param without reading data (and fitMultiple over it",
        "makes one pass). Seeds default to a stable hash of the class name.",
    ]
    return "\n\n".join(["\n".join(header)] + [stage_table(stage) for stage in stages()]) + "\n"


DOCS = Path(__file__).resolve().parent

# user guide page -> the stages whose params it holds (each as a generated block)
GUIDE_PAGES = {
    "kmeans.md": ["KMeans"],
    "pca.md": ["PCA"],
    "summaries.md": ["StandardScaler", "RobustScaler", "QuantileDiscretizer"],
    "linear_learner.md": ["LinearLearnerClassifier", "LinearLearnerRegressor"],
    "factorization_machines.md": ["FMClassifier", "FMRegressor"],
    "knn.md": ["KNNClassifier", "KNNRegressor"],
    "lda.md": ["LDA"],
    "word2vec.md": ["Word2Vec"],
    "text_classification.md": ["BlazingTextClassifier"],
    "xgboost.md": ["XGBoostClassifier", "XGBoostRegressor"],
}
_BLOCK = re.compile(r"<!-- params: (\w+) -->\n.*?<!-- end params -->", re.S)

# params whose SageMaker name is not their snake_case form
_SAGEMAKER_RENAMES = {
    "PCA": {"k": "num_components"},
    "LDA": {"k": "num_topics"},
    "Word2Vec": {"vectorSize": "vector_dim", "maxIter": "epochs", "stepSize": "learning_rate"},
    "BlazingTextClassifier": {"vectorSize": "vector_dim", "maxIter": "epochs", "stepSize": "learning_rate"},
    "FMClassifier": {"factorSize": "num_factors", "maxIter": "epochs"},
    "FMRegressor": {"factorSize": "num_factors", "maxIter": "epochs"},
    "LinearLearnerClassifier": {"beta1": "beta_1", "beta2": "beta_2"},
    "LinearLearnerRegressor": {"beta1": "beta_1", "beta2": "beta_2"},
    "KNNClassifier": {"ivfNlists": "faiss_index_ivf_nlists"},
    "KNNRegressor": {"ivfNlists": "faiss_index_ivf_nlists"},
    "XGBoostClassifier": {"regLambda": "lambda", "regAlpha": "alpha"},
    "XGBoostRegressor": {"regLambda": "lambda", "regAlpha": "alpha"},
}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def sagemaker_names(stage: Params, from_sagemaker: str) -> dict[str, str]:
    """param -> SageMaker hyperparameter, for the params whose SageMaker name appears in
    the first column of the stage's section of docs/from_sagemaker.md."""
    name = type(stage).__name__
    sections = re.split(r"^## ", from_sagemaker, flags=re.M)
    heading = re.compile(rf"`(?:[\w.]*\.)?{name}`")
    section = next((text for text in sections if heading.search(text.split("\n", 1)[0])), "")
    documented = set()
    for row in section.splitlines():
        if row.startswith("| ") and not row.startswith("| SageMaker"):
            first = re.sub(r"`[^`]*`|\([^)]*\)", "", row.split("|")[1])
            documented |= {token.strip() for token in first.split(",") if token.strip()}
    renames = _SAGEMAKER_RENAMES.get(name, {})
    names = {param.name: renames.get(param.name, _snake(param.name)) for param in stage.params}
    suffixes = tuple(token[1:] for token in documented if token.startswith("*"))  # "*_init_sigma" rows
    return {param: sm for param, sm in names.items() if sm in documented or (suffixes and sm.endswith(suffixes))}


def guide_page(text: str, from_sagemaker: str) -> str:
    """``text`` with each ``<!-- params: Stage -->`` block regenerated."""
    stages_by_name = {type(stage).__name__: stage for stage in stages()}

    def block(match: re.Match) -> str:
        stage = stages_by_name[match.group(1)]
        mapping = sagemaker_names(stage, from_sagemaker)
        table = stage_table(stage, "###", mapping if mapping else None)
        return f"<!-- params: {match.group(1)} -->\n{table}\n<!-- end params -->"

    return _BLOCK.sub(block, text)


def write(docs: Path = DOCS) -> None:
    (docs / "params.md").write_text(page())
    from_sagemaker = (docs / "from_sagemaker.md").read_text()
    for name in GUIDE_PAGES:
        path = docs / name
        path.write_text(guide_page(path.read_text(), from_sagemaker))


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
    else:
        print(page(), end="")
