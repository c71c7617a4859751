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
import importlib.metadata
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import make_models
import numpy as np
import requests

import bench

MODEL = "iris_lr"
#: Rows of a body -> keep-alive connections it is sent over (bench.py's: 1 row at 16, 1000 rows at 4).
CONNECTIONS = {1: 16, 1000: 4}
MAX_DURATION, MAX_WARMUP = 8, 2
PROTOCOLS_DIR = bench.OUT_DIR / "protocols"
MLSERVER_VENV = bench.OUT_DIR / "mlserver-venv"
#: MLServer and its scikit-learn runtime; the libraries that read the joblib file as in requirements.txt.
#: uvloop 0.22 and later raise in asyncio.get_event_loop() outside a running loop, which MLServer
#: 1.7.1's inference workers call as they start: every worker dies and no model loads.
MLSERVER_REQUIREMENTS = ("mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop==0.21.0")
MLSERVER_SHARED = ("scikit-learn", "numpy", "scipy", "joblib")
HEADER_LENGTH = "Inference-Header-Content-Length"
JSON = "application/json"


def log(message: str) -> None:
    print(f"protocols: {message}", flush=True)


# --- Settings ---------------------------------------------------------------------------------

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
    def from_bench(cls, settings: bench.Settings) -> Settings:
        duration, duration_note = capped("PROTOCOLS_DURATION", settings.duration, MAX_DURATION, "DURATION")
        warmup, warmup_note = capped("PROTOCOLS_WARMUP", settings.warmup, MAX_WARMUP, "WARMUP")
        mlserver = os.environ.get("MLSERVER", "off").strip().lower()
        if mlserver not in ("on", "off", "1", "0", "yes", "no", "true", "false"):
            raise bench.BenchError(f"MLSERVER must be on or off, got {mlserver!r}")
        return cls(duration, warmup, settings.wrk_threads, settings.image, settings.tuning,
                   mlserver in ("on", "1", "yes", "true"), f"{duration} per run ({duration_note}) after a "
                   f"{warmup} warm-up ({warmup_note})")


def capped(name: str, bench_value: str, most: int, bench_name: str) -> tuple[str, str]:
    """This part's duration: ``name`` when set, else the bench's, at most ``most`` seconds; and how it was chosen."""
    if own := os.environ.get(name, "").strip():
        bench.seconds(own)  # raises on a malformed one
        return own, name
    if bench.seconds(bench_value) <= most:
        return bench_value, f"the bench's {bench_name}"
    return f"{most}s", f"the bench's {bench_name} {bench_value}, capped for this part; {name} sets it"


# --- Protocols: bodies and how to read their answers ---------------------------------------------

Encoder = Callable[[np.ndarray, list[str]], tuple[bytes, dict[str, str]]]
#: The predictions of a 200 answer to a body of so many rows (bench.mismatch checks them); AnswerError
#: for an answer its protocol does not allow.
Reader = Callable[[requests.Response, int], Any]


class AnswerError(Exception):
    """An answer that is not what its protocol promises."""


def rows_json(rows: np.ndarray, features: list[str]) -> tuple[bytes, dict[str, str]]:
    """bench.py's body: {"instances": rows}."""
    return json.dumps({"instances": rows.tolist()}).encode(), {}


def v2_rows_json(rows: np.ndarray, features: list[str]) -> tuple[bytes, dict[str, str]]:
    tensor = {"name": "input-0", "datatype": "FP64", "shape": list(rows.shape), "data": rows.ravel().tolist()}
    return json.dumps({"inputs": [tensor]}).encode(), {}


def v2_columns_json(rows: np.ndarray, features: list[str]) -> tuple[bytes, dict[str, str]]:
    tensors = [{"name": name, "datatype": "FP64", "shape": [len(rows)], "data": rows[:, i].tolist()}
               for i, name in enumerate(features)]
    return json.dumps({"inputs": tensors}).encode(), {}


