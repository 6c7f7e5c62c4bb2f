"""sagespark: one-pass, mergeable-state machine learning as native PySpark ML estimators."""

__version__ = "0.1.0"
