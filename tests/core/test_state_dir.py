"""The processes' shared folder (STATE_DIR) where no start script prepares it, as under a system Apache.

Each server process joins the folder when it builds the application (app/core/fleet.py): the first
process of a start removes what an earlier start left, and the Prometheus samples go to
<STATE_DIR>/prometheus unless PROMETHEUS_MULTIPROC_DIR names a folder already. prometheus_client
picks its multi-process mode when it is first imported, so every server here is a fresh Python
process, as a mod_wsgi daemon process is.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = "prometheus"
#: A server process: builds the application, answers one request, reports, and lives until stdin closes.
SERVER = """
import os, sys
from app import create_app
app = create_app()
assert app.test_client().get("/health/live").status_code == 200
print(os.environ.get("PROMETHEUS_MULTIPROC_DIR", "-"), os.getpid(), flush=True)
sys.stdin.read()
"""


class Server:
    """One server process; ``stop()`` ends it."""

    def __init__(self, tmp_path: Path, **env: str) -> None:
        clean = {k: v for k, v in os.environ.items()
                 if not k.startswith("MODELHOST_") and k != "PROMETHEUS_MULTIPROC_DIR"}
        clean.update({"MODELHOST_INSTANCE_PATH": str(tmp_path / "instance"),
                      "MODELHOST_MODEL_REPOSITORY": str(tmp_path / "models"),
                      "MODELHOST_REPOSITORY_POLL_SECONDS": "0", "MODELHOST_ACCESS_LOG": "off", **env})
        self.process = subprocess.Popen([sys.executable, "-c", SERVER], cwd=ROOT, env=clean, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.process.stdout.readline().split()
        assert len(line) == 2, self.process.stderr.read() if self.process.poll() is not None else line
        self.samples, self.pid = line[0], int(line[1])

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self.process.stdout.close()
        self.process.stderr.close()


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "models").mkdir()
    folder = tmp_path / "state"
    folder.mkdir()
    yield folder


def leave_an_earlier_start(state: Path) -> list[Path]:
    """What processes of an earlier start leave behind: entries, a reload request, the server's memory, samples."""
    (state / "prometheus").mkdir(exist_ok=True)
    left = [state / "process-999999-abcd.json", state / "reload", state / ".tmp-x1", state / "default-iris",
            state / "prometheus" / "counter_999999.db",
            state / "prometheus" / "gauge_min_999999.db", state / "prometheus" / "counter_ended.db"]
    for path in left:
        path.write_text("{}")
    return left


def test_the_first_process_of_a_start_clears_the_folder_and_keeps_every_processes_samples_there(tmp_path, state):
    left = leave_an_earlier_start(state)
    (state / "notes.txt").write_text("not the server's")
    first = Server(tmp_path, MODELHOST_STATE_DIR=str(state))
    try:
        assert first.samples == str(state / "prometheus")
        assert not [path for path in left if path.exists()], "an earlier start's files stay"
        assert (state / "notes.txt").exists(), "only the server's own files are removed"
        assert (state / "prometheus" / f"counter_{first.pid}.db").exists(), "the request was counted there"
        # A second process of the same start (the server runs): it adds its samples, removes nothing.
        second = Server(tmp_path, MODELHOST_STATE_DIR=str(state))
        try:
            assert second.samples == first.samples
            assert (state / "prometheus" / f"counter_{first.pid}.db").exists()
            assert (state / "prometheus" / f"counter_{second.pid}.db").exists()
        finally:
            second.stop()
        # One of them ended (a recycled daemon process): the others keep what it counted, and
        # its own files go (app/core/fleet.py folds its counts into those of the processes that ended).
        third = Server(tmp_path, MODELHOST_STATE_DIR=str(state))
        third.stop()
        assert not [path for path in (state / "prometheus").iterdir() if f"_{second.pid}." in path.name]
        assert answered_live(state / "prometheus") == 3
    finally:
        first.stop()
    # Every process ended: the next one is the first of a new start.
    fourth = Server(tmp_path, MODELHOST_STATE_DIR=str(state))
    try:
        samples = [path.name for path in (state / "prometheus").glob("*.db")]
        assert samples and all(name.endswith(f"_{fourth.pid}.db") for name in samples), samples
    finally:
        fourth.stop()


def answered_live(samples: Path) -> float:
    """GET /health/live requests the server's processes counted, as /metrics would report them."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(samples))
    value = registry.get_sample_value("modelhost_http_requests_total",
                                      {"method": "GET", "endpoint": "/health/live", "status": "200"})
    return value or 0.0


def test_samples_stay_where_prometheus_multiproc_dir_says(tmp_path, state):
    """The container's start script names (and empties) the folder itself: the application leaves it be."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "counter_999999.db").write_text("")
    (state / "process-999999-abcd.json").write_text("{}")
    server = Server(tmp_path, MODELHOST_STATE_DIR=str(state), PROMETHEUS_MULTIPROC_DIR=str(elsewhere))
    try:
        assert server.samples == str(elsewhere)
        assert (elsewhere / "counter_999999.db").exists() and (elsewhere / f"counter_{server.pid}.db").exists()
        assert not (state / SAMPLES).exists()
        assert not (state / "process-999999-abcd.json").exists(), "the folder's own leftovers still go"
    finally:
        server.stop()



def test_without_a_state_dir_a_process_counts_only_itself(tmp_path, state):
    server = Server(tmp_path)
    try:
        assert server.samples == "-"
        assert list(state.iterdir()) == []
    finally:
        server.stop()


def test_a_state_dir_it_cannot_use_is_a_warning_not_a_failed_start(tmp_path):
    (tmp_path / "models").mkdir()
    server = Server(tmp_path, MODELHOST_STATE_DIR=str(tmp_path / "missing"))
    try:
        assert server.samples == "-"
    finally:
        server.process.stdin.close()
        server.process.wait(timeout=30)
        assert "Cannot join the shared folder" in server.process.stderr.read()
        server.process.stdout.close()
        server.process.stderr.close()
