"""Size caps of serving.json and model.json hold before anything is read: an oversized file is never read whole."""
from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

from app.storage.errors import LoadError
from app.storage.repository import MAX_METADATA_BYTES, Repository
from app.storage.serving import MAX_SERVING_BYTES

#: What a runaway file grows to in these tests: sparse, so it costs no disk, but reading it costs memory.
HUGE = 64 << 20


def peak_bytes(call) -> tuple[int, BaseException | None]:
    """The most memory Python held while ``call`` ran, and what it raised."""
    tracemalloc.start()
    try:
        call()
        raised = None
    except Exception as exc:  # noqa: BLE001 - the caller checks what was raised
        raised = exc
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, raised


def grows_once_its_size_was_seen(path: Path, monkeypatch) -> None:
    """Have ``path`` grow to HUGE as soon as its size was looked at (by name or by descriptor),
    while every look reports the size it had: a file still being written by someone else."""
    first = os.stat(path)
    real_stat, real_fstat = os.stat, os.fstat

    def stale(result):
        if (result.st_dev, result.st_ino) != (first.st_dev, first.st_ino):
            return result
        if real_stat(path).st_size != HUGE:
            os.truncate(path, HUGE)
        return first

    monkeypatch.setattr(os, "stat", lambda *a, **k: stale(real_stat(*a, **k)))
    monkeypatch.setattr(os, "fstat", lambda fd: stale(real_fstat(fd)))


def test_an_oversized_serving_file_is_refused_without_being_read(repo):
    path = repo / "iris" / "serving.json"
    path.write_text('{"default": 1}')
    os.truncate(path, HUGE)
    peak, raised = peak_bytes(lambda: Repository(repo).read_serving("iris"))
    assert isinstance(raised, LoadError), raised
    assert str(raised).startswith("iris/serving.json is larger than 64 KiB (it has 67,108,864 bytes); ")
    assert "keep just 'default', 'labels' and 'canary' in it" in str(raised)
    assert peak < 1 << 20, f"{peak} bytes held to refuse a file over {MAX_SERVING_BYTES}"


def test_a_serving_file_growing_after_its_size_was_checked_is_not_read_past_the_cap(repo, monkeypatch):
    path = repo / "iris" / "serving.json"
    path.write_text('{"default": 1}')
    grows_once_its_size_was_seen(path, monkeypatch)
    peak, raised = peak_bytes(lambda: Repository(repo).read_serving("iris"))
    monkeypatch.undo()
    assert os.stat(path).st_size == HUGE, "the file grew"
    assert isinstance(raised, LoadError) and "iris/serving.json is larger than 64 KiB (it grew past that while " \
                                                 "it was read)" in str(raised), raised
    assert peak < 1 << 20, f"{peak} bytes held to refuse a file over {MAX_SERVING_BYTES}"


def test_a_model_json_growing_after_its_size_was_checked_is_not_read_past_the_cap(repo, monkeypatch):
    path = repo / "iris" / "2" / "model.json"
    grows_once_its_size_was_seen(path, monkeypatch)
    peak, raised = peak_bytes(lambda: Repository(repo).read_metadata(path.parent))
    monkeypatch.undo()
    assert os.stat(path).st_size == HUGE, "the file grew"
    assert isinstance(raised, LoadError) and str(raised).startswith(
        "iris/2/model.json is larger than 4 MiB (it grew past that while it was read); "), raised
    assert peak < 2 * MAX_METADATA_BYTES, f"{peak} bytes held to refuse a file over {MAX_METADATA_BYTES}"


@pytest.mark.parametrize("size", [MAX_SERVING_BYTES + 1, HUGE])
def test_the_repository_listing_says_how_to_fix_an_oversized_serving_file(repo, size, live_app):
    path = repo / "iris" / "serving.json"
    path.write_text('{"default": 1}')
    os.truncate(path, size)
    client = live_app(repo).test_client()
    iris = next(m for m in client.get("/v1/repository").get_json()["models"] if m["name"] == "iris")
    assert iris["serving_file"]["error"] == (
        f"iris/serving.json is larger than 64 KiB (it has {size:,} bytes); a serving file holds a few keys only: "
        "keep just 'default', 'labels' and 'canary' in it, or delete it to serve the highest version")
    assert iris["default_version"] == "2", "the file asks for nothing while it is refused"
