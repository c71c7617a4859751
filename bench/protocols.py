"""modelhost's prediction protocols under `make bench`: /v1, KServe V1 and Open Inference Protocol V2, one run.

    .venv/bin/python bench/protocols.py      (bench/bench.py runs it too, with the container among its servers)

One container of IMAGE (built when missing), with the bench's MODELHOST_* tuning, serves the
bench's models (bench/make_models.py, build/bench/models). For MODEL, the LogisticRegression
(its predict call is cheap, so what a protocol costs shows), the same rows go in each protocol:

  /v1              modelhost's own POST /v1/models/iris_lr/predict, {"instances": rows}: the reference
  KServe V1        POST /v1/models/iris_lr:predict, the same body
  V2 JSON, rows    POST /v2/models/iris_lr/infer, the rows as one [n, 4] FP64 tensor (flat data)
  V2 JSON, columns the same, one [n] FP64 tensor per feature (named as GET /v2/models/iris_lr says)
  V2 binary        the [n, 4] FP64 tensor as binary tensor data, `predict` asked for as binary data:
                   the body of tritonclient's InferenceServerClient.generate_request_body, sent with
                   its Inference-Header-Content-Length

The rows are bench.py's: its 1-row body, at 16 keep-alive connections, and its 1000-row body, at 4.
wrk runs as bench.py runs it (bench/predict.lua, WRK_THREADS, keep-alive), each run after a
warm-up, the protocols back to back for each body so that noise on the machine hits them alike.
Before any timing, every body's answer must be a 200 whose predictions equal the /v1 answer's
(and /v1's those of ``model.predict`` in this process), for bench.py's 300 verification rows too.
The table gives req/s, p50 and p99 latency, errors (non-2xx answers and socket errors), and each
line's req/s as a multiple of /v1's for the same body in the same run.

With MLSERVER=on, Seldon MLServer (MLSERVER_REQUIREMENTS, installed into build/bench/mlserver-venv
when missing, about a minute) serves the same joblib file as a host process on loopback, with its
defaults (one inference worker) except debug off (no access log), and gets the "V2 JSON, [n, 4]
tensor" bodies too. MLServer failing to install, start or answer right costs its lines only.
Bodies are kept in build/bench/protocols/bodies, wrk's output in build/bench/logs/wrk-protocols-*.

Settings (environment): PROTOCOLS_DURATION (default: bench.py's DURATION, at most 8s) and
PROTOCOLS_WARMUP (WARMUP, at most 2s) per run, so that this part takes about two minutes;
WRK_THREADS, IMAGE and the MODELHOST_* tuning variables as bench.py reads them; MLSERVER (off).
Standalone, it exits with status 1 when a check fails or a run had errors.
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import make_models
from harness.bodies import make_bodies
from harness.commands import ensure_image, ensure_requirement, ensure_wrk, git_revision
from harness.console import BenchError, logger, run_cleanly
from harness.containers import Container
from harness.paths import LOGS_DIR, MODELS_DIR, ROOT
from harness.servers import Server, stop_quietly
from harness.settings import Settings as BenchSettings
from harness.settings import seconds
from harness.tables import latency, markdown_table
from harness.wrk import WRK_TIMEOUT, WrkResult, run_wrk
from protocols_bodies import (
    MODEL,
    PROTOCOLS,
    PROTOCOLS_DIR,
    V1,
    V2_ROWS,
    Body,
    feature_names,
    reference_predictions,
    verify,
    write_body,
)
from protocols_mlserver import MLSERVER_REQUIREMENTS, MLServer, start_mlserver

#: Rows of a body -> keep-alive connections it is sent over (bench.py's: 1 row at 16, 1000 rows at 4).
CONNECTIONS = {1: 16, 1000: 4}
MAX_DURATION, MAX_WARMUP = 8, 2

log = logger("protocols")


@dataclass(frozen=True)
class Settings:
    duration: str
    warmup: str
    wrk_threads: int
    image: str
    tuning: dict[str, str]
    mlserver: bool
    #: How the durations were chosen, for the report.
    durations_note: str

    @classmethod
    def from_bench(cls, settings: BenchSettings) -> Settings:
        duration, duration_note = capped("PROTOCOLS_DURATION", settings.duration, MAX_DURATION, "DURATION")
        warmup, warmup_note = capped("PROTOCOLS_WARMUP", settings.warmup, MAX_WARMUP, "WARMUP")
        mlserver = os.environ.get("MLSERVER", "off").strip().lower()
        if mlserver not in ("on", "off", "1", "0", "yes", "no", "true", "false"):
            raise BenchError(f"MLSERVER must be on or off, got {mlserver!r}")
        return cls(duration, warmup, settings.wrk_threads, settings.image, settings.tuning,
                   mlserver in ("on", "1", "yes", "true"), f"{duration} per run ({duration_note}) after a "
                   f"{warmup} warm-up ({warmup_note})")


def capped(name: str, bench_value: str, most: int, bench_name: str) -> tuple[str, str]:
    """This part's duration: ``name`` when set, else the bench's, at most ``most`` seconds; and how it was chosen."""
    if own := os.environ.get(name, "").strip():
        seconds(own)  # raises on a malformed one
        return own, name
    if seconds(bench_value) <= most:
        return bench_value, f"the bench's {bench_name}"
    return f"{most}s", f"the bench's {bench_name} {bench_value}, capped for this part; {name} sets it"


@dataclass(frozen=True)
class Line:
    """One line of the table: a server and a body, sent over some connections."""

    server: Server
    body: Body

    @property
    def rows(self) -> int:
        return len(self.body.rows)

    @property
    def connections(self) -> int:
        return CONNECTIONS[self.rows]

    @property
    def workload(self) -> str:
        return f"{MODEL}, {self.rows} {'row' if self.rows == 1 else 'rows'}, {self.connections} conn"

    @property
    def server_label(self) -> str:
        return "modelhost" if self.server.is_modelhost else self.server.name

    @property
    def slug(self) -> str:
        return f"{self.server.name}-{self.body.protocol.slug}-{self.rows}rows-{self.connections}c"


class ProtocolsContainer(Container):
    """The image as bench.py's container runs it (same tuning), serving the bench's models."""

    name = "protocols-container"

    def __init__(self, image: str, tuning: dict[str, str]) -> None:
        super().__init__(MODELS_DIR, image, tuning)
        self.container = f"modelhost-protocols-{os.getpid()}"


def load(line: Line, duration: str, threads: int, output: Path | None) -> WrkResult:
    """One wrk run of a line, with its body's Content-Type and headers (bench/predict.lua's optional variables)."""
    body = line.body
    request = {"BENCH_BODY": str(body.path), "BENCH_PATH": body.url_path,
               "BENCH_CONTENT_TYPE": body.protocol.content_type,
               "BENCH_HEADERS": "\n".join(f"{name}: {value}" for name, value in body.headers.items())}
    return run_wrk(line.server, line.connections, request, duration, threads, output)


@dataclass(frozen=True)
class Measured:
    settings: Settings
    results: list[tuple[Line, WrkResult]]
    saturation: list[str]
    #: What the MLServer lines are, or why there are none.
    mlserver: str
    minutes: float

    @property
    def errors(self) -> int:
        return sum(result.errors for _, result in self.results)

    def table(self) -> str:
        reference = {line.rows: result.per_second for line, result in self.results
                     if line.body.protocol is V1 and line.server.is_modelhost}
        rows = []
        for line, result in self.results:
            base = reference.get(line.rows)
            ratio = f"{result.per_second / base:.2f}" if base else "–"
            rows.append([line.workload, line.server_label, line.body.protocol.label, f"{line.body.size:,}",
                         f"{result.per_second:,.0f}", latency(result.p50_us), latency(result.p99_us),
                         str(result.errors), ratio])
        header = ["workload", "server", "protocol", "body bytes", "req/s", "p50", "p99", "errors", "× /v1 req/s"]
        return markdown_table(header, rows, "lllrrrrrr")

    def lines(self) -> list[str]:
        """The report's lines: what was measured, the table, and notes."""
        saturated = (f"{len(self.saturation)} lines about saturation, e.g. {self.saturation[0].strip()}"
                     if self.saturation else "no 'reached MaxRequestWorkers', 'Queue timeout' or 'Unable to connect'")
        return [f"Protocols (bench/protocols.py; {self.settings.image} in a container of its own with the bench's "
                f"tuning; {self.settings.durations_note}; wrk -t{self.settings.wrk_threads}, keep-alive; "
                f"{self.minutes:.1f} min). Every body's answer held /v1's predictions before any timing; "
                "× /v1 is the line's req/s over /v1's for the same rows in this run:",
                "", self.table(), "",
                f"Apache log of the protocols container: {saturated}. MLServer: {self.mlserver}."]


