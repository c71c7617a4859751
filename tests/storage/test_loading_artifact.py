"""The artifact is opened once: the bytes checked, hashed and loaded are the same, whatever is swapped in."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from pathlib import Path

import joblib

from app.core.registry import ModelRegistry
from app.core.watcher import load_all
from app.storage.repository import Repository


def load(root: Path) -> ModelRegistry:
    registry = ModelRegistry(root, [])
    load_all(registry)
    return registry


def replace_file(path: Path, estimator) -> None:
    """Put another file where ``path`` is, the way a deployment tool does: write beside it, rename over it."""
    beside = path.with_name(".incoming")
    joblib.dump(estimator, beside)
    os.replace(beside, path)


def test_a_file_swapped_in_after_the_hash_does_not_load_under_that_hash(repo, estimators, monkeypatch):
    artifact = repo / "iris" / "2" / "model.joblib"
    expected = json.loads((artifact.parent / "model.json").read_text())["sha256"]
    real_sha256, swapped = hashlib.sha256, []

    class SwapOnceHashed:
        """hashlib.sha256 that swaps the artifact as soon as the artifact's own hash has been computed."""

        def __init__(self, *data: bytes) -> None:
            self._hash = real_sha256(*data)

        def update(self, data: bytes) -> None:
            self._hash.update(data)

        def hexdigest(self) -> str:
            digest = self._hash.hexdigest()
            if digest == expected and not swapped:
                replace_file(artifact, estimators["iris1"])  # a valid model with the same features, C=1.0
                swapped.append(True)
            return digest

    monkeypatch.setattr(hashlib, "sha256", SwapOnceHashed)
    entry = load(repo).get("iris", 2)
    monkeypatch.undo()
    assert swapped, "the artifact was hashed"
    assert entry.status == "loaded", entry.error
    assert entry.ready_runtime().estimator.C == estimators["iris2"].C == 0.5, "loaded the bytes that were hashed"


def test_an_artifact_swapped_for_a_link_after_its_location_was_checked_is_refused(repo, tmp_path, monkeypatch):
    artifact = repo / "iris" / "2" / "model.joblib"
    outside = tmp_path / "outside.joblib"
    shutil.copyfile(artifact, outside)  # the same bytes: its hash matches model.json
    real_inside, swapped = Repository.inside, []

    def inside(self, path):
        resolved = real_inside(self, path)
        if Path(path) == artifact and not swapped:
            artifact.unlink()
            artifact.symlink_to(outside)
            swapped.append(True)
        return resolved

    monkeypatch.setattr(Repository, "inside", inside)
    entry = load(repo).get("iris", 2)
    assert swapped, "the artifact's location was checked"
    assert entry.status == "failed" and "iris/2/model.joblib is a symbolic link" in entry.error, entry.error
    assert str(tmp_path) not in entry.error


def test_a_fifo_swapped_in_for_the_artifact_is_refused_without_waiting_for_a_writer(repo, monkeypatch):
    artifact = repo / "iris" / "2" / "model.joblib"
    real_inside = Repository.inside

    def inside(self, path):
        resolved = real_inside(self, path)
        if Path(path) == artifact and artifact.is_file():
            artifact.unlink()
            os.mkfifo(artifact)
        return resolved

    monkeypatch.setattr(Repository, "inside", inside)
    result = {}
    loading = threading.Thread(target=lambda: result.update(entry=load(repo).get("iris", 2)), daemon=True)
    loading.start()
    loading.join(10)
    waited = loading.is_alive()
    if waited:  # blocked opening the FIFO: open its other end so the thread can finish
        os.close(os.open(artifact, os.O_WRONLY | os.O_NONBLOCK))
        loading.join(10)
    assert not waited, "the load waited for a writer on the FIFO"
    assert result["entry"].status == "failed" and "not a regular file" in result["entry"].error


def test_an_artifact_that_is_a_link_is_refused_even_inside_the_repository_but_a_linked_folder_loads(repo):
    directory = repo / "iris" / "3"
    directory.mkdir()
    (directory / "model.json").write_text((repo / "iris" / "2" / "model.json").read_text())
    (directory / "model.joblib").symlink_to("../2/model.joblib")
    (repo / "iris" / "4").symlink_to("2", target_is_directory=True)
    registry = load(repo)
    entry = registry.get("iris", 3)
    assert entry.status == "failed", "a link is not followed, even to a file inside the repository"
    assert entry.error == ("iris/3/model.joblib is a symbolic link; copy the file itself into the version "
                           "directory instead of linking it")
    assert registry.get("iris", 4).status == "loaded", "a folder linked inside the repository is read through"
