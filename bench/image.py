"""The image under `make bench`: its size, its cold start, and what its processes hold at ready.

    IMAGE=modelhost:latest .venv/bin/python bench/image.py      (bench/bench.py runs it too)

Three lines come out:

  size          `docker image inspect`'s Size of IMAGE (built when missing), in MB (10^6 bytes),
                as `docker images` shows it; the target is at most MAX_IMAGE_MB (450).
  cold start    STARTS (5) times: `docker run` of IMAGE with its own demo models, then the
                seconds until GET /health/ready answered 200 and until a first iris
                prediction came back, polled every POLL_SECONDS (0.05). Median and slowest;
                the target is a slowest ready within MAX_READY_SECONDS (5).
  at ready      VmRSS of each application process right after the first start was ready, and
                which of pandas and matplotlib they mapped (/proc/<pid>/maps, via docker exec).
                The serving image has no matplotlib; pandas is there for models fitted on a
                DataFrame, and scikit-learn imports it at start whenever it is installed.

Standalone, it exits with status 1 when a target is missed. Settings (environment): IMAGE and
the MODELHOST_* tuning variables of README.md ("Tuning"), passed to the container as bench.py does.
"""
from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass

import requests
from harness.commands import ensure_image, run, tail
from harness.console import BenchError, log, run_cleanly
from harness.servers import LOOPBACK, free_port
from harness.settings import image_from_env, tuning_from_env

STARTS = 5
POLL_SECONDS = 0.05
MAX_IMAGE_MB = 450
MAX_READY_SECONDS = 5.0
IRIS_ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
#: The application's processes (they map scikit-learn), their RSS in kB and which of the
#: libraries the serving image should not load they mapped.
PROCESSES = """\
import json, os
found = []
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        with open(f'/proc/{pid}/maps') as maps:
            mapped = maps.read()
        if '/sklearn/' not in mapped:
            continue
        with open(f'/proc/{pid}/status') as status:
            rss = next(int(line.split()[1]) for line in status if line.startswith('VmRSS:'))
    except (OSError, StopIteration):
        continue
    found.append([int(pid), rss, [lib for lib in ('pandas', 'matplotlib') if f'/{lib}/' in mapped]])
print(json.dumps(found))
"""


@dataclass
class Measured:
    image: str
    size_mb: float
    ready: list[float]
    predicted: list[float]
    processes: list[tuple[int, int, list[str]]]

    @property
    def met(self) -> bool:
        return self.size_mb <= MAX_IMAGE_MB and max(self.ready) <= MAX_READY_SECONDS

    def lines(self) -> list[str]:
        loaded = sorted({lib for _, _, libs in self.processes for lib in libs})
        rss = ", ".join(f"{kb / 1024:.0f} MB" for _, kb, _ in self.processes)
        return [
            f"Image {self.image}: {self.size_mb:.0f} MB (docker image inspect; target at most {MAX_IMAGE_MB} MB)",
            f"Cold start of {self.image} with its demo models, {len(self.ready)} starts: /health/ready 200 after "
            f"{statistics.median(self.ready):.2f} s median, {max(self.ready):.2f} s slowest (target at most "
            f"{MAX_READY_SECONDS:.0f} s); first iris prediction after {statistics.median(self.predicted):.2f} s "
            "median",
            f"At ready, {len(self.processes)} application processes of {rss} (VmRSS); "
            + (f"they mapped {' and '.join(loaded)}" if loaded else "none mapped pandas or matplotlib"),
        ]


def image_size_mb(image: str) -> float:
    result = run(["docker", "image", "inspect", "--format", "{{.Size}}", image])
    if result.returncode != 0:
        raise BenchError(f"docker image inspect {image} failed:\n{tail(result.stderr)}")
    return int(result.stdout.strip()) / 1e6


def cold_start(image: str, tuning: dict[str, str], stack: contextlib.ExitStack,
               snapshot: bool) -> tuple[float, float, list[tuple[int, int, list[str]]]]:
    """Seconds from `docker run` to ready and to a first prediction; the processes when ``snapshot``."""
    port = free_port()
    name = f"modelhost-bench-start-{os.getpid()}"
    env_args = [arg for key, value in tuning.items() for arg in ("--env", f"{key}={value}")]
    stack.callback(run, ["docker", "rm", "--force", name])
    started = time.monotonic()
    result = run(["docker", "run", "--detach", "--name", name, "--publish", f"{LOOPBACK}:{port}:8000",
                  *env_args, image])
    if result.returncode != 0:
        raise BenchError(f"docker run {image} failed:\n{tail(result.stderr)}")
    url = f"http://{LOOPBACK}:{port}"
    ready = predicted = None
    with requests.Session() as session:
        while predicted is None:
            elapsed = time.monotonic() - started
            if elapsed > 60:
                logs = run(["docker", "logs", name])
                raise BenchError(f"{image} was not ready within 60 s:\n{tail(logs.stdout + logs.stderr)}")
            with contextlib.suppress(requests.RequestException):
                if ready is None:
                    if session.get(f"{url}/health/ready", timeout=2).status_code == 200:
                        ready = elapsed
                elif session.post(f"{url}/v1/models/iris/predict", json=IRIS_ROW, timeout=5).status_code == 200:
                    predicted = elapsed
                    break
            time.sleep(POLL_SECONDS)
    processes: list[tuple[int, int, list[str]]] = []
    if snapshot:
        listed = run(["docker", "exec", name, "python3", "-c", PROCESSES], timeout=60)
        if listed.returncode != 0:
            raise BenchError(f"listing the processes of {name} failed:\n{tail(listed.stderr)}")
        processes = [(pid, rss, libs) for pid, rss, libs in json.loads(listed.stdout)]
    run(["docker", "rm", "--force", name])
    return ready, predicted, processes


def measure(image: str, tuning: dict[str, str], stack: contextlib.ExitStack) -> Measured:
    size = image_size_mb(image)
    ready, predicted, processes = [], [], []
    for start in range(STARTS):
        seconds_ready, seconds_predicted, found = cold_start(image, tuning, stack, snapshot=start == 0)
        log(f"start {start + 1}/{STARTS}: ready after {seconds_ready:.2f} s, "
            f"first prediction after {seconds_predicted:.2f} s")
        ready.append(seconds_ready)
        predicted.append(seconds_predicted)
        processes = processes or found
    return Measured(image, size, ready, predicted, processes)


def main() -> int:
    def measure_image(stack: contextlib.ExitStack) -> int:
        image, tuning = image_from_env(), tuning_from_env()
        ensure_image(image)
        measured = measure(image, tuning, stack)
        print("\n" + "\n".join(measured.lines()), flush=True)
        return 0 if measured.met else 1

    return run_cleanly("image", measure_image)


if __name__ == "__main__":
    sys.exit(main())
