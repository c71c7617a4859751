"""Containers of the image under test, for the modules that test the image itself.

``MODELHOST_IMAGE`` (default ``modelhost:latest``) is started with the docker CLI on a free
loopback port. ``needs_containers`` skips a module when the docker CLI or the image is missing
(``make integration`` builds the image first), and when ``MODELHOST_CONTAINER_TESTS=off``
(``make integration`` with a BASE_URL of your own). The fixtures built on this module
(``start_container``, ``model_repository``) are in conftest.py.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Self

import pytest
import requests

IMAGE = os.environ.get("MODELHOST_IMAGE", "modelhost:latest")
READY_TIMEOUT = 90.0
#: Seconds to wait for application processes to (re)appear, or for clients under load to get answers.
WAIT_TIMEOUT = 180.0
IRIS = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI; raise with its output when it fails and ``check`` is set."""
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def skip_reason() -> str | None:
    """Why the container tests cannot run here, or None when they can."""
    if os.environ.get("MODELHOST_CONTAINER_TESTS", "on").lower() in ("off", "0", "false", "no"):
        return "container tests turned off (MODELHOST_CONTAINER_TESTS=off: testing an external BASE_URL)"
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    if docker("image", "inspect", IMAGE, check=False, timeout=30).returncode != 0:
        return f"image {IMAGE} is not present (or no Docker engine answers): run make docker-build"
    return None


_reason = skip_reason()
#: The mark of every module that starts containers: ``pytestmark = needs_containers``.
needs_containers = pytest.mark.skipif(_reason is not None, reason=_reason or "")


class Container:
    """A running container of the image, published on a loopback port."""

    def __init__(self, name: str) -> None:
        self.name = name
        mapping = docker("port", name, "8000/tcp").stdout.split()[0]  # 127.0.0.1:NNNNN
        self.url = f"http://{mapping}"

    def logs(self) -> str:
        result = docker("logs", self.name, check=False)
        return result.stdout + result.stderr

    def exec_python(self, code: str) -> str:
        """Run Python inside the container (the image has no curl or ps) and return stdout."""
        return docker("exec", self.name, "python3", "-c", code).stdout

    def wait(self, path: str = "/health/live", timeout: float = READY_TIMEOUT) -> None:
        """Wait until ``path`` answers at all (any status), or fail with the container's logs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                requests.get(self.url + path, timeout=2)
                return
            except requests.RequestException:
                running = docker("inspect", "-f", "{{.State.Running}}", self.name, check=False).stdout.strip()
                if running != "true":
                    pytest.fail(f"container {self.name} exited during start-up:\n{self.logs()}")
                time.sleep(0.5)
        pytest.fail(f"container {self.name} did not answer {path} within {timeout:.0f} s:\n{self.logs()}")


def copy_image_models(destination: Path) -> Path:
    """Copy the image's demo models (``/models``) into ``destination``; returns ``destination/models``.

    The copy is made readable by the container's user (uid 10001): folders 755, files 644.
    """
    created = docker("create", IMAGE).stdout.strip()
    try:
        docker("cp", f"{created}:/models", str(destination))
    finally:
        docker("rm", created, check=False)
    repository = destination / "models"
    make_readable(repository)
    return repository


def make_readable(root: Path) -> None:
    """Folders 755 and files 644 under ``root``, so the container's user can read what the host wrote."""
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


# Prints {pid: program} of the processes that run the application: those with scikit-learn in
# their memory maps (Apache's children in embedded mode, mod_wsgi's daemons in daemon mode).
APP_PROCESSES = (
    "import json, os\n"
    "found = {}\n"
    "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
    "    try:\n"
    "        with open(f'/proc/{pid}/maps') as maps:\n"
    "            if any('/sklearn/' in line for line in maps):\n"
    "                found[pid] = open(f'/proc/{pid}/cmdline').read().split('\\0')[0].strip()\n"
    "    except OSError:\n"
    "        continue\n"
    "print(json.dumps(found))\n"
)


def app_processes(container: Container) -> dict[int, str]:
    """pid -> program of every process in the container that runs the application."""
    return {int(pid): name for pid, name in json.loads(container.exec_python(APP_PROCESSES)).items()}


def wait_for_app_processes(container: Container, count: int, without: int | None = None) -> dict[int, str]:
    """Wait until ``count`` processes (none of them ``without``) run the application; return them."""
    deadline = time.monotonic() + WAIT_TIMEOUT
    found: dict[int, str] = {}
    while time.monotonic() < deadline:
        found = app_processes(container)
        if len(found) == count and without not in found:
            return found
        time.sleep(1)
    pytest.fail(f"expected {count} processes running the application (not {without}), found {found}:\n"
                f"{container.logs()[-5000:]}")


class Load:
    """Client threads that each predict over their own keep-alive connection, one request at a time.

    Every request is three iris rows on the model's default route; an answer counts as a success
    only when it is a 200 with the right predictions. ``versions`` counts the versions that
    answered, and ``last_sent`` holds, per version, when the latest request it answered was sent
    (``time.monotonic()``).
    """

    def __init__(self, url: str, clients: int) -> None:
        self.url = url + "/v1/models/iris/predict"
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.successes = 0
        self.failures: list[tuple[int, str]] = []  # (client, what went wrong)
        self.versions: Counter[str] = Counter()
        self.last_sent: dict[str, float] = {}
        self.threads = [threading.Thread(target=self.client, args=(i,), daemon=True) for i in range(clients)]

    def __enter__(self) -> Self:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=90)

    @property
    def sent(self) -> int:
        return self.successes + len(self.failures)

    def client(self, number: int) -> None:
        with requests.Session() as session:
            while not self.stopping.is_set():
                failure, version = None, None
                sent = time.monotonic()
                try:
                    response = session.post(self.url, json={"instances": [IRIS] * 3}, timeout=60)
                    if response.status_code != 200 or response.json()["predictions"] != ["setosa"] * 3:
                        failure = f"HTTP {response.status_code}: {response.text[:200]}"
                    else:
                        version = str(response.json()["version"])
                except (requests.RequestException, ValueError, KeyError) as exc:
                    failure = f"{type(exc).__name__}: {exc}"
                with self.lock:
                    if failure is None:
                        self.successes += 1
                        self.versions[str(version)] += 1
                        self.last_sent[str(version)] = max(sent, self.last_sent.get(str(version), sent))
                    else:
                        self.failures.append((number, failure))

    def wait_for_successes(self, count: int) -> None:
        deadline = time.monotonic() + WAIT_TIMEOUT
        while self.successes < count:
            if time.monotonic() > deadline:
                pytest.fail(f"only {self.successes} of {count} predictions succeeded within {WAIT_TIMEOUT:.0f} s; "
                            f"failures: {self.failures[:5]}")
            time.sleep(0.2)
