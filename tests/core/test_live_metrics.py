"""/metrics across a server's processes as they come and go: each test process is a server process.

mod_wsgi replaces daemon processes (MODELHOST_MAXIMUM_REQUESTS, a crash); every process keeps its
Prometheus samples in PROMETHEUS_MULTIPROC_DIR. prometheus_client picks its multi-process mode
when it is imported, so every process here is a fresh Python process, as a daemon process is.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
#: A server process: builds the application, then answers one GET per line of stdin (the body as JSON).
SERVER = """
import json, os, sys
from app import create_app
client = create_app().test_client()
print(os.getpid(), flush=True)
for line in sys.stdin:
    print(json.dumps(client.get(line.strip()).get_data(as_text=True)), flush=True)
"""


class Process:
    """One server process of the server whose state folder and samples folder are under ``tmp_path``."""

    def __init__(self, tmp_path: Path, repo: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELHOST_")}
        env.update({"MODELHOST_INSTANCE_PATH": str(tmp_path / "instance"), "MODELHOST_MODEL_REPOSITORY": str(repo),
                    "MODELHOST_REPOSITORY_POLL_SECONDS": "0", "MODELHOST_ACCESS_LOG": "off",
                    "MODELHOST_STATE_DIR": str(tmp_path / "state"),
                    "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "samples")})
        self.process = subprocess.Popen([sys.executable, "-c", SERVER], cwd=ROOT, env=env, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = self.process.stdout.readline()
        assert line.strip().isdigit(), "the server process did not start"
        self.pid = int(line)

    def get(self, path: str) -> str:
        self.process.stdin.write(path + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def stop(self) -> None:
        """End the way a daemon process that is recycled ends: its interpreter shuts down."""
        self.process.stdin.close()
        assert self.process.wait(timeout=30) == 0
        self.process.stdout.close()

    def kill(self) -> None:
        """End the way a crashed process ends: nothing of it runs any more."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process.stdin.close()
        self.process.stdout.close()


@pytest.fixture
def server(tmp_path: Path) -> Path:
    for folder in ("state", "samples"):
        (tmp_path / folder).mkdir()
    return tmp_path


def value(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


def files_of(samples: Path, pid: int) -> list[str]:
    return sorted(path.name for path in samples.iterdir() if path.name.endswith(f"_{pid}.db"))


def break_iris_2(repo: Path) -> None:
    (repo / "iris" / "2" / "model.joblib").write_bytes(b"not a model")


@pytest.fixture
def fix_iris_2(write_version, iris_metadata):
    """Factory: iris version 2 written anew, loadable."""
    def fix(repo: Path, estimators: dict) -> None:
        for path in (repo / "iris" / "2").iterdir():
            path.unlink()
        (repo / "iris" / "2").rmdir()
        write_version(repo, "iris", 2, estimators["iris2"], {**iris_metadata(), "version": 2})
    return fix


def test_a_version_fixed_after_a_failed_load_is_1_once_the_process_that_failed_it_is_gone(server, repo, estimators,
                                                                                          fix_iris_2):
    break_iris_2(repo)
    crashed = Process(server, repo)
    assert value(crashed.get("/metrics"), "modelhost_model_version_loaded", model="iris", version="2") == 0
    crashed.kill()
    fix_iris_2(repo, estimators)
    fresh = Process(server, repo)
    try:
        text = fresh.get("/metrics")
        assert value(text, "modelhost_model_version_loaded", model="iris", version="2") == 1
        assert value(text, "modelhost_model_version_loaded", model="iris", version="1") == 1
        # The crashed process's files are gone, and what it counted is still counted.
        assert files_of(server / "samples", crashed.pid) == []
        assert value(text, "modelhost_http_requests_total", method="GET", endpoint="/metrics", status="200") == 1
    finally:
        fresh.stop()


def test_a_process_that_ends_takes_its_gauges_and_files_with_it_and_its_counts_stay(server, repo, estimators,
                                                                                    fix_iris_2):
    break_iris_2(repo)
    first = Process(server, repo)
    fix_iris_2(repo, estimators)
    second = Process(server, repo)  # started after the fix: it loaded version 2
    try:
        for _ in range(3):
            first.get("/health/live")
        # "1 when the version loaded in every process": not while the first one still has it failed.
        assert value(second.get("/metrics"), "modelhost_model_version_loaded", model="iris", version="2") == 0
        assert files_of(server / "samples", first.pid)
        first.stop()
        assert files_of(server / "samples", first.pid) == [], "its files go when it ends, not at some later scrape"
        text = second.get("/metrics")
        assert value(text, "modelhost_model_version_loaded", model="iris", version="2") == 1
        assert value(text, "modelhost_http_requests_total", method="GET", endpoint="/health/live",
                     status="200") == 3
        assert value(text, "modelhost_http_requests_total", method="GET", endpoint="/metrics", status="200") == 1
    finally:
        second.stop()


def test_a_process_found_dead_by_its_neighbours_leaves_no_files(server, repo):
    neighbour = Process(server, repo)  # keeps the server running while the other one comes and goes
    try:
        crashed = Process(server, repo)
        crashed.get("/health/live")
        crashed.kill()
        assert files_of(server / "samples", crashed.pid)
        # Listing the repository reads every process's entry: the dead one's goes, and its samples.
        assert json.loads(neighbour.get("/v1/repository"))["processes"] == 1
        assert files_of(server / "samples", crashed.pid) == []
        assert value(neighbour.get("/metrics"), "modelhost_http_requests_total", method="GET",
                     endpoint="/health/live", status="200") == 1
    finally:
        neighbour.stop()
