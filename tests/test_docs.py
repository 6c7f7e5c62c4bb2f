"""The generated Params reference is the committed one (docs cannot drift from code)."""

from pathlib import Path

from sagespark.spark.params_doc import page

ROOT = Path(__file__).resolve().parent.parent


def test_params_reference_is_up_to_date():
    committed = (ROOT / "docs" / "params.md").read_text()
    assert committed == page(), "docs/params.md is stale: python -m sagespark.spark.params_doc > docs/params.md"


def test_params_reference_rows_say_default_and_finalize():
    text = page()
    assert "| `k` | `2` | yes | number of clusters (> 0) |" in text  # KMeans: k is finalize-time
    assert "| `miniBatchSize` | `5000` |  | rows per state update inside a partition (> 0) |" in text
    assert "## KNNRegressor" in text and text.count("\n## ") == 11
