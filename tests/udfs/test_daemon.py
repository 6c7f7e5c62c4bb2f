"""The worker daemon's zipimport cache: an unchanged archive is not re-read when pyspark
invalidates the import caches (at a fresh worker's first task), and a changed one is."""

from __future__ import annotations

import importlib
import os
import sys
import zipfile
import zipimport

import pytest

from sagespark.udfs import daemon

pytestmark = pytest.mark.skipif(
    sys.version_info >= (3, 13), reason="Python 3.13's zipimport re-reads lazily; the daemon leaves it alone"
)


def write_archive(path, modules: dict[str, str], mtime_ns: int) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, source in modules.items():
            archive.writestr(f"pkg/{name}.py", source)
        archive.writestr("pkg/__init__.py", "")
    os.utime(path, ns=(mtime_ns, mtime_ns))


@pytest.fixture
def archive_on_path(tmp_path, monkeypatch):
    path = tmp_path / "shipped.zip"
    write_archive(path, {"first": "VALUE = 1"}, mtime_ns=1_000_000_000)
    monkeypatch.syspath_prepend(str(path))
    monkeypatch.setattr(zipimport.zipimporter, "invalidate_caches", daemon._reread_if_changed)
    reads = []
    original = zipimport._read_directory
    monkeypatch.setattr(zipimport, "_read_directory", lambda archive: reads.append(archive) or original(archive))
    yield path, reads
    for name in [m for m in sys.modules if m == "pkg" or m.startswith("pkg.")]:
        del sys.modules[name]


def test_an_unchanged_archive_is_read_once_however_often_caches_are_invalidated(archive_on_path):
    path, reads = archive_on_path
    assert importlib.import_module("pkg.first").VALUE == 1
    importers = [f for p, f in sys.path_importer_cache.items() if p.startswith(str(path))]
    assert len(importers) == 2  # the archive's root and its package
    importlib.invalidate_caches()  # reads it once more: the version it was read at is not known
    after_first = reads.count(str(path))
    for _ in range(5):
        importlib.invalidate_caches()
    assert reads.count(str(path)) == after_first <= 2  # Python 3.11's own: 2 more per call


def test_a_changed_archive_is_read_again(archive_on_path):
    path, reads = archive_on_path
    assert importlib.import_module("pkg.first").VALUE == 1
    importlib.invalidate_caches()
    write_archive(path, {"first": "VALUE = 1", "second": "VALUE = 2"}, mtime_ns=2_000_000_000)
    importlib.invalidate_caches()
    assert importlib.import_module("pkg.second").VALUE == 2
