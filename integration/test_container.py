"""Behaviour of the container image itself: user, signals, read-only root, mounted models,
an application process killed under load, and what Apache answers before a request reaches
the application.

Each test starts its own container of ``MODELHOST_IMAGE`` (default ``modelhost:latest``) on a
free loopback port with the docker CLI (``start_container``, conftest.py), and removes it
afterwards. The module is skipped when the docker CLI or the image is missing (``make
integration`` builds the image first), and when ``MODELHOST_CONTAINER_TESTS=off`` (``make
integration`` with a BASE_URL of your own): see containers.py.
"""
from __future__ import annotations

import json
import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from containers import IMAGE, IRIS, Container, Load, docker, needs_containers, wait_for_app_processes

pytestmark = needs_containers


@pytest.fixture(scope="module")
def shared() -> Iterator[Container]:
    """One container with a small body limit, for the tests that only send requests."""
    name = f"modelhost-test-{uuid.uuid4().hex[:8]}"
    docker("run", "--detach", "--name", name, "--publish", "127.0.0.1::8000",
           "--env=MODELHOST_MAX_CONTENT_LENGTH=2048", IMAGE)
    try:
        container = Container(name)
        container.wait("/health/ready")
        yield container
    finally:
        docker("rm", "--force", name, check=False)


def assert_apache_problem(response: requests.Response, status: int) -> dict[str, Any]:
    """An RFC 9457 problem document, never Apache's HTML error page."""
    assert response.status_code == status, response.text[:300]
    assert response.headers["Content-Type"].split(";")[0] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["type"] == "about:blank"
    assert body["title"] and body["detail"]
    assert "<html" not in response.text.lower()
    return body


def test_image_runs_as_a_non_root_user() -> None:
    user = docker("image", "inspect", "-f", "{{.Config.User}}", IMAGE).stdout.strip()
    assert user and user.split(":")[0] not in ("root", "0"), f"image USER is {user!r}"


def test_no_process_in_the_container_runs_as_root(start_container) -> None:
    container = start_container()
    uids = json.loads(container.exec_python(
        "import json, os\n"
        "uids = {}\n"
        "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
        "    try:\n"
        "        lines = open(f'/proc/{pid}/status').read().splitlines()\n"
        "    except OSError:\n"
        "        continue\n"
        "    fields = dict(line.split(':', 1) for line in lines if ':' in line)\n"
        "    uids[pid] = [fields['Name'].strip(), int(fields['Uid'].split()[0])]\n"
        "print(json.dumps(uids))\n"
    ))
    assert uids["1"][0].startswith("apache2"), f"PID 1 is {uids['1']}, not Apache"
    assert all(uid != 0 for _, uid in uids.values()), uids


def test_docker_stop_is_clean_and_under_10_seconds(start_container) -> None:
    container = start_container()
    container.wait("/health/ready")
    started = time.monotonic()
    docker("stop", container.name, timeout=30)
    elapsed = time.monotonic() - started
    exit_code = docker("inspect", "-f", "{{.State.ExitCode}}", container.name).stdout.strip()
    assert elapsed < 10, f"docker stop took {elapsed:.1f} s"
    assert exit_code == "0", f"exit code {exit_code} (137 means it had to be killed)"
    # The image's STOPSIGNAL: Apache's graceful stop, which lets running requests finish.
    assert "caught SIGWINCH, shutting down gracefully" in container.logs()


PROCESS_COMMANDS = (
    "import json, os\n"
    "names = []\n"
    "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
    "    try:\n"
    "        names.append(open(f'/proc/{pid}/cmdline').read().split('\\0')[0])\n"
    "    except OSError:\n"
    "        continue\n"
    "print(json.dumps(names))\n"
)


