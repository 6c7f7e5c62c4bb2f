"""sagespark.feature.PCA on Spark: against MLlib's PCA and exact numpy answers, the
finalize/fitMultiple/incremental paths, and wide sparse input MLlib cannot fit."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml.feature import PCA as MLlibPCA
from pyspark.ml.functions import vector_to_array
from pyspark.ml.linalg import Vectors

from sagespark.feature import PCA, PCAModel
from sagespark.kernels import CSRMatrix
from tests.states.test_pca_state import exact_top, low_rank_plus_noise, scatter, sin_principal_angles


@pytest.fixture(scope="module")
def x():
    return low_rank_plus_noise(n=3000, d=12, rank=4, noise=0.5, offset=2.0, seed=11)


@pytest.fixture(scope="module")
def df(spark, x):
    rows = [(i, Vectors.dense(r), float(1 + i % 3)) for i, r in enumerate(x)]
    return spark.createDataFrame(rows, ["id", "features", "w"]).repartitionByRange(4, "id").cache()


def projections(frame, column):
    ordered = frame.orderBy("id").select(vector_to_array(column).alias("p")).collect()
    return np.array([row["p"] for row in ordered])


def test_regular_equals_mllib_pca(df):
    """Same components up to sign (to 1e-8) and explained variance (to 1e-10); MLlib
    projects x without centring, so its output is ours plus pc^T mean."""
    ours = PCA(k=3, outputCol="p").fit(df)
    theirs = MLlibPCA(k=3, inputCol="features", outputCol="p").fit(df)
    pc, mllib_pc = ours.pc.toArray(), theirs.pc.toArray()
    signs = np.sign(np.sum(pc * mllib_pc, axis=0))
    np.testing.assert_allclose(pc, mllib_pc * signs, atol=1e-8)
    np.testing.assert_allclose(ours.explainedVariance.toArray(), theirs.explainedVariance.toArray(), rtol=1e-10)
    shifted = projections(ours.transform(df), "p") + pc.T @ ours.mean.toArray()
    np.testing.assert_allclose(shifted, projections(theirs.transform(df), "p") * signs, atol=1e-8)


@pytest.mark.parametrize("layout", ["dense", "sparse", "array", "columns"])
def test_sql_state_of_narrow_data_equals_the_python_pass_and_numpy(spark, layout):
    """The exact state from Spark SQL sums (sagespark.spark.jvm_states) for d <= 10 is
    the Python pass's, and numpy's mean and scatter, also far from the origin (shifted
    by 1e6: the first row as the shift keeps the sums free of cancellation)."""
    from sagespark.spark.jvm_states import sql_covariance

    data = low_rank_plus_noise(n=2000, d=6, rank=3, noise=0.5, offset=1e6, seed=3)
    data[::7, 2] = 0.0  # zeros for the sparse layout
    names = [f"c{j}" for j in range(6)]
    rows = [(i, Vectors.dense(r), Vectors.sparse(6, {j: v for j, v in enumerate(r) if v}), r.tolist(), *map(float, r))
            for i, r in enumerate(data)]  # fmt: skip
    frame = spark.createDataFrame(rows, ["id", "dense", "sparse", "array", *names]).repartition(3)
    kwargs = {"featuresCols": names} if layout == "columns" else {"inputCol": layout}
    estimator = PCA(k=2, outputCol="p", **kwargs)
    sql = sql_covariance(frame, estimator.getInputCol(), estimator.getFeaturesCols(), 6)
    if layout == "sparse":  # densifying sparse rows in SQL needs a UDF per expression: the Python pass
        assert sql is None
        return
    estimator._jvm_state = lambda *args: None  # the reference: the Python pass
    python = estimator._fit_pass(frame).state
    centred = data - data.mean(axis=0)
    np.testing.assert_allclose(sql.mean, data.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(sql.scatter, centred.T @ centred, rtol=1e-9, atol=1e-6)
    # the Python pass's Chan merges of batch scatters carry ~2e-9 relative error at this offset
    np.testing.assert_allclose(sql.scatter, python.scatter, rtol=1e-8, atol=1e-6)
    assert (sql.count, sql.weight_sum) == (python.count, python.weight_sum) == (2000, 2000.0)


def test_invalid_rows_leave_the_sql_state_to_the_python_pass(spark, df):
    from sagespark.spark.jvm_states import sql_covariance

    nan = spark.createDataFrame([(-1, Vectors.dense([float("nan")] * 12), 1.0)], df.schema)
    bad = df.union(nan)
    assert sql_covariance(bad, "features", None, 12) is None
    with pytest.raises(ValueError, match="column 'features'"):
        PCA(k=2).fit(bad)
    skipped = PCA(k=2, handleInvalid="skip").fit(bad)
    assert (skipped.summary.numRows, skipped.summary.numRowsSkipped) == (3000, 1)
    np.testing.assert_allclose(skipped.explainedVariance.toArray(), PCA(k=2).fit(df).explainedVariance.toArray(),
                               rtol=1e-10)  # fmt: skip


@pytest.mark.parametrize("subtract_mean", [True, False])
def test_weighted_regular_equals_numpy(df, x, subtract_mean):
    w = 1.0 + np.arange(len(x)) % 3
    model = PCA(k=4, outputCol="p", weightCol="w", subtractMean=subtract_mean).fit(df)
    c = scatter(x, w, subtract_mean)
    values, vectors = exact_top(c, 4)
    assert sin_principal_angles(model.pc.toArray(), vectors).max() < 1e-8
    np.testing.assert_allclose(model.explainedVariance.toArray(), values / np.trace(c), rtol=1e-10)
    np.testing.assert_allclose(model.singularValues.toArray(), np.sqrt(values), rtol=1e-10)
    offset = model.mean.toArray() if subtract_mean else 0.0
    np.testing.assert_allclose(projections(model.transform(df), "p"), (x - offset) @ model.pc.toArray(), atol=1e-9)


def test_finalize_and_fit_multiple_serve_every_k_from_one_pass(df, x, count_passes):
    est = PCA(k=2, outputCol="p")
    model = est.fit(df)
    five = model.finalize(k=5)
    assert len(count_passes) == 1
    np.testing.assert_allclose(five.pc.toArray()[:, :2], model.pc.toArray(), atol=1e-12)
    models = dict(est.fitMultiple(df, [{est.k: k} for k in (1, 3, 12)]))
    assert len(count_passes) == 2
    assert [models[i].pc.numCols for i in range(3)] == [1, 3, 12]
    with pytest.raises(ValueError, match="k=13 is outside"):
        model.finalize(k=13)


def test_fit_multiple_runs_the_sketch_for_the_largest_k(df, count_passes):
    est = PCA(k=2, outputCol="p", algorithmMode="fd", extraComponents=2)
    models = dict(est.fitMultiple(df, [{est.k: 2}, {est.k: 6}]))
    assert len(count_passes) == 1
    assert models[1].pc.numCols == 6 and models[1].state.rows == 8


@pytest.mark.parametrize("mode", ["regular", "randomized", "fd"])
def test_incremental_fit_continues_a_model(df, x, mode):
    """Day 1, then day 2 with setInitialModel: 'regular' equals one fit over both days;
    the sketches meet their bounds on all rows (fd: >= 99% of the exact variance)."""
    est = PCA(k=3, outputCol="p", algorithmMode=mode, seed=5)
    continued = est.copy().setInitialModel(est.fit(df.where("id % 2 = 0"))).fit(df.where("id % 2 = 1"))
    assert continued.summary.numRows == continued.state.count == len(x)
    c = scatter(x, np.ones(len(x)))
    values, vectors = exact_top(c, 3)
    pc = continued.pc.toArray()
    captured = np.trace(pc.T @ c @ pc)
    if mode == "regular":
        assert sin_principal_angles(pc, vectors).max() < 1e-8
    elif mode == "fd":
        assert captured >= 0.99 * values.sum()
    else:
        assert captured >= values.sum() - 2 * np.sqrt(3) * 3 * np.sqrt(2 / continued.state.rows) * np.trace(c)


def test_randomized_fits_with_the_same_seed_cannot_be_merged_by_hand(df):
    est = PCA(k=2, algorithmMode="randomized", seed=5)
    first, second = est.fit(df.where("id % 2 = 0")), est.fit(df.where("id % 2 = 1"))
    with pytest.raises(ValueError, match="same random signs"):
        first.state.merge(second.state)
    other = PCA(k=2, algorithmMode="randomized", seed=6).fit(df.where("id % 2 = 1"))
    assert first.state.merge(other.state).count == df.count()


def test_sparse_vectors_give_the_dense_answer(spark, x):
    sparse_x = np.where(np.random.default_rng(3).random(x.shape) < 0.5, 0.0, x)
    rows = [(i, Vectors.dense(r), Vectors.sparse(12, {j: v for j, v in enumerate(r) if v})) for i, r in enumerate(sparse_x)]
    frame = spark.createDataFrame(rows, ["id", "dense", "sparse"]).repartitionByRange(2, "id")
    for mode in ("regular", "randomized", "fd"):
        dense = PCA(k=3, inputCol="dense", outputCol="p", algorithmMode=mode).fit(frame)
        sparse = PCA(k=3, inputCol="sparse", outputCol="p", algorithmMode=mode).fit(frame)
        np.testing.assert_allclose(sparse.pc.toArray(), dense.pc.toArray(), atol=1e-9, err_msg=mode)
        np.testing.assert_allclose(
            projections(sparse.transform(frame), "p"), projections(dense.transform(frame), "p"), atol=1e-8
        )


def topic_rows(n, d, topics, nnz, seed):
    """Sparse rows with a low-rank structure: each row draws most of its non-zeros from
    one of `topics` column groups, the rest uniformly."""
    rng = np.random.default_rng(seed)
    groups = rng.choice(d, size=(topics, 50), replace=False)
    rows = []
    for i in range(n):
        topic = rng.integers(topics)
        columns = np.unique(np.concatenate([rng.choice(groups[topic], nnz - 2, replace=False), rng.integers(0, d, 2)]))
        rows.append((i, Vectors.sparse(d, columns.tolist(), rng.uniform(1.0, 2.0, len(columns)).tolist())))
    return rows


def exact_sparse_top(rows, d, k):
    """Exact centred top-k of wide sparse rows through the n x n Gram (never d x d)."""
    n = len(rows)
    indptr = np.cumsum([0] + [len(v.indices) for _, v in rows])
    indices = np.concatenate([v.indices for _, v in rows]).astype(np.int32)
    data = np.concatenate([v.values for _, v in rows])
    csr = CSRMatrix(indptr.astype(np.int64), indices, data, d)
    touched = np.unique(indices)
    local = np.searchsorted(touched, indices)
    compact = np.zeros((n, len(touched)))
    np.add.at(compact, (np.repeat(np.arange(n), np.diff(indptr)), local), data)
    centred = compact - compact.mean(axis=0)
    values, vectors = exact_top(centred.T @ centred, k)
    return csr, touched, centred, values


@pytest.mark.parametrize("mode", ["randomized", "fd"])
def test_million_dimensional_sparse_input(spark, mode):
    """d = 1,000,000 with ~20 non-zeros a row: the sketches fit in O((k + extra) d)
    memory and transform keeps rows sparse; fd captures >= 99% of the exact top-k
    variance, randomized meets its random-projection bound (see the state tests)."""
    d, k = 1_000_000, 2
    rows = topic_rows(1500, d, topics=3, nnz=20, seed=8)
    frame = spark.createDataFrame(rows, ["id", "features"]).repartitionByRange(2, "id")
    model = PCA(k=k, outputCol="p", algorithmMode=mode, extraComponents=2, seed=1).fit(frame)
    _, touched, centred, values = exact_sparse_top(rows, d, k)
    components = model.pc.toArray()
    assert components.shape == (d, k)
    restricted = components[touched]
    captured = np.sum((centred @ restricted) ** 2)
    if mode == "fd":
        assert captured >= 0.99 * values.sum()
    else:
        total = np.sum(centred**2)
        assert captured >= values.sum() - 2 * np.sqrt(k) * 3 * np.sqrt(2 / model.state.rows) * total
    projected = projections(model.transform(frame), "p")
    assert projected.shape == (1500, k)
    np.testing.assert_allclose(projected, centred @ restricted, atol=1e-8)


def test_regular_refuses_wide_input_and_suggests_the_sketches(spark):
    frame = spark.createDataFrame([(Vectors.sparse(70_000, [1], [1.0]),)], ["features"])
    with pytest.raises(ValueError, match="d=70000 needs .* use algorithmMode='randomized' or 'fd'"):
        PCA(k=2).fit(frame)


def test_params_are_checked_before_a_pass(df):
    with pytest.raises(ValueError, match="k .* must be set"):
        PCA().fit(df)
    with pytest.raises(ValueError, match="algorithmMode must be one of"):
        PCA(k=2, algorithmMode="stable").fit(df)
    with pytest.raises(ValueError, match="extraComponents must be -1 or >= 0"):
        PCA(k=2, algorithmMode="fd", extraComponents=-3).fit(df)


def test_saved_model_keeps_the_state(df, tmp_path):
    model = PCA(k=2, outputCol="p", algorithmMode="fd").fit(df)
    model.write().overwrite().save(str(tmp_path / "m"))
    loaded = PCAModel.load(str(tmp_path / "m"))
    np.testing.assert_array_equal(loaded.pc.toArray(), model.pc.toArray())
    assert loaded.errorBound == model.errorBound
    np.testing.assert_array_equal(loaded.finalize(k=4).pc.toArray(), model.finalize(k=4).pc.toArray())


@pytest.mark.parametrize("mode", ["regular", "randomized", "fd"])
def test_k_above_the_dimension_fails_before_the_pass(df, mode, count_passes):
    """d = 12: the check needs only the params and the dimension, so no pass runs."""
    with pytest.raises(ValueError, match=f"k=13 is more than a '{mode}' fit of 12 features can give: 1 <= k <= 12"):
        PCA(k=13, algorithmMode=mode).fit(df)
    assert count_passes == []


def test_fd_warns_when_its_error_bound_exceeds_what_it_reports(spark, df):
    """Flat-spectrum sparse rows (1,500 x 3,000, 10 non-zeros): Frequent Directions' own
    bound exceeds its top eigenvalue, and the fit says so; on low-rank data it does not."""
    import warnings

    from pyspark.ml.linalg import SparseVector

    rng = np.random.default_rng(4)
    rows = [(SparseVector(3000, sorted(rng.choice(3000, 10, replace=False).tolist()), rng.normal(size=10).tolist()),)
            for _ in range(1500)]  # fmt: skip
    flat = spark.createDataFrame(rows, ["features"]).repartition(2)
    with pytest.warns(UserWarning, match=r"PCA 'fd': the sketch's error bound \(.*\) exceeds the largest eigenvalue"):
        model = PCA(k=3, algorithmMode="fd", extraComponents=5).fit(flat)
    assert model.errorBound > model.singularValues[0] ** 2  # the condition warned about: s_1^2 is the top eigenvalue
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PCA(k=3, algorithmMode="fd", extraComponents=2).fit(df)
