"""The cluster under test: replicas behind the balancer, started with Compose (deploy/compose.yaml).

One Compose project per session, ``modelhost-test-<pid>``, on its own private network, with the
balancer published on a free loopback port and a writable copy of the image's demo models as
the shared repository (mounted read-only by every replica). Replicas poll it every
``POLL_SECONDS``. The images are ``IMAGE`` and ``BALANCER_IMAGE`` (``make cluster-test`` builds
both). The numbers the tests measure are printed at the end of the run.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("IMAGE", "modelhost:latest")
# The demo models are copied out of the image under test: containers.py reads its image from
# MODELHOST_IMAGE when it is imported, so `make cluster-test IMAGE=...` must name it there too.
os.environ["MODELHOST_IMAGE"] = IMAGE
from containers import copy_image_models, docker  # noqa: E402

BALANCER_IMAGE = os.environ.get("BALANCER_IMAGE", "modelhost-balancer:latest")
REPLICAS = 3
POLL_SECONDS = 2
START_TIMEOUT = 180.0
RESULTS: list[str] = []


def compose_command() -> list[str]:
    """Compose v2 (``docker compose``) where the docker CLI has it, else v1 (``docker-compose``)."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.exit("Docker Compose is missing: apt-get install docker-compose (or Docker's compose plugin)", returncode=1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """A running Compose project of the balancer and its replicas."""

    def __init__(self, project: str, models: Path, port: int) -> None:
        self.project = project
        self.models = models
        self.url = f"http://127.0.0.1:{port}"
        self.env = {**os.environ, "MODELHOST_IMAGE": IMAGE, "MODELHOST_BALANCER_IMAGE": BALANCER_IMAGE,
                    "MODELHOST_CLUSTER_MODELS": str(models), "MODELHOST_CLUSTER_PORT": str(port),
                    "MODELHOST_REPOSITORY_POLL_SECONDS": str(POLL_SECONDS)}
        self.compose_args = [*compose_command(), "-p", project, "-f", str(ROOT / "deploy" / "compose.yaml")]

    def compose(self, *args: str, timeout: float = 300) -> str:
        result = subprocess.run([*self.compose_args, *args], env=self.env, capture_output=True, text=True,
                                timeout=timeout)
        if result.returncode != 0:
            raise AssertionError(f"compose {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def cluster_script(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "CLUSTER": self.project, "CLUSTER_COMPOSE": " ".join(self.compose_args)}
        return subprocess.run([str(ROOT / "deploy" / "cluster.sh"), *args], env=env, capture_output=True,
                              text=True, timeout=timeout)

    def replicas(self) -> list[str]:
        """Names of the running replicas, oldest first."""
        out = docker("ps", "--filter", f"label=com.docker.compose.project={self.project}",
                     "--filter", "label=com.docker.compose.service=modelhost",
                     "--format", "{{.CreatedAt}}\t{{.Names}}").stdout
        return [line.split("\t")[1] for line in sorted(out.splitlines()) if line]

    def balancer(self) -> str:
        out = docker("ps", "--filter", f"label=com.docker.compose.project={self.project}",
                     "--filter", "label=com.docker.compose.service=balancer", "--format", "{{.Names}}").stdout
        return out.split()[0]

    def members(self, starting: bool = False) -> dict[str, str]:
        """The balancer's members (container name -> state such as "Init Ok", "Init HcFl").

        ``starting``: the balancer may not answer yet, which counts as no members.
        """
        result = self.cluster_script("members", self.project, timeout=30)
        if starting and result.returncode != 0:
            return {}
        assert result.returncode == 0, result.stderr
        members = {}
        for line in result.stdout.splitlines():
            url, _, state = line.partition(" ")
            host = url.removeprefix("http://").split(":")[0].split(".")[0]
            members[host] = state.strip()
        return members

    def in_rotation(self, starting: bool = False) -> set[str]:
        """Replicas the balancer sends requests to now."""
        bad = ("Err", "HcFl", "Dis", "Stop", "Drn", "Stby")
        return {name for name, state in self.members(starting).items()
                if "Ok" in state.split() and not any(flag in state for flag in bad)}

    def wait_for_rotation(self, names: set[str], timeout: float = START_TIMEOUT) -> float:
        """Wait until exactly ``names`` are in rotation; return the seconds it took."""
        started = time.monotonic()
        while (found := self.in_rotation(starting=True)) != names:
            if time.monotonic() - started > timeout:
                pytest.fail(f"in rotation: {sorted(found)}, expected {sorted(names)} after {timeout:.0f} s:\n"
                            f"{self.logs()}")
            time.sleep(0.2)
        return time.monotonic() - started

    def logs(self) -> str:
        return self.compose("logs", "--no-color", "--tail", "60", timeout=60)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    for image in (IMAGE, BALANCER_IMAGE):
        if docker("image", "inspect", image, check=False).returncode != 0:
            pytest.exit(f"image {image} is not here: run make cluster-test (it builds both images)", returncode=1)
    root = tmp_path_factory.mktemp("cluster")
    root.chmod(0o755)
    models = copy_image_models(root)
    cluster = Cluster(f"modelhost-test-{os.getpid()}", models, free_port())
    try:
        cluster.compose("up", "-d", "--scale", f"modelhost={REPLICAS}")
        cluster.wait_for_rotation(set(cluster.replicas()), timeout=START_TIMEOUT)
        assert len(cluster.replicas()) == REPLICAS
        deadline = time.monotonic() + 30
        while requests.get(cluster.url + "/health/ready", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "the balancer does not answer /health/ready with 200"
            time.sleep(0.5)
        yield cluster
    finally:
        with contextlib.suppress(AssertionError):
            print(cluster.logs())
        cluster.compose("down", "--remove-orphans", "-t", "20")


@pytest.fixture(scope="session")
def project_root() -> Path:
    """The project's folder: the Makefile and deploy/ are there."""
    return ROOT


@pytest.fixture(scope="session")
def image() -> str:
    """The server's image under test (IMAGE)."""
    return IMAGE


@pytest.fixture(scope="session")
def balancer_image() -> str:
    """The balancer's image under test (BALANCER_IMAGE)."""
    return BALANCER_IMAGE


@pytest.fixture(scope="session")
def poll_seconds() -> int:
    """How often the replicas poll the shared repository."""
    return POLL_SECONDS


@pytest.fixture(name="free_port", scope="session")
def free_port_fixture():
    """:func:`free_port`: a free TCP port on the loopback interface."""
    return free_port


@pytest.fixture
def record() -> Iterator[list[str]]:
    """Lines a test measured; printed in the run's summary (and so in CI's log)."""
    lines: list[str] = []
    yield lines
    RESULTS.extend(lines)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if RESULTS:
        terminalreporter.section("cluster: measured")
        for line in RESULTS:
            terminalreporter.write_line(line)
