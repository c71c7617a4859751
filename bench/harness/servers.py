"""A prediction server under test on a loopback port: the naive baseline, and `make run` on this host.

Every server is started by the bench and always stopped, also when a run fails; the containers
of the image are in harness/containers.py.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from pathlib import Path

import make_models
import requests

from harness.commands import tail
from harness.console import BenchError, log
from harness.paths import BENCH_DIR, LOGS_DIR, ROOT, VENV_BIN

LOOPBACK = "127.0.0.1"
#: Seconds a check waits for one answer of a server under test.
HTTP_TIMEOUT = 30.0
# Apache's words for running out of workers, daemon queue time-outs and unreachable daemons.
SATURATION_PATTERN = re.compile(r"reached MaxRequestWorkers|Queue timeout|Unable to connect")

_ports_given: set[int] = set()


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now, never the same one twice."""
    while True:
        with socket.socket() as sock:
            sock.bind((LOOPBACK, 0))
            port = int(sock.getsockname()[1])
        if port not in _ports_given:
            _ports_given.add(port)
            return port


class Server(ABC):
    """A prediction server under test on a loopback port; start() it, then stop() it always."""

    name: str
    #: Seconds it may take from start() until it answers.
    start_timeout: float
    #: Whether it is modelhost (answers {"model", "version", "predictions"}) or the baseline.
    is_modelhost: bool = True

    def __init__(self, models_dir: Path) -> None:
        self.models_dir = models_dir
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.log_path = LOGS_DIR / f"{self.name}.log"

    @abstractmethod
    def start(self) -> None:
        """Launch the server without waiting for it."""

    @abstractmethod
    def stop(self) -> None:
        """Stop it and everything it started; safe to call when start() failed or never ran."""

    @abstractmethod
    def failure(self) -> str | None:
        """Why the server is not running any more, or None while it runs."""

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def answers(self, session: requests.Session) -> bool:
        """Whether it is ready: modelhost's /health/ready, every model loaded."""
        return session.get(f"{self.url}/health/ready", timeout=2).status_code == 200

    def wait_ready(self) -> None:
        started = time.monotonic()
        next_note = started + 15
        with requests.Session() as session:
            while True:
                with contextlib.suppress(requests.RequestException):
                    if self.answers(session):
                        log(f"{self.name} ready at {self.url} after {time.monotonic() - started:.0f} s")
                        return
                if (reason := self.failure()) is not None:
                    raise BenchError(f"{self.name} did not start: {reason}. Its last log lines:\n{tail(self.logs())}")
                now = time.monotonic()
                if now - started > self.start_timeout:
                    raise BenchError(f"{self.name} at {self.url} did not become ready within "
                                     f"{self.start_timeout:.0f} s. Its last log lines:\n{tail(self.logs())}")
                if now >= next_note:
                    log(f"waiting for {self.name} ({now - started:.0f} s){self.waiting_hint()}")
                    next_note = now + 15
                time.sleep(0.5)

    def waiting_hint(self) -> str:
        return ""

    def saturation(self) -> list[str]:
        """Apache's log lines about running out of workers, queue time-outs or unreachable daemons."""
        return [line for line in self.logs().splitlines() if SATURATION_PATTERN.search(line)]


def stop_quietly(server: Server) -> None:
    """Stop a server at the end of a run; a failure is logged, so the other servers still stop."""
    log(f"stopping {server.name}")
    try:
        server.stop()
    except Exception as exc:  # noqa: BLE001 - cleanup goes on with the other servers
        log(f"stopping {server.name} failed: {exc}")


