"""`make bench`: modelhost against a naive baseline, measured in one run over loopback.

Servers (env SERVERS, default "baseline container host"), all started here and always stopped
at the end, also on Ctrl-C:

  baseline   bench/naive_app.py (Flask, no validation, no logging) under gunicorn,
             2 workers x 4 threads (gthread), SO_REUSEPORT, no access log
  container  modelhost:latest (env IMAGE) with its default settings, the models mounted read-only
  daemon     the same image with MODELHOST_WSGI_MODE=daemon (mod_wsgi daemon processes)
  host       `make run`: the same Apache/mod_wsgi configuration on this host (only where apxs is)

Every server serves the same two models, written by bench/make_models.py into
build/bench/models: iris_lr (LogisticRegression) and iris_rf (RandomForestClassifier).
Before any timing, each server's predictions for a few hundred iris rows, and for the bodies
of the workloads, are compared with ``model.predict`` of the same joblib files in this process;
any difference or non-200 answer stops the bench.

Workloads, the same wrk settings for every server: per model, one row per request at 1, 16 and
64 keep-alive connections and 1000-row batches at 4 connections. Each is run against the
servers back to back (baseline, container, host; then the next workload), each run after a
warm-up, so that noise on the machine hits the servers alike. The table (Markdown) gives
requests and rows per second, p50 and p99 latency, errors (non-2xx answers and socket errors)
and the ratio of each server's requests per second to the baseline's in the same workload; it
is also written to build/bench/results.md (raw numbers in results.json, wrk's output and the
servers' logs in build/bench/logs/).

With the container among the servers, three lines follow the table (bench/image.py, under a
minute): the image's size, five cold starts (seconds from `docker run` to /health/ready and to a
first prediction) and its application processes at ready (their memory, and that none loaded
pandas or matplotlib). Two more are measured against a
container of the same image that serves a writable repository (bench/rollout.py, about three
minutes): "rollout under load" (8 clients predicting while a new version rolls out, a corrupt
one is refused and the old one is deleted: requests sent and failed, and the seconds until the
new version was the default in every process) and "memory after 20 load/unload cycles" (the
growth of each application process, target under 10 %).
Then a second table (bench/protocols.py, about two minutes, a container of its own): iris_lr's
1-row and 1000-row bodies in /v1, KServe V1 `:predict` and Open Inference Protocol V2 (JSON with
one [n, 4] tensor, JSON with a tensor per feature, binary tensor data), each line's req/s as a
multiple of /v1's in the same run.

Settings (environment): SERVERS, DURATION (8s), WARMUP (2s), WRK_THREADS (2), IMAGE
(modelhost:latest), and the MODELHOST_* tuning variables of README.md ("Tuning"), which are
passed to the container and to `make run`; PROTOCOLS_DURATION, PROTOCOLS_WARMUP and MLSERVER
for the protocols' table (bench/protocols.py).
"""
from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import joblib
import make_models
import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
OUT_DIR = ROOT / "build" / "bench"
MODELS_DIR = OUT_DIR / "models"
BODIES_DIR = OUT_DIR / "bodies"
LOGS_DIR = OUT_DIR / "logs"
LUA_SCRIPT = BENCH_DIR / "predict.lua"
REQUIREMENTS = BENCH_DIR / "requirements.txt"
VENV_BIN = Path(sys.executable).parent

SERVER_NAMES = ("baseline", "container", "daemon", "host")
MODEL_NAMES = tuple(make_models.ESTIMATORS)
LOOPBACK = "127.0.0.1"
WRK_TIMEOUT = "10s"
HTTP_TIMEOUT = 30.0

