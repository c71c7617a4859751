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
import re
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import bench
import make_models
from soak_mix import Expectations, Kind, check_mix, make_mix, write_mix

SOAK_DIR = bench.ROOT / "build" / "soak"
MIX_DIR = SOAK_DIR / "mix"
LUA_SCRIPT = bench.BENCH_DIR / "soak.lua"
DEFAULT_MAX_BATCH_SIZE = 10_000  # the server's default (API.md, "Configuration")

# Lines of the container's log worth counting, by what they are (the first matching name).
LOG_CATEGORIES = {
    "records of the application at ERROR or above": re.compile(r" (ERROR|CRITICAL) \["),
    "tracebacks": re.compile(r"Traceback \(most recent call last\)"),
    "Apache short of workers": re.compile(bench.SATURATION_PATTERN.pattern + "|AH00287"),
    "Python's stderr (warnings)": re.compile(r"\[wsgi:error\]"),
    "other Apache errors": re.compile(r"\[[a-z_0-9]+:(error|crit|alert|emerg)\]"),
}

# What `docker exec` runs in the container to list the processes that run the application:
# [[pid, program, RSS in KiB], ...]. A process runs it when scikit-learn is in its memory maps.
PROCESS_SNAPSHOT = """\
import json, os
found = []
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        with open(f'/proc/{pid}/maps') as maps:
            if not any('/sklearn/' in line for line in maps):
                continue
        with open(f'/proc/{pid}/cmdline', 'rb') as cmdline:
            program = cmdline.read().split(b'\\0')[0].decode(errors='replace').strip()
        with open(f'/proc/{pid}/status') as status:
            rss = next(int(line.split()[1]) for line in status if line.startswith('VmRSS:'))
    except (OSError, StopIteration):
        continue
    found.append([int(pid), program, rss])
print(json.dumps(found))
"""


def log(message: str) -> None:
    print(f"soak: {message}", flush=True)


# --- Settings ---------------------------------------------------------------------------------

