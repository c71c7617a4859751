"""CORS through Apache: preflights, the application's answers, and the errors Apache answers itself.

Two containers of the image, both with a 2048-byte body limit so Apache answers 413 itself: one
with ``MODELHOST_CORS_ORIGINS`` set, one without (the default: no CORS headers at all).
Headers are counted on the raw response, where a header Apache and the application both set
would show twice (``requests`` joins repeated headers into one value).
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests
from containers import IMAGE, IRIS, Container, docker, needs_containers

pytestmark = needs_containers

DASH = "https://dash.example.com"
LOCAL = "http://localhost:3000"
LIMIT = 2048
PREDICT = "/v1/models/iris/predict"
EXPOSED = {"x-request-id", "inference-header-content-length", "www-authenticate", "retry-after", "content-encoding"}


def container_with(*env: str) -> Iterator[Container]:
    """A container of the image with these ``NAME=value`` settings, removed afterwards."""
    name = f"modelhost-test-{uuid.uuid4().hex[:8]}"
    docker("run", "--detach", "--name", name, "--publish", "127.0.0.1::8000",
           f"--env=MODELHOST_MAX_CONTENT_LENGTH={LIMIT}", *(f"--env={e}" for e in env), IMAGE)
    try:
        container = Container(name)
        container.wait("/health/ready")
        yield container
    finally:
        result = docker("logs", name, check=False)
        print(f"--- logs of {name} ---\n{result.stdout}{result.stderr}")
        docker("rm", "--force", name, check=False)


@pytest.fixture(scope="module")
def cors() -> Iterator[Container]:
    yield from container_with(f"MODELHOST_CORS_ORIGINS={DASH}, {LOCAL}")


@pytest.fixture(scope="module")
def plain() -> Iterator[Container]:
    yield from container_with()


def values(response: requests.Response, name: str) -> list[str]:
    """Every value of header ``name`` as sent, one per header line."""
    return response.raw.headers.getlist(name)


def listed(response: requests.Response, name: str) -> list[str]:
    """The comma-separated items of every ``name`` header, lower-cased, repeats kept."""
    return [item.strip().lower() for value in values(response, name) for item in value.split(",") if item.strip()]


def cors_headers(response: requests.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


def oversized(url: str, origin: str | None, path: str = PREDICT) -> requests.Response:
    """A JSON body over the limit, with a Content-Length: Apache answers 413 before the application sees it."""
    headers = {"Content-Type": "application/json", "X-Request-ID": f"cors-{uuid.uuid4().hex[:8]}"}
    if origin:
        headers["Origin"] = origin
    response = requests.post(url + path, data=b"x" * (2 * LIMIT), headers=headers, timeout=10)
    assert response.status_code == 413, response.text[:300]
    body = response.json()
    # Apache's own document (errors/problem.json), not the application's: it names the limit so.
    assert body["status"] == 413 and f"{LIMIT} bytes" in body["detail"], body
    assert body["request_id"] == headers["X-Request-ID"] == response.headers["X-Request-ID"]
    return response


def test_a_preflight_is_answered_through_apache(cors: Container) -> None:
    response = requests.options(cors.url + PREDICT, headers={
        "Origin": DASH, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-request-id"}, timeout=10)
    assert response.status_code in (200, 204), response.text[:300]
    assert values(response, "Access-Control-Allow-Origin") == [DASH]
    assert set(listed(response, "Access-Control-Allow-Methods")) == {"get", "post"}
    assert sorted(listed(response, "Access-Control-Allow-Headers")) == ["content-type", "x-request-id"]
    assert values(response, "Access-Control-Max-Age") == ["600"]
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_a_predict_from_an_allowed_origin_has_each_header_once(cors: Container) -> None:
    response = requests.post(cors.url + PREDICT, json=IRIS, headers={"Origin": LOCAL, "Accept-Encoding": "gzip"},
                             timeout=10)
    assert response.status_code == 200 and response.json()["prediction"] == "setosa"
    assert values(response, "Access-Control-Allow-Origin") == [LOCAL]
    assert len(values(response, "Access-Control-Expose-Headers")) == 1
    assert set(listed(response, "Access-Control-Expose-Headers")) == EXPOSED
    # Apache merges its own Vary (compression) with the application's.
    assert listed(response, "Vary").count("origin") == 1 and "accept-encoding" in listed(response, "Vary")
    # The security headers stay: CSP governs our pages, CORS who may read the API's answers.
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "Cross-Origin-Resource-Policy" not in response.headers


def test_another_origin_gets_no_cors_headers(cors: Container) -> None:
    response = requests.post(cors.url + PREDICT, json=IRIS, headers={"Origin": "https://evil.example.com"},
                             timeout=10)
    assert response.status_code == 200 and cors_headers(response) == {}


def test_apaches_own_413_is_readable_by_an_allowed_origin(cors: Container) -> None:
    response = oversized(cors.url, DASH)
    assert values(response, "Access-Control-Allow-Origin") == [DASH]
    assert len(values(response, "Access-Control-Expose-Headers")) == 1
    assert set(listed(response, "Access-Control-Expose-Headers")) == EXPOSED
    assert listed(response, "Vary").count("origin") == 1
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("origin", ["https://evil.example.com", "https://dashxexample.com",
                                    "https://dash.example.com.evil.com", "http://localhost:30000", None])
def test_apaches_own_413_has_no_cors_headers_for_another_origin(cors: Container, origin: str | None) -> None:
    assert cors_headers(oversized(cors.url, origin)) == {}


def test_apaches_own_413_on_a_page_has_no_cors_headers(cors: Container) -> None:
    """As in the application, only the API paths are for other origins."""
    assert cors_headers(oversized(cors.url, DASH, "/ui/models/iris")) == {}


def test_the_api_docs_and_pages_get_no_cors_headers(cors: Container) -> None:
    for path in ("/", "/apidocs/", "/metrics"):
        response = requests.get(cors.url + path, headers={"Origin": DASH}, timeout=10)
        assert response.status_code == 200 and cors_headers(response) == {}, path


def test_without_origins_configured_there_are_no_cors_headers(plain: Container) -> None:
    preflight = requests.options(plain.url + PREDICT, headers={"Origin": DASH, "Access-Control-Request-Method": "POST"},
                                 timeout=10)
    assert preflight.status_code == 200 and cors_headers(preflight) == {}
    predict = requests.post(plain.url + PREDICT, json=IRIS, headers={"Origin": DASH}, timeout=10)
    assert predict.status_code == 200 and cors_headers(predict) == {}
    assert cors_headers(oversized(plain.url, DASH)) == {}
    assert "CORS origins       (none: no CORS headers)" in plain.logs()
