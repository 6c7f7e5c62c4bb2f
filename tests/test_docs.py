"""The generated Params tables are the committed ones (docs cannot drift from code):
docs/params.md, and the block of each stage in its user guide page, whose SageMaker
column comes from docs/from_sagemaker.md. The README links every page and notebook."""

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))
from params_doc import GUIDE_PAGES, guide_page, page, stages  # noqa: E402  (docs/params_doc.py)

STALE = "stale: python docs/params_doc.py --write"


def test_params_reference_is_up_to_date():
    assert (DOCS / "params.md").read_text() == page(), f"docs/params.md is {STALE}"


def test_params_reference_rows_say_default_and_finalize():
    text = page()
    assert "| `k` | `2` | yes | number of clusters (> 0) |" in text  # KMeans: k is finalize-time
    assert "| `miniBatchSize` | `5000` |  | rows per state update inside a partition (> 0) |" in text
    assert "## KNNRegressor" in text and text.count("\n## ") == 16


@pytest.mark.parametrize("name", sorted(GUIDE_PAGES))
def test_guide_page_params_are_up_to_date(name):
    text = (DOCS / name).read_text()
    assert re.findall(r"<!-- params: (\w+) -->", text) == GUIDE_PAGES[name]
    assert text == guide_page(text, (DOCS / "from_sagemaker.md").read_text()), f"docs/{name} is {STALE}"


def test_every_stage_has_a_guide_page():
    assert sorted(type(stage).__name__ for stage in stages()) == sorted(sum(GUIDE_PAGES.values(), []))


def test_guide_rows_name_the_sagemaker_hyperparameter():
    """Hand-checked rows: the same name, a renamed one, a '*_init_sigma' pattern row."""
    kmeans = (DOCS / "kmeans.md").read_text()
    assert "| `extraCenterFactor` | `'auto'` |  | `extra_center_factor` |" in kmeans
    fm = (DOCS / "factorization_machines.md").read_text()
    assert "| `factorSize` | `8` |  | `num_factors` |" in fm
    assert "| `linearInitSigma` | `0.01` |  | `linear_init_sigma` |" in fm
    pca = (DOCS / "pca.md").read_text()
    assert "| `k` |  | yes | `num_components` |" in pca


def test_readme_links_every_doc_and_notebook():
    readme = (ROOT / "README.md").read_text()
    linked = set(re.findall(r"\]\(((?:docs|notebooks)/[^)#]+)\)", readme))
    present = {f"docs/{p.name}" for p in DOCS.glob("*.md")} | {
        f"notebooks/{p.name}" for p in (ROOT / "notebooks").glob("*.ipynb")
    }
    assert present - linked == set(), "README does not link these"