def whole_number(name: str, default: int) -> int:
    value = os.environ.get(name, str(default)).strip()
    if not value.isdigit() or int(value) < 1:
        raise bench.BenchError(f"{name} must be a positive whole number, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Settings:
    """What the environment asks of this run."""

    duration: str
    warmup: str
    connections: int
    sample_interval: str
    max_growth_percent: int
    wrk_threads: int
    image: str
    tuning: dict[str, str]

    @classmethod
    def from_env(cls) -> Settings:
        settings = cls(
            duration=os.environ.get("DURATION", "10m").strip(),
            warmup=os.environ.get("WARMUP", "1m").strip(),
            connections=whole_number("CONNECTIONS", 64),
            sample_interval=os.environ.get("SAMPLE_INTERVAL", "10s").strip(),
            max_growth_percent=whole_number("MAX_MEMORY_GROWTH", 10),
            wrk_threads=whole_number("WRK_THREADS", 2),
            image=os.environ.get("IMAGE", "modelhost:latest"),
            tuning={name: os.environ[name] for name in bench.TUNING_VARIABLES if os.environ.get(name)},
        )
        if settings.warmup_s + settings.interval_s > settings.duration_s:
            raise bench.BenchError(
                f"the warm-up ({settings.warmup}) and one sample interval ({settings.sample_interval}) must fit "
                f"in the duration ({settings.duration}), so that memory is sampled after the warm-up: "
                "shorten WARMUP or SAMPLE_INTERVAL, or lengthen DURATION")
        return settings

    @property
    def duration_s(self) -> int:
        return bench.seconds(self.duration)

    @property
    def warmup_s(self) -> int:
        return bench.seconds(self.warmup)

    @property
    def interval_s(self) -> int:
        return bench.seconds(self.sample_interval)

    @property
    def mode(self) -> str:
        return self.tuning.get("MODELHOST_WSGI_MODE", "embedded")

    @property
    def max_batch_size(self) -> int:
        value = self.tuning.get("MODELHOST_MAX_BATCH_SIZE", str(DEFAULT_MAX_BATCH_SIZE))
        if not value.isdigit():
            raise bench.BenchError(f"MODELHOST_MAX_BATCH_SIZE must be a whole number, got {value!r}")
        return int(value)


# --- The container, its processes and its log ------------------------------------------------

class SoakContainer(bench.Container):
    """The image under soak: a name of its own, its files in build/soak, a bounded json-file log."""

    name = "soak"

    def __init__(self, image: str, tuning: dict[str, str]) -> None:
        driver = bench.run(["docker", "info", "--format", "{{.LoggingDriver}}"]).stdout.strip()
        # A 10-minute soak writes about a million access lines: keep the last 40 MB of them.
        options = ("--log-opt", "max-size=20m", "--log-opt", "max-file=2") if driver in ("json-file", "local") else ()
        super().__init__(bench.MODELS_DIR, image, tuning, options)
        self.container = f"modelhost-soak-{os.getpid()}"
        self.log_path = SOAK_DIR / "container.log"

    def processes(self) -> dict[int, tuple[str, int]]:
        """pid -> (program, RSS in KiB) of every process in the container that runs the application."""
        result = bench.run(["docker", "exec", self.container, "python3", "-c", PROCESS_SNAPSHOT], timeout=60)
        if result.returncode != 0:
            raise bench.BenchError(f"listing the processes of {self.container} failed:\n{bench.tail(result.stderr)}")
        return {pid: (program, rss) for pid, program, rss in json.loads(result.stdout)}


class LogWatcher:
    """Follows the container's log while the soak runs and counts the lines of LOG_CATEGORIES."""

    def __init__(self, container: str) -> None:
        self.counts = dict.fromkeys(LOG_CATEGORIES, 0)
        self.first: dict[str, str] = {}
        self.process = subprocess.Popen(["docker", "logs", "--follow", container], stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip()
            category = next((name for name, pattern in LOG_CATEGORIES.items() if pattern.search(line)), None)
            if category is not None:
                self.counts[category] += 1
                self.first.setdefault(category, line[:300])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.thread.join(timeout=10)


@dataclass
class Sample:
    """The application's processes at one moment: seconds since the load began, pid -> RSS KiB."""

    at: float
    rss_kib: dict[int, int]
    programs: dict[int, str]


def take_sample(container: SoakContainer, started: float) -> Sample:
    processes = container.processes()
    return Sample(time.monotonic() - started, {pid: rss for pid, (_, rss) in processes.items()},
                  {pid: program for pid, (program, _) in processes.items()})


# --- The run ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    """What the soak measured, and whether it met the targets."""

    kinds: list[Kind]
    report: dict[str, Any]
    samples: list[Sample]
    baseline: Sample
    final: Sample
    log_counts: dict[str, int]
    log_first: dict[str, str]

    @property
    def socket_errors(self) -> int:
        r = self.report
        return int(r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"])

    @property
    def unexpected(self) -> int:
        return int(sum(self.report["unexpected"])) + int(self.report["unattributed"]) + self.socket_errors

    def growth(self) -> dict[int, float]:
        """Percent growth of each process that ran the application both after the warm-up and at the end."""
        return {pid: 100.0 * (self.final.rss_kib[pid] - rss) / rss
                for pid, rss in self.baseline.rss_kib.items() if pid in self.final.rss_kib}

    def peak(self, pid: int) -> int:
        return max(s.rss_kib.get(pid, 0) for s in self.samples if s.at >= self.baseline.at)

    def changed_processes(self) -> list[str]:
        gone = sorted(set(self.baseline.rss_kib) - set(self.final.rss_kib))
        new = sorted(set(self.final.rss_kib) - set(self.baseline.rss_kib))
        return ([f"process {pid} ({self.baseline.programs[pid]}) that ran the application after the warm-up "
                 "is gone" for pid in gone]
                + [f"process {pid} ({self.final.programs[pid]}) began to run the application after the warm-up"
                   for pid in new])


def soak(settings: Settings, stack: contextlib.ExitStack) -> Outcome:
    SOAK_DIR.mkdir(parents=True, exist_ok=True)
    bench.ensure_wrk()
    bench.ensure_image(settings.image)
    make_models.write_models(bench.MODELS_DIR)
    kinds = make_mix(Expectations(bench.MODELS_DIR), settings.max_batch_size)

    server = SoakContainer(settings.image, settings.tuning)
    stack.callback(bench.stop_quietly, server)
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

    command = bench.wrk_command(server.url, LUA_SCRIPT, settings.connections, settings.duration,
                                settings.wrk_threads)
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
            raise bench.BenchError(f"wrk did not finish within {settings.duration} and 2 minutes: {' '.join(command)}")
        if now >= next_sample:
            if (reason := server.failure()) is not None:
                raise bench.BenchError(f"the container stopped during the soak: {reason}. Its last log lines:\n"
                                       f"{bench.tail(server.logs())}")
            samples.append(take_sample(server, started))
            progress(samples[-1], settings)
            next_sample += settings.interval_s
        time.sleep(min(0.5, max(0.0, next_sample - time.monotonic())))
    stdout, stderr = wrk.communicate()
    samples.append(take_sample(server, started))
    (SOAK_DIR / "wrk.txt").write_text(f"$ {' '.join(command)}\n{stdout}{stderr}")
    report = bench.wrk_report(command, wrk.returncode, stdout, stderr, server.container)
    watcher.stop()

    baseline = next(s for s in samples if s.at >= settings.warmup_s)
    (SOAK_DIR / "memory.json").write_text(json.dumps([asdict(s) for s in samples], indent=1))
    return Outcome(kinds, report, samples, baseline, samples[-1], watcher.counts, watcher.first)


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


def minutes(at: float) -> str:
    return f"{int(at) // 60}m{int(at) % 60:02d}s"


# --- Report -----------------------------------------------------------------------------------

def verdict(outcome: Outcome, settings: Settings) -> list[str]:
    """The targets missed, one sentence each; empty when the soak passed."""
    missed = []
    if outcome.unexpected:
        missed.append(f"{outcome.unexpected} unexpected answers or socket errors (target: 0)")
    if not outcome.baseline.rss_kib:
        missed.append("no process that runs the application was found")
    for pid, growth in outcome.growth().items():
        if growth >= settings.max_growth_percent:
            missed.append(f"process {pid} grew {growth:.1f} % after the warm-up "
                          f"(target: under {settings.max_growth_percent} %)")
    missed += outcome.changed_processes()
    return missed


def render(outcome: Outcome, settings: Settings) -> str:
    """The results as Markdown: the settings, the mix with its counts, latency, memory, the verdict."""
    r = outcome.report
    total_weight = sum(kind.weight for kind in outcome.kinds)
    rows = [[kind.name, kind.group, f"{100 * kind.weight / total_weight:.1f} %", str(kind.status), f"{answered:,}",
             str(unexpected)]
            for kind, answered, unexpected in zip(outcome.kinds, r["answered"], r["unexpected"], strict=True)]
    rows.append(["all", "", "100 %", "", f"{sum(r['answered']):,}", str(sum(r["unexpected"]))])
    mix_table = bench.markdown_table(["request", "group", "share", "expected", "answered", "unexpected"], rows,
                                     "llrrrr")
    base, final = outcome.baseline, outcome.final
    memory_rows = [[f"{pid} ({base.programs[pid]})", f"{base.rss_kib[pid] / 1024:.1f} MiB",
                    f"{final.rss_kib[pid] / 1024:.1f} MiB", f"{outcome.peak(pid) / 1024:.1f} MiB", f"{growth:+.1f} %"]
                   for pid, growth in sorted(outcome.growth().items())]
    memory_table = bench.markdown_table(
        ["process", f"RSS at {minutes(base.at)}", f"RSS at {minutes(final.at)} (end)", "peak after warm-up",
         "growth"], memory_rows or [["none found", "", "", "", ""]], "lrrrr")

    tuning = ", ".join(f"`{k}={v}`" for k, v in settings.tuning.items()) or "none (the image's defaults)"
    setup = (f"Revision {bench.git_revision()}; {os.cpu_count()} cores shared by wrk and the container; image "
             f"{settings.image} ({settings.mode} mode); MODELHOST_* tuning: {tuning}.")
    load = (f"wrk -t{min(settings.wrk_threads, settings.connections)} -c{settings.connections} "
            f"-d{settings.duration} --timeout {bench.WRK_TIMEOUT}, keep-alive; each request a kind of the mix "
            "at random, by weight.")
    seconds_run = r["duration_us"] / 1e6
    answers = (f"- **Answers**: {r['requests']:,} in {seconds_run:.0f} s ({r['requests'] / seconds_run:,.0f} "
               f"per second). **Unexpected: {outcome.unexpected}** (wrong status or pinned body, or an error "
               f"that is not a problem document: {sum(r['unexpected'])}; without the soak's request id: "
               f"{r['unattributed']}; socket errors: connect {r['connect_errors']}, read {r['read_errors']}, "
               f"write {r['write_errors']}, time-outs {r['timeouts']}).")
    latency = (f"- **Latency** over the whole run and every kind: p50 {bench.latency(r['p50_us'])}, "
               f"p90 {bench.latency(r['p90_us'])}, **p99 {bench.latency(r['p99_us'])}**, "
               f"max {bench.latency(r['max_us'])}.")
    memory = (f"- **Memory** (RSS) of each process that runs the application, sampled every "
              f"{settings.sample_interval}; growth from the first sample after the {settings.warmup} warm-up to "
              "the end of the load:")
    container_log = "- **Container log** during the soak: " + "; ".join(
        f"{name}: {count:,}" + (f", the first: `{outcome.log_first[name]}`" if count else "")
        for name, count in outcome.log_counts.items()) + "."
    lines = [setup, load, "", mix_table, "", answers, latency, memory, "", memory_table, "", container_log]
    if r["samples"]:
        lines.append("- First unexpected answers: " + "; ".join(f"`{sample}`" for sample in r["samples"]))
    missed = verdict(outcome, settings)
    if missed:
        lines += ["", "**FAILED**: " + "; ".join(missed) + "."]
    else:
        passed = (f"**PASSED**: 0 unexpected answers; every process that runs the application grew less than "
                  f"{settings.max_growth_percent} % after the warm-up.")
        lines += ["", passed]
    return "\n".join(lines)


def report(outcome: Outcome, settings: Settings) -> bool:
    """Print and save the results; whether the soak met its targets."""
    text = render(outcome, settings)
    print("\n" + text + "\n", flush=True)
    (SOAK_DIR / "results.md").write_text(f"# `make soak`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n{text}\n")
    (SOAK_DIR / "results.json").write_text(json.dumps(
        {"report": outcome.report, "growth_percent": outcome.growth(), "unexpected": outcome.unexpected,
         "log_lines": outcome.log_counts}, indent=1))
    log(f"saved {(SOAK_DIR / 'results.md').relative_to(bench.ROOT)} (raw numbers: results.json, memory.json; "
        "wrk's output and the container's log beside them)")
    return not verdict(outcome, settings)


def main() -> int:
    def run(stack: contextlib.ExitStack) -> int:  # stops wrk, the log watcher and the container, in that order
        settings = Settings.from_env()
        return 0 if report(soak(settings, stack), settings) else 1

    return bench.run_cleanly("soak", run)


if __name__ == "__main__":
    sys.exit(main())
