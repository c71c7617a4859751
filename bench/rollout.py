"""The live model repository under `make bench`: a rollout under load, and memory over load/unload cycles.

    IMAGE=modelhost:latest .venv/bin/python bench/rollout.py      (bench/bench.py runs it too)

One container of IMAGE (built when missing) serves a writable model repository,
build/bench/rollout/models, mounted read-only at /models and polled every POLL_SECONDS (2 s
instead of the default 5). It holds the image's demo models (copied out of the image, each with
its model.json) and ``forest``: a RandomForestClassifier of 25 trees fitted on 20,000 noisy iris
rows, about 6.5 MB, big enough for a leaked copy to show in the memory of a process. The
repository is changed from the host the way users change it: folders copied in with
``shutil.copytree`` (not atomically) and deleted with ``shutil.rmtree``. What every process
serves is read from ``GET /v1/repository``, whose process counts cover all the application's
processes. Two lines come out:

  rollout under load    CLIENTS (8) threads, each over its own keep-alive connection, predict
                        iris on its default route for LOAD_SECONDS (30) while iris version 2 (a
                        copy of version 1) is copied in and rolls out, a corrupt version 3 (its
                        artifact overwritten, so its sha256 check fails) is refused, and version
                        1 is deleted. Requests sent, requests failed (anything but a 200 with the
                        right prediction, or an answer of version 3; the target is 0), and the
                        seconds from version 2 copied in until every process had it as default.
  memory after cycles   VmRSS of each application process (/proc/<pid>/status, via docker exec)
                        after WARMUP_CYCLES (2) cycles, then after CYCLES (20) more. A cycle
                        copies forest version 2 in, waits until every process loaded it, predicts
                        with it, deletes it and waits until every process unloaded it. Growth
                        per process; the target is under MAX_GROWTH_PERCENT (10).

Standalone, it exits with status 1 when a target is missed. Settings (environment): IMAGE and
the MODELHOST_* tuning variables of README.md ("Tuning"), passed to the container as bench.py does.
"""
from __future__ import annotations

import contextlib
import shutil
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass

import requests
from harness.commands import ensure_image
from harness.console import BenchError, run_cleanly
from harness.paths import LOGS_DIR, ROOT
from harness.servers import HTTP_TIMEOUT, stop_quietly
from harness.settings import image_from_env, tuning_from_env
from rollout_repository import (
    FOREST,
    POLL_SECONDS,
    REPOSITORY,
    RolloutContainer,
    copy_version,
    everywhere,
    nowhere,
    prepare_repository,
)

CLIENTS = 8
LOAD_SECONDS = 30.0
WARMUP_CYCLES = 2
CYCLES = 20
MAX_GROWTH_PERCENT = 10.0
IRIS = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
FOREST_ROW = [5.1, 3.5, 1.4, 0.2]


def log(message: str) -> None:
    print(f"rollout: {message}", flush=True)


class Load:
    """Client threads, each predicting iris over its own keep-alive session, one request at a time."""

    def __init__(self, url: str, clients: int) -> None:
        self.url = f"{url}/v1/models/iris/predict"
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.versions: Counter[str] = Counter()
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self.client, daemon=True) for _ in range(clients)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=90)

    @property
    def sent(self) -> int:
        return sum(self.versions.values()) + len(self.failures)

    def client(self) -> None:
        with requests.Session() as session:
            while not self.stopping.is_set():
                failure, version = None, ""
                try:
                    response = session.post(self.url, json=IRIS, timeout=HTTP_TIMEOUT)
                    answer = response.json() if response.status_code == 200 else {}
                    version = str(answer.get("version"))
                    if answer.get("prediction") != "setosa" or version not in ("1", "2"):
                        failure = f"HTTP {response.status_code}: {' '.join(response.text.split())[:200]}"
                except (requests.RequestException, ValueError) as exc:
                    failure = f"{type(exc).__name__}: {exc}"
                with self.lock:
                    if failure is None:
                        self.versions[version] += 1
                    else:
                        self.failures.append(failure)


@dataclass(frozen=True)
class Rollout:
    seconds: float
    sent: int
    failures: list[str]
    versions: dict[str, int]
    #: Seconds from each change until every process had it.
    rollout_s: float
    refusal_s: float
    removal_s: float

    def line(self) -> str:
        failed = f"{len(self.failures)} failed" + (f" (first: {self.failures[0]})" if self.failures else "")
        by_version = ", ".join(f"v{v} {n:,}" for v, n in sorted(self.versions.items()))
        return (f"Rollout under load ({CLIENTS} keep-alive clients, {self.seconds:.0f} s, repository polled every "
                f"{POLL_SECONDS} s): {self.sent:,} requests sent, {failed} (target 0; answered by {by_version}); "
                f"iris v2 the default in every process {self.rollout_s:.1f} s after it was copied in, corrupt v3 "
                f"refused in every process after {self.refusal_s:.1f} s, v1 unloaded everywhere "
                f"{self.removal_s:.1f} s after its deletion")


