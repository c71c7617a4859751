"""The table of `make bench`: each server's requests and rows per second and latency against the naive baseline.

bench/bench.py (`make bench`) runs it first and prints its table; the environment's SERVERS,
DURATION, WARMUP, WRK_THREADS, IMAGE and MODELHOST_* tuning choose the run (harness/settings.py).
Every server serves the models of bench/make_models.py and must answer the verification body
as ``model.predict`` does before any timing. The workloads, per model: one row per request at
1, 16 and 64 keep-alive connections and 1000-row batches at 4 connections, each run against
the servers back to back after a warm-up, so that noise on the machine hits the servers alike.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import make_models
from harness.bodies import Body, make_bodies
from harness.checks import expected_predictions, verify
from harness.commands import ensure_image, ensure_requirement, ensure_wrk
from harness.console import BenchError, log
from harness.containers import Container, DaemonContainer
from harness.paths import LOGS_DIR, MODELS_DIR, ROOT
from harness.servers import Baseline, Host, Server, check_traversable_by_others, stop_quietly
from harness.settings import Settings, seconds
from harness.tables import latency, markdown_table
from harness.wrk import WRK_TIMEOUT, WrkResult, run_wrk


@dataclass(frozen=True)
class Workload:
    """One model, one body, sent over so many keep-alive connections."""

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
    """Per model: one row at 1, 16 and 64 connections, then the 1000-row body at 4."""
    workloads = []
    for model in make_models.MODEL_NAMES:
        workloads += [Workload(model, one_row, connections) for connections in (1, 16, 64)]
        workloads.append(Workload(model, batch, 4))
    return workloads


@dataclass(frozen=True)
class Measured:
    """The servers measured and one wrk result per workload and server, in the order they ran."""

    servers: list[Server]
    results: list[tuple[Workload, str, WrkResult]]

    def table(self) -> str:
        """The Markdown table, each line's req/s as a multiple of the baseline's in the same workload."""
        baseline = {workload: result.per_second for workload, server, result in self.results if server == "baseline"}
        rows = []
        for workload, server, result in self.results:
            base = baseline.get(workload)
            ratio = f"{result.per_second / base:.2f}" if base else "–"
            rows.append([workload.label, server, f"{result.per_second:,.0f}",
                         f"{result.per_second * workload.rows:,.0f}", latency(result.p50_us),
                         latency(result.p99_us), str(result.errors), ratio])
        header = ["workload", "server", "req/s", "rows/s", "p50", "p99", "errors", "× baseline req/s"]
        return markdown_table(header, rows, "llrrrrrr")

    def notes(self) -> list[str]:
        """Each container's memory after the runs, and what modelhost's Apache logged about saturation."""
        notes = []
        for server in self.servers:
            if isinstance(server, Container):
                notes.append(f"Memory of {server.name} after the runs (docker stats): {server.memory()}")
            if server.is_modelhost:
                lines = server.saturation()
                notes.append(f"Apache log of {server.name}: " + (
                    f"{len(lines)} lines about saturation, e.g. {lines[0].strip()}" if lines else
                    "no 'reached MaxRequestWorkers', 'Queue timeout' or 'Unable to connect'"))
        return notes

    def raw(self) -> list[dict[str, Any]]:
        """The numbers of every run, for results.json."""
        return [{"model": w.model, "rows": w.rows, "connections": w.connections, "server": s, **asdict(r),
                 "requests_per_second": r.per_second} for w, s, r in self.results]


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
        if name == "host" and not Host.available():
            log("skipping host: `make run` needs Apache's apxs (apt-get install apache2 apache2-dev)")
            continue
        server = factories[name]()
        stack.callback(stop_quietly, server)
        servers.append(server)
    if not servers:
        raise BenchError("no server to benchmark")
    return servers


def prepare(settings: Settings) -> tuple[list[Body], list[Workload]]:
    """wrk, gunicorn and the image when missing; the models, the bodies (verification first), the workloads."""
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    ensure_wrk()
    if "baseline" in settings.servers:
        ensure_requirement("gunicorn", "gunicorn")
    if {"container", "daemon"} & set(settings.servers):
        ensure_image(settings.image)
    make_models.write_models(MODELS_DIR)
    one_row, batch, verification = make_bodies()
    return [verification, one_row, batch], make_workloads(one_row, batch)


def measure(settings: Settings, stack: contextlib.ExitStack) -> Measured:
    """Start and check the servers, then run every workload against each; ``stack`` stops the servers."""
    bodies, workloads = prepare(settings)
    expected = expected_predictions(MODELS_DIR, bodies)
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
        request = {"BENCH_BODY": str(workload.body.path), "BENCH_PATH": workload.path}
        for server in servers:
            print(f"  [{len(results) + 1:2d}/{runs}] {workload.label:<28} {server.name:<9}", end="", flush=True)
            run_wrk(server, workload.connections, request, settings.warmup, settings.wrk_threads, output=None)
            slug = f"{workload.model}-{workload.rows}rows-{workload.connections}c-{server.name}"
            result = run_wrk(server, workload.connections, request, settings.duration, settings.wrk_threads,
                             LOGS_DIR / f"wrk-{slug}.txt")
            results.append((workload, server.name, result))
            print(f" {result.per_second:8,.0f} req/s  p99 {latency(result.p99_us):>9}  errors {result.errors}",
                  flush=True)
    return Measured(servers, results)