def v2_binary(rows: np.ndarray, features: list[str]) -> tuple[bytes, dict[str, str]]:
    """tritonclient's body: the [n, 4] FP64 tensor as binary data, `predict` asked for as binary data."""
    import tritonclient.http as httpclient  # here: gevent and friends only when the bench gets this far

    tensor = httpclient.InferInput("input-0", list(rows.shape), "FP64")
    tensor.set_data_from_numpy(np.ascontiguousarray(rows, dtype=np.float64), binary_data=True)
    output = httpclient.InferRequestedOutput("predict", binary_data=True)
    body, json_size = httpclient.InferenceServerClient.generate_request_body([tensor], outputs=[output])
    if json_size is None:
        raise bench.BenchError("tritonclient made a body without binary data for the binary protocol")
    return bytes(body), {HEADER_LENGTH: str(json_size)}


def json_answer(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise AnswerError("the answer is not JSON") from None


def read_v1(response: requests.Response, rows: int) -> Any:
    answer = json_answer(response)
    if not isinstance(answer, dict) or (answer.get("model"), answer.get("version")) != (MODEL, "1"):
        raise AnswerError(f"expected the answer of {MODEL} version 1")
    return answer.get("predictions")  # checked by bench.mismatch


def read_kserve(response: requests.Response, rows: int) -> Any:
    answer = json_answer(response)
    if not isinstance(answer, dict) or set(answer) != {"predictions"}:
        raise AnswerError('expected {"predictions": [...]} and nothing else')
    return answer["predictions"]


def read_v2_json(response: requests.Response, rows: int) -> Any:
    answer = json_answer(response)
    if not isinstance(answer, dict) or (answer.get("model_name"), answer.get("model_version")) != (MODEL, "1"):
        raise AnswerError(f"expected the answer of {MODEL} version 1")
    outputs = [o for o in answer.get("outputs") or [] if isinstance(o, dict) and o.get("name") == "predict"]
    if len(outputs) != 1 or "data" not in outputs[0]:
        raise AnswerError("expected one output named predict, with its data in JSON")
    shape = outputs[0].get("shape")
    if shape not in ([rows], [rows, 1]):  # MLServer answers [n, 1]
        raise AnswerError(f"expected predict of shape [{rows}], got {shape}")
    return outputs[0]["data"]


def read_v2_binary(response: requests.Response, rows: int) -> Any:
    import tritonclient.http as httpclient

    if response.headers.get("Content-Type") != "application/octet-stream" or HEADER_LENGTH not in response.headers:
        raise AnswerError(f"expected application/octet-stream with {HEADER_LENGTH}")
    result = httpclient.InferenceServerClient.parse_response_body(
        response.content, header_length=int(response.headers[HEADER_LENGTH]))
    predict = result.as_numpy("predict")
    if predict is None or predict.shape != (rows,):
        raise AnswerError(f"expected predict of shape [{rows}] as binary data, got {predict!r:.200}")
    return predict.tolist()


@dataclass(frozen=True)
class Protocol:
    label: str
    slug: str
    #: The request path, ``{model}`` filled in.
    path: str
    content_type: str
    encode: Encoder
    read: Reader


V1 = Protocol("/v1", "v1", "/v1/models/{model}/predict", JSON, rows_json, read_v1)
KSERVE = Protocol("KServe V1 :predict", "kserve", "/v1/models/{model}:predict", JSON, rows_json, read_kserve)
V2_ROWS = Protocol("V2 JSON, [n, 4] tensor", "v2-rows", "/v2/models/{model}/infer", JSON, v2_rows_json, read_v2_json)
V2_COLUMNS = Protocol("V2 JSON, tensor per feature", "v2-columns", "/v2/models/{model}/infer", JSON,
                      v2_columns_json, read_v2_json)
V2_BINARY = Protocol("V2 binary, [n, 4] tensor", "v2-binary", "/v2/models/{model}/infer", "application/octet-stream",
                     v2_binary, read_v2_binary)
PROTOCOLS = (V1, KSERVE, V2_ROWS, V2_COLUMNS, V2_BINARY)


@dataclass(frozen=True, eq=False)
class Body:
    """One protocol's body for some rows, written to a file for wrk."""

    protocol: Protocol
    rows: np.ndarray
    path: Path
    headers: dict[str, str]

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    @property
    def url_path(self) -> str:
        return self.protocol.path.format(model=MODEL)


def write_body(protocol: Protocol, rows: np.ndarray, features: list[str]) -> Body:
    data, headers = protocol.encode(rows, features)
    suffix = "bin" if protocol.content_type != JSON else "json"
    path = PROTOCOLS_DIR / "bodies" / f"{protocol.slug}-{len(rows)}rows.{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return Body(protocol, rows, path, headers)


@dataclass(frozen=True)
class Line:
    """One line of the table: a server and a body, sent over some connections."""

    server: bench.Server
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


# --- Servers ------------------------------------------------------------------------------------

class ProtocolsContainer(bench.Container):
    """The image as bench.py's container runs it (same tuning), serving the bench's models."""

    name = "protocols-container"

    def __init__(self, image: str, tuning: dict[str, str]) -> None:
        super().__init__(bench.MODELS_DIR, image, tuning)
        self.container = f"modelhost-protocols-{os.getpid()}"


class MLServer(bench.ProcessGroupServer):
    """Seldon MLServer serving the bench's MODEL joblib file with mlserver-sklearn, on loopback."""

    name = "mlserver"
    start_timeout = 120.0
    is_modelhost = False

    def __init__(self) -> None:
        super().__init__(bench.MODELS_DIR)
        self.root = PROTOCOLS_DIR / "mlserver"

    def command(self) -> tuple[list[str], dict[str, str]]:
        model_dir = self.root / MODEL
        model_dir.mkdir(parents=True, exist_ok=True)
        # debug off: no access line per request (on by default). The rest is MLServer's default,
        # parallel_workers 1 among it: the HTTP server in one process, predict in another.
        (self.root / "settings.json").write_text(json.dumps({
            "host": bench.LOOPBACK, "http_port": self.port, "grpc_port": bench.free_port(),
            "metrics_port": bench.free_port(), "debug": False}, indent=1))
        (model_dir / "model-settings.json").write_text(json.dumps({
            "name": MODEL, "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": str(make_models.artifact_path(self.models_dir, MODEL)), "version": "1"}}, indent=1))
        env = {name: value for name, value in os.environ.items() if not name.startswith("MLSERVER_")}
        return [str(MLSERVER_VENV / "bin" / "mlserver"), "start", str(self.root)], env

    def answers(self, session: requests.Session) -> bool:
        return session.get(f"{self.url}/v2/models/{MODEL}/ready", timeout=2).status_code == 200


