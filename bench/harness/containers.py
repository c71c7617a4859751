"""The image in a container on a loopback port: its log, its memory, and the processes that run the application."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from harness.commands import run, tail
from harness.console import BenchError
from harness.servers import LOOPBACK, Server

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


#: The label that names the commit an image was built from (docker/Dockerfile, `make docker-build`).
REVISION_LABEL = "org.opencontainers.image.revision"


@dataclass(frozen=True)
class ImageFacts:
    """Which image a container ran: the name it was started by, its id, and the revision it was built from."""

    name: str
    id: str
    revision: str
    created: str

    def describe(self) -> str:
        short = self.id.removeprefix("sha256:")[:12]
        return f"{self.name} (image {short}, revision {self.revision}" + (
            f", built {self.created})" if self.created else ")")


class Container(Server):
    """modelhost:latest with its default settings (and the tuning variables set here)."""

    name = "container"
    start_timeout = 120.0

    def __init__(self, models_dir: Path, image: str, tuning: dict[str, str],
                 docker_options: tuple[str, ...] = ()) -> None:
        super().__init__(models_dir)
        self.image = image
        self.tuning = tuning
        self.docker_options = docker_options
        self.container = f"modelhost-bench-{os.getpid()}"
        self.started = False

    def start(self) -> None:
        env_args = [arg for name, value in self.tuning.items() for arg in ("--env", f"{name}={value}")]
        result = run(["docker", "run", "--detach", "--name", self.container,
                      "--publish", f"{LOOPBACK}:{self.port}:8000", "--volume", f"{self.models_dir}:/models:ro",
                      *env_args, *self.docker_options, self.image])
        self.started = True  # even a failed run may leave a created container behind
        if result.returncode != 0:
            raise BenchError(f"docker run {self.image} failed:\n{tail(result.stderr)}")

    def failure(self) -> str | None:
        state = run(["docker", "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", self.container])
        status, _, code = state.stdout.strip().partition(" ")
        if status == "running":
            return None
        return f"container {self.container} is {status or 'gone'} (exit code {code or '?'})"

    def logs(self) -> str:
        result = run(["docker", "logs", self.container])
        return result.stdout + result.stderr

    def memory(self) -> str:
        """The container's memory as `docker stats` shows it."""
        result = run(["docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", self.container])
        return result.stdout.strip() or f"unknown ({result.stderr.strip()})"

    def processes(self) -> dict[int, tuple[str, int]]:
        """pid -> (program, RSS in KiB) of every process in the container that runs the application."""
        result = run(["docker", "exec", self.container, "python3", "-c", PROCESS_SNAPSHOT], timeout=60)
        if result.returncode != 0:
            raise BenchError(f"listing the processes of {self.container} failed:\n{tail(result.stderr)}")
        return {pid: (program, rss) for pid, program, rss in json.loads(result.stdout)}

    def image_facts(self) -> ImageFacts:
        """The image this container runs, by its id: the name may have been given to another image since."""
        image_id = run(["docker", "inspect", "--format", "{{.Image}}", self.container]).stdout.strip()
        result = run(["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", image_id or self.image])
        labels = json.loads(result.stdout or "null") if result.returncode == 0 else None
        labels = labels or {}
        return ImageFacts(self.image, image_id or "unknown", labels.get(REVISION_LABEL) or "unknown (no label)",
                          labels.get("org.opencontainers.image.created", ""))

    def stop(self) -> None:
        if self.started:
            self.log_path.write_text(self.logs())  # keep its log beside the others
            run(["docker", "rm", "--force", self.container])


class EarlierContainer(Container):
    """The image of an earlier revision (EARLIER_IMAGE), started exactly as the container is, to compare with it."""

    name = "earlier"

    def __init__(self, models_dir: Path, image: str, tuning: dict[str, str]) -> None:
        super().__init__(models_dir, image, tuning)
        self.container += "-earlier"


class DaemonContainer(Container):
    """The same image in mod_wsgi daemon mode (MODELHOST_WSGI_MODE=daemon): the other trade-off."""

    name = "daemon"

    def __init__(self, models_dir: Path, image: str, tuning: dict[str, str]) -> None:
        super().__init__(models_dir, image, {**tuning, "MODELHOST_WSGI_MODE": "daemon"})
        self.container += "-daemon"