# MODELHOST_* variables that tune the server (README.md, "Tuning"), passed on to the container
# and to `make run`. Addresses, ports and paths are the bench's to choose and are not passed.
TUNING_VARIABLES = tuple(f"MODELHOST_{name}" for name in (
    "PROCESSES", "THREADS", "MAX_CLIENTS", "LISTEN_BACKLOG", "KEEP_ALIVE_TIMEOUT", "QUEUE_TIMEOUT",
    "REQUEST_TIMEOUT", "SOCKET_TIMEOUT", "STARTUP_TIMEOUT", "GRACEFUL_TIMEOUT", "SHUTDOWN_TIMEOUT",
    "MAXIMUM_REQUESTS", "MAX_CONTENT_LENGTH", "MAX_BATCH_SIZE", "LOG_LEVEL", "LOG_FORMAT",
    "APACHE_LOG_LEVEL", "ACCESS_LOG", "APACHE_ACCESS_LOG", "LOG_FLUSH_MS", "SERVER_MPM", "WSGI_MODE",
    "BATCHING", "BATCH_MAX_ROWS", "BATCH_MAX_WAIT_US", "BATCHING_MODELS",
))
# Apache's words for running out of workers, daemon queue time-outs and unreachable daemons.
SATURATION_PATTERN = re.compile(r"reached MaxRequestWorkers|Queue timeout|Unable to connect")


class BenchError(Exception):
    """A failure the user must see as one clear message; the bench stops."""


def log(message: str) -> None:
    print(f"bench: {message}", flush=True)


# --- Settings ---------------------------------------------------------------------------------

def seconds(duration: str) -> int:
    """Seconds in a wrk duration such as ``8s``, ``2m`` or ``8``."""
    match = re.fullmatch(r"(\d+)([smh]?)", duration.strip())
    if not match or int(match[1]) == 0:
        raise BenchError(f"a duration must be a positive whole number with s, m or h (like 8s), got {duration!r}")
    return int(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]


@dataclass(frozen=True)
class Settings:
    """What the environment asks of this run."""

    servers: tuple[str, ...]
    duration: str
    warmup: str
    wrk_threads: int
    image: str
    tuning: dict[str, str]

    @classmethod
    def from_env(cls) -> Settings:
        servers = tuple(os.environ.get("SERVERS", " ".join(SERVER_NAMES)).split())
        unknown = sorted(set(servers) - set(SERVER_NAMES))
        if unknown or not servers:
            raise BenchError(f"SERVERS must name some of {', '.join(SERVER_NAMES)}; "
                             f"got {' '.join(servers) or '(nothing)'}")
        threads = os.environ.get("WRK_THREADS", "2")
        if not threads.isdigit() or int(threads) < 1:
            raise BenchError(f"WRK_THREADS must be a positive whole number, got {threads!r}")
        settings = cls(
            servers=tuple(name for name in SERVER_NAMES if name in servers),
            duration=os.environ.get("DURATION", "8s").strip(),
            warmup=os.environ.get("WARMUP", "2s").strip(),
            wrk_threads=int(threads),
            image=os.environ.get("IMAGE", "modelhost:latest"),
            tuning={name: os.environ[name] for name in TUNING_VARIABLES if os.environ.get(name)},
        )
        for duration in (settings.duration, settings.warmup):
            seconds(duration)  # raises on a malformed one
        return settings


# --- Request bodies and the predictions they must get ----------------------------------------

@dataclass(frozen=True, eq=False)  # compared and hashed by identity: rows is an array
class Body:
    """A predict body written to a file (wrk reads it from there), with its rows."""

    name: str
    rows: np.ndarray
    path: Path

    @property
    def json(self) -> bytes:
        return self.path.read_bytes()


def write_body(name: str, rows: np.ndarray) -> Body:
    path = BODIES_DIR / f"{name}.json"
    path.write_text(json.dumps({"instances": rows.tolist()}))
    return Body(name, rows, path)


def make_bodies() -> tuple[Body, Body, Body]:
    """The one-row and the 1000-row workload bodies, and the verification body.

    The 1000 rows are the iris rows in order, repeated. The verification body is the 150 iris
    rows plus each of them moved by seeded noise (rounded to 2 decimals), which puts rows near
    the decision boundaries.
    """
    BODIES_DIR.mkdir(parents=True, exist_ok=True)
    iris, _ = make_models.iris_data()
    noise = np.random.default_rng(0).normal(0.0, 0.3, iris.shape)
    one_row = write_body("1-row", np.array([[5.1, 3.5, 1.4, 0.2]]))
    batch = write_body("1000-rows", np.resize(iris, (1000, iris.shape[1])))
    verify = write_body("verify-300-rows", np.vstack([iris, np.round(iris + noise, 2)]))
    return one_row, batch, verify


