"""The bearer tokens hold on every spelling of a path: encoded, doubled, cased, with or without a slash.

No request without the right token may get an answer of the API (a 2xx), nor a redirect to one
that is answered without it. The reload operation takes the admin token only.
"""
from __future__ import annotations

import pytest

from app import create_app

API, ADMIN = "api-secret-271828", "admin-secret-314159"
#: Spellings of the API's paths a client could try to slip past a check written for the plain one.
VARIANTS = ["/v1/models", "/v1/models/", "/V1/models", "/v1%2Fmodels", "/v1/models/iris%2Fversions%2F2",
            "/v1/%2e/models", "/v1/models/%2e%2e/models", "//v1/models", "/v1//models", "/v1/models/iris",
            "/v1/models/iris/versions/2/ready", "/v1/models/iris%3apredict", "/v1/models/iris%3Apredict",
            "/v1/models/iris/predict", "/v1/models/iris/predict/", "/v2/models/iris", "/v2//models/iris",
            "/v2/models/iris/", "/v2/models/iris/infer", "/v2/models/iris/ready", "/v1/repository",
            "/v1/repository/", "/v1/repository/reload"]
WITHOUT = [None, "Bearer wrong", "Basic YXBpOmFwaS1zZWNyZXQtMjcxODI4", f"bearer  {API}x", API]


@pytest.fixture
def guarded(repo):
    return create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "API_TOKEN": API,
                       "ADMIN_TOKEN": ADMIN}).test_client()


@pytest.mark.parametrize("path", VARIANTS)
@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "OPTIONS"])
def test_no_spelling_of_a_path_answers_without_the_token(guarded, path, method):
    for authorization in WITHOUT:
        headers = {"Authorization": authorization} if authorization else {}
        body = {"instances": [[5.0, 3.4, 1.5, 0.2]]} if method == "POST" else None
        response = guarded.open(path, method=method, json=body, headers=headers)
        assert not 200 <= response.status_code < 300, (method, path, authorization, response.status_code)
        if 300 <= response.status_code < 400:  # Werkzeug's redirect of a doubled slash: not answered either
            target = guarded.open(response.headers["Location"], method=method, json=body, headers=headers)
            assert target.status_code in (401, 404, 405), (method, path, target.status_code)


def test_the_api_token_opens_the_api_and_only_the_admin_token_reloads(guarded):
    api = {"Authorization": f"Bearer {API}"}
    assert guarded.get("/v1/models", headers=api).status_code == 200
    assert guarded.post("/v1/models/iris%3apredict", json={"instances": [[5.0, 3.4, 1.5, 0.2]]},
                        headers=api).status_code == 200
    assert guarded.post("/v1/repository/reload").status_code == 401
    assert guarded.post("/v1/repository/reload", headers=api).status_code == 403
    assert guarded.post("/v1/repository/reload", headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 200


def test_a_preflight_is_the_only_request_without_a_token_and_it_answers_no_data(repo):
    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "API_TOKEN": API,
                         "CORS_ORIGINS": "https://dash.example.com"}).test_client()
    # OPTIONS without the preflight's headers is an ordinary request: it needs the token.
    assert client.options("/v1/models").status_code == 401
    preflight = client.options("/v1/models/iris/predict", headers={
        "Origin": "https://dash.example.com", "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 200 and preflight.get_data() == b""
