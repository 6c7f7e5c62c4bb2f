"""Where PCA lived until the family modules moved to sagespark.algorithms: models saved
before name this module, and pyspark's Pipeline reader imports the class from it."""

from sagespark.algorithms.pca import PCA, PCAModel

__all__ = ["PCA", "PCAModel"]
