"""Health, model listing and metadata, X-Request-ID, and the headers Apache adds."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests

EXPECTED = {name: json.loads((Path(__file__).parent / "expected" / f"{name}.json").read_text(encoding="utf-8"))
            for name in ("iris", "breast_cancer", "diabetes")}
MODELS = tuple(EXPECTED)
TIMEOUT = 10
FEATURE_TYPES = {"number", "integer", "string", "boolean"}
#: API.md: a well-formed request id is 1-128 letters, digits and ``-_.:``.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
IRIS = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def get_json(session: requests.Session, url: str, status: int = 200) -> Any:
    response = session.get(url, timeout=TIMEOUT)
    assert response.status_code == status, f"GET {url}: {response.status_code} {response.text[:500]}"
    assert response.headers["Content-Type"].split(";")[0] == "application/json"
    return response.json()


def model_statuses(health: dict[str, Any]) -> dict[str, str]:
    """Model name -> status from a readiness body (a list of models, or a mapping by name)."""
    models = health["models"]
    if isinstance(models, dict):
        return {name: (v["status"] if isinstance(v, dict) else v) for name, v in models.items()}
    return {m["name"]: m["status"] for m in models}


# --- health ---------------------------------------------------------------------------------

def test_live(session, base_url) -> None:
    get_json(session, f"{base_url}/health/live")


def test_ready_names_every_demo_model_as_ready(session, base_url) -> None:
    statuses = model_statuses(get_json(session, f"{base_url}/health/ready"))
    for name in MODELS:
        assert statuses.get(name) == "ready", statuses


# --- listing and metadata -------------------------------------------------------------------

@pytest.fixture(scope="module")
def listing(session: requests.Session, base_url: str) -> dict[str, dict[str, Any]]:
    body = get_json(session, f"{base_url}/v1/models")
    assert isinstance(body["models"], list)
    return {m["name"]: m for m in body["models"]}


def check_features(name: str, metadata: dict[str, Any]) -> None:
    features = metadata["features"]
    assert [f["name"] for f in features] == EXPECTED[name]["features"]
    assert all(f["type"] in FEATURE_TYPES for f in features), features


def check_target(name: str, metadata: dict[str, Any]) -> None:
    expected = EXPECTED[name]
    assert metadata["task"] == expected["task"]
    if expected["task"] == "classification":
        assert sorted(metadata["target"]["classes"]) == expected["classes"]
    else:
        assert metadata["target"]["name"] == expected["target"]
        assert not metadata["target"].get("classes")


@pytest.mark.parametrize("name", MODELS)
def test_listing_names_every_demo_model(listing, name) -> None:
    model = listing[name]
    assert set(model) >= {"name", "task", "versions", "default_version", "status"}, model
    assert model["task"] == EXPECTED[name]["task"]
    assert model["status"] == "ready"
    assert model["versions"] and all(isinstance(v, str) for v in model["versions"]), model
    assert isinstance(model["default_version"], str) and model["default_version"] in model["versions"]
    # The highest version number is the default.
    assert model["default_version"] == max(model["versions"], key=int)


@pytest.mark.parametrize("name", MODELS)
def test_model_metadata_is_the_default_version(session, base_url, listing, name) -> None:
    metadata = get_json(session, f"{base_url}/v1/models/{name}")
    assert metadata["name"] == name
    assert metadata["version"] == listing[name]["default_version"]
    assert metadata["versions"] == listing[name]["versions"]
    check_features(name, metadata)
    check_target(name, metadata)


@pytest.mark.parametrize("name", MODELS)
def test_version_metadata(session, base_url, listing, name) -> None:
    for version in listing[name]["versions"]:
        metadata = get_json(session, f"{base_url}/v1/models/{name}/versions/{version}")
        assert metadata["name"] == name
        assert metadata["version"] == version
        check_features(name, metadata)
        check_target(name, metadata)


@pytest.mark.parametrize("name", MODELS)
def test_version_ready(session, base_url, listing, name) -> None:
    for version in listing[name]["versions"]:
        assert get_json(session, f"{base_url}/v1/models/{name}/versions/{version}/ready") == {"ready": True}


def test_iris_metadata_in_detail(session, base_url) -> None:
    metadata = get_json(session, f"{base_url}/v1/models/iris")
    assert [f["name"] for f in metadata["features"]] == ["sepal_length", "sepal_width", "petal_length",
                                                         "petal_width"]
    assert sorted(metadata["target"]["classes"]) == ["setosa", "versicolor", "virginica"]


def test_breast_cancer_labels_are_words(session, base_url) -> None:
    metadata = get_json(session, f"{base_url}/v1/models/breast_cancer")
    assert sorted(metadata["target"]["classes"]) == ["benign", "malignant"]
    assert metadata["features"][0]["name"] == "mean_radius"


def test_diabetes_is_a_regression_of_progression(session, base_url) -> None:
    metadata = get_json(session, f"{base_url}/v1/models/diabetes")
    assert metadata["task"] == "regression"
    assert [f["name"] for f in metadata["features"]] == ["age", "sex", "bmi", "bp"] + [f"s{i}" for i in range(1, 7)]
    assert metadata["target"]["name"] == "progression"


# --- X-Request-ID ---------------------------------------------------------------------------

#: One request per kind of response: pages, JSON, predictions and errors of every origin.
EVERY_KIND = [
    pytest.param("GET", "/", None, id="landing"),
    pytest.param("GET", "/apidocs/", None, id="apidocs"),
    pytest.param("GET", "/apispec.json", None, id="apispec"),
    pytest.param("GET", "/health/live", None, id="live"),
    pytest.param("GET", "/health/ready", None, id="ready"),
    pytest.param("GET", "/v1/models", None, id="models"),
    pytest.param("GET", "/v1/models/iris", None, id="metadata"),
    pytest.param("POST", "/v1/models/iris/predict", IRIS, id="predict"),
    pytest.param("POST", "/v1/models/iris/predict", {"sepal_length": 5.1}, id="400"),
    pytest.param("GET", "/v1/models/nope", None, id="404-model"),
    pytest.param("GET", "/nope", None, id="404-path"),
    pytest.param("GET", "/v1/models/iris/predict", None, id="405"),
]


@pytest.mark.parametrize("method,path,body", EVERY_KIND)
def test_every_response_carries_a_new_request_id(session, base_url, method, path, body) -> None:
    first = session.request(method, base_url + path, json=body, timeout=TIMEOUT)
    second = session.request(method, base_url + path, json=body, timeout=TIMEOUT)
    ids = [r.headers.get("X-Request-ID", "") for r in (first, second)]
    assert all(REQUEST_ID.fullmatch(i) for i in ids), ids
    assert ids[0] != ids[1], "each request needs its own id"


@pytest.mark.parametrize("method,path,body", EVERY_KIND)
def test_a_well_formed_request_id_is_echoed(session, base_url, method, path, body) -> None:
    supplied = "it-Test_01.req:42"
    response = session.request(method, base_url + path, json=body, headers={"X-Request-ID": supplied},
                               timeout=TIMEOUT)
    assert response.headers.get("X-Request-ID") == supplied
    if response.status_code >= 400:
        assert response.json()["request_id"] == supplied


@pytest.mark.parametrize("supplied", ["a", "0" * 128, "2f1c0e4a-d2b5-4b0e-9b8e-1f3f6c9d2a71"],
                         ids=["one-char", "128-chars", "uuid"])
def test_request_ids_at_the_edges_are_echoed(session, base_url, supplied) -> None:
    response = session.get(f"{base_url}/v1/models", headers={"X-Request-ID": supplied}, timeout=TIMEOUT)
    assert response.headers.get("X-Request-ID") == supplied


@pytest.mark.parametrize("supplied", ["x" * 129, "y" * 200, "has spaces", "semi;colon", "slash/ed",
                                      "<script>", "quote'd"],
                         ids=["129-chars", "200-chars", "spaces", "semicolon", "slash", "angle", "quote"])
def test_a_malformed_request_id_is_replaced(session, base_url, supplied) -> None:
    for method, path, body in (("GET", "/v1/models", None), ("POST", "/v1/models/iris/predict", {})):
        response = session.request(method, base_url + path, json=body, headers={"X-Request-ID": supplied},
                                   timeout=TIMEOUT)
        replaced = response.headers.get("X-Request-ID", "")
        assert replaced != supplied and REQUEST_ID.fullmatch(replaced), replaced
        if response.status_code >= 400:
            assert response.json()["request_id"] == replaced


# --- headers set by Apache ------------------------------------------------------------------

@pytest.fixture(scope="module")
def behind_apache(session: requests.Session, base_url: str) -> None:
    server = session.get(f"{base_url}/health/live", timeout=TIMEOUT).headers.get("Server", "")
    if "apache" not in server.lower():
        pytest.skip(f"Server is {server!r}, not Apache: security headers and ServerTokens come from the "
                    "Apache configuration (docker/apache/); run against the container or `make run`")


#: Pages, JSON, a prediction and errors from routing and validation.
HEADER_PATHS = [
    pytest.param("GET", "/", None, id="landing"),
    pytest.param("GET", "/apidocs/", None, id="apidocs"),
    pytest.param("GET", "/v1/models", None, id="models"),
    pytest.param("POST", "/v1/models/iris/predict", IRIS, id="predict"),
    pytest.param("POST", "/v1/models/iris/predict", {}, id="400"),
    pytest.param("GET", "/nope", None, id="404"),
    pytest.param("GET", "/v1/models/iris/predict", None, id="405"),
]


@pytest.mark.apache
@pytest.mark.parametrize("method,path,body", HEADER_PATHS)
def test_security_headers(session, base_url, behind_apache, method, path, body) -> None:
    response = session.request(method, base_url + path, json=body, timeout=TIMEOUT)
    assert response.headers.get("X-Content-Type-Options", "").lower() == "nosniff"
    assert response.headers.get("Content-Security-Policy", "").strip()
    policies = {"no-referrer", "no-referrer-when-downgrade", "origin", "origin-when-cross-origin", "same-origin",
                "strict-origin", "strict-origin-when-cross-origin", "unsafe-url"}
    referrer = [p.strip().lower() for p in response.headers.get("Referrer-Policy", "").split(",") if p.strip()]
    assert referrer and set(referrer) <= policies, response.headers.get("Referrer-Policy")


@pytest.mark.apache
@pytest.mark.parametrize("method,path,body", HEADER_PATHS)
def test_server_header_reveals_no_version(session, base_url, behind_apache, method, path, body) -> None:
    response = session.request(method, base_url + path, json=body, timeout=TIMEOUT)
    server = response.headers.get("Server", "")
    assert not re.search(r"\d", server), f"Server: {server!r}"
    assert not re.search(r"python|mod_wsgi|werkzeug|debian|ubuntu|openssl", server, re.I), f"Server: {server!r}"


def test_metrics_count_predictions_across_processes(base_url, session) -> None:
    """/metrics aggregates every server process: N predictions raise the counter by N."""
    def predicted() -> float:
        text = session.get(base_url + "/metrics").text
        lines = [line for line in text.splitlines()
                 if line.startswith('modelhost_predicted_instances_total{') and 'model="iris"' in line]
        return sum(float(line.rsplit(" ", 1)[1]) for line in lines)

    before = predicted()
    instance = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
    for _ in range(10):
        assert session.post(base_url + "/v1/models/iris/predict", json=instance).status_code == 200
    assert predicted() - before == 10