def why(exc: BenchError) -> str:
    """A BenchError in one line: its first line and, of a longer one, its last (a tool's last words)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if len(lines) < 2 else f"{lines[0]} {lines[-1]}"


def measure(settings: Settings, stack: contextlib.ExitStack) -> Measured:
    """Check, then load, every protocol's bodies against a container of the image (and MLServer).

    ``stack`` stops the servers. MLServer failing to install, start or answer right costs its
    line only (Measured.mlserver says why).
    """
    started = time.monotonic()
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    ensure_wrk()
    ensure_image(settings.image)
    ensure_requirement("tritonclient[http]", "tritonclient")
    if not make_models.artifact_path(MODELS_DIR, MODEL).exists():
        make_models.write_models(MODELS_DIR)
    one_row, batch, verification = make_bodies()

    server = ProtocolsContainer(settings.image, settings.tuning)
    stack.callback(stop_quietly, server)
    log(f"starting {settings.image} as {server.container} on {server.url} "
        f"(log: {server.log_path.relative_to(ROOT)})")
    server.start()
    mlserver: MLServer | None = None
    mlserver_note = "not asked for (MLSERVER=on adds it)"
    if settings.mlserver:
        try:
            mlserver = start_mlserver(stack)
        except BenchError as exc:
            mlserver_note = f"not measured: {why(exc)}"
            log(f"MLServer {mlserver_note}")
    server.wait_ready()

    features = feature_names(server)
    reference = reference_predictions(server, [one_row.rows, batch.rows, verification.rows], features)
    groups = [[Line(server, write_body(protocol, rows, features)) for protocol in PROTOCOLS]
              for rows in (one_row.rows, batch.rows)]
    checks = [write_body(protocol, verification.rows, features) for protocol in PROTOCOLS]
    verify(server, [line.body for group in groups for line in group] + checks, reference)
    log(f"{server.name}: every body's predictions equal /v1's ({', '.join(map(str, sorted(reference)))} rows)")
    if mlserver is not None:
        try:
            mlserver.wait_ready()
            bodies = [line.body for group in groups for line in group if line.body.protocol is V2_ROWS]
            verify(mlserver, [*bodies, *(c for c in checks if c.protocol is V2_ROWS)], reference)
            log(f"{mlserver.name}: the V2 JSON bodies' predictions equal /v1's")
            for group, body in zip(groups, bodies, strict=True):
                group.append(Line(mlserver, body))
            mlserver_note = (f"{MLSERVER_REQUIREMENTS[0].replace('==', ' ')} with mlserver-sklearn as a host process, "
                             "its defaults (HTTP in one process, predict in one inference worker) but debug off "
                             "(no access log)")
        except BenchError as exc:
            mlserver_note = f"not measured: {why(exc)}"
            log(f"MLServer {mlserver_note}")
            stop_quietly(mlserver)

    lines = [line for group in groups for line in group]
    runs = len(lines)
    minutes = runs * (seconds(settings.duration) + seconds(settings.warmup) + 0.5) / 60
    log(f"{runs} runs of {settings.duration} (each after a {settings.warmup} warm-up), about {minutes:.1f} min; "
        f"wrk -t{settings.wrk_threads} --timeout {WRK_TIMEOUT}, keep-alive")
    results: list[tuple[Line, WrkResult]] = []
    for number, line in enumerate(lines, 1):
        print(f"  [{number:2d}/{runs}] {line.workload:<26} {line.server_label:<9} {line.body.protocol.label:<28}",
              end="", flush=True)
        load(line, settings.warmup, settings.wrk_threads, output=None)
        output = LOGS_DIR / f"wrk-protocols-{line.slug}.txt"
        result = load(line, settings.duration, settings.wrk_threads, output)
        results.append((line, result))
        print(f" {result.per_second:8,.0f} req/s  p99 {latency(result.p99_us):>9}  errors {result.errors}",
              flush=True)
    return Measured(settings, results, server.saturation(), mlserver_note, (time.monotonic() - started) / 60)


def main() -> int:
    def run(stack: contextlib.ExitStack) -> int:
        measured = measure(Settings.from_bench(BenchSettings.from_env()), stack)
        text = "\n".join(measured.lines())
        print("\n" + text, flush=True)
        PROTOCOLS_DIR.mkdir(parents=True, exist_ok=True)
        (PROTOCOLS_DIR / "results.md").write_text(f"# bench/protocols.py, revision {git_revision()}\n\n{text}\n")
        log(f"saved {(PROTOCOLS_DIR / 'results.md').relative_to(ROOT)}")
        return 0 if measured.errors == 0 else 1

    return run_cleanly("protocols", run)


if __name__ == "__main__":
    sys.exit(main())
