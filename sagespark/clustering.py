"""Clustering: one-pass, mergeable k-means (sagespark.algorithms.kmeans)."""

from sagespark.algorithms.kmeans import KMeans, KMeansCost, KMeansModel, KMeansSummary

__all__ = ["KMeans", "KMeansModel", "KMeansSummary", "KMeansCost"]
