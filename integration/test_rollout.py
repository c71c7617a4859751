"""The live model repository in the container: new versions roll out under load, bad ones never serve.

Each test mounts a writable copy of the image's demo models (``model_repository``) at /models
and changes it from the host the way users do: a version folder copied in with
``shutil.copytree`` (not atomically), a corrupt one, a folder deleted, ``flask train`` run on
the host. The containers poll every ``POLL_SECONDS`` = 2 s instead of the default 5, so a test
waits less; the server then loads a version once its files stayed the same for ``SETTLE_SECONDS``
(1 s). What each process serves is read from ``GET /v1/repository``, whose per-version process
counts cover every application process (the image runs ``PROCESSES`` = 2).
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from containers import IRIS, Container, Load, app_processes, docker, needs_containers

pytestmark = needs_containers

ROOT = Path(__file__).resolve().parent.parent
POLL_SECONDS = 2.0
#: How long a version's files must stay unchanged before the server loads them (fixed in the server).
SETTLE_SECONDS = 1.0
#: The image's application processes (MODELHOST_PROCESSES defaults to 2).
PROCESSES = 2
CLIENTS = 8
#: Seconds the load runs in the rollout test, at least.
LOAD_SECONDS = 30.0
#: Seconds from a version copied in (or deleted) until every process has it (or dropped it): one
#: poll, the settle time, the scan that sees the files settled, and a few seconds for loading
#: while eight clients keep both processes busy.
ROLLOUT_BOUND = POLL_SECONDS + SETTLE_SECONDS + 4.0
#: Fresh connections (``Connection: close``) sent to check what every process answers; the kernel
#: spreads new connections over the processes' listeners (SO_REUSEPORT).
FRESH_CONNECTIONS = 20
ADMIN_TOKEN = "rollout-admin-secret"


# --- the repository as the server reports it ---------------------------------------------------

def repository_state(container: Container) -> dict[str, Any]:
    response = requests.get(container.url + "/v1/repository", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def model_state(state: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((model for model in state["models"] if model["name"] == name), None)


def version_state(state: dict[str, Any], name: str, version: str) -> dict[str, Any] | None:
    model = model_state(state, name)
    if model is None:
        return None
    return next((entry for entry in model["versions"] if entry["version"] == version), None)


def in_every_process(count: str, name: str, version: str) -> Callable[[dict[str, Any]], bool]:
    """Whether every process has the version in one state: ``loaded`` or ``failed``."""
    def check(state: dict[str, Any]) -> bool:
        entry = version_state(state, name, version)
        return (state["processes"] == PROCESSES and entry is not None
                and entry["processes"][count] == state["processes"])
    return check


def unloaded_everywhere(name: str, version: str) -> Callable[[dict[str, Any]], bool]:
    def check(state: dict[str, Any]) -> bool:
        entry = version_state(state, name, version)
        return (entry is not None and entry["state"] == "unloaded"
                and entry["processes"] == {"loaded": 0, "failed": 0, "loading": 0})
    return check


def wait_for_state(container: Container, condition: Callable[[dict[str, Any]], bool], what: str,
                   timeout: float = 60.0) -> tuple[dict[str, Any], float]:
    """Poll /v1/repository until ``condition`` holds; returns that state and the seconds it took."""
    started = time.monotonic()
    state: dict[str, Any] = {}
    while time.monotonic() - started < timeout:
        state = repository_state(container)
        if condition(state):
            return state, time.monotonic() - started
        time.sleep(0.1)
    pytest.fail(f"not within {timeout:.0f} s: {what}; last /v1/repository:\n{json.dumps(state, indent=1)}\n"
                f"{container.logs()[-6000:]}")


def fresh_post(container: Container, path: str, body: dict[str, Any]) -> requests.Response:
    """A request over a new connection, closed after it, so that any process may answer it."""
    return requests.post(container.url + path, json=body, headers={"Connection": "close"}, timeout=30)


def assert_every_process_answers(container: Container, version: str) -> None:
    for _ in range(FRESH_CONNECTIONS):
        response = fresh_post(container, "/v1/models/iris/predict", IRIS)
        assert response.status_code == 200, response.text
        assert response.json() == {"model": "iris", "version": version, "prediction": "setosa"}, response.text


# --- changing the repository like a user ---------------------------------------------------------

def copy_version(model_dir: Path, source: int, target: int) -> Path:
    """Copy a version folder straight into the repository, then give its model.json the new number."""
    destination = model_dir / str(target)
    shutil.copytree(model_dir / str(source), destination)
    metadata_path = destination / "model.json"
    metadata = json.loads(metadata_path.read_text())
    metadata["version"] = target
    metadata_path.write_text(json.dumps(metadata, indent=2))
    return destination


def artifact(version_dir: Path) -> Path:
    found = [p for p in version_dir.iterdir() if p.stem == "model" and p.suffix != ".json"]
    assert len(found) == 1, f"expected one artifact in {version_dir}, found {found}"
    return found[0]


def start_watching(start_container: Callable[..., Container], repository: Path, **env: str) -> Container:
    """A container serving ``repository``, ready, with every application process reporting."""
    container = start_container("--volume", f"{repository}:/models:ro",
                                env={"MODELHOST_REPOSITORY_POLL_SECONDS": str(POLL_SECONDS), **env})
    container.wait("/health/ready")
    wait_for_state(container, in_every_process("loaded", "iris", "1"),
                   f"{PROCESSES} processes reporting iris version 1 loaded")
    return container


# --- the tests ----------------------------------------------------------------------------------

def test_rollout_under_load_new_version_corrupt_version_and_removal(start_container, model_repository: Path) -> None:
    """v2 rolls out, a corrupt v3 is refused, v1 is removed: all while 8 clients predict, none failing."""
    container = start_watching(start_container, model_repository)
    iris = model_repository / "iris"
    started = time.monotonic()
    with Load(container.url, CLIENTS) as load:
        load.wait_for_successes(CLIENTS * 5)

        copy_version(iris, 1, 2)
        state, rollout_seconds = wait_for_state(container, in_every_process("loaded", "iris", "2"),
                                                "iris version 2 loaded in every process")
        rolled_out = time.monotonic()
        assert model_state(state, "iris")["default_version"] == "2", state
        assert rollout_seconds <= ROLLOUT_BOUND, f"version 2 took {rollout_seconds:.1f} s to roll out"
        assert_every_process_answers(container, "2")

        corrupt = copy_version(iris, 2, 3)
        artifact(corrupt).write_bytes(b"garbage, not a model" * 100)
        state, refusal_seconds = wait_for_state(container, in_every_process("failed", "iris", "3"),
                                                "iris version 3 failed in every process")
        v3 = version_state(state, "iris", "3")
        assert v3["state"] == "failed" and "sha256" in v3["error"], v3
        assert refusal_seconds <= ROLLOUT_BOUND, f"version 3 took {refusal_seconds:.1f} s to be refused"
        assert model_state(state, "iris")["default_version"] == "2", state
        for _ in range(FRESH_CONNECTIONS // 2):
            ready = requests.get(container.url + "/health/ready", headers={"Connection": "close"}, timeout=10)
            assert ready.status_code == 200, ready.text
            health = next(m for m in ready.json()["models"] if m["name"] == "iris")
            assert health["status"] == "degraded" and health["default_version"] == "2", health
            failed = [v for v in health["versions"] if v["version"] == "3"]
            assert failed and failed[0]["status"] == "failed" and failed[0]["error"], health
        models = requests.get(container.url + "/v1/models", timeout=10).json()["models"]
        listed = next(m for m in models if m["name"] == "iris")
        assert listed["status"] == "degraded" and listed["default_version"] == "2", listed
        assert_every_process_answers(container, "2")

        shutil.rmtree(iris / "1")
        state, removal_seconds = wait_for_state(container, unloaded_everywhere("iris", "1"),
                                                "iris version 1 unloaded in every process")
        assert removal_seconds <= ROLLOUT_BOUND, f"version 1 took {removal_seconds:.1f} s to be unloaded"
        for _ in range(FRESH_CONNECTIONS // 2):
            gone = fresh_post(container, "/v1/models/iris/versions/1/predict", IRIS)
            assert gone.status_code == 404, gone.text
            assert gone.headers["Content-Type"] == "application/problem+json"
        assert_every_process_answers(container, "2")

        time.sleep(max(0.0, LOAD_SECONDS - (time.monotonic() - started)))
    load_seconds = time.monotonic() - started
    print(f"rollout: {load.sent} requests in {load_seconds:.0f} s, "
          f"{len(load.failures)} failed, by version {dict(load.versions)}; v2 everywhere after "
          f"{rollout_seconds:.1f} s, v3 refused everywhere after {refusal_seconds:.1f} s, v1 unloaded "
          f"everywhere after {removal_seconds:.1f} s (bound {ROLLOUT_BOUND:.0f} s)")
    assert load_seconds >= LOAD_SECONDS
    assert load.failures == [], load.failures[:10]
    assert "3" not in load.versions, load.versions
    assert set(load.versions) == {"1", "2"}, load.versions
    # A request sent after every process reported version 2 loaded was answered by version 2.
    assert load.last_sent["1"] < rolled_out, "version 1 answered a request sent after the rollout finished"


def write_iris_csv(path: Path) -> Path:
    """scikit-learn's iris data as a CSV with a header row, the way a data scientist keeps it."""
    from sklearn.datasets import load_iris  # only this test needs scikit-learn

    data = load_iris()
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sepal_length", "sepal_width", "petal_length", "petal_width", "species"])
        for row, target in zip(data.data, data.target, strict=True):
            writer.writerow([*(float(value) for value in row), data.target_names[target]])
    return path


