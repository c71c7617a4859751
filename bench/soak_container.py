"""The container under `make soak` (bench/soak.py): its bounded log, what its log says, its processes' memory."""
from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass

from harness.commands import run
from harness.containers import Container
from harness.paths import MODELS_DIR
from harness.servers import SATURATION_PATTERN
from soak_settings import SOAK_DIR

# Lines of the container's log worth counting, by what they are (the first matching name).
LOG_CATEGORIES = {
    "records of the application at ERROR or above": re.compile(r" (ERROR|CRITICAL) \["),
    "tracebacks": re.compile(r"Traceback \(most recent call last\)"),
    "Apache short of workers": re.compile(SATURATION_PATTERN.pattern + "|AH00287"),
    "Python's stderr (warnings)": re.compile(r"\[wsgi:error\]"),
    "other Apache errors": re.compile(r"\[[a-z_0-9]+:(error|crit|alert|emerg)\]"),
}


class SoakContainer(Container):
    """The image under soak: a name of its own, its files in build/soak, a bounded json-file log."""

    name = "soak"

    def __init__(self, image: str, tuning: dict[str, str]) -> None:
        driver = run(["docker", "info", "--format", "{{.LoggingDriver}}"]).stdout.strip()
        # A 10-minute soak writes about a million access lines: keep the last 40 MB of them.
        options = ("--log-opt", "max-size=20m", "--log-opt", "max-file=2") if driver in ("json-file", "local") else ()
        super().__init__(MODELS_DIR, image, tuning, options)
        self.container = f"modelhost-soak-{os.getpid()}"
        self.log_path = SOAK_DIR / "container.log"


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
