"""Fixtures of the integration suite: the server's base URL, an HTTP session to it, and containers.

The suite never imports ``app``: it speaks HTTP to ``BASE_URL`` (default
``http://127.0.0.1:8000``) like any client would, so it runs unchanged against the container
(``make integration``) or a host ``make run``. The tests of the image itself start containers
of their own with ``start_container`` (helpers in containers.py).
"""
from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from containers import IMAGE, Container, copy_image_models, docker

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
#: Seconds to wait for /health/live before giving up on the whole session.
STARTUP_TIMEOUT = 30.0
#: Seconds any one request may take unless a test says otherwise.
REQUEST_TIMEOUT = 10.0


class TimeoutSession(requests.Session):
    """A session whose requests time out after ``REQUEST_TIMEOUT`` unless told otherwise."""

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", REQUEST_TIMEOUT)
        return super().request(method, url, **kwargs)


@pytest.fixture(scope="session")
def base_url() -> str:
    """The server under test, without a trailing slash."""
    return os.environ.get("BASE_URL", DEFAULT_BASE_URL).rstrip("/")


@pytest.fixture(scope="session")
def session() -> Iterator[requests.Session]:
    """A keep-alive session; sends the bearer token when MODELHOST_TEST_TOKEN is set."""
    with TimeoutSession() as http:
        token = os.environ.get("MODELHOST_TEST_TOKEN")
        if token:
            http.headers["Authorization"] = f"Bearer {token}"
        yield http


@pytest.fixture(scope="session", autouse=True)
def server_is_live(base_url: str) -> None:
    """Fail the session early, with a clear message, when nothing answers at BASE_URL."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last = "no attempt made"
    while time.monotonic() < deadline:
        try:
            response = requests.get(f"{base_url}/health/live", timeout=2)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.5)
    # One clear message and a failing exit status, instead of the same error on every test.
    pytest.exit(f"The server at {base_url} did not answer GET /health/live with 200 within "
                f"{STARTUP_TIMEOUT:.0f} s (last: {last}). Start it (make run / make docker-run) or set "
                "BASE_URL to where it listens.", returncode=1)


@pytest.fixture
def start_container() -> Iterator[Callable[..., Container]]:
    """Factory: start a container with extra ``docker run`` options; all are removed at the end."""
    names: list[str] = []

    def start(*options: str, env: dict[str, str] | None = None, wait: bool = True) -> Container:
        name = f"modelhost-test-{uuid.uuid4().hex[:8]}"
        env_options = [f"--env={key}={value}" for key, value in (env or {}).items()]
        docker("run", "--detach", "--name", name, "--publish", "127.0.0.1::8000",
               *env_options, *options, IMAGE)
        names.append(name)
        container = Container(name)
        if wait:
            container.wait()
        return container

    yield start
    for name in names:
        # pytest shows this captured output only when the test failed.
        result = docker("logs", name, check=False)
        print(f"--- logs of {name} ---\n{result.stdout}{result.stderr}")
        docker("rm", "--force", name, check=False)


@pytest.fixture
def model_repository(tmp_path: Path) -> Path:
    """A writable copy of the image's demo models (iris, breast_cancer, diabetes), to mount at /models."""
    return copy_image_models(tmp_path)