@pytest.mark.parametrize("mode, daemons", [("embedded", 0), ("daemon", 2)])
def test_both_wsgi_modes_serve_predictions(start_container, mode: str, daemons: int) -> None:
    """Embedded (default): Apache's processes run the app; daemon: two mod_wsgi daemon processes do."""
    container = start_container(env={} if mode == "embedded" else {"MODELHOST_WSGI_MODE": mode})
    container.wait("/health/ready")
    response = requests.post(container.url + "/v1/models/iris/predict", json={"instances": [IRIS] * 3}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == ["setosa"] * 3
    names = json.loads(container.exec_python(PROCESS_COMMANDS))
    assert sum(name.startswith("(wsgi:") for name in names) == daemons, names
    assert f"({mode} mode)" in container.logs()


#: Client threads of the fault test; each has one request in flight at a time.
CLIENTS = 8


@pytest.mark.parametrize("mode", ["embedded", "daemon"])
def test_a_killed_application_process_comes_back_and_only_its_requests_fail(start_container, mode: str) -> None:
    """kill -9 of one process that runs the app, under load: the rest keep answering, and it is replaced."""
    container = start_container(env={} if mode == "embedded" else {"MODELHOST_WSGI_MODE": mode})
    container.wait("/health/ready")
    with Load(container.url, CLIENTS) as load:
        load.wait_for_successes(CLIENTS * 5)
        before = wait_for_app_processes(container, count=2)
        assert load.failures == [], load.failures
        victim = max(before)
        container.exec_python(f"import os, signal; os.kill({victim}, signal.SIGKILL)")
        answered_at_kill = load.successes
        after = wait_for_app_processes(container, count=len(before), without=victim)
        # The others kept answering while it was replaced, and the replacement answers too.
        load.wait_for_successes(answered_at_kill + CLIENTS * 20)
    assert docker("inspect", "-f", "{{.State.Running}}", container.name).stdout.strip() == "true"
    assert set(after) - set(before), f"no new process: before {before}, after {after}"
    # Each client has one request in flight at a time, so the kill can cost each at most one.
    per_client = Counter(client for client, _ in load.failures)
    assert all(count <= 1 for count in per_client.values()), load.failures
    assert len(load.failures) <= CLIENTS, load.failures
    # New connections, spread over every process's listener, are answered.
    for _ in range(20):
        response = requests.post(container.url + "/v1/models/iris/predict", json=IRIS,
                                 headers={"Connection": "close"}, timeout=60)
        assert response.status_code == 200 and response.json()["prediction"] == "setosa", response.text


def test_read_only_root_filesystem_still_serves(start_container) -> None:
    container = start_container("--read-only", "--tmpfs", "/tmp")
    container.wait("/health/ready")
    assert requests.get(container.url + "/health/ready", timeout=10).status_code == 200
    response = requests.post(container.url + "/v1/models/iris/predict", json=IRIS, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["prediction"] == "setosa"


def test_mounted_repository_with_a_corrupt_model(start_container, model_repository: Path) -> None:
    # The demo models copied out of the image, then one of them broken.
    repository = model_repository
    artifacts = [p for p in (repository / "iris" / "1").iterdir() if p.stem == "model" and p.suffix != ".json"]
    assert artifacts, "no iris artifact found in the image's /models"
    artifacts[0].write_bytes(b"this is not a model")

    container = start_container("--volume", f"{repository}:/models:ro")
    container.wait("/health/ready")
    ready = requests.get(container.url + "/health/ready", timeout=10)
    assert ready.status_code == 503, ready.text
    statuses = {model["name"]: model["status"] for model in ready.json()["models"]}
    assert statuses["iris"] != "ready" and statuses["diabetes"] == "ready", statuses
    assert requests.post(container.url + "/v1/models/iris/predict", json=IRIS, timeout=10).status_code == 503
    features = requests.get(container.url + "/v1/models/diabetes", timeout=10).json()["features"]
    response = requests.post(container.url + "/v1/models/diabetes/predict",
                             json={"instances": [[0.0] * len(features)]}, timeout=10)
    assert response.status_code == 200, response.text


def test_server_header_has_no_version_and_security_headers_are_set(shared: Container) -> None:
    response = requests.get(shared.url + "/v1/models", timeout=10)
    assert response.headers["Server"] == "Apache"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    docs = requests.get(shared.url + "/apidocs/", timeout=10)
    assert "'unsafe-inline'" in docs.headers["Content-Security-Policy"]  # Swagger UI's inline script


def test_json_is_compressed_when_asked(shared: Container) -> None:
    response = requests.get(shared.url + "/v1/models", headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert response.headers.get("Content-Encoding") == "gzip"
    assert response.json()["models"]


def test_body_over_the_limit_is_a_413_problem_from_apache(shared: Container) -> None:
    response = requests.post(shared.url + "/v1/models/iris/predict", data=b"x" * 4096,
                             headers={"Content-Type": "application/json", "X-Request-ID": "limit-test-1"},
                             timeout=10)
    body = assert_apache_problem(response, 413)
    assert "2048 bytes" in body["detail"]
    assert body["instance"] == "/v1/models/iris/predict"
    assert body["request_id"] == "limit-test-1" == response.headers["X-Request-ID"]


def test_chunked_bodies_are_served_and_held_to_the_limit(shared: Container) -> None:
    small = b'{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}'
    ok = requests.post(shared.url + "/v1/models/iris/predict", data=iter([small[:20], small[20:]]),
                       headers={"Content-Type": "application/json"}, timeout=10)
    assert ok.status_code == 200 and ok.json()["prediction"] == "setosa"
    # Far past the limit, so Apache must not count it too (that gave two documents in one body).
    big = iter([b"x" * 65536] * 64)
    response = requests.post(shared.url + "/v1/models/iris/predict", data=big,
                             headers={"Content-Type": "application/json", "X-Request-ID": "chunk-1"}, timeout=10)
    assert response.status_code == 413 and response.headers["Content-Type"] == "application/problem+json"
    body = response.json()  # exactly one JSON document
    assert body["status"] == 413 and "2048 bytes" in body["detail"] and body["request_id"] == "chunk-1"


def test_malformed_request_is_a_400_problem(shared: Container) -> None:
    host, port = shared.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nno colon in this header\r\n\r\n")
        reply = b""
        while chunk := raw.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), head
    assert b"Content-Type: application/problem+json" in head
    assert json.loads(body)["status"] == 400


def test_server_status_only_from_inside_the_container(shared: Container) -> None:
    assert_apache_problem(requests.get(shared.url + "/server-status", timeout=10), 403)
    inside = shared.exec_python(
        "import urllib.request\n"
        "print(urllib.request.urlopen('http://127.0.0.1:8000/server-status?auto', timeout=5).read().decode())"
    )
    assert "BusyWorkers" in inside


def test_api_token_from_the_environment_guards_the_api(start_container) -> None:
    container = start_container(env={"MODELHOST_API_TOKEN": "integration-secret"})
    predict = container.url + "/v1/models/iris/predict"
    missing = requests.post(predict, json=IRIS, timeout=10)
    assert missing.status_code == 401 and missing.headers["Content-Type"] == "application/problem+json"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = requests.post(predict, json=IRIS, headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401 and wrong.json()["status"] == 401
    right = requests.post(predict, json=IRIS, headers={"Authorization": "Bearer integration-secret"}, timeout=10)
    assert right.status_code == 200 and right.json()["prediction"] == "setosa"
    assert requests.get(container.url + "/health/ready", timeout=10).status_code == 200
    assert "integration-secret" not in container.logs()
