"""Regressors: LinearLearnerRegressor (SageMaker's linear learner, and an exact ridge
solver), FMRegressor (factorization machines) and KNNRegressor (k-nearest
neighbours), with MLlib's ``prediction`` output."""

from sagespark.algorithms.fm import FMRegressionModel, FMRegressor
from sagespark.algorithms.knn import KNNRegressionModel, KNNRegressor
from sagespark.algorithms.linear import LinearLearnerRegressionModel, LinearLearnerRegressor

__all__ = [
    "LinearLearnerRegressor", "LinearLearnerRegressionModel", "FMRegressor", "FMRegressionModel", "KNNRegressor",
    "KNNRegressionModel",
]  # fmt: skip