@dataclass(frozen=True)
class Workload:
    model: str
    body: Body
    connections: int

    @property
    def rows(self) -> int:
        return len(self.body.rows)

    @property
    def path(self) -> str:
        return f"/v1/models/{self.model}/predict"

    @property
    def label(self) -> str:
        unit = "row" if self.rows == 1 else "rows"
        return f"{self.model}, {self.rows} {unit}, {self.connections} conn"


def make_workloads(one_row: Body, batch: Body) -> list[Workload]:
    workloads = []
    for model in MODEL_NAMES:
        workloads += [Workload(model, one_row, connections) for connections in (1, 16, 64)]
        workloads.append(Workload(model, batch, 4))
    return workloads


# --- Processes, ports and tools ----------------------------------------------------------------

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


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, its output captured as text."""
    return subprocess.run(command, capture_output=True, text=True, **kwargs)


def tail(text: str, lines: int = 40) -> str:
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


def ensure_wrk() -> None:
    """Install wrk from Debian when it is missing (as root with apt-get)."""
    if shutil.which("wrk"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise BenchError("wrk is not installed: apt-get install wrk")
    log("installing wrk (apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        result = run(command, env=env)
        if result.returncode != 0:
            raise BenchError(f"{' '.join(command)} failed:\n{tail(result.stdout + result.stderr)}")


def pinned_version(requirements: Path, package: str) -> str:
    for line in requirements.read_text().splitlines():
        name, _, version = line.split("#")[0].strip().partition("==")
        if name.strip().lower() == package:
            return version.strip()
    raise BenchError(f"{requirements} pins no {package}")


def ensure_gunicorn() -> None:
    """Install bench/requirements.txt into this virtualenv when gunicorn is missing or not the pin."""
    wanted = pinned_version(REQUIREMENTS, "gunicorn")
    try:
        if importlib.metadata.version("gunicorn") == wanted:
            return
    except importlib.metadata.PackageNotFoundError:
        pass
    log(f"installing gunicorn=={wanted} into {VENV_BIN.parent} ({REQUIREMENTS.relative_to(ROOT)})")
    result = run([sys.executable, "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)])
    if result.returncode != 0:
        raise BenchError(f"pip install -r {REQUIREMENTS} failed:\n{tail(result.stdout + result.stderr)}")


def ensure_image(image: str) -> None:
    """Build the image with `make docker-build` when it is not here."""
    if not shutil.which("docker"):
        raise BenchError("the container server needs docker; leave it out with SERVERS='baseline host'")
    if run(["docker", "image", "inspect", image]).returncode == 0:
        return
    log(f"image {image} is not here: make docker-build (a few minutes)")
    if subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "docker-build", f"IMAGE={image}"]).returncode:
        raise BenchError(f"make docker-build IMAGE={image} failed (output above)")


def check_traversable_by_others(path: Path) -> None:
    """Apache started as root serves as www-data, which must reach the models through every folder."""
    for folder in [path, *path.parents]:
        if not folder.stat().st_mode & stat.S_IXOTH:
            raise BenchError(f"{folder} is not searchable by other users, so Apache's user (www-data) cannot "
                             f"read the models in {path}: chmod o+x {folder}, or leave out the host server "
                             "with SERVERS='baseline container'")


# --- Servers ----------------------------------------------------------------------------------

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
        return session.post(f"{self.url}/v1/models/{MODEL_NAMES[0]}/predict", json=body, timeout=2).status_code == 200


class Host(ProcessGroupServer):
    """`make run` on this host: Apache (as www-data when run as root) + mod_wsgi."""

    name = "host"
    start_timeout = 600.0  # the first `make run` as root builds build/run-venv

    def __init__(self, models_dir: Path, tuning: dict[str, str]) -> None:
        super().__init__(models_dir)
        self.tuning = tuning
        self.server_root = Path(tempfile.mkdtemp(prefix="modelhost-bench-"))
        self.server_root.chmod(0o755)  # Apache's children (www-data) use the daemon sockets in it

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


class Container(Server):
    """modelhost:latest with its default settings (and the tuning variables set here)."""

    name = "container"
    start_timeout = 120.0

    def __init__(self, models_dir: Path, image: str, tuning: dict[str, str],
                 docker_options: tuple[str, ...] = ()) -> None:
        super().__init__(models_dir)
        self.image = image
        self.tuning = tuning
        self.docker_options = docker_options
        self.container = f"modelhost-bench-{os.getpid()}"
        self.started = False

    def start(self) -> None:
        env_args = [arg for name, value in self.tuning.items() for arg in ("--env", f"{name}={value}")]
        result = run(["docker", "run", "--detach", "--name", self.container,
                      "--publish", f"{LOOPBACK}:{self.port}:8000", "--volume", f"{self.models_dir}:/models:ro",
                      *env_args, *self.docker_options, self.image])
        self.started = True  # even a failed run may leave a created container behind
        if result.returncode != 0:
            raise BenchError(f"docker run {self.image} failed:\n{tail(result.stderr)}")

    def failure(self) -> str | None:
        state = run(["docker", "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", self.container])
        status, _, code = state.stdout.strip().partition(" ")
        if status == "running":
            return None
        return f"container {self.container} is {status or 'gone'} (exit code {code or '?'})"

    def logs(self) -> str:
        result = run(["docker", "logs", self.container])
        return result.stdout + result.stderr

    def memory(self) -> str:
        result = run(["docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", self.container])
        return result.stdout.strip() or f"unknown ({result.stderr.strip()})"

    def stop(self) -> None:
        if self.started:
            self.log_path.write_text(self.logs())  # keep its log beside the others
            run(["docker", "rm", "--force", self.container])


class DaemonContainer(Container):
    """The same image in mod_wsgi daemon mode (MODELHOST_WSGI_MODE=daemon): the other trade-off."""

    name = "daemon"

    def __init__(self, models_dir: Path, image: str, tuning: dict[str, str]) -> None:
        super().__init__(models_dir, image, {**tuning, "MODELHOST_WSGI_MODE": "daemon"})
        self.container += "-daemon"


# --- Verification -----------------------------------------------------------------------------

def expected_predictions(models_dir: Path, bodies: list[Body]) -> dict[tuple[str, str], list[Any]]:
    """(model, body) -> ``model.predict(rows)`` of the joblib file the servers load."""
    expected = {}
    for model in MODEL_NAMES:
        estimator = joblib.load(make_models.artifact_path(models_dir, model))
        for body in bodies:
            expected[model, body.name] = estimator.predict(body.rows).tolist()
    return expected


def verify(server: Server, bodies: list[Body], expected: dict[tuple[str, str], list[Any]]) -> None:
    """Every prediction of the server for every body equals the in-process one, or BenchError."""
    with requests.Session() as session:
        for model in MODEL_NAMES:
            for body in bodies:
                where = f"{server.name}, {model}, body {body.name}"
                try:
                    response = session.post(f"{server.url}/v1/models/{model}/predict", data=body.json,
                                            headers={"Content-Type": "application/json"}, timeout=HTTP_TIMEOUT)
                except requests.RequestException as exc:
                    raise BenchError(f"{where}: no answer: {exc}") from None
                text = " ".join(response.text.split())[:500]
                if response.status_code != 200:
                    raise BenchError(f"{where}: HTTP {response.status_code}: {text}")
                try:
                    answer = response.json()
                except ValueError:
                    raise BenchError(f"{where}: the answer is not JSON: {text}") from None
                if not isinstance(answer, dict):
                    raise BenchError(f"{where}: expected a JSON object, got {text}")
                if server.is_modelhost and (answer.get("model"), answer.get("version")) != (model, "1"):
                    raise BenchError(f"{where}: answered for model {answer.get('model')!r} version "
                                     f"{answer.get('version')!r}, expected {model!r} version '1'")
                if problem := mismatch(answer.get("predictions"), expected[model, body.name]):
                    raise BenchError(f"{where}: predictions differ from model.predict: {problem}")
    log(f"{server.name}: predictions equal model.predict for {sum(len(b.rows) for b in bodies)} rows "
        f"x {len(MODEL_NAMES)} models")


def mismatch(got: Any, want: list[Any]) -> str | None:
    """How ``got`` differs from ``want`` (value and JSON type of every prediction), or None."""
    if not isinstance(got, list) or len(got) != len(want):
        return f"expected a list of {len(want)} predictions, got {str(got)[:200]}"
    wrong = [i for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w or type(g) is not type(w)]
    if not wrong:
        return None
    first = wrong[0]
    return f"{len(wrong)} of {len(want)} differ; the first, row {first}: got {got[first]!r}, expected {want[first]!r}"


# --- wrk ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WrkResult:
    """One line of bench/predict.lua's done(); latencies in microseconds."""

    requests: int
    duration_us: int
    p50_us: int
    p90_us: int
    p99_us: int
    non2xx: int
    connect_errors: int
    read_errors: int
    write_errors: int
    timeouts: int

    @property
    def per_second(self) -> float:
        return self.requests / (self.duration_us / 1e6) if self.duration_us else 0.0

    @property
    def errors(self) -> int:
        return self.non2xx + self.connect_errors + self.read_errors + self.write_errors + self.timeouts


