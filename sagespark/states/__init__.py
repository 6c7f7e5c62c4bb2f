"""Engine-free mergeable states: pure numpy (+ numba kernels); never imports pyspark.

Every algorithm is a state with four operations::

    state = Algo(**params)            # initialize: fixed memory, independent of row count
    state.update(x, weights)          # one pass, one batch at a time (mutates, returns self)
    state = state.merge(other)        # associative and order-free (returns a new state)
    model = state.finalize(**params)  # no data access; may be called many times

States serialize to a safe byte format (``to_bytes``: an .npz of plain numeric/str arrays,
read back with ``allow_pickle=False``).
"""

from sagespark.states.base import State, state_from_bytes
from sagespark.states.column_summary import ColumnSummary
from sagespark.states.fm import FMConfig, FMSolution, FMState
from sagespark.states.kmeans import KMeansSolution, KMeansState
from sagespark.states.knn import IndexConfig, KNNIndex, KNNSample
from sagespark.states.lda import LDAMoments, LDASolution
from sagespark.states.linear import ExactLeastSquares, LinearLearnerState, LinearSolution
from sagespark.states.moments import Moments, MomentsSummary
from sagespark.states.pca import ExactCovariance, FrequentDirections, PCASolution, PCAState, RandomSignSketch
from sagespark.states.quantiles import QuantileSketches
from sagespark.states.sampling import ReservoirSample, Sample
from sagespark.states.vocabulary import Vocabulary, VocabularyCounts
from sagespark.states.rounds import Word2VecRound
from sagespark.states.text_classifier import TextClassifierConfig, TextClassifierSolution, TextClassifierState
from sagespark.states.word2vec import Word2VecConfig, Word2VecSolution, Word2VecState

__all__ = [
    "State", "state_from_bytes", "ColumnSummary", "KMeansState", "KMeansSolution", "Moments", "MomentsSummary",
    "QuantileSketches", "ReservoirSample", "Sample", "PCAState", "PCASolution",
    "ExactCovariance", "RandomSignSketch", "FrequentDirections", "LinearLearnerState", "LinearSolution",
    "ExactLeastSquares", "FMConfig", "FMSolution", "FMState", "IndexConfig", "KNNIndex", "KNNSample",
    "LDAMoments", "LDASolution", "Vocabulary", "VocabularyCounts", "Word2VecConfig", "Word2VecRound",
    "Word2VecSolution", "Word2VecState", "TextClassifierConfig", "TextClassifierSolution", "TextClassifierState",
]  # fmt: skip
