"""Clustering: one-pass, mergeable k-means (sagespark.algorithms.kmeans) and spectral
LDA topic models (sagespark.algorithms.lda)."""

from sagespark.algorithms.kmeans import KMeans, KMeansCost, KMeansModel, KMeansSummary
from sagespark.algorithms.lda import LDA, LDAModel, LDASummary

__all__ = ["KMeans", "KMeansModel", "KMeansSummary", "KMeansCost", "LDA", "LDAModel", "LDASummary"]
