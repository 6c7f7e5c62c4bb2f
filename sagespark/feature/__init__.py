"""Feature stages whose Models keep a mergeable state.

- StandardScaler (Moments), RobustScaler and QuantileDiscretizer (KLL sketches):
  ``sagespark.feature.summary_stages``
- PCA (exact covariance, random-sign sketch or Frequent Directions): ``sagespark.feature.pca``
"""

from sagespark.feature.pca import PCA, PCAModel
from sagespark.feature.summary_stages import (
    QuantileDiscretizer,
    QuantileDiscretizerModel,
    RobustScaler,
    RobustScalerModel,
    StandardScaler,
    StandardScalerModel,
)
from sagespark.spark.jvm_states import sql_sketches

__all__ = [
    "PCA", "PCAModel", "QuantileDiscretizer", "QuantileDiscretizerModel", "RobustScaler", "RobustScalerModel",
    "StandardScaler", "StandardScalerModel", "sql_sketches",
]  # fmt: skip
