"""The representative subset of the conformance suite that also runs in local-cluster and
Spark Connect mode (the whole suite runs in local mode): for every algorithm, a
CrossValidator fit with save/load of the Estimator, the CrossValidator and the Model."""

from __future__ import annotations

import pytest
from chispa import assert_df_equality

from tests.conftest import MODES
from tests.spark import test_conformance as checks
from tests.spark.conformance import CASES

# One case per algorithm.
MATRIX_CASES = [
    case
    for case in CASES
    if case.name
    in {"KMeans", "StandardScaler", "PCA-regular", "LinearLearnerClassifier-binary",
        "FMClassifier", "KNNClassifier"}
]  # fmt: skip

pytestmark = [
    pytest.mark.matrix(modes=MODES[1:]),  # the local runs are the conformance suite's own
    pytest.mark.parametrize("case", MATRIX_CASES, ids=[c.name for c in MATRIX_CASES]),
]


@pytest.fixture
def data(spark, case):
    return checks.case_frame(spark, case)


def test_fit_save_load_and_cross_validator(case, data, tmp_path):
    """CrossValidator saved and loaded (the Estimator's params travel in it), fitted, the
    CrossValidatorModel saved and loaded (the best Model's arrays travel in it), and the
    loaded model transforms like the fitted one."""
    loaded, fitted = checks.check_cross_validator(case, data, tmp_path)
    df, _ = data
    assert_df_equality(loaded.transform(df), fitted.transform(df), ignore_row_order=True)