class ProcessGroupServer(Server):
    """A server run as a command in its own session (setsid); stopping it ends its process group."""

    def __init__(self, models_dir: Path) -> None:
        super().__init__(models_dir)
        self.process: subprocess.Popen[bytes] | None = None
        self.program = ""

    @abstractmethod
    def command(self) -> tuple[list[str], dict[str, str]]:
        """The command line and its environment."""

    def start(self) -> None:
        command, env = self.command()
        self.program = Path(command[0]).name
        with self.log_path.open("wb") as log_file:
            self.process = subprocess.Popen(command, env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                                            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)

    def failure(self) -> str | None:
        assert self.process is not None
        code = self.process.poll()
        return None if code is None else f"{self.program} exited with status {code}"

    def stop(self) -> None:
        if self.process is None:
            return
        group = self.process.pid  # the session leader's pid is the process group's id
        for sig, grace in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, sig)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                self.process.poll()  # reap the leader, or the group never looks empty
                try:
                    os.killpg(group, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.2)
        log(f"{self.name}: processes of group {group} outlived SIGKILL")


class Baseline(ProcessGroupServer):
    """bench/naive_app.py under gunicorn: 2 workers x 4 threads (gthread), no access log."""

    name = "baseline"
    start_timeout = 60.0
    is_modelhost = False

    def command(self) -> tuple[list[str], dict[str, str]]:
        # --reuse-port: the kernel spreads the connections over both workers. Without it one
        # worker often accepts most of wrk's connections and the baseline runs on one core,
        # half its best (seen: 700 to 2,100 requests/s between consecutive runs).
        return ([str(VENV_BIN / "gunicorn"), "--worker-class", "gthread", "--workers", "2", "--threads", "4",
                 "--reuse-port",
                 "--bind", f"{LOOPBACK}:{self.port}", "--log-level", "warning", "--chdir", str(BENCH_DIR),
                 "naive_app:app"],
                {**os.environ, "BENCH_MODELS": str(self.models_dir)})

    def answers(self, session: requests.Session) -> bool:
        """The baseline has no health check: a prediction answered is ready."""
        body = {"instances": [[5.1, 3.5, 1.4, 0.2]]}
        url = f"{self.url}/v1/models/{make_models.MODEL_NAMES[0]}/predict"
        return session.post(url, json=body, timeout=2).status_code == 200


class Host(ProcessGroupServer):
    """`make run` on this host: Apache (as www-data when run as root) + mod_wsgi."""

    name = "host"
    start_timeout = 600.0  # the first `make run` as root builds build/run-venv

    def __init__(self, models_dir: Path, tuning: dict[str, str]) -> None:
        super().__init__(models_dir)
        self.tuning = tuning
        self.server_root = Path(tempfile.mkdtemp(prefix="modelhost-bench-"))
        self.server_root.chmod(0o755)  # Apache's children (www-data) use the daemon sockets in it

    @staticmethod
    def available() -> bool:
        """Whether `make run` can work here: it needs Apache's apxs."""
        return shutil.which("apxs") is not None

    def command(self) -> tuple[list[str], dict[str, str]]:
        # A clean top-level make: no MAKEFLAGS of `make bench`, and of the MODELHOST_* variables
        # only the tuning ones.
        env = {name: value for name, value in os.environ.items()
               if not name.startswith("MODELHOST_") and name not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
        env.update(self.tuning, MODELHOST_HOST=LOOPBACK, MODELHOST_SERVER_ROOT=str(self.server_root))
        return (["make", "--no-print-directory", "run", f"HOST_PORT={self.port}",
                 f"MODELHOST_MODEL_REPOSITORY={self.models_dir}"], env)

    def waiting_hint(self) -> str:
        return "; the first `make run` builds build/run-venv, which takes a minute or two"

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.server_root, ignore_errors=True)


def check_traversable_by_others(path: Path) -> None:
    """Apache started as root serves as www-data, which must reach the models through every folder."""
    for folder in [path, *path.parents]:
        if not folder.stat().st_mode & stat.S_IXOTH:
            raise BenchError(f"{folder} is not searchable by other users, so Apache's user (www-data) cannot "
                             f"read the models in {path}: chmod o+x {folder}, or leave out the host server "
                             "with SERVERS='baseline container'")
