"""CORS for browser front-ends of other origins: which paths, origins, methods and headers, and the config.

The start script turns MODELHOST_CORS_ORIGINS into the pattern Apache matches its own error documents
against: tests/launch/test_cors_start.py.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from app import create_app

DASH = "https://dash.example.com"
LOCAL = "http://localhost:3000"
PREDICT = "/v1/models/iris/predict"
EXPOSED = {"x-request-id", "inference-header-content-length", "www-authenticate", "retry-after", "content-encoding"}
REQUESTABLE = ["Content-Type", "X-Request-ID", "Inference-Header-Content-Length", "Content-Encoding"]


def cors_app(repo: Path, **config):
    return create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "CORS_ORIGINS": f"{DASH}, {LOCAL}", **config})


def preflight(client, path: str = PREDICT, origin: str = DASH, method: str = "POST",
              headers: str = "content-type, x-request-id"):
    return client.options(path, headers={"Origin": origin, "Access-Control-Request-Method": method,
                                         "Access-Control-Request-Headers": headers})


def listed(value: str | None) -> set[str]:
    """A comma-separated header value as a set of lower-case names."""
    return {item.strip().lower() for item in (value or "").split(",") if item.strip()}


def cors_headers(response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


# --- Off by default -------------------------------------------------------------------------

def test_no_cors_headers_when_no_origin_is_configured(client, setosa):
    assert client.application.config["CORS_ORIGINS"] == []
    answer = preflight(client)
    assert answer.status_code == 200 and cors_headers(answer) == {}
    response = client.post(PREDICT, json=setosa, headers={"Origin": DASH})
    assert response.status_code == 200 and cors_headers(response) == {}
    assert "origin" not in listed(response.headers.get("Vary"))


# --- Origins --------------------------------------------------------------------------------

@pytest.mark.parametrize("origin", [DASH, LOCAL, "HTTPS://Dash.Example.com"])
def test_an_allowed_origin_may_read_the_answer(repo, origin, setosa):
    response = cors_app(repo).test_client().post(PREDICT, json=setosa, headers={"Origin": origin})
    assert response.status_code == 200 and response.get_json()["prediction"] == "setosa"
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert listed(response.headers["Access-Control-Expose-Headers"]) == EXPOSED
    assert "origin" in listed(response.headers["Vary"])
    assert "Access-Control-Allow-Credentials" not in response.headers


@pytest.mark.parametrize("origin", ["https://evil.example.com", "http://dash.example.com", "https://dash.example.com:8443",
                                    "https://dashxexample.com", "https://dash.example.com.evil.com", "null"])
def test_another_origin_gets_no_cors_headers(repo, origin, setosa):
    client = cors_app(repo).test_client()
    response = client.post(PREDICT, json=setosa, headers={"Origin": origin})
    assert response.status_code == 200 and cors_headers(response) == {}
    # The answer depends on the Origin all the same: caches must not hand it to an allowed one.
    assert "origin" in listed(response.headers["Vary"])
    assert cors_headers(preflight(client, origin=origin)) == {}


def test_a_request_without_origin_gets_no_cors_headers_but_vary(repo):
    response = cors_app(repo).test_client().get("/v1/models")
    assert cors_headers(response) == {} and "origin" in listed(response.headers["Vary"])


def test_the_wildcard_echoes_any_origin(repo):
    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "CORS_ORIGINS": "*"}).test_client()
    response = client.get("/v1/models", headers={"Origin": "https://anyone.example.org"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://anyone.example.org"
    assert "Access-Control-Allow-Credentials" not in response.headers
    # No Origin, no CORS request: not even "*" (flask-cors's default would send it).
    assert cors_headers(client.get("/v1/models")) == {}


def test_an_ipv6_origin_is_matched_as_text(repo):
    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo),
                         "CORS_ORIGINS": ["http://[::1]:3000"]}).test_client()
    assert client.get("/v1/models", headers={"Origin": "http://[::1]:3000"}).headers[
        "Access-Control-Allow-Origin"] == "http://[::1]:3000"
    # Read as a regular expression, "[::1]" would be a class of ':' and '1'.
    assert cors_headers(client.get("/v1/models", headers={"Origin": "http://1:3000"})) == {}


# --- Preflights -----------------------------------------------------------------------------

def test_a_preflight_is_answered_with_methods_headers_and_max_age(repo):
    answer = preflight(cors_app(repo).test_client(), headers=", ".join(REQUESTABLE + ["Authorization"]))
    assert answer.status_code in (200, 204)
    assert answer.headers["Access-Control-Allow-Origin"] == DASH
    assert listed(answer.headers["Access-Control-Allow-Methods"]) == {"get", "post"}
    # Without a token there is no Authorization to send, so the browser is not told it may.
    assert listed(answer.headers["Access-Control-Allow-Headers"]) == {h.lower() for h in REQUESTABLE}
    assert answer.headers["Access-Control-Max-Age"] == "600"
    assert "Access-Control-Allow-Credentials" not in answer.headers
    assert "origin" in listed(answer.headers["Vary"])


@pytest.mark.parametrize("token", ["API_TOKEN", "ADMIN_TOKEN"])
def test_a_preflight_passes_the_token_check_and_allows_authorization(repo, token):
    client = cors_app(repo, **{token: "s3cret"}).test_client()
    answer = preflight(client, headers="authorization, content-type")
    assert answer.status_code in (200, 204), answer.get_data(as_text=True)
    assert answer.headers["Access-Control-Allow-Origin"] == DASH
    assert listed(answer.headers["Access-Control-Allow-Headers"]) == {"authorization", "content-type"}


def test_a_preflight_for_another_method_or_header_is_not_granted(repo):
    client = cors_app(repo).test_client()
    refused = preflight(client, method="DELETE")
    assert "Access-Control-Allow-Methods" not in refused.headers
    assert "x-secret" not in listed(preflight(client, headers="x-secret").headers.get("Access-Control-Allow-Headers"))


def test_the_token_is_still_required_on_the_request_itself(repo, setosa):
    client = cors_app(repo, API_TOKEN="s3cret").test_client()
    assert client.post(PREDICT, json=setosa, headers={"Origin": DASH}).status_code == 401
    response = client.post(PREDICT, json=setosa, headers={"Origin": DASH, "Authorization": "Bearer s3cret"})
    assert response.status_code == 200 and response.headers["Access-Control-Allow-Origin"] == DASH


# --- Errors are readable --------------------------------------------------------------------

def test_error_answers_carry_the_cors_headers(repo, setosa):
    app = cors_app(repo, API_TOKEN="s3cret", MAX_CONTENT_LENGTH=1024)

    def fail() -> None:
        raise RuntimeError("boom")

    app.add_url_rule("/v1/fail", view_func=fail)
    client = app.test_client()
    auth = {"Origin": DASH, "Authorization": "Bearer s3cret"}
    answers = {
        401: client.post(PREDICT, json=setosa, headers={"Origin": DASH}),
        400: client.post(PREDICT, data="{not json", content_type="application/json", headers=auth),
        404: client.get("/v1/models/nope", headers=auth),
        405: client.get(PREDICT, headers=auth),
        413: client.post(PREDICT, data=b"x" * 4096, content_type="application/json", headers=auth),
        415: client.post(PREDICT, data="a,b", content_type="text/plain", headers=auth),
        500: client.get("/v1/fail", headers=auth),
    }
    for status, response in answers.items():
        assert response.status_code == status, (status, response.get_data(as_text=True))
        assert response.mimetype == "application/problem+json"
        assert response.headers.get("Access-Control-Allow-Origin") == DASH, status
        assert listed(response.headers["Access-Control-Expose-Headers"]) == EXPOSED
    assert answers[401].headers["WWW-Authenticate"].startswith("Bearer")


# --- Paths ----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/v1/models", "/v1/models/iris", "/v1/no-such-thing", "/health/live",
                                  "/health/ready", "/v2", "/v2/health/ready", "/v2/models/iris"])
def test_api_paths_are_covered(repo, path):
    response = cors_app(repo).test_client().get(path, headers={"Origin": DASH})
    assert response.headers.get("Access-Control-Allow-Origin") == DASH, response.status_code


@pytest.mark.parametrize("path", ["/", "/ui/models/iris", "/apidocs/", "/apispec.json", "/metrics", "/v2x",
                                  "/v10/models", "/healthz"])
def test_pages_docs_and_metrics_are_not(repo, path):
    response = cors_app(repo).test_client().get(path, headers={"Origin": DASH})
    assert cors_headers(response) == {}, (path, response.status_code)
    assert "origin" not in listed(response.headers.get("Vary"))


# --- Configuration --------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("", []),
    (None, []),
    (" https://dash.example.com , http://localhost:3000,", [DASH, LOCAL]),
    (["HTTPS://Dash.Example.COM"], [DASH]),
    ("http://127.0.0.1:8080", ["http://127.0.0.1:8080"]),
    ("http://[::1]:3000", ["http://[::1]:3000"]),
    ("https://xn--bcher-kva.example", ["https://xn--bcher-kva.example"]),
    (" * ", ["*"]),
])
def test_origins_are_parsed(repo, value, expected):
    app = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "CORS_ORIGINS": value})
    assert app.config["CORS_ORIGINS"] == expected


@pytest.mark.parametrize("value, message", [
    ("https://dash.example.com/", "has a path"),
    ("https://dash.example.com/app", "has a path"),
    ("dash.example.com", "has no scheme"),
    ("ftp://dash.example.com", "scheme is 'ftp'"),
    ("https://user@dash.example.com", "user name"),
    ("https://dash.example.com:443", "default port of https"),
    ("http://localhost:80", "default port of http"),
    ("http://localhost:70000", "port is not from 1 to 65535"),
    ("http://localhost:0", "host or port is not valid"),
    ("https://büchër.example", "host or port is not valid"),
    ("https://dash example.com", "host or port is not valid"),
    ("*, https://dash.example.com", "stands alone"),
    (42, "must be a list of origins"),
    ([DASH, 3000], "must be a list of origins"),
])
def test_a_bad_origin_stops_the_start_saying_how_to_fix_it(repo, value, message):
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "CORS_ORIGINS": value})
    assert "MODELHOST_CORS_ORIGINS" in str(error.value) and "instance/config.py" in str(error.value)


def test_origins_come_from_the_environment_comma_separated(repo, tmp_path, monkeypatch):
    monkeypatch.setenv("MODELHOST_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("MODELHOST_MODEL_REPOSITORY", str(repo))
    monkeypatch.setenv("MODELHOST_CORS_ORIGINS", f"{DASH},{LOCAL}")
    app = create_app()
    assert app.config["CORS_ORIGINS"] == [DASH, LOCAL]
    assert app.test_client().get("/v1/models", headers={"Origin": LOCAL}).headers[
        "Access-Control-Allow-Origin"] == LOCAL