def wrk_command(url: str, script: Path, connections: int, duration: str, threads: int) -> list[str]:
    """wrk's command line: keep-alive connections, at most one thread per connection, a Lua script."""
    return ["wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{duration}",
            "--timeout", WRK_TIMEOUT, "--latency", "-s", str(script), url]


def wrk_report(command: list[str], returncode: int, stdout: str, stderr: str, target: str) -> dict[str, Any]:
    """The one ``BENCH_RESULT {...}`` line a bench Lua script prints when done, as a dict."""
    lines = [line for line in stdout.splitlines() if line.startswith("BENCH_RESULT ")]
    if returncode != 0 or len(lines) != 1:
        raise BenchError(f"wrk against {target} failed (status {returncode}): {' '.join(command)}\n"
                         f"{tail(stdout + stderr)}")
    report: dict[str, Any] = json.loads(lines[0].removeprefix("BENCH_RESULT "))
    return report


def run_wrk(server: Server, workload: Workload, duration: str, threads: int, output: Path | None) -> WrkResult:
    """Load the server with one workload for ``duration``; wrk's full output goes to ``output``."""
    command = wrk_command(server.url, LUA_SCRIPT, workload.connections, duration, threads)
    env = {**os.environ, "BENCH_BODY": str(workload.body.path), "BENCH_PATH": workload.path}
    try:
        result = run(command, env=env, timeout=seconds(duration) + 60)
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk against {server.name} did not finish: {' '.join(command)}") from None
    if output is not None:
        output.write_text(f"$ {' '.join(command)}\n{result.stdout}{result.stderr}")
    return WrkResult(**wrk_report(command, result.returncode, result.stdout, result.stderr, server.name))


