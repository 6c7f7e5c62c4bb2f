import pytest


@pytest.fixture(scope="session")
def spark():
    """One local[2] session for the whole run (Spark tests import it lazily)."""
    from sagespark.spark.session import local_session

    session = local_session("local[2]", driver_memory="2g", shuffle_partitions=4)
    yield session
    session.stop()