def rollout_under_load(server: RolloutContainer) -> Rollout:
    iris = REPOSITORY / "iris"
    server.wait_for(everywhere("loaded", "iris", "1"), "iris version 1 loaded in every process")
    started = time.monotonic()
    with Load(server.url, CLIENTS) as load:
        time.sleep(2)  # the clients are connected and answered
        copy_version(iris, 1, 2)
        rollout_s = server.wait_for(everywhere("loaded", "iris", "2"), "iris version 2 loaded in every process")
        log(f"iris version 2 the default in every process after {rollout_s:.1f} s")
        corrupt = copy_version(iris, 2, 3)
        artifact = next(p for p in corrupt.iterdir() if p.stem == "model" and p.suffix != ".json")
        artifact.write_bytes(b"not a model" * 200)
        refusal_s = server.wait_for(everywhere("failed", "iris", "3"), "iris version 3 failed in every process")
        log(f"corrupt iris version 3 refused in every process after {refusal_s:.1f} s")
        shutil.rmtree(iris / "1")
        removal_s = server.wait_for(nowhere("iris", "1"), "iris version 1 unloaded in every process")
        log(f"iris version 1 unloaded in every process after {removal_s:.1f} s")
        time.sleep(max(0.0, LOAD_SECONDS - (time.monotonic() - started)))
    return Rollout(time.monotonic() - started, load.sent, list(load.failures), dict(load.versions),
                   rollout_s, refusal_s, removal_s)


@dataclass(frozen=True)
class Memory:
    before: dict[int, int]
    after: dict[int, int]
    cycles: int
    artifact_mb: float
    cycle_s: float

    def growth(self) -> dict[int, float]:
        return {pid: 100.0 * (self.after[pid] - rss) / rss for pid, rss in self.before.items() if pid in self.after}

    @property
    def same_processes(self) -> bool:
        return set(self.before) == set(self.after)

    @property
    def met(self) -> bool:
        return self.same_processes and all(g < MAX_GROWTH_PERCENT for g in self.growth().values())

    def line(self) -> str:
        growth = self.growth()
        each = "; ".join(f"process {pid} {self.before[pid] / 1024:.1f} -> {self.after[pid] / 1024:.1f} MiB "
                         f"({growth[pid]:+.1f} %)" for pid in sorted(growth))
        changed = "" if self.same_processes else (f"; the processes changed: {sorted(self.before)} before, "
                                                  f"{sorted(self.after)} after")
        return (f"Memory after {self.cycles} load/unload cycles of {FOREST} v2 ({self.artifact_mb:.1f} MB "
                f"artifact, {self.cycle_s:.1f} s a cycle; VmRSS after {WARMUP_CYCLES} warm-up cycles -> after): "
                f"{each}{changed} (target < {MAX_GROWTH_PERCENT:.0f} % each)")


def cycle(server: RolloutContainer) -> None:
    """Copy forest version 2 in, predict with it in every process, delete it, until every process let it go."""
    model_dir = REPOSITORY / FOREST
    copy_version(model_dir, 1, 2)
    server.wait_for(everywhere("loaded", FOREST, "2"), f"{FOREST} version 2 loaded in every process")
    for _ in range(6):  # new connections, spread over the processes
        response = requests.post(f"{server.url}/v1/models/{FOREST}/versions/2/predict",
                                 json={"instances": [FOREST_ROW] * 10}, headers={"Connection": "close"},
                                 timeout=HTTP_TIMEOUT)
        if response.status_code != 200 or len(response.json().get("predictions", [])) != 10:
            raise BenchError(f"{FOREST} version 2 answered HTTP {response.status_code}: {response.text[:300]}")
    shutil.rmtree(model_dir / "2")
    server.wait_for(nowhere(FOREST, "2"), f"{FOREST} version 2 unloaded in every process")


def memory_cycles(server: RolloutContainer) -> Memory:
    server.wait_for(everywhere("loaded", FOREST, "1"), f"{FOREST} version 1 loaded in every process")
    for _ in range(WARMUP_CYCLES):
        cycle(server)
    time.sleep(1)
    before = server.rss_kib()
    started = time.monotonic()
    for number in range(1, CYCLES + 1):
        cycle(server)
        if number % 5 == 0:
            log(f"{number} of {CYCLES} load/unload cycles")
    cycle_s = (time.monotonic() - started) / CYCLES
    time.sleep(1)
    after = server.rss_kib()
    size = (REPOSITORY / FOREST / "1" / "model.joblib").stat().st_size / 1e6
    return Memory(before, after, CYCLES, size, cycle_s)


def measure(image: str, tuning: dict[str, str], stack: contextlib.ExitStack) -> tuple[Rollout, Memory]:
    """Both measurements against one container of ``image``, which ``stack`` stops."""
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    prepare_repository(image)
    server = RolloutContainer(image, tuning)
    stack.callback(stop_quietly, server)
    log(f"starting {image} as {server.container} on {server.url}, serving {REPOSITORY.relative_to(ROOT)} "
        f"(polled every {POLL_SECONDS} s)")
    server.start()
    server.wait_ready()
    log(f"{CLIENTS} clients for {LOAD_SECONDS:.0f} s: iris v2 copied in, a corrupt v3, v1 deleted")
    rollout = rollout_under_load(server)
    log(f"{WARMUP_CYCLES} + {CYCLES} load/unload cycles of {FOREST} version 2")
    memory = memory_cycles(server)
    return rollout, memory


def main() -> int:
    def run(stack: contextlib.ExitStack) -> int:
        image, tuning = image_from_env(), tuning_from_env()
        ensure_image(image)
        rollout, memory = measure(image, tuning, stack)
        print(f"\n{rollout.line()}\n{memory.line()}", flush=True)
        return 0 if not rollout.failures and memory.met else 1

    return run_cleanly("rollout", run)


if __name__ == "__main__":
    sys.exit(main())