def ensure_tritonclient() -> None:
    """Install bench/requirements.txt into this virtualenv when tritonclient is missing or not the pin."""
    wanted = bench.pinned_version(bench.REQUIREMENTS, "tritonclient[http]")
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        if importlib.metadata.version("tritonclient") == wanted:
            return
    log(f"installing tritonclient[http]=={wanted} into {bench.VENV_BIN.parent}")
    result = bench.run([sys.executable, "-m", "pip", "install", "--quiet", "-r", str(bench.REQUIREMENTS)])
    if result.returncode != 0:
        output = bench.tail(result.stdout + result.stderr)
        raise bench.BenchError(f"pip install -r {bench.REQUIREMENTS} failed:\n{output}")


def ensure_mlserver() -> None:
    """MLServer in its own virtualenv, build/bench/mlserver-venv, made when missing or not at the pins."""
    shared = [f"{name}=={bench.pinned_version(bench.ROOT / 'requirements.txt', name)}" for name in MLSERVER_SHARED]
    wanted = [*MLSERVER_REQUIREMENTS, *shared]
    stamp = MLSERVER_VENV / "bench-requirements.txt"
    if (MLSERVER_VENV / "bin" / "mlserver").exists() and stamp.exists() and stamp.read_text().split() == wanted:
        return
    log(f"installing {' '.join(wanted)} into {MLSERVER_VENV.relative_to(bench.ROOT)} (a minute or two)")
    for command in ([sys.executable, "-m", "venv", "--clear", str(MLSERVER_VENV)],
                    [str(MLSERVER_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", *wanted]):
        try:
            result = bench.run(command, timeout=900)
        except subprocess.TimeoutExpired:
            raise bench.BenchError(f"{' '.join(command)} did not finish in 15 minutes") from None
        if result.returncode != 0:
            raise bench.BenchError(f"{' '.join(command)} failed:\n{bench.tail(result.stdout + result.stderr)}")
    stamp.write_text("\n".join(wanted) + "\n")


def feature_names(server: bench.Server) -> list[str]:
    """The model's inputs, one per feature, from its V2 metadata."""
    response = requests.get(f"{server.url}/v2/models/{MODEL}", timeout=bench.HTTP_TIMEOUT)
    if response.status_code != 200:
        raise bench.BenchError(f"GET /v2/models/{MODEL} answered HTTP {response.status_code}: {response.text[:300]}")
    return [tensor["name"] for tensor in response.json()["inputs"]]


# --- Checks -------------------------------------------------------------------------------------

def predictions(server: bench.Server, body: Body, session: requests.Session) -> Any:
    """The server's predictions for a body, read as its protocol says; BenchError for any other answer."""
    where = f"{server.name}, {body.protocol.label}, {len(body.rows)} rows"
    try:
        response = session.post(server.url + body.url_path, data=body.path.read_bytes(), timeout=bench.HTTP_TIMEOUT,
                                 headers={"Content-Type": body.protocol.content_type, **body.headers})
    except requests.RequestException as exc:
        raise bench.BenchError(f"{where}: no answer: {exc}") from None
    if response.status_code != 200:
        raise bench.BenchError(f"{where}: HTTP {response.status_code}: {' '.join(response.text.split())[:500]}")
    try:
        return body.protocol.read(response, len(body.rows))
    except AnswerError as exc:
        raise bench.BenchError(f"{where}: {exc}: {' '.join(response.text.split())[:300]}") from None


def verify(server: bench.Server, bodies: list[Body], reference: dict[int, list[Any]]) -> None:
    """Every body's predictions equal the reference (/v1's) for its rows, value and JSON type alike."""
    with requests.Session() as session:
        for body in bodies:
            got = predictions(server, body, session)
            if problem := bench.mismatch(got, reference[len(body.rows)]):
                raise bench.BenchError(f"{server.name}, {body.protocol.label}, {len(body.rows)} rows: predictions "
                                       f"differ from /v1's: {problem}")


# --- wrk ----------------------------------------------------------------------------------------

def run_wrk(line: Line, duration: str, threads: int, output: Path | None) -> bench.WrkResult:
    """bench.py's run_wrk, with the body's Content-Type and headers (bench/predict.lua's optional variables)."""
    command = bench.wrk_command(line.server.url, bench.LUA_SCRIPT, line.connections, duration, threads)
    body = line.body
    env = {**os.environ, "BENCH_BODY": str(body.path), "BENCH_PATH": body.url_path,
           "BENCH_CONTENT_TYPE": body.protocol.content_type,
           "BENCH_HEADERS": "\n".join(f"{name}: {value}" for name, value in body.headers.items())}
    try:
        result = bench.run(command, env=env, timeout=bench.seconds(duration) + 60)
    except subprocess.TimeoutExpired:
        raise bench.BenchError(f"wrk against {line.server.name} did not finish: {' '.join(command)}") from None
    if output is not None:
        output.write_text(f"$ {' '.join(command)}\n{result.stdout}{result.stderr}")
    report = bench.wrk_report(command, result.returncode, result.stdout, result.stderr, line.server.name)
    return bench.WrkResult(**report)


# --- The run and its report -----------------------------------------------------------------------

@dataclass(frozen=True)
class Measured:
    settings: Settings
    results: list[tuple[Line, bench.WrkResult]]
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
                         f"{result.per_second:,.0f}", bench.latency(result.p50_us), bench.latency(result.p99_us),
                         str(result.errors), ratio])
        header = ["workload", "server", "protocol", "body bytes", "req/s", "p50", "p99", "errors", "× /v1 req/s"]
        return bench.markdown_table(header, rows, "lllrrrrrr")

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


def why(exc: bench.BenchError) -> str:
    """A BenchError in one line: its first line and, of a longer one, its last (a tool's last words)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if len(lines) < 2 else f"{lines[0]} {lines[-1]}"


def start_mlserver(stack: contextlib.ExitStack) -> MLServer:
    """MLServer installed when missing and started (not yet ready); ``stack`` stops it."""
    ensure_mlserver()
    mlserver = MLServer()
    stack.callback(bench.stop_quietly, mlserver)
    log(f"starting {mlserver.name} on {mlserver.url} (log: {mlserver.log_path.relative_to(bench.ROOT)})")
    mlserver.start()
    return mlserver


def measure(settings: Settings, stack: contextlib.ExitStack) -> Measured:
    """Check, then load, every protocol's bodies against a container of the image (and MLServer).

    ``stack`` stops the servers. MLServer failing to install, start or answer right costs its
    line only (Measured.mlserver says why).
    """
    started = time.monotonic()
    bench.LOGS_DIR.mkdir(parents=True, exist_ok=True)
    bench.ensure_wrk()
    bench.ensure_image(settings.image)
    ensure_tritonclient()
    if not make_models.artifact_path(bench.MODELS_DIR, MODEL).exists():
        make_models.write_models(bench.MODELS_DIR)
    one_row, batch, verification = bench.make_bodies()

    server = ProtocolsContainer(settings.image, settings.tuning)
    stack.callback(bench.stop_quietly, server)
    log(f"starting {settings.image} as {server.container} on {server.url} "
        f"(log: {server.log_path.relative_to(bench.ROOT)})")
    server.start()
    mlserver: MLServer | None = None
    mlserver_note = "not asked for (MLSERVER=on adds it)"
    if settings.mlserver:
        try:
            mlserver = start_mlserver(stack)
        except bench.BenchError as exc:
            mlserver_note = f"not measured: {why(exc)}"
            log(f"MLServer {mlserver_note}")
    server.wait_ready()

    # The reference: /v1's predictions, which must be model.predict's of the same file.
    estimator = joblib.load(make_models.artifact_path(bench.MODELS_DIR, MODEL))
    features = feature_names(server)
    reference: dict[int, list[Any]] = {}
    with requests.Session() as session:
        for rows in (one_row.rows, batch.rows, verification.rows):
            got = predictions(server, write_body(V1, rows, features), session)
            if problem := bench.mismatch(got, estimator.predict(rows).tolist()):
                raise bench.BenchError(f"{server.name}, /v1, {len(rows)} rows: predictions differ from "
                                       f"model.predict: {problem}")
            reference[len(rows)] = got
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
        except bench.BenchError as exc:
            mlserver_note = f"not measured: {why(exc)}"
            log(f"MLServer {mlserver_note}")
            bench.stop_quietly(mlserver)

    lines = [line for group in groups for line in group]
    runs = len(lines)
    minutes = runs * (bench.seconds(settings.duration) + bench.seconds(settings.warmup) + 0.5) / 60
    log(f"{runs} runs of {settings.duration} (each after a {settings.warmup} warm-up), about {minutes:.1f} min; "
        f"wrk -t{settings.wrk_threads} --timeout {bench.WRK_TIMEOUT}, keep-alive")
    results: list[tuple[Line, bench.WrkResult]] = []
    for number, line in enumerate(lines, 1):
        print(f"  [{number:2d}/{runs}] {line.workload:<26} {line.server_label:<9} {line.body.protocol.label:<28}",
              end="", flush=True)
        run_wrk(line, settings.warmup, settings.wrk_threads, output=None)
        output = bench.LOGS_DIR / f"wrk-protocols-{line.slug}.txt"
        result = run_wrk(line, settings.duration, settings.wrk_threads, output)
        results.append((line, result))
        print(f" {result.per_second:8,.0f} req/s  p99 {bench.latency(result.p99_us):>9}  errors {result.errors}",
              flush=True)
    return Measured(settings, results, server.saturation(), mlserver_note, (time.monotonic() - started) / 60)


def main() -> int:
    def run(stack: contextlib.ExitStack) -> int:
        measured = measure(Settings.from_bench(bench.Settings.from_env()), stack)
        text = "\n".join(measured.lines())
        print("\n" + text, flush=True)
        PROTOCOLS_DIR.mkdir(parents=True, exist_ok=True)
        (PROTOCOLS_DIR / "results.md").write_text(f"# bench/protocols.py, revision {bench.git_revision()}\n\n{text}\n")
        log(f"saved {(PROTOCOLS_DIR / 'results.md').relative_to(bench.ROOT)}")
        return 0 if measured.errors == 0 else 1

    return bench.run_cleanly("protocols", run)


if __name__ == "__main__":
    sys.exit(main())