# --- Report -----------------------------------------------------------------------------------

def latency(us: int) -> str:
    if us < 1000:
        return f"{us} µs"
    if us < 1_000_000:
        return f"{us / 1000:.3g} ms"
    return f"{us / 1e6:.3g} s"


def markdown_table(header: list[str], rows: list[list[str]], align: str) -> str:
    """A Markdown table, padded to line up; ``align`` has one letter per column, l(eft) or r(ight)."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    columns = list(zip(widths, align, strict=True))

    def line(cells: list[str]) -> str:
        padded = (cell.ljust(width) if side == "l" else cell.rjust(width)
                  for cell, (width, side) in zip(cells, columns, strict=True))
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (width + 1) + (":" if side == "r" else "-") for width, side in columns) + "|"
    return "\n".join([line(header), rule, *map(line, rows)])


def results_table(results: list[tuple[Workload, str, WrkResult]]) -> str:
    baseline = {workload: result.per_second for workload, server, result in results if server == "baseline"}
    rows = []
    for workload, server, result in results:
        base = baseline.get(workload)
        ratio = f"{result.per_second / base:.2f}" if base else "–"
        rows.append([workload.label, server, f"{result.per_second:,.0f}", f"{result.per_second * workload.rows:,.0f}",
                     latency(result.p50_us), latency(result.p99_us), str(result.errors), ratio])
    header = ["workload", "server", "req/s", "rows/s", "p50", "p99", "errors", "× baseline req/s"]
    return markdown_table(header, rows, "llrrrrrr")


def git_revision() -> str:
    head = run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]).stdout.strip() or "unknown"
    dirty = run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"]).stdout.strip()
    return head + (" with uncommitted changes" if dirty else "")


# --- The run ----------------------------------------------------------------------------------

def make_servers(settings: Settings, stack: contextlib.ExitStack) -> list[Server]:
    """Prepare the servers SERVERS names (skipping the host one without apxs), stopped at exit."""
    factories: dict[str, Callable[[], Server]] = {
        "baseline": lambda: Baseline(MODELS_DIR),
        "container": lambda: Container(MODELS_DIR, settings.image, settings.tuning),
        "daemon": lambda: DaemonContainer(MODELS_DIR, settings.image, settings.tuning),
        "host": lambda: Host(MODELS_DIR, settings.tuning),
    }
    servers = []
    for name in settings.servers:
        if name == "host" and not shutil.which("apxs"):
            log("skipping host: `make run` needs Apache's apxs (apt-get install apache2 apache2-dev)")
            continue
        server = factories[name]()
        stack.callback(stop_quietly, server)
        servers.append(server)
    if not servers:
        raise BenchError("no server to benchmark")
    return servers


def stop_quietly(server: Server) -> None:
    log(f"stopping {server.name}")
    try:
        server.stop()
    except Exception as exc:  # noqa: BLE001 - cleanup goes on with the other servers
        log(f"stopping {server.name} failed: {exc}")


def bench(settings: Settings, stack: contextlib.ExitStack) -> None:
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    ensure_wrk()
    if "baseline" in settings.servers:
        ensure_gunicorn()
    if {"container", "daemon"} & set(settings.servers):
        ensure_image(settings.image)
    make_models.write_models(MODELS_DIR)
    one_row, batch, verification = make_bodies()
    bodies = [verification, one_row, batch]
    expected = expected_predictions(MODELS_DIR, bodies)
    workloads = make_workloads(one_row, batch)

    servers = make_servers(settings, stack)
    if any(isinstance(s, Host) for s in servers) and os.geteuid() == 0:
        check_traversable_by_others(MODELS_DIR)
    tuned = ", ".join(f"{k}={v}" for k, v in settings.tuning.items()) or "none (defaults)"
    log(f"models in {MODELS_DIR}; MODELHOST_* tuning passed on: {tuned}")
    for server in servers:
        log(f"starting {server.name} on {server.url} (log: {server.log_path.relative_to(ROOT)})")
        server.start()
    for server in servers:
        server.wait_ready()
    for server in servers:
        verify(server, bodies, expected)

    runs = len(workloads) * len(servers)
    minutes = runs * (seconds(settings.duration) + seconds(settings.warmup) + 0.5) / 60
    log(f"{runs} runs of {settings.duration} (each after a {settings.warmup} warm-up), about {minutes:.1f} min; "
        f"wrk -t{settings.wrk_threads} --timeout {WRK_TIMEOUT}, keep-alive")
    results: list[tuple[Workload, str, WrkResult]] = []
    for workload in workloads:
        for server in servers:
            print(f"  [{len(results) + 1:2d}/{runs}] {workload.label:<28} {server.name:<9}", end="", flush=True)
            run_wrk(server, workload, settings.warmup, settings.wrk_threads, output=None)
            slug = f"{workload.model}-{workload.rows}rows-{workload.connections}c-{server.name}"
            result = run_wrk(server, workload, settings.duration, settings.wrk_threads, LOGS_DIR / f"wrk-{slug}.txt")
            results.append((workload, server.name, result))
            print(f" {result.per_second:8,.0f} req/s  p99 {latency(result.p99_us):>9}  errors {result.errors}",
                  flush=True)

    container = "container" in settings.servers
    report(settings, servers, results, (image_notes(settings) + rollout_notes(settings)) if container else [],
           protocols_notes(settings) if container else [])


def image_notes(settings: Settings) -> list[str]:
    """The lines of bench/image.py: the image's size, its cold start and its processes at ready."""
    import image  # here, not at the top: image.py imports this module

    log("the image: its size, five cold starts and its processes at ready (bench/image.py)")
    try:
        with contextlib.ExitStack() as stack:
            return image.measure(settings.image, settings.tuning, stack).lines()
    except BenchError as exc:  # the wrk numbers above still get their report
        log(f"the image measurements failed: {exc}")
        return [f"Image size and cold start (bench/image.py): not measured ({str(exc).splitlines()[0]})"]