def test_flask_train_on_the_host_serves_the_new_version_without_a_restart(
        start_container, model_repository: Path, tmp_path: Path) -> None:
    container = start_watching(start_container, model_repository)
    before = app_processes(container)
    data = write_iris_csv(tmp_path / "iris.csv")
    # The user's own environment, pointed at the mounted folder (no settings of the test run).
    env = {key: value for key, value in os.environ.items() if not key.startswith("MODELHOST_")}
    env["MODELHOST_MODEL_REPOSITORY"] = str(model_repository)
    # flask train gives its files the permissions the umask allows; the server runs as another
    # user (uid 10001), so the folder is shared the usual way, with umask 022, whatever umask
    # this test run has.
    result = subprocess.run([str(Path(sys.executable).parent / "flask"), "--app", "app", "train", "iris",
                             "--data", str(data), "--target", "species"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, umask=0o022)
    trained = time.monotonic()
    assert result.returncode == 0, result.stdout + result.stderr
    assert (model_repository / "iris" / "2" / "model.json").is_file(), result.stdout

    answered: list[str] = []
    while time.monotonic() - trained < 60:
        response = fresh_post(container, "/v1/models/iris/predict", IRIS)
        assert response.status_code == 200, response.text
        assert response.json()["prediction"] == "setosa", response.text
        answered.append(response.json()["version"])
        if answered[-1] == "2":
            break
        time.sleep(0.1)
    serving_seconds = time.monotonic() - trained
    print(f"train: version 2 answered {serving_seconds:.1f} s after flask train exited")
    assert answered[-1] == "2", f"version 2 did not answer within 60 s: {answered[-5:]}"
    assert serving_seconds <= ROLLOUT_BOUND, f"version 2 answered {serving_seconds:.1f} s after training"
    wait_for_state(container, in_every_process("loaded", "iris", "2"), "iris version 2 loaded in every process",
                   timeout=ROLLOUT_BOUND)
    assert_every_process_answers(container, "2")
    # No restart: the same container and the same application processes serve it.
    assert app_processes(container) == before
    assert docker("inspect", "-f", "{{.RestartCount}}", container.name).stdout.strip() == "0"


@pytest.mark.parametrize("mode", ["embedded", "daemon"])
def test_reload_with_the_admin_token_loads_a_copied_version_in_every_process(
        start_container, model_repository: Path, mode: str) -> None:
    """Both ways of running the application: Apache's own processes, or mod_wsgi's daemon processes."""
    container = start_watching(start_container, model_repository, MODELHOST_REPOSITORY_POLL_SECONDS="0",
                               MODELHOST_ADMIN_TOKEN=ADMIN_TOKEN, MODELHOST_WSGI_MODE=mode)
    assert repository_state(container)["repository_poll_seconds"] == 0
    reload = container.url + "/v1/repository/reload"
    copy_version(model_repository / "iris", 1, 2)
    # Polling is off: longer than a poll and the settle time later, nothing has seen version 2.
    time.sleep(POLL_SECONDS + SETTLE_SECONDS)
    assert version_state(repository_state(container), "iris", "2") is None
    assert fresh_post(container, "/v1/models/iris/predict", IRIS).json()["version"] == "1"

    missing = requests.post(reload, timeout=60)
    assert missing.status_code == 401 and missing.headers["Content-Type"] == "application/problem+json"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = requests.post(reload, headers={"Authorization": "Bearer not-the-admin-token"}, timeout=60)
    assert wrong.status_code == 401, wrong.text
    assert version_state(repository_state(container), "iris", "2") is None

    response = requests.post(reload, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    v2 = version_state(body, "iris", "2")
    assert body["processes"] == PROCESSES, body
    assert v2 is not None and v2["state"] == "loaded", body
    assert v2["processes"] == {"loaded": PROCESSES, "failed": 0, "loading": 0}, (
        f"the reload answered before every process had version 2 loaded: {v2}")
    assert model_state(body, "iris")["default_version"] == "2", body
    assert_every_process_answers(container, "2")
    assert ADMIN_TOKEN not in container.logs()


def test_reload_is_forbidden_while_no_admin_token_is_configured(start_container) -> None:
    container = start_container()
    for headers in ({}, {"Authorization": "Bearer some-token"}):
        response = requests.post(container.url + "/v1/repository/reload", headers=headers, timeout=60)
        assert response.status_code == 403, response.text
        assert response.headers["Content-Type"] == "application/problem+json"
        assert "MODELHOST_ADMIN_TOKEN" in response.json()["detail"]
