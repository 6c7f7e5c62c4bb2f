"""Classifiers: LinearLearnerClassifier (SageMaker's linear learner, binary and
multiclass), FMClassifier (factorization machines, binary), KNNClassifier
(k-nearest neighbours), BlazingTextClassifier (fastText's text classifier, any number
of classes) and XGBoostClassifier (boosted trees, trained by xgboost.spark: the
``xgboost`` extra), with MLlib's output columns.

Binary models output ``rawPrediction`` [-s, s] for the score s, ``probability``
[1 - p, p] with p = sigmoid(s) (logistic loss only: hinge gives no probability), and
``prediction`` = 1 when sigmoid(s) >= ``threshold``, the threshold calibrated at
finalize for the selection criterion. Multiclass models output the K scores, their
softmax and the argmax.
"""

from sagespark.algorithms.fm import FMClassificationModel, FMClassifier
from sagespark.algorithms.knn import KNNClassificationModel, KNNClassifier
from sagespark.algorithms.linear import LinearLearnerClassificationModel, LinearLearnerClassifier
from sagespark.algorithms.text_classifier import BlazingTextClassificationModel, BlazingTextClassifier
from sagespark.algorithms.xgboost import XGBoostClassificationModel, XGBoostClassifier

__all__ = [
    "LinearLearnerClassifier", "LinearLearnerClassificationModel", "FMClassifier", "FMClassificationModel",
    "KNNClassifier", "KNNClassificationModel", "BlazingTextClassifier", "BlazingTextClassificationModel",
    "XGBoostClassifier", "XGBoostClassificationModel",
]  # fmt: skip