def rollout_notes(settings: Settings) -> list[str]:
    """The lines of bench/rollout.py, against a container of its own that is stopped before the report."""
    import rollout  # here, not at the top: rollout.py imports this module

    log("the live repository: rollout under load, then memory over load/unload cycles (bench/rollout.py)")
    try:
        with contextlib.ExitStack() as stack:
            under_load, memory = rollout.measure(settings.image, settings.tuning, stack)
    except BenchError as exc:  # the wrk numbers above still get their report
        log(f"the rollout measurements failed: {exc}")
        return [f"Rollout under load and memory after load/unload cycles: not measured ({str(exc).splitlines()[0]})"]
    return [under_load.line(), memory.line()]


def protocols_notes(settings: Settings) -> list[str]:
    """The lines of bench/protocols.py (a sentence, its table, a note), against a container of its own."""
    import protocols  # here, not at the top: protocols.py imports this module

    log("the protocols: /v1, KServe V1 and Open Inference Protocol V2 side by side (bench/protocols.py)")
    try:
        with contextlib.ExitStack() as stack:
            measured = protocols.measure(protocols.Settings.from_bench(settings), stack)
    except BenchError as exc:  # the wrk numbers above still get their report
        log(f"the protocol measurements failed: {exc}")
        return [f"Protocols (bench/protocols.py): not measured ({str(exc).splitlines()[0]})."]
    return measured.lines()


