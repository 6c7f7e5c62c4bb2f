"""The State byte format (sagespark.states.base): registry round trips, and bytes that
name an unknown kind, another kind, or a pickled payload are refused."""

import io

import numpy as np
import pytest

from sagespark.states import Moments
from sagespark.states.base import State, state_from_bytes
from sagespark.states.pca import ExactCovariance, PCAState


def test_round_trip_restores_the_registered_class():
    state = Moments().update(np.arange(12.0).reshape(4, 3))
    copy = state_from_bytes(state.to_bytes())
    assert type(copy) is Moments
    np.testing.assert_array_equal(copy.finalize().mean, [4.5, 5.5, 6.5])


def test_intermediate_base_classes_are_not_registered_and_wrong_kinds_are_refused():
    assert "kind" not in PCAState.__dict__ and issubclass(PCAState, State)
    with pytest.raises(TypeError, match="expected a serialized pca_regular state, found moments"):
        ExactCovariance.from_bytes(Moments().update(np.ones((2, 2))).to_bytes())
    buffer = io.BytesIO()
    np.savez(buffer, __kind__=np.array("no_such_state"))
    with pytest.raises(ValueError, match="unknown state kind 'no_such_state'"):
        state_from_bytes(buffer.getvalue())


def test_pickled_payloads_are_never_loaded():
    buffer = io.BytesIO()
    np.savez(buffer, __kind__=np.array("moments"), mean=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        state_from_bytes(buffer.getvalue())


def test_the_byte_format_is_versioned_and_older_bytes_still_load():
    """Bytes carry their format version; bytes written before versions existed (no
    version key: the same layout) load, and a newer format is refused, not misread."""
    from sagespark.states.base import FORMAT_VERSION

    state = Moments().update(np.arange(12.0).reshape(4, 3))
    with np.load(io.BytesIO(state.to_bytes())) as npz:
        arrays = {name: npz[name] for name in npz.files}
    assert int(arrays.pop("__format__")) == FORMAT_VERSION
    unversioned = io.BytesIO()
    np.savez(unversioned, **arrays)
    np.testing.assert_array_equal(state_from_bytes(unversioned.getvalue()).finalize().mean, [4.5, 5.5, 6.5])
    newer = io.BytesIO()
    np.savez(newer, **arrays, __format__=np.array(FORMAT_VERSION + 1))
    with pytest.raises(ValueError, match=f"moments state in byte format {FORMAT_VERSION + 1}, newer"):
        state_from_bytes(newer.getvalue())
