"""`make soak`: a long mixed load against the container; fails when it errs or grows.

Not part of CI. One container of IMAGE (default modelhost:latest, built when missing) serves the
models of `make bench` (bench/make_models.py: iris_lr and iris_rf in build/bench/models, mounted
read-only at /models), and wrk drives it with bench/soak.lua for DURATION (10m) at CONNECTIONS
(64) keep-alive connections. Every request is one kind of a fixed mix, chosen at random by weight:

  valid      JSON predictions of both models in every request form (one instance by name, many
             by name with ids, rows, a form, a version path, class probabilities), metadata and
             readiness, all answered 200;
  csv        text/csv files scored, answered 200 with the scored file;
  invalid    requests that must get one specific 4xx problem document: 400 (broken JSON, wrong
             types, missing and unknown keys, rows of the wrong length, NaN, empty instances, a
             bad query parameter, a CSV with a bad line), 404 (model, version, path), 405, 406,
             413 (more instances than MAX_BATCH_SIZE) and 415.

Before the load, each kind is sent once and checked: its status, predictions equal to
``model.predict`` of the same files in this process, problem documents. Answers that must not
vary (predictions without probabilities, scored CSV files) are pinned there, and under load any
answer with another status, another pinned body, or an error that is not a problem document
is counted as unexpected, like socket errors and time-outs.

While wrk runs, the resident memory (RSS) of each process that runs the application is sampled
every SAMPLE_INTERVAL (10s) with `docker exec`: the processes whose memory maps hold
scikit-learn, that is Apache's worker children in embedded mode (the default) and mod_wsgi's
daemon processes with MODELHOST_WSGI_MODE=daemon. Growth is measured from the first sample
after WARMUP (1m) to the sample taken when the load ends.

The run fails (exit status 1) unless there were 0 unexpected answers, every application
process grew less than MAX_MEMORY_GROWTH percent (10) after the warm-up, and the same
processes ran the application from the end of the warm-up to the end. It prints the mix with
its counts, the latency percentiles and the memory table, and writes them to
build/soak/results.md (raw numbers in results.json, wrk's output, the memory samples and the
container's log beside it).

Settings (environment): DURATION (10m), WARMUP (1m), CONNECTIONS (64), SAMPLE_INTERVAL (10s),
MAX_MEMORY_GROWTH (10), WRK_THREADS (2), IMAGE, and the MODELHOST_* tuning variables of README
("Tuning"), passed to the container. A short try: DURATION=1m WARMUP=20s make soak
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict

import make_models
from harness.commands import ensure_image, ensure_wrk, tail
from harness.console import BenchError, logger, run_cleanly
from harness.paths import BENCH_DIR, MODELS_DIR
from harness.servers import stop_quietly
from harness.wrk import wrk_command, wrk_report
from soak_container import LogWatcher, Sample, SoakContainer, take_sample
from soak_mix import Expectations, check_mix, make_mix, write_mix
from soak_report import Outcome, minutes, report
from soak_settings import SOAK_DIR, Settings

MIX_DIR = SOAK_DIR / "mix"
LUA_SCRIPT = BENCH_DIR / "soak.lua"

log = logger("soak")


def soak(settings: Settings, stack: contextlib.ExitStack) -> Outcome:
    """Check every kind of request once, then load the container with the mix, sampling its memory."""
    SOAK_DIR.mkdir(parents=True, exist_ok=True)
    ensure_wrk()
    ensure_image(settings.image)
    make_models.write_models(MODELS_DIR)
    kinds = make_mix(Expectations(MODELS_DIR), settings.max_batch_size)

    server = SoakContainer(settings.image, settings.tuning)
    stack.callback(stop_quietly, server)
    tuned = ", ".join(f"{k}={v}" for k, v in settings.tuning.items()) or "none (defaults)"
    log(f"starting {settings.image} ({settings.mode} mode) as {server.container} on {server.url}; "
        f"MODELHOST_* tuning passed on: {tuned}")
    server.start()
    server.wait_ready()
    watcher = LogWatcher(server.container)
    stack.callback(watcher.stop)
    pinned = check_mix(server.url, kinds)
    log(f"each of the {len(kinds)} kinds of request answered as expected once; "
        f"{len(pinned)} answers pinned for the load")
    mix = write_mix(kinds, pinned, MIX_DIR)

    command = wrk_command(server.url, LUA_SCRIPT, settings.connections, settings.duration, settings.wrk_threads)
    env = {**os.environ, "SOAK_MIX": str(mix)}
    log(f"{settings.duration} at {settings.connections} connections: {' '.join(command)}")
    log(f"memory of the application's processes every {settings.sample_interval}; warm-up {settings.warmup}")
    started = time.monotonic()
    samples = [take_sample(server, started)]
    wrk = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stack.callback(stop_process, wrk)
    deadline = started + settings.duration_s + 120
    next_sample = started + settings.interval_s
    while wrk.poll() is None:
        now = time.monotonic()
        if now > deadline:
            raise BenchError(f"wrk did not finish within {settings.duration} and 2 minutes: {' '.join(command)}")
        if now >= next_sample:
            if (reason := server.failure()) is not None:
                raise BenchError(f"the container stopped during the soak: {reason}. Its last log lines:\n"
                                 f"{tail(server.logs())}")
            samples.append(take_sample(server, started))
            progress(samples[-1], settings)
            next_sample += settings.interval_s
        time.sleep(min(0.5, max(0.0, next_sample - time.monotonic())))
    stdout, stderr = wrk.communicate()
    samples.append(take_sample(server, started))
    (SOAK_DIR / "wrk.txt").write_text(f"$ {' '.join(command)}\n{stdout}{stderr}")
    numbers = wrk_report(command, wrk.returncode, stdout, stderr, server.container)
    watcher.stop()

    baseline = next(s for s in samples if s.at >= settings.warmup_s)
    (SOAK_DIR / "memory.json").write_text(json.dumps([asdict(s) for s in samples], indent=1))
    return Outcome(kinds, numbers, samples, baseline, samples[-1], watcher.counts, watcher.first)


def stop_process(process: subprocess.Popen[str]) -> None:
    """End wrk when the soak stops early (it has ended by itself otherwise)."""
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        if process.poll() is None:
            process.kill()
            process.wait()


def progress(sample: Sample, settings: Settings) -> None:
    """One line about a minute (or about every sample, when they are further apart)."""
    every = max(1, round(60 / settings.interval_s))
    if round(sample.at / settings.interval_s) % every:
        return
    rss = ", ".join(f"{pid} {kib / 1024:.1f} MiB" for pid, kib in sorted(sample.rss_kib.items()))
    log(f"{minutes(sample.at)} of {settings.duration}: RSS of the application's processes: {rss or 'none found'}")


def main() -> int:
    def run(stack: contextlib.ExitStack) -> int:  # stops wrk, the log watcher and the container, in that order
        settings = Settings.from_env()
        return 0 if report(soak(settings, stack), settings) else 1

    return run_cleanly("soak", run)


if __name__ == "__main__":
    sys.exit(main())
