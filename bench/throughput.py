"""The table of `make bench`: each server's requests and rows per second and latency against the naive baseline.

bench/bench.py (`make bench`) runs it first and prints its table; the environment's SERVERS,
DURATION, WARMUP, WRK_THREADS, IMAGE and MODELHOST_* tuning choose the run (harness/settings.py).
Every server serves the models of bench/make_models.py and must answer the verification body
as ``model.predict`` does before any timing. The workloads, per model: one row per request at
1, 16 and 64 keep-alive connections and 1000-row batches at 4 connections, each run against
the servers back to back after a warm-up, so that noise on the machine hits the servers alike.
With the servers `earlier` and `container` both in the run, the table compares today's image
with the earlier one too, and runs the workloads where it fell behind again (throughput_earlier.py).
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import make_models
from harness.bodies import Body, make_bodies
from harness.checks import expected_predictions, verify
from harness.commands import ensure_image, ensure_requirement, ensure_wrk, require_image
from harness.console import BenchError, log
from harness.containers import Container, DaemonContainer, EarlierContainer, ImageFacts
from harness.paths import LOGS_DIR, MODELS_DIR, ROOT
from harness.servers import Baseline, Host, Server, check_traversable_by_others, stop_quietly
from harness.settings import EARLIER_IMAGE_HOWTO, Settings, seconds
from harness.tables import latency, markdown_table
from harness.wrk import WRK_TIMEOUT, WrkResult, run_wrk
from throughput_earlier import EARLIER, FLOOR, TODAY, Comparison, below_floor, flag, ratios


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


Run = tuple[Workload, str, WrkResult]


@dataclass(frozen=True)
class Measured:
    """The servers measured and one wrk result per workload and server, in the order they ran.

    With `earlier` and `container` both among them: the images they ran, and the runs again of
    the workloads where the container fell below FLOOR× the earlier image.
    """

    servers: list[Server]
    results: list[Run]
    again: list[Run] = field(default_factory=list)
    images: dict[str, ImageFacts] = field(default_factory=dict)

    @property
    def comparison(self) -> Comparison | None:
        if not {EARLIER, TODAY} <= self.images.keys():
            return None
        return Comparison.of(self.images, self.results, self.again)

    def table(self) -> str:
        """The Markdown table, each line's req/s as a multiple of the baseline's (and the earlier image's)."""
        baseline = {workload: result.per_second for workload, server, result in self.results if server == "baseline"}
        comparison = self.comparison
        rows = []
        for workload, server, result in self.results:
            base = baseline.get(workload)
            ratio = f"{result.per_second / base:.2f}" if base else "–"
            rows.append([workload.label, server, f"{result.per_second:,.0f}",
                         f"{result.per_second * workload.rows:,.0f}", latency(result.p50_us),
                         latency(result.p99_us), str(result.errors), ratio]
                        + ([comparison.cell(workload, server)] if comparison else []))
        header = ["workload", "server", "req/s", "rows/s", "p50", "p99", "errors", "× baseline req/s"]
        if comparison:
            header.append("× earlier req/s")
        return markdown_table(header, rows, "llrrrrrr" + ("r" if comparison else ""))

    def notes(self) -> list[str]:
        """The images compared; each container's memory after the runs, and what Apache logged about saturation."""
        notes = [comparison.note()] if (comparison := self.comparison) else []
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
        """The numbers of every run, for results.json (the runs again last, marked), with the images compared."""
        comparison = self.comparison
        return [{"model": w.model, "rows": w.rows, "connections": w.connections, "server": s, **asdict(r),
                 "requests_per_second": r.per_second, **({"again": True} if again else {}),
                 **(comparison.raw(s) if comparison else {})}
                for runs, again in ((self.results, False), (self.again, True)) for w, s, r in runs]


def make_servers(settings: Settings, stack: contextlib.ExitStack) -> list[Server]:
    """Prepare the servers SERVERS names (skipping the host one without apxs), stopped at exit."""
    factories: dict[str, Callable[[], Server]] = {
        "baseline": lambda: Baseline(MODELS_DIR),
        "earlier": lambda: EarlierContainer(MODELS_DIR, settings.earlier_image or "", settings.tuning),
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
    if EARLIER in settings.servers:  # never built from this work tree: it is another revision's
        require_image(settings.earlier_image or "", EARLIER_IMAGE_HOWTO)
    make_models.write_models(MODELS_DIR)
    one_row, batch, verification = make_bodies()
    return [verification, one_row, batch], make_workloads(one_row, batch)


def compared_images(servers: list[Server]) -> dict[str, ImageFacts]:
    """The images of `earlier` and `container` by their ids, when both run; logged."""
    containers = {s.name: s for s in servers if isinstance(s, Container) and s.name in (EARLIER, TODAY)}
    if len(containers) < 2:
        return {}
    images = {name: server.image_facts() for name, server in containers.items()}
    for name, facts in images.items():
        log(f"{name}: {facts.describe()}")
    if images[EARLIER].id == images[TODAY].id:
        log(f"{EARLIER} and {TODAY} run the same image: × earlier shows only this machine's noise")
    return images


def run_one(settings: Settings, workload: Workload, server: Server, progress: str, again: bool = False) -> WrkResult:
    """One workload against one server after its warm-up; the progress line, and wrk's output in LOGS_DIR."""
    request = {"BENCH_BODY": str(workload.body.path), "BENCH_PATH": workload.path}
    print(f"  [{progress}] {workload.label:<28} {server.name:<9}", end="", flush=True)
    run_wrk(server, workload.connections, request, settings.warmup, settings.wrk_threads, output=None)
    slug = f"{workload.model}-{workload.rows}rows-{workload.connections}c-{server.name}" + ("-again" if again else "")
    result = run_wrk(server, workload.connections, request, settings.duration, settings.wrk_threads,
                     LOGS_DIR / f"wrk-{slug}.txt")
    print(f" {result.per_second:8,.0f} req/s  p99 {latency(result.p99_us):>9}  errors {result.errors}",
          end="", flush=True)
    return result


def run_all(settings: Settings, workloads: list[Workload], servers: list[Server], again: bool = False) -> list[Run]:
    """Every workload against the servers back to back; after today's image, its multiple of the earlier one's."""
    runs = len(workloads) * len(servers)
    results: list[Run] = []
    for workload in workloads:
        for server in servers:
            progress = f"{len(results) + 1:2d}/{runs}" + (" again" if again else "")
            results.append((workload, server.name, run_one(settings, workload, server, progress, again)))
            ratio = ratios(results).get(workload) if server.name == TODAY else None
            print(f"  {flag(ratio)}" if ratio is not None else "", flush=True)
    return results


def measure(settings: Settings, stack: contextlib.ExitStack) -> Measured:
    """Start and check the servers, then run every workload against each; ``stack`` stops the servers.

    With `earlier` and `container` both running, the workloads where the container fell below
    FLOOR× the earlier image are run again against the two at the end.
    """
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
    images = compared_images(servers)

    runs = len(workloads) * len(servers)
    minutes = runs * (seconds(settings.duration) + seconds(settings.warmup) + 0.5) / 60
    log(f"{runs} runs of {settings.duration} (each after a {settings.warmup} warm-up), about {minutes:.1f} min; "
        f"wrk -t{settings.wrk_threads} --timeout {WRK_TIMEOUT}, keep-alive")
    results = run_all(settings, workloads, servers)
    again: list[Run] = []
    if images and (low := below_floor(results)):
        pair = [s for s in servers if s.name in (EARLIER, TODAY)]
        log(f"{len(low)} of {len(workloads)} workloads below {FLOOR}× the earlier image: "
            f"{'; '.join(w.label for w in low)}. Running them again against {EARLIER} and {TODAY}, "
            "to tell noise from a cost")
        again = run_all(settings, low, pair, again=True)
    return Measured(servers, results, again, images)
