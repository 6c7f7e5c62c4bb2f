"""PCA in one pass: MLlib's ``PCA`` stage on a mergeable covariance state (public in
sagespark.feature).

``algorithmMode`` picks the state (sagespark.states.pca): 'regular' keeps the exact
d x d covariance (SageMaker's regular mode; any k <= d later), 'randomized' SageMaker's
random-sign sketch and 'fd' a Frequent Directions sketch, both O((k + extra) d) memory
for inputs MLlib cannot fit (more than 65,535 features, wide sparse vectors).

Outputs follow MLlib's PCAModel: ``pc`` (d x k DenseMatrix), ``explainedVariance``
(proportions of the total variance). One deliberate difference, as in SageMaker: with
``subtractMean`` (the default) transform projects the centred row, pc^T (x - mean);
MLlib computes the same components from the centred covariance but projects x itself,
so its outputs are ours plus the constant pc^T mean.
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import Any, Callable, Sequence

import numpy as np
from pyspark import keyword_only
from pyspark.ml.linalg import DenseMatrix, DenseVector
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasSeed, HasWeightCol
from pyspark.ml.util import DefaultParamsReadable
from pyspark.sql import DataFrame

from sagespark.spark.jvm_states import sql_covariance
from sagespark.spark.onepass import OnePassEstimator, StateModel
from sagespark.spark.params import HasVectorInput, stable_default_seed
from sagespark.spark.persistence import ParamsWritable, saved_as
from sagespark.spark.scoring import add_scores
from sagespark.states.base import new_state
from sagespark.states.pca import (
    ALGORITHM_MODES,
    ExactCovariance,
    PCASolution,
    PCAState,
    RandomSignSketch,
    check_regular_dimension,
    pca_project,
    pca_state_params,
)
from sagespark.udfs.arrow import VECTOR_ARROW_TYPE, FeatureSpec


class _PCAParams(HasVectorInput, HasWeightCol, HasSeed):
    k: Param[int] = Param(Params._dummy(), "k", "the number of principal components (> 0)", TypeConverters.toInt)
    algorithmMode: Param[str] = Param(
        Params._dummy(), "algorithmMode",
        "'regular': exact d x d covariance (any k <= d later); 'randomized': SageMaker's random-sign sketch; "
        "'fd': Frequent Directions sketch (deterministic error bound); the sketches keep k + extraComponents "
        "rows of d values",
        TypeConverters.toString,
    )  # fmt: skip
    subtractMean: Param[bool] = Param(
        Params._dummy(), "subtractMean",
        "centre the data: components of the covariance, and transform projects x - mean (else the "
        "uncentred second moment, and x itself)",
        TypeConverters.toBoolean,
    )  # fmt: skip
    extraComponents: Param[int] = Param(
        Params._dummy(), "extraComponents",
        "sketch rows beyond k for 'randomized' and 'fd' (-1: max(10, k)); accuracy and cost grow with it",
        TypeConverters.toInt,
    )  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(
            algorithmMode="regular", subtractMean=True, extraComponents=-1, seed=stable_default_seed(self)
        )

    def getK(self) -> int:
        if not self.isDefined(self.k):
            raise ValueError("k (the number of principal components) must be set")
        return self.getOrDefault(self.k)

    def getAlgorithmMode(self) -> str:
        return self.getOrDefault(self.algorithmMode)

    def getSubtractMean(self) -> bool:
        return self.getOrDefault(self.subtractMean)

    def getExtraComponents(self) -> int:
        return self.getOrDefault(self.extraComponents)

    def _weight_column(self) -> str | None:
        return (self.getWeightCol() or None) if self.isDefined(self.weightCol) else None

    def _sketch_rows(self) -> int:
        """l = k + extra components (SageMaker's rule for extra = -1: max(10, k))."""
        k, extra = self.getK(), self.getExtraComponents()
        if extra < -1:
            raise ValueError(f"extraComponents must be -1 or >= 0, got {extra}")
        return k + (max(10, k) if extra == -1 else extra)

    def _check_params(self) -> None:
        if self.getK() < 1:
            raise ValueError(f"k must be > 0, got {self.getK()}")
        if self.getAlgorithmMode() not in ALGORITHM_MODES:
            raise ValueError(f"algorithmMode must be one of {ALGORITHM_MODES}, got {self.getAlgorithmMode()!r}")
        self._sketch_rows()


_PCA_FINALIZE = frozenset({"k", "subtractMean", "outputCol"})


@saved_as("sagespark.feature", "sagespark.feature.pca")
class PCA(OnePassEstimator, _PCAParams, DefaultParamsReadable, ParamsWritable):
    """Principal components in one pass over the data.

    >>> pca = PCA(k=3, inputCol="features", outputCol="pca")      # doctest: +SKIP
    >>> model = pca.fit(df)                                       # doctest: +SKIP
    >>> model.pc, model.explainedVariance                         # doctest: +SKIP
    >>> model.finalize(k=5)          # more components, no data   # doctest: +SKIP

    k and subtractMean are finalize-time: fitMultiple serves every k (up to d in
    'regular' mode, up to k + extraComponents of the largest k in the sketches) with one
    pass.
    """

    FINALIZE_PARAMS = _PCA_FINALIZE

    @keyword_only
    def __init__(
        self, *, k: int | None = None, inputCol: str = "features", outputCol: str | None = None,
        featuresCols: Sequence[str] | None = None, algorithmMode: str = "regular", subtractMean: bool = True,
        extraComponents: int = -1, seed: int | None = None, handleInvalid: str = "error",
        weightCol: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        self._setDefault(outputCol=self.uid + "__output")
        self.setParams(**self._input_kwargs)

    @keyword_only
    def setParams(self, **kwargs: Any) -> "PCA":
        return self._set(**{key: value for key, value in kwargs.items() if value is not None})

    def setK(self, value: int) -> "PCA":
        return self._set(k=value)

    def setInputCol(self, value: str) -> "PCA":
        return self._set(inputCol=value)

    def setOutputCol(self, value: str) -> "PCA":
        return self._set(outputCol=value)

    def _input(self, dataset, n_features):
        self._check_params()
        return self._vector_input(dataset, n_features)

    def _new_state(self, spec: FeatureSpec) -> Callable[[int], PCAState]:
        mode = self.getAlgorithmMode()
        if mode == "regular":
            check_regular_dimension(spec.n_features)
        generation = 0
        initial = self.getInitialModel()
        if initial is not None and isinstance(initial._state, RandomSignSketch):
            generation = initial._state.next_generation  # fresh random signs for the new rows
        factory = partial(new_state, **pca_state_params(mode, spec.n_features, self._sketch_rows(), self.getSeed(),
                                                        generation))  # fmt: skip
        limit = factory(0).max_components
        if self.getK() > limit:  # known from the dimension: say so before the pass, not after it
            raise ValueError(f"k={self.getK()} is more than a '{mode}' fit of {spec.n_features} features can give: "
                             f"1 <= k <= {limit}")  # fmt: skip
        return factory

    def _jvm_state(self, dataset: DataFrame, spec: FeatureSpec) -> ExactCovariance | None:
        """Narrow unweighted 'regular' fits: the exact state from Spark SQL sums, faster
        than shipping the rows to Python (sagespark.spark.jvm_states)."""
        if self.getAlgorithmMode() != "regular" or spec.weight_column:
            return None
        return sql_covariance(dataset, self.getInputCol(), self.getFeaturesCols(), spec.n_features)

    def _state_bytes(self, spec: FeatureSpec) -> int:
        d = spec.n_features
        return 8 * d * (d if self.getAlgorithmMode() == "regular" else self._sketch_rows() + 2)

    def _shared_pass_estimator(self, estimators):
        return max(estimators, key=lambda e: e._sketch_rows())

    def _model_class(self):
        return PCAModel


@saved_as("sagespark.feature", "sagespark.feature.pca")
class PCAModel(StateModel, _PCAParams):
    """The fitted components; keeps the state, so ``finalize(k=..., subtractMean=...)``
    gives other models without data, and ``setInitialModel`` continues it."""

    def _describe(self) -> dict[str, Any]:
        return {"k": self.getK(), "algorithmMode": self.getOrDefault(self.algorithmMode)}

    FINALIZE_PARAMS = _PCA_FINALIZE

    def _finalized(self) -> "PCAModel":
        solution = self._solution  # validate k against the state now
        bound = self.errorBound
        top = float(solution.eigenvalues[0]) if len(solution.eigenvalues) else 0.0
        if bound is not None and bound > top:
            warnings.warn(
                f"PCA 'fd': the sketch's error bound ({bound:.4g}) exceeds the largest eigenvalue it reports "
                f"({top:.4g}), so its components and explainedVariance may be far from the data's (a flat "
                "spectrum, as in sparse hashed data, is the usual cause); use algorithmMode='regular' (exact, "
                "d x d memory) where d allows, or more extraComponents", UserWarning, stacklevel=2)  # fmt: skip
        return self

    @property
    def _solution(self) -> PCASolution:
        """The state finalized for the current k and subtractMean (cached per setting)."""
        key = (self.getK(), self.getSubtractMean())
        return self._finalize_cached(key, lambda: self._state.finalize(*key))

    @property
    def numFeatures(self) -> int:
        return self._state.n_features

    @property
    def pc(self) -> DenseMatrix:
        """Principal components as a d x k matrix, one column each, by decreasing
        variance; each column's largest-magnitude entry is positive."""
        components = self._solution.components
        return DenseMatrix(components.shape[0], components.shape[1], components.ravel(order="F"))

    @property
    def explainedVariance(self) -> DenseVector:
        """The proportion of the total variance along each component (MLlib's)."""
        return DenseVector(self._solution.explained_variance)

    @property
    def singularValues(self) -> DenseVector:
        """Singular values of the (centred, sqrt-weighted) data matrix along each
        component: SageMaker's ``s``, largest first."""
        return DenseVector(self._solution.singular_values)

    @property
    def mean(self) -> DenseVector:
        """The (weighted) mean row; transform subtracts it when subtractMean."""
        return DenseVector(self._solution.mean)

    @property
    def errorBound(self) -> float | None:
        """'fd' only: Delta with ||A^T A - S^T S||_2 <= Delta for the sketched rows A (see
        sagespark.states.pca); None for the other modes."""
        return getattr(self._state, "error_bound", None)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        components = self._solution.components
        offset = components.T @ self._solution.mean if self.getSubtractMean() else np.zeros(components.shape[1])
        scorer = partial(pca_project, components=components, offset=offset)
        columns_and_spec = self._vector_input(dataset, self.numFeatures)
        return add_scores(dataset, columns_and_spec, scorer, {self.getOutputCol(): ("projection", VECTOR_ARROW_TYPE)})