def report(settings: Settings, servers: list[Server], results: list[tuple[Workload, str, WrkResult]],
           extra_notes: list[str], protocol_lines: list[str]) -> None:
    notes = []
    for server in servers:
        if isinstance(server, Container):
            notes.append(f"Memory of {server.name} after the runs (docker stats): {server.memory()}")
        if server.is_modelhost:
            lines = server.saturation()
            notes.append(f"Apache log of {server.name}: " + (
                f"{len(lines)} lines about saturation, e.g. {lines[0].strip()}" if lines else
                "no 'reached MaxRequestWorkers', 'Queue timeout' or 'Unable to connect'"))
    notes += extra_notes
    table = results_table(results)
    protocols_text = "\n\n" + "\n".join(protocol_lines) if protocol_lines else ""
    print("\n" + table + "\n\n" + "\n".join(notes) + protocols_text, flush=True)

    tuned = ", ".join(f"`{k}={v}`" for k, v in settings.tuning.items()) or "none (image and `make run` defaults)"
    (OUT_DIR / "results.md").write_text(
        f"# `make bench`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n"
        f"Revision {git_revision()}; {os.cpu_count()} cores; servers: {', '.join(s.name for s in servers)}. "
        f"wrk -t{settings.wrk_threads} (at most one per connection), keep-alive, {settings.duration} per run "
        f"after a {settings.warmup} warm-up, `--timeout {WRK_TIMEOUT}`. MODELHOST_* tuning: {tuned}.\n\n"
        f"{table}\n\n" + "".join(f"{note}.\n" for note in notes) + (protocols_text and protocols_text + "\n"))
    (OUT_DIR / "results.json").write_text(json.dumps(
        [{"model": w.model, "rows": w.rows, "connections": w.connections, "server": s, **asdict(r),
          "requests_per_second": r.per_second} for w, s, r in results], indent=1))
    log(f"saved {(OUT_DIR / 'results.md').relative_to(ROOT)} (raw numbers: results.json; logs: logs/)")


def raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_cleanly(name: str, body: Callable[[contextlib.ExitStack], int]) -> int:
    """Run ``body`` with an ExitStack that stops whatever it started, also on Ctrl-C or SIGTERM.

    Returns body's exit status, 1 on a BenchError (printed), 130 when interrupted.
    """
    stop_signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    for sig in stop_signals[1:]:
        signal.signal(sig, raise_interrupt)
    stack = contextlib.ExitStack()  # stops everything started, in reverse order
    try:
        return body(stack)
    except BenchError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\n{name}: interrupted", file=sys.stderr)
        return 130
    finally:
        for sig in stop_signals:  # a second Ctrl-C must not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        stack.close()


def main() -> int:
    def run(stack: contextlib.ExitStack) -> int:
        bench(Settings.from_env(), stack)
        return 0

    return run_cleanly("bench", run)


if __name__ == "__main__":
    # bench/rollout.py imports this module as `bench`: it must find this one rather than load a
    # second copy, whose BenchError run_cleanly would not catch.
    sys.modules.setdefault("bench", sys.modules[__name__])
    sys.exit(main())
