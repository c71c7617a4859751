"""`make bench`: modelhost against a naive baseline, measured in one run over loopback.

Servers (env SERVERS, default "baseline container daemon host", and earlier too when
EARLIER_IMAGE is set), all started here and always stopped at the end, also on Ctrl-C:

  baseline   bench/naive_app.py (Flask, no validation, no logging) under gunicorn,
             2 workers x 4 threads (gthread), SO_REUSEPORT, no access log
  earlier    the image of an earlier revision (env EARLIER_IMAGE, never built here), started
             exactly as the container is: the same settings, the same models mounted
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
servers back to back (baseline, earlier, container, daemon, host; then the next workload), each
run after a warm-up, so that noise on the machine hits the servers alike. The table (Markdown)
gives requests and rows per second, p50 and p99 latency, errors (non-2xx answers and socket
errors) and the ratio of each server's requests per second to the baseline's in the same
workload; it is also written to build/bench/results.md (raw numbers in results.json, wrk's
output and the servers' logs in build/bench/logs/).

Today's image against an earlier revision's, in one run (bench/throughput_earlier.py): build
the earlier image once from a git worktree of that revision (this work tree is not touched),
then run both:

  bench/earlier_image.sh 59770c7 modelhost:earlier
  SERVERS="baseline earlier container" EARLIER_IMAGE=modelhost:earlier make bench

With earlier and container both in the run, the table gains a column "× earlier req/s": the
container's req/s as a multiple of the earlier image's in the same workload, the target at
least 0.95 in every line. A line below it is bold, marked "<-- below 0.95" on the console as it
runs, and run again against both at the end of the same run; its cell then shows both
multiples, and a note names the images compared (tag, id and the revision of their
org.opencontainers.image.revision label) and the lines below 0.95 once (noise) or twice (a
cost). results.json gives each run of the two its image, image id and revision, and marks the
runs again with "again": true.

With the container among the servers (and FOLLOW_UPS not off), three lines follow the table (bench/image.py, under a
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
(modelhost:latest), EARLIER_IMAGE (none), FOLLOW_UPS (on; off leaves out the image's, the
rollout's and the protocols' measurements, for a short run of the table alone), and the
MODELHOST_* tuning variables of README.md ("Tuning"), which are passed to the containers and to
`make run`; PROTOCOLS_DURATION, PROTOCOLS_WARMUP and MLSERVER for the protocols' table
(bench/protocols.py). A short check of the comparison, a minute or two:

  SERVERS="baseline earlier container" EARLIER_IMAGE=modelhost:earlier DURATION=2s WARMUP=1s \
    FOLLOW_UPS=off .venv/bin/python bench/bench.py

This module only runs the measurements and writes the report: the table is bench/throughput.py's,
and what they all stand on (servers, wrk, checks, tables) is bench/harness/.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
from datetime import UTC, datetime

import image
import protocols
import rollout
import throughput
from harness.commands import git_revision
from harness.console import BenchError, log, run_cleanly
from harness.paths import OUT_DIR, ROOT
from harness.settings import Settings
from harness.wrk import WRK_TIMEOUT


def first_line(exc: BenchError) -> str:
    return str(exc).splitlines()[0]


def image_notes(settings: Settings) -> list[str]:
    """The lines of bench/image.py: the image's size, its cold start and its processes at ready."""
    log("the image: its size, five cold starts and its processes at ready (bench/image.py)")
    try:
        with contextlib.ExitStack() as stack:
            return image.measure(settings.image, settings.tuning, stack).lines()
    except BenchError as exc:  # the wrk numbers above still get their report
        log(f"the image measurements failed: {exc}")
        return [f"Image size and cold start (bench/image.py): not measured ({first_line(exc)})"]


def rollout_notes(settings: Settings) -> list[str]:
    """The lines of bench/rollout.py, against a container of its own that is stopped before the report."""
    log("the live repository: rollout under load, then memory over load/unload cycles (bench/rollout.py)")
    try:
        with contextlib.ExitStack() as stack:
            under_load, memory = rollout.measure(settings.image, settings.tuning, stack)
    except BenchError as exc:  # the wrk numbers above still get their report
        log(f"the rollout measurements failed: {exc}")
        return [f"Rollout under load and memory after load/unload cycles: not measured ({first_line(exc)})"]
    return [under_load.line(), memory.line()]


def protocols_notes(settings: Settings) -> list[str]:
    """The lines of bench/protocols.py (a sentence, its table, a note), against a container of its own."""
    log("the protocols: /v1, KServe V1 and Open Inference Protocol V2 side by side (bench/protocols.py)")
    try:
        with contextlib.ExitStack() as stack:
            measured = protocols.measure(protocols.Settings.from_bench(settings), stack)
    except BenchError as exc:  # the wrk numbers above still get their report
        log(f"the protocol measurements failed: {exc}")
        return [f"Protocols (bench/protocols.py): not measured ({first_line(exc)})."]
    return measured.lines()


def report(settings: Settings, measured: throughput.Measured, extra_notes: list[str],
           protocol_lines: list[str]) -> None:
    """Print the table and its notes, and save them to build/bench/results.md (raw numbers: results.json)."""
    notes = measured.notes() + extra_notes
    table = measured.table()
    protocols_text = "\n\n" + "\n".join(protocol_lines) if protocol_lines else ""
    print("\n" + table + "\n\n" + "\n".join(notes) + protocols_text, flush=True)

    tuned = ", ".join(f"`{k}={v}`" for k, v in settings.tuning.items()) or "none (image and `make run` defaults)"
    servers = ", ".join(s.name for s in measured.servers)
    (OUT_DIR / "results.md").write_text(
        f"# `make bench`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n"
        f"Revision {git_revision()}; {os.cpu_count()} cores; servers: {servers}. "
        f"wrk -t{settings.wrk_threads} (at most one per connection), keep-alive, {settings.duration} per run "
        f"after a {settings.warmup} warm-up, `--timeout {WRK_TIMEOUT}`. MODELHOST_* tuning: {tuned}.\n\n"
        f"{table}\n\n" + "".join(f"{note}.\n" for note in notes) + (protocols_text and protocols_text + "\n"))
    (OUT_DIR / "results.json").write_text(json.dumps(measured.raw(), indent=1))
    log(f"saved {(OUT_DIR / 'results.md').relative_to(ROOT)} (raw numbers: results.json; logs: logs/)")


def bench(settings: Settings, stack: contextlib.ExitStack) -> None:
    """The table; with the container among the servers, the image's, the rollout's and the protocols' lines."""
    measured = throughput.measure(settings, stack)
    container = "container" in settings.servers and settings.follow_ups
    report(settings, measured, (image_notes(settings) + rollout_notes(settings)) if container else [],
           protocols_notes(settings) if container else [])


def main() -> int:
    def run(stack: contextlib.ExitStack) -> int:
        bench(Settings.from_env(), stack)
        return 0

    return run_cleanly("bench", run)


if __name__ == "__main__":
    sys.exit(main())
