"""Feature stages whose Models keep a mergeable state.

- StandardScaler (Moments) and RobustScaler (KLL sketches): sagespark.algorithms.scalers
- QuantileDiscretizer (KLL sketches): sagespark.algorithms.quantiles
- PCA (exact covariance, random-sign sketch or Frequent Directions): sagespark.algorithms.pca
- Word2Vec (a vocabulary pass, then training rounds merged across partitions): sagespark.algorithms.word2vec
"""

from sagespark.algorithms.pca import PCA, PCAModel
from sagespark.algorithms.quantiles import QuantileDiscretizer, QuantileDiscretizerModel
from sagespark.algorithms.scalers import RobustScaler, RobustScalerModel, StandardScaler, StandardScalerModel
from sagespark.algorithms.word2vec import Word2Vec, Word2VecModel
from sagespark.spark.jvm_states import sql_sketches

__all__ = [
    "PCA", "PCAModel", "QuantileDiscretizer", "QuantileDiscretizerModel", "RobustScaler", "RobustScalerModel",
    "StandardScaler", "StandardScalerModel", "Word2Vec", "Word2VecModel", "sql_sketches",
]  # fmt: skip
