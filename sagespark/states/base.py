"""The State protocol and its safe serialization."""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from sagespark.kernels import Features

AUTO = "auto"  # the value of params whose size or rate the state chooses itself

_REGISTRY: dict[str, type["State"]] = {}
_KIND_KEY = "__kind__"
_FORMAT_KEY = "__format__"
# The byte format's version: written with every state; bytes without it (written before
# versions were) are format 0, the same layout. A change that old readers would misread
# raises it, and readers refuse formats newer than theirs instead of misreading them.
FORMAT_VERSION = 1


class State(ABC):
    """A mergeable summary of a data stream (see the package docstring).

    Subclasses set ``kind`` (a stable name written into serialized states) and describe
    themselves as a dict of numpy arrays (``to_arrays`` / ``from_arrays``); the byte
    format and the class registry are handled here once.
    """

    kind: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:  # intermediate base classes name no kind
            _REGISTRY[cls.kind] = cls

    @abstractmethod
    def update(self, x: Features, weights: np.ndarray | None = None) -> "State":
        """Absorb a batch of rows (dense matrix or CSR) with optional row weights."""

    @abstractmethod
    def merge(self, other: "State") -> "State":
        """A new state summarizing both streams; neither input is changed."""

    @abstractmethod
    def finalize(self, **params: Any) -> Any:
        """Build a model from the state alone."""

    @abstractmethod
    def to_arrays(self) -> dict[str, np.ndarray]:
        """The state as named numeric or string arrays (never object arrays)."""

    @classmethod
    @abstractmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "State":
        """Inverse of ``to_arrays``."""

    def partition_result(self) -> "State":
        """What a partition's fold ships to the merge: the state itself, or a smaller
        part that ``completed_from`` makes whole again (the SGD states ship only the
        rows of their parameters that the partition's rows touched)."""
        return self

    def completed_from(self, start: "State") -> "State":
        """The whole state from merged partition results of a pass that began from
        ``start`` (itself, for states whose partition results are whole)."""
        return self

    @classmethod
    def new_for_partition(cls, partition: int, **params: Any) -> "State":
        """An empty state for one partition (``params``: the constructor's). States that
        draw random numbers take the partition as their stream of seeds."""
        return cls(**params)

    def for_partition(self, partition: int) -> "State":
        """The state one partition's fold starts from when a pass continues from this
        merged state (the multi-pass stages: SGD epochs, k-means epochs)."""
        raise NotImplementedError(f"a {self.kind} state does not start another pass")

    def next_pass(self) -> "State":
        """What the next pass starts from, computed once on the driver from this merged
        state (itself for most states; spectral LDA's first pass gives the basis that
        its second pass projects onto)."""
        return self

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, **{_KIND_KEY: np.array(self.kind), _FORMAT_KEY: np.array(FORMAT_VERSION)}, **self.to_arrays())
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "State":
        state = state_from_bytes(data)
        if not isinstance(state, cls):
            raise TypeError(f"expected a serialized {cls.kind} state, found {state.kind}")
        return state


def new_state(partition: int, kind: str, **params: Any) -> State:
    """The empty state of a registered ``kind`` for one partition. Estimators hand the
    fold ``partial(new_state, kind=..., **params)``: picklable, and a Python worker that
    unpickles it imports the states layer only, never a family module."""
    return _registered(kind).new_for_partition(partition, **params)


def state_from_bytes(data: bytes) -> State:
    """Deserialize any registered state; never unpickles."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    kind = str(arrays.pop(_KIND_KEY))
    version = int(arrays.pop(_FORMAT_KEY, 0))
    if version > FORMAT_VERSION:
        raise ValueError(f"a {kind} state in byte format {version}, newer than this sagespark reads "
                         f"({FORMAT_VERSION}): load it with the sagespark that wrote it or a newer one")  # fmt: skip
    return _registered(kind).from_arrays(arrays)


def _registered(kind: str) -> type[State]:
    """The State class registered as ``kind`` (a clear error for any other kind)."""
    if kind not in _REGISTRY:
        raise ValueError(f"unknown state kind {kind!r}")
    return _REGISTRY[kind]
