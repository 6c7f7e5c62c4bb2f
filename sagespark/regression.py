"""Regressors: LinearLearnerRegressor (SageMaker's linear learner, and an exact ridge
solver), FMRegressor (factorization machines), KNNRegressor (k-nearest neighbours) and
XGBoostRegressor (boosted trees, trained by xgboost.spark: the ``xgboost`` extra), with
MLlib's ``prediction`` output."""

from sagespark.algorithms.fm import FMRegressionModel, FMRegressor
from sagespark.algorithms.knn import KNNRegressionModel, KNNRegressor
from sagespark.algorithms.linear import LinearLearnerRegressionModel, LinearLearnerRegressor
from sagespark.algorithms.xgboost import XGBoostRegressionModel, XGBoostRegressor

__all__ = [
    "LinearLearnerRegressor", "LinearLearnerRegressionModel", "FMRegressor", "FMRegressionModel", "KNNRegressor",
    "KNNRegressionModel", "XGBoostRegressor", "XGBoostRegressionModel",
]  # fmt: skip
