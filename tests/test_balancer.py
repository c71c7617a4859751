"""The front balancer on this host: docker/balancer/balancer-start with Debian's Apache httpd.

The balancer runs in front of stand-in replicas (small HTTP servers on loopback ports): it
checks its settings, sends requests to ready replicas only, passes answers and the request id
through, and answers with a problem document when no replica is ready. The container and the
real replicas are tested by ``make cluster-test`` (integration/cluster/).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
APACHE = Path("/usr/sbin/apache2")

pytestmark = pytest.mark.skipif(not APACHE.exists(), reason="Apache httpd is not installed (apt-get install apache2)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Replica(BaseHTTPRequestHandler):
    """A stand-in replica: ready or not (``server.ready``), answers which replica it is."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (the http.server name)
        if self.path == "/health/ready" and not self.server.ready:  # type: ignore[attr-defined]
            self.answer(503, {"status": "loading"})
        else:
            self.answer(200, {"replica": self.server.name, "path": self.path})  # type: ignore[attr-defined]

    def answer(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps({**body, "request_id": self.headers.get("X-Request-ID")}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Request-ID", self.headers.get("X-Request-ID", ""))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def start_replica(name: str, ready: bool = True) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Replica)
    server.name, server.ready = name, ready  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def balancer_dir() -> Iterator[Path]:
    """A copy of docker/ that Apache's account can read (a checkout under /root may not be)."""
    top = Path(tempfile.mkdtemp(prefix="modelhost-balancer-test-"))
    try:
        top.chmod(0o755)
        docker_dir = top / "docker"
        docker_dir.mkdir()
        shutil.copytree(ROOT / "docker" / "balancer", docker_dir / "balancer")
        shutil.copytree(ROOT / "docker" / "apache", docker_dir / "apache")
        shutil.copy(ROOT / "docker" / "lib.sh", docker_dir / "lib.sh")
        for path in [top, *top.rglob("*")]:
            path.chmod(0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)
        yield docker_dir
    finally:
        shutil.rmtree(top)


def env_for(**settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MODELHOST_")}
    env.update({"MODELHOST_HOST": "127.0.0.1", "MODELHOST_BALANCER_PROCESSES": "1", "MODELHOST_MAX_CLIENTS": "16",
                **settings})
    if os.getuid() == 0:
        env.setdefault("MODELHOST_USER", "www-data")
    return env


def run_start(balancer_dir: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    # Each start makes a server root; in the test's folder, it goes with it.
    settings.setdefault("MODELHOST_SERVER_ROOT", str(balancer_dir.parent))
    return subprocess.run([str(balancer_dir / "balancer" / "balancer-start"), *args], env=env_for(**settings),
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("setting", "value", "message"), [
    ("MODELHOST_BALANCER_REPLICAS", "modelhost", "'modelhost' is not host:port"),
    ("MODELHOST_BALANCER_REPLICAS", "http://modelhost:8000", "is not host:port"),
    ("MODELHOST_BALANCER_REPLICAS", "modelhost:70000", "has a port outside 1-65535"),
    ("MODELHOST_BALANCER_REPLICAS", " , ", "MODELHOST_BALANCER_REPLICAS is empty"),
    ("MODELHOST_BALANCER_CHECK_INTERVAL", "0", "MODELHOST_BALANCER_CHECK_INTERVAL must be at least 1"),
    ("MODELHOST_BALANCER_DISCOVERY_SECONDS", "soon", "must be a whole number"),
    ("MODELHOST_CORS_ORIGINS", "https://a.example.com/", "is not an origin"),
])
def test_bad_settings_stop_the_start_with_a_message(balancer_dir: Path, setting: str, value: str,
                                                    message: str) -> None:
    result = run_start(balancer_dir, "-t", **{setting: value, "MODELHOST_PORT": str(free_port())})
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr


def test_the_configuration_is_valid_for_apache(balancer_dir: Path) -> None:
    replica = start_replica("a")
    try:
        result = run_start(balancer_dir, "-t", MODELHOST_PORT=str(free_port()),
                           MODELHOST_BALANCER_REPLICAS=f"127.0.0.1:{replica.server_port}",
                           MODELHOST_BALANCER_DISCOVERY_SECONDS="0")
    finally:
        replica.shutdown()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Syntax OK" in result.stderr
    assert f"members now        localhost:{replica.server_port}" in result.stdout


@pytest.fixture
def running_balancer(balancer_dir: Path) -> Iterator[tuple[str, list[ThreadingHTTPServer]]]:
    """A balancer in front of replicas a and b (ready) and c (not ready), rediscovering every second."""
    replicas = [start_replica("a"), start_replica("b"), start_replica("c", ready=False)]
    port = free_port()
    members = ",".join(f"127.0.0.1:{replica.server_port}" for replica in replicas)
    process = subprocess.Popen([str(balancer_dir / "balancer" / "balancer-start")], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True,
                               env=env_for(MODELHOST_PORT=str(port), MODELHOST_BALANCER_REPLICAS=members,
                                           MODELHOST_BALANCER_DISCOVERY_SECONDS="1",
                                           MODELHOST_SERVER_ROOT=str(balancer_dir.parent)))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(url + "/health/live", timeout=2)
                break
            except requests.ConnectionError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "the balancer did not start"
                time.sleep(0.2)
        yield url, replicas
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)
        for replica in replicas:
            replica.shutdown()


def test_requests_reach_the_ready_replicas_only_with_their_request_id(running_balancer) -> None:
    url, _ = running_balancer
    with requests.Session() as session:
        answers = [session.get(f"{url}/v1/models", headers={"X-Request-ID": f"id-{i}"}, timeout=5)
                   for i in range(40)]
    assert all(answer.status_code == 200 for answer in answers)
    assert {answer.json()["replica"] for answer in answers} == {"a", "b"}
    assert [answer.headers["X-Request-ID"] for answer in answers] == [f"id-{i}" for i in range(40)]
    assert all(answer.json()["request_id"] == f"id-{i}" for i, answer in enumerate(answers))
    # Without an id, the balancer makes one and the replica receives it.
    answer = requests.get(f"{url}/v1/models", timeout=5)
    assert answer.json()["request_id"] and answer.headers["X-Request-ID"] == answer.json()["request_id"]


def test_a_replica_that_becomes_ready_joins(running_balancer) -> None:
    url, replicas = running_balancer
    replicas[2].ready = True  # type: ignore[attr-defined]
    deadline = time.monotonic() + 20
    seen: set[str] = set()
    while "c" not in seen:
        assert time.monotonic() < deadline, f"replica c did not join; answers came from {seen}"
        seen.add(requests.get(f"{url}/v1/models", timeout=5).json()["replica"])
        time.sleep(0.05)


def test_with_no_replica_ready_the_answer_is_a_problem_document(running_balancer) -> None:
    url, replicas = running_balancer
    for replica in replicas[:2]:
        replica.ready = False  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while (answer := requests.get(f"{url}/v1/models", headers={"X-Request-ID": "none-ready"},
                                  timeout=5)).status_code != 503:
        assert time.monotonic() < deadline, f"still {answer.status_code} with every replica out: {answer.text}"
        time.sleep(0.2)
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["status"] == 503 and problem["request_id"] == "none-ready"
    assert problem["detail"].startswith("No replica is ready to answer")
    assert problem["instance"] == "/v1/models"


# --- Settings that Apache's configuration reads ------------------------------------------------

@pytest.mark.parametrize(("setting", "value", "message"), [
    ("MODELHOST_HOST", "127.0.0.1\nHeader always set X-Injected yes",
     "MODELHOST_HOST must be an IP address or a host name, got $'127.0.0.1\\nHeader always set X-Injected yes'; "
     "set it to an address such as 0.0.0.0"),
    ("MODELHOST_HOST", "0.0.0.0 8001", "MODELHOST_HOST must be an IP address or a host name, got '0.0.0.0 8001'"),
    ("MODELHOST_HOST", "[::1", "MODELHOST_HOST must be an IP address or a host name, got '[::1'"),
    ("MODELHOST_APACHE_LOG_LEVEL", "warn\nHeader always set X-Injected yes",
     "MODELHOST_APACHE_LOG_LEVEL must be Apache's LogLevel on one line, got $'warn\\nHeader always set X-Injected "
     "yes'; set it to an Apache log level (emerg, alert, crit, error, warn, notice, info, debug, trace1 to trace8)"),
    ("MODELHOST_APACHE_LOG_LEVEL", "warn proxy:loud", "MODELHOST_APACHE_LOG_LEVEL: 'proxy:loud' is not a log level"),
    ("MODELHOST_SERVER_ROOT", "{tmp}/it's", "MODELHOST_SERVER_ROOT must be a path of letters, digits and . _ - + @ / "
                                            "only (Apache's configuration reads it), got '{tmp}/it's'; set"),
])
def test_a_setting_that_would_add_to_apaches_configuration_is_refused(balancer_dir: Path, tmp_path: Path,
                                                                      setting: str, value: str, message: str) -> None:
    root = tmp_path / "roots"
    root.mkdir()
    settings = {"MODELHOST_PORT": str(free_port()), "MODELHOST_SERVER_ROOT": str(root),
                setting: value.format(tmp=tmp_path)}
    result = run_start(balancer_dir, "-t", **settings)
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("balancer-start: ") and message.format(tmp=tmp_path) in line, line
    assert result.stdout == "" and list(root.iterdir()) == [] and not list(tmp_path.glob("it*")), \
        "refused before anything was written"


@pytest.mark.skipif(os.getuid() != 0, reason="MODELHOST_USER and MODELHOST_GROUP apply when started as root")
@pytest.mark.parametrize(("setting", "value", "message"), [
    ("MODELHOST_USER", "33", "MODELHOST_USER must be the name of an account (letters, digits, _ . -; not a number), "
                             "got '33'; set it to one that getent passwd lists"),
    ("MODELHOST_USER", "no-such-user-mh", "MODELHOST_USER: there is no account 'no-such-user-mh' on this system"),
    ("MODELHOST_GROUP", "no-such-group-mh", "MODELHOST_GROUP: there is no group 'no-such-group-mh' on this system "
                                            "(getent group no-such-group-mh finds none); set it to one that getent"),
    ("MODELHOST_GROUP", "www-data\nGroup root", "MODELHOST_GROUP must be the name of a group"),
])
def test_an_account_that_is_not_one_of_this_system_is_refused(balancer_dir: Path, tmp_path: Path, setting: str,
                                                              value: str, message: str) -> None:
    result = run_start(balancer_dir, "-t", MODELHOST_PORT=str(free_port()), MODELHOST_SERVER_ROOT=str(tmp_path),
                       **{setting: value})
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == [], "refused before the server root was made"


@pytest.mark.parametrize(("host", "listen"), [("::1", "[::1]"), ("::", "[::]"), ("[::]", "[::]"),
                                              ("localhost", "localhost")])
def test_ipv6_addresses_and_host_names_are_accepted(balancer_dir: Path, tmp_path: Path, host: str,
                                                    listen: str) -> None:
    port = free_port()
    result = run_start(balancer_dir, "-t", MODELHOST_PORT=str(port), MODELHOST_HOST=host,
                       MODELHOST_SERVER_ROOT=str(tmp_path), MODELHOST_APACHE_LOG_LEVEL="warn proxy:info",
                       MODELHOST_BALANCER_REPLICAS="127.0.0.1:1", MODELHOST_BALANCER_DISCOVERY_SECONDS="0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Syntax OK" in result.stderr
    assert f"listen             http://{listen}:{port}/" in result.stdout
    assert "logs               Apache level warn proxy:info" in result.stdout


def test_a_replica_whose_reverse_name_is_not_a_host_name_is_written_by_its_address(balancer_dir: Path,
                                                                                   tmp_path: Path) -> None:
    """The reverse lookup's answer comes from whoever runs the DNS or /etc/hosts: members.conf gets
    the address instead of a name that would end the BalancerMember's quoted URL."""
    replica = start_replica("a")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    getent = bin_dir / "getent"
    getent.write_text('#!/usr/bin/env bash\n'
                      'case $1 in\n'
                      '    ahostsv4) echo "127.0.0.1       STREAM $2" ;;\n'
                      '    hosts) echo "127.0.0.1       evil\\"name\\"timeout=1" ;;\n'
                      '    *) exec /usr/bin/getent "$@" ;;\n'
                      'esac\n')
    getent.chmod(0o755)
    try:
        result = run_start(balancer_dir, "-t", MODELHOST_PORT=str(free_port()), MODELHOST_SERVER_ROOT=str(tmp_path),
                           MODELHOST_BALANCER_REPLICAS=f"replica.test:{replica.server_port}",
                           MODELHOST_BALANCER_DISCOVERY_SECONDS="0", PATH=f"{bin_dir}:{os.environ['PATH']}")
    finally:
        replica.shutdown()
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"members now        127.0.0.1:{replica.server_port}" in result.stdout
    [members] = tmp_path.glob("modelhost-balancer.*/members.conf")
    [line] = [line for line in members.read_text().splitlines() if line.startswith("BalancerMember")]
    assert line.startswith(f'BalancerMember "http://127.0.0.1:{replica.server_port}" ') and "evil" not in line
