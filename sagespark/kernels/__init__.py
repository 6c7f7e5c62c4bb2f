"""Hot loops, one place each. Pure numpy + numba; never imports pyspark.

Every kernel accepts the two feature layouts the package uses: a dense C-contiguous
float64 matrix, or a :class:`~sagespark.kernels.sparse.CSRMatrix`.
"""

from sagespark.kernels.sparse import CSRMatrix, Features, num_rows, row_slice, take_rows, vstack

__all__ = ["CSRMatrix", "Features", "num_rows", "row_slice", "take_rows", "vstack"]
