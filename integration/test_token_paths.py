"""The bearer tokens through Apache: no spelling of a path, and no method, gets past them.

Apache decodes, merges and refuses paths before the application sees them (encoded slashes,
doubled slashes, dot segments), so the checks of the application are tried again here, through
a container of its own started with both tokens, the request line sent byte for byte.
"""
from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from urllib.parse import urlsplit

from containers import IRIS, Container, needs_containers

pytestmark = needs_containers

API, ADMIN = "api-secret-271828", "admin-secret-314159"
VARIANTS = ["/v1/models", "/v1/models/", "/V1/models", "/v1%2Fmodels", "/v1%2fmodels", "/v1/models/iris%2Fversions%2F1",
            "/v1/%2e/models", "/v1/./models", "/v1/models/../models", "/v1/models/%2e%2e/models", "//v1/models",
            "/v1//models", "/v1/models/iris", "/v1/models/iris%3apredict", "/v1/models/iris%3Apredict",
            "/v1/models/iris/predict", "/v1/models/iris/predict/", "/v1/models/%69ris/predict", "/v2/models/iris",
            "/v2//models/iris", "/v2/models/iris/infer", "/v2/models/iris/ready", "/v1/repository",
            "/v1/repository/reload", "/v1/repository/reload/"]


def send(container: Container, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    """One request with the path exactly as given; the status and the headers of the answer."""
    where = urlsplit(container.url)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
    try:
        body = json.dumps({"instances": [IRIS]}).encode() if method == "POST" else None
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in {**headers, "Content-Type": "application/json",
                            "Content-Length": str(len(body or b""))}.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        response.read()
        return response.status, dict(response.getheaders())
    finally:
        connection.close()


def test_no_spelling_of_a_path_answers_without_the_token(start_container: Callable[..., Container]) -> None:
    container = start_container(env={"MODELHOST_API_TOKEN": API, "MODELHOST_ADMIN_TOKEN": ADMIN})
    container.wait("/health/ready")
    answered = []
    for path in VARIANTS:
        for method in ("GET", "HEAD", "POST", "OPTIONS"):
            for authorization in (None, "Bearer wrong", f"Basic {API}", API):
                headers = {"Authorization": authorization} if authorization else {}
                status, answer = send(container, method, path, headers)
                if 200 <= status < 300:
                    answered.append((method, path, authorization, status))
                elif 300 <= status < 400:
                    target = urlsplit(answer["Location"])
                    status, _ = send(container, method, target.path + (f"?{target.query}" if target.query else ""),
                                     headers)
                    if 200 <= status < 300:
                        answered.append((method, path, authorization, "redirected", status))
    assert answered == []
    bearer = {"Authorization": f"Bearer {API}"}
    assert send(container, "GET", "/v1/models", bearer)[0] == 200
    assert send(container, "POST", "/v1/models/iris%3apredict", bearer)[0] == 200
    assert send(container, "POST", "/v1/repository/reload", {})[0] == 401
    assert send(container, "POST", "/v1/repository/reload", bearer)[0] == 403
    assert send(container, "POST", "/v1/repository/reload", {"Authorization": f"Bearer {ADMIN}"})[0] == 200
