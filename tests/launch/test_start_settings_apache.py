"""The start script with this host's Apache and mod_wsgi-express: settings with one Apache process serve.

Apache opens (online cores / ListenCoresBucketsRatio) listening sockets and starts a child process
for each, past ServerLimit if there are more sockets than that; its parent then crashes a second
after the start (AH00060, exit 139). mod_wsgi-express gives Apache a single process in daemon mode
up to 10 MODELHOST_MAX_CLIENTS, and MODELHOST_PROCESSES of them in embedded mode: on a host of two
cores or more, these settings crashed before the start script kept the sockets to the processes.

Needs Apache with its development files (apt-get install apache2 apache2-dev) and a virtualenv with
mod_wsgi-express: MODELHOST_TEST_VENV, else the one ``make run`` builds (build/run-venv as root,
.venv otherwise).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IS_ROOT = os.geteuid() == 0


def mod_wsgi_venv() -> Path:
    """The virtualenv to run mod_wsgi-express from, or skip."""
    for candidate in (os.environ.get("MODELHOST_TEST_VENV"), ROOT / "build" / "run-venv", ROOT / ".venv"):
        if candidate and (Path(candidate) / "bin" / "mod_wsgi-express").is_file():
            venv = Path(candidate)
            break
    else:
        pytest.skip("no mod_wsgi-express: run make run once (it builds build/run-venv as root, else .venv), or set "
                    "MODELHOST_TEST_VENV to a virtualenv with requirements.txt and requirements-apache.txt")
    if IS_ROOT and subprocess.run(["runuser", "-u", "www-data", "--", str(venv / "bin" / "python"), "-c", ""],
                                  capture_output=True, check=False).returncode != 0:
        pytest.skip(f"www-data, who runs the application when started as root, cannot run {venv}/bin/python")
    return venv


@pytest.fixture(scope="module")
def app_dir() -> Iterator[Path]:
    """A copy of the application, the start script and the Apache files, with mod_modelhost built,
    where Apache's account can read them (a checkout under /root may not be)."""
    if not (shutil.which("apxs") or shutil.which("apxs2")):
        pytest.skip("apxs is not installed (apt-get install apache2-dev): mod_modelhost cannot be built")
    top = Path(tempfile.mkdtemp(prefix="modelhost-start-apache-test-"))
    try:
        top.chmod(0o755)
        shutil.copytree(ROOT / "app", top / "app", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(ROOT / "flask.wsgi", top / "flask.wsgi")
        (top / "docker").mkdir()
        shutil.copy(ROOT / "docker" / "modelhost-start", top / "docker" / "modelhost-start")
        shutil.copytree(ROOT / "docker" / "apache", top / "docker" / "apache", ignore=shutil.ignore_patterns("*.so"))
        subprocess.run([str(top / "docker" / "apache" / "build-module.sh"),
                        str(top / "docker" / "apache" / "mod_modelhost.so")], check=True, capture_output=True)
        (top / "models").mkdir()
        for path in [top, *top.rglob("*")]:
            path.chmod(0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)
        yield top
    finally:
        shutil.rmtree(top)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def live(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url + "/health/live", timeout=2) as response:
            return response.status
    except OSError:
        return None


@pytest.mark.parametrize("settings", [
    {"MODELHOST_WSGI_MODE": "daemon", "MODELHOST_PROCESSES": "2", "MODELHOST_THREADS": "4",
     "MODELHOST_MAX_CLIENTS": "8"},
    {"MODELHOST_WSGI_MODE": "embedded", "MODELHOST_PROCESSES": "1"},
], ids=["daemon-8-clients", "embedded-1-process"])
def test_the_server_starts_and_stays_up_with_a_single_apache_process(app_dir, settings):
    venv = mod_wsgi_venv()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    work = Path(tempfile.mkdtemp(prefix="modelhost-start-apache-run-"))
    work.chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MODELHOST_") and k not in ("PROMETHEUS_MULTIPROC_DIR", "TMPDIR")}
    env.update({"MODELHOST_VENV": str(venv), "MODELHOST_HOST": "127.0.0.1", "MODELHOST_PORT": str(port),
                "MODELHOST_MODEL_REPOSITORY": str(app_dir / "models"), "MODELHOST_SERVER_ROOT": str(work / "root"),
                "MODELHOST_SHUTDOWN_TIMEOUT": "1", **settings})
    log = work / "output.log"
    with log.open("a") as output:  # appending: Apache opens it again, as /dev/stderr
        process = subprocess.Popen(["bash", str(app_dir / "docker" / "modelhost-start")], env=env, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while live(url) != 200:
            assert process.poll() is None, f"the server exited with {process.returncode}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"no answer on /health/live:\n{log.read_text()}"
            time.sleep(0.2)
        # Apache's parent crashed at its first look at its children, a second after the start.
        time.sleep(2.5)
        assert process.poll() is None, f"the server exited with {process.returncode}:\n{log.read_text()}"
        assert live(url) == 200
        assert "AH00060" not in log.read_text()
    finally:
        stop(process)
        shutil.rmtree(work, ignore_errors=True)


def stop(process: subprocess.Popen) -> None:
    """Stop Apache as docker stop would, then whatever of its processes is left (a crashed parent
    leaves its children behind)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # the start script's process is Apache's parent by then
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
