"""Where the scalers and QuantileDiscretizer lived until the family modules moved to
sagespark.algorithms: models saved before name this module, and pyspark's Pipeline
reader imports the classes from it."""

from sagespark.algorithms.quantiles import QuantileDiscretizer, QuantileDiscretizerModel
from sagespark.algorithms.scalers import RobustScaler, RobustScalerModel, StandardScaler, StandardScalerModel

__all__ = [
    "QuantileDiscretizer", "QuantileDiscretizerModel", "RobustScaler", "RobustScalerModel", "StandardScaler",
    "StandardScalerModel",
]  # fmt: skip
