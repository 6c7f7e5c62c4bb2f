import pytest


@pytest.fixture(scope="session")
def spark():
    """One local[2] session for the whole run (Spark tests import it lazily)."""
    from sagespark.spark.session import local_session

    # repartitionByRange samples its bounds with a seed taken from the RDD id, so the same
    # data splits differently from run to run; sampling every row of these small test
    # sets makes the bounds, and so every fit, the same in every process.
    exact_range_bounds = {"spark.sql.execution.rangeExchange.sampleSizePerPartition": "1000000"}
    session = local_session(
        "local[2]", driver_memory="2g", shuffle_partitions=4, conf=exact_range_bounds
    )
    yield session
    session.stop()
