"""fitMultiple support: one data pass shared by every paramMap that differs only in
finalize-time params ("state > model")."""

from __future__ import annotations

import threading
from typing import Any, Callable, Hashable, Iterator, Sequence, TypeVar

M = TypeVar("M")


class SharedPassIterator(Iterator[tuple[int, M]]):
    """Thread-safe ``(index, model)`` iterator for Estimator.fitMultiple.

    paramMaps with the same ``pass_key`` share one pass: the first thread that needs a
    key runs ``run_pass(indices)`` (indices of every paramMap with that key) under the
    key's lock; ``build_model(index, pass_result)`` then runs without data access.
    CrossValidator pulls from several threads, so both the counter and each pass are
    lock-protected (a plain generator fails with "generator already executing").
    """

    def __init__(
        self,
        param_maps: Sequence[dict],
        pass_key: Callable[[dict], Hashable],
        run_pass: Callable[[list[int]], Any],
        build_model: Callable[[int, Any], M],
    ) -> None:
        self._keys = [pass_key(pm) for pm in param_maps]
        self._run_pass = run_pass
        self._build_model = build_model
        self._counter = 0
        self._lock = threading.Lock()
        self._pass_locks = {key: threading.Lock() for key in self._keys}
        self._results: dict[Hashable, Any] = {}

    def __iter__(self) -> "SharedPassIterator[M]":
        return self

    def __next__(self) -> tuple[int, M]:
        with self._lock:
            index = self._counter
            if index >= len(self._keys):
                raise StopIteration("No models remaining.")
            self._counter += 1
        key = self._keys[index]
        with self._pass_locks[key]:
            if key not in self._results:
                indices = [i for i, k in enumerate(self._keys) if k == key]
                self._results[key] = self._run_pass(indices)
        return index, self._build_model(index, self._results[key])
