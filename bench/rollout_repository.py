"""The live repository of bench/rollout.py: its folder on this host and the container that polls it.

The repository, build/bench/rollout/models, holds the image's demo models (copied out of the
image) and ``forest``, a RandomForestClassifier of a few megabytes. It is changed the way users
change it: version folders copied in and deleted. What every process serves is read from
``GET /v1/repository``, whose process counts cover all the application's processes.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import make_models
import numpy as np
import requests
from harness.commands import run, tail
from harness.console import BenchError
from harness.containers import Container
from harness.paths import OUT_DIR
from harness.servers import HTTP_TIMEOUT
from sklearn.ensemble import RandomForestClassifier

ROLLOUT_DIR = OUT_DIR / "rollout"
REPOSITORY = ROLLOUT_DIR / "models"
POLL_SECONDS = 2
#: Seconds any one change may take to reach every process before the run stops with an error.
CHANGE_TIMEOUT = 60.0
FOREST = "forest"

State = dict[str, Any]


def write_forest(path: Path) -> None:
    """A forest fitted on noisy iris rows: deep trees, so a few megabytes on disk and in memory."""
    iris, target = make_models.iris_data()
    rng = np.random.default_rng(0)
    rows = rng.integers(0, len(iris), 20_000)
    features = iris[rows] + rng.normal(0.0, 0.5, (len(rows), iris.shape[1]))
    forest = RandomForestClassifier(n_estimators=25, random_state=0).fit(features, target[rows])
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(forest, path)


def prepare_repository(image: str) -> None:
    """The image's demo models and the forest in REPOSITORY, readable by the container's user."""
    shutil.rmtree(REPOSITORY, ignore_errors=True)
    ROLLOUT_DIR.mkdir(parents=True, exist_ok=True)
    created = run(["docker", "create", image])
    if created.returncode != 0:
        raise BenchError(f"docker create {image} failed:\n{tail(created.stderr)}")
    container = created.stdout.strip()
    try:
        copied = run(["docker", "cp", f"{container}:/models", str(ROLLOUT_DIR)])
        if copied.returncode != 0:
            raise BenchError(f"copying /models out of {image} failed:\n{tail(copied.stderr)}")
    finally:
        run(["docker", "rm", container])
    write_forest(REPOSITORY / FOREST / "1" / "model.joblib")
    make_models.make_world_readable(REPOSITORY)


class RolloutContainer(Container):
    """The image serving REPOSITORY, polling it every POLL_SECONDS."""

    name = "rollout"

    def __init__(self, image: str, tuning: dict[str, str]) -> None:
        super().__init__(REPOSITORY, image, {**tuning, "MODELHOST_REPOSITORY_POLL_SECONDS": str(POLL_SECONDS)})
        self.container = f"modelhost-rollout-{os.getpid()}"

    def rss_kib(self) -> dict[int, int]:
        """pid -> VmRSS in KiB of every process in the container that runs the application."""
        return {pid: rss for pid, (_, rss) in self.processes().items()}

    def state(self) -> State:
        response = requests.get(f"{self.url}/v1/repository", timeout=HTTP_TIMEOUT)
        if response.status_code != 200:
            raise BenchError(f"GET /v1/repository answered HTTP {response.status_code}: {response.text[:300]}")
        state: State = response.json()
        return state

    def wait_for(self, condition: Callable[[State], bool], what: str) -> float:
        """Poll /v1/repository until ``condition`` holds; the seconds it took, or BenchError."""
        started = time.monotonic()
        state: State = {}
        while time.monotonic() - started < CHANGE_TIMEOUT:
            state = self.state()
            if condition(state):
                return time.monotonic() - started
            time.sleep(0.1)
        raise BenchError(f"not within {CHANGE_TIMEOUT:.0f} s: {what}. Last /v1/repository: "
                         f"{json.dumps(state)[:2000]}\nLast log lines:\n{tail(self.logs())}")


def version_state(state: State, name: str, version: str) -> State | None:
    model = next((m for m in state["models"] if m["name"] == name), None)
    if model is None:
        return None
    return next((v for v in model["versions"] if v["version"] == version), None)


def everywhere(count: str, name: str, version: str) -> Callable[[State], bool]:
    """Every process has the version ``loaded`` (or ``failed``)."""
    def check(state: State) -> bool:
        entry = version_state(state, name, version)
        return entry is not None and state["processes"] > 0 and entry["processes"][count] == state["processes"]
    return check


def nowhere(name: str, version: str) -> Callable[[State], bool]:
    """No process has the version any more."""
    def check(state: State) -> bool:
        entry = version_state(state, name, version)
        return entry is None or (entry["state"] == "unloaded" and not any(entry["processes"].values()))
    return check


def copy_version(model_dir: Path, source: int, target: int) -> Path:
    """Copy a version folder into the repository; a model.json in it gets the new number."""
    destination = model_dir / str(target)
    shutil.copytree(model_dir / str(source), destination)
    metadata = destination / "model.json"
    if metadata.exists():
        metadata.write_text(json.dumps({**json.loads(metadata.read_text()), "version": target}, indent=2))
    return destination
