"""Every error status of API.md comes back as an RFC 9457 problem document."""
from __future__ import annotations

import io

import pytest


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body["status"] == status and body["type"] == "about:blank"
    assert body["title"] and body["detail"] and body["instance"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def test_missing_keys_are_all_listed(client):
    body = assert_problem(client.post("/v1/models/linear/predict", json={"x_0": 1.0}), 400)
    assert body["detail"] == "Missing keys: 'x_1', 'x_2'"
    assert body["errors"] == [{"path": "x_1", "message": "is required"}, {"path": "x_2", "message": "is required"}]
    assert body["instance"] == "/v1/models/linear/predict"


def test_every_violation_in_a_batch_is_listed_with_its_path(client, setosa):
    payload = {"instances": [setosa, {**setosa, "sepal_length": "long", "extra": 1}, {"sepal_width": 1}]}
    body = assert_problem(client.post("/v1/models/iris/predict", json=payload), 400)
    paths = {(e["path"], e["message"]) for e in body["errors"]}
    assert ("instances/1/sepal_length", "must be a number, got string") in paths
    assert ("instances/1/extra", "is not a feature of this model") in paths
    assert {"instances/2/sepal_length", "instances/2/petal_length", "instances/2/petal_width"} <= {p for p, _ in paths}
    assert len(body["errors"]) == 5


@pytest.mark.parametrize("raw", [b'{"x_0": NaN, "x_1": 1, "x_2": 1}', b'{"x_0": Infinity, "x_1": 1, "x_2": 1}',
                                 b'{"x_0": 1e400, "x_1": 1, "x_2": 1}', b"{not json", b""])
def test_invalid_json_and_non_finite_numbers_are_400(client, raw):
    response = client.post("/v1/models/linear/predict", data=raw, content_type="application/json")
    body = assert_problem(response, 400)
    assert "not valid JSON" in body["detail"] and body["errors"]


@pytest.mark.parametrize("payload, message", [
    ({"instances": []}, "must not be empty"),
    ({"instances": [[1, 2]]}, "has 2 values; the model takes 3 features in order"),
    ({"instances": [[1, 2, 3, 4]]}, "has 4 values; the model takes 3 features in order"),
    ({"instances": [[1, "a", 3]]}, "must be a number, got string"),
    ({"instances": [[1, True, 3]]}, "must be a number, got boolean"),
    ([1, 2, 3], "must be an object, got array"),
])
def test_schema_violations(client, payload, message):
    body = assert_problem(client.post("/v1/models/linear/predict", json=payload), 400)
    assert message in [e["message"] for e in body["errors"]]


def test_value_outside_enum_is_400_naming_the_choices(client):
    body = assert_problem(client.post("/v1/models/shop/predict", json={"colour": "pink", "size": 1}), 400)
    assert body["errors"] == [{"path": "colour", "message": "must be one of 'blue', 'green', 'red'"}]


def test_bad_probabilities_flag_is_400(client, setosa):
    assert_problem(client.post("/v1/models/iris/predict?probabilities=maybe", json=setosa), 400)


@pytest.mark.parametrize("path", ["/nowhere", "/v1/models/nope", "/v1/models/nope/predict",
                                  "/v1/models/iris/versions/9", "/v1/models/iris/versions/x/ready",
                                  "/v1/models/iris/versions/0/predict"])
def test_unknown_paths_models_and_versions_are_404(client, path, setosa):
    response = client.post(path, json=setosa) if path.endswith("predict") else client.get(path)
    assert_problem(response, 404)


def test_wrong_method_is_405_with_allow(client):
    response = client.get("/v1/models/iris/predict")
    assert_problem(response, 405)
    assert "POST" in response.headers["Allow"]


def test_error_list_is_capped_and_validation_stops_at_the_cap(repo, monkeypatch):
    from app import create_app
    from app.core.schema import InputSchema

    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo)}).test_client()
    checked = []
    real = InputSchema._fast_check

    def counting(self, instances, rows):
        checked.append(len(instances) if isinstance(instances, list) else 1)
        return real(self, instances, rows)

    monkeypatch.setattr(InputSchema, "_fast_check", counting)
    names = [f"x_{i}" for i in range(3)]
    response = client.post("/v1/models/linear/predict", json={"instances": [{}] * 10000})
    body = assert_problem(response, 400)
    assert len(body["errors"]) == 100 and len(response.data) < 20_000
    assert "Only the first 100 problems are listed" in body["detail"]
    assert all(e["path"].rsplit("/", 1)[-1] in names for e in body["errors"])
    # Each instance is looked at once by the vectorised check, then only up to the cap by jsonschema.
    assert sum(checked) < 10000 + 200


def test_many_unknown_keys_give_a_bounded_answer(client):
    instance = {"x_0": 1, "x_1": 2, "x_2": 3, **{f"k{i}": 0 for i in range(50_000)}}
    for payload in (instance, {"instances": [instance]}):
        response = client.post("/v1/models/linear/predict", json=payload)
        body = assert_problem(response, 400)
        assert len(body["errors"]) <= 100 and len(response.data) < 20_000
        assert body["detail"].startswith("Unknown keys: ") and "more" in body["detail"]


def test_a_body_of_many_small_values_is_refused_before_it_is_decoded(client):
    import tracemalloc

    body = b'{"x": [' + b",".join([b"{}"] * 3_000_000) + b"]}"  # 9 MB of empty objects
    tracemalloc.start()
    try:
        response = client.post("/v1/models/linear/predict", data=body, content_type="application/json")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "at most" in assert_problem(response, 413)["detail"]
    assert peak < 4 * len(body)  # the body and a copy or two, not the millions of objects it spells


def test_strings_holding_commas_do_not_count_as_values(client):
    rows = [{"x_0": 1, "x_1": 2, "x_2": 3, "id": "," * 50} for _ in range(400)]
    answer = client.post("/v1/models/linear/predict", json={"instances": rows})
    assert answer.status_code == 200 and answer.get_json()["ids"][0] == "," * 50


def test_too_many_instances_is_413(repo):
    from app import create_app

    app = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "MAX_BATCH_SIZE": 3})
    response = app.test_client().post("/v1/models/linear/predict", json={"instances": [[1, 2, 3]] * 4})
    assert "limit is 3" in assert_problem(response, 413)["detail"]
    ok = app.test_client().post("/v1/models/linear/predict", json={"instances": [[1, 2, 3]] * 3})
    assert ok.status_code == 200


def test_body_over_the_limit_is_413_including_chunked(repo):
    from app import create_app

    app = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "MAX_CONTENT_LENGTH": 1000})
    client = app.test_client()
    big = b'{"instances": [' + b",".join([b"[1,2,3]"] * 300) + b"]}"
    assert_problem(client.post("/v1/models/linear/predict", data=big, content_type="application/json"), 413)

    # No Content-Length: the limit must hold while the stream is read, as for chunked uploads.
    response = client.post("/v1/models/linear/predict", input_stream=io.BytesIO(big),
                           content_type="application/json", headers={"Transfer-Encoding": "chunked"},
                           environ_base={"wsgi.input_terminated": True})
    assert_problem(response, 413)


def test_unsupported_media_type_is_415(client):
    response = client.post("/v1/models/iris/predict", data="5.1,3.5", content_type="text/plain")
    assert "application/json" in assert_problem(response, 415)["detail"]


def test_version_that_failed_to_load_is_503_and_not_the_default_and_the_server_stays_ready(repo, setosa):
    from app import create_app

    (repo / "iris" / "2" / "model.joblib").write_bytes(b"truncated")
    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo)}).test_client()
    assert_problem(client.post("/v1/models/iris/versions/2/predict", json=setosa), 503)
    assert_problem(client.get("/v1/models/iris/versions/2/ready"), 503)
    # The default is the highest version that loaded, so the model keeps answering.
    answer = client.post("/v1/models/iris/predict", json=setosa)
    assert answer.status_code == 200 and answer.get_json()["version"] == "1"
    listing = client.get("/v1/models").get_json()["models"][0]
    assert listing["versions"] == ["1", "2"] and listing["default_version"] == "1"
    assert listing["status"] == "degraded"
    assert client.get("/v1/models/iris").get_json()["version"] == "1"
    # Every model's default route answers, so the instance stays in rotation; the body says what failed.
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    iris = ready.get_json()["models"][0]
    assert (iris["status"], iris["default_version"]) == ("degraded", "1")
    assert [(v["version"], v["status"]) for v in iris["versions"]] == [("1", "loaded"), ("2", "failed")]
    assert "sha256" in iris["versions"][1]["error"]


def test_model_whose_every_version_failed_is_503(repo, setosa):
    from app import create_app

    for version in ("1", "2"):
        (repo / "iris" / version / "model.joblib").write_bytes(b"truncated")
    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo)}).test_client()
    body = assert_problem(client.post("/v1/models/iris/predict", json=setosa), 503)
    assert "version 2" in body["detail"]


def test_unexpected_failure_is_500_without_internals(app, client, monkeypatch, setosa):
    from app.core.runtime import Runtime

    def explode(self, matrix, probabilities):
        raise RuntimeError("secret internal state")

    monkeypatch.setattr(Runtime, "predict_arrays", explode)
    body = assert_problem(client.post("/v1/models/iris/predict", json=setosa), 500)
    assert "secret" not in str(body) and "Traceback" not in str(body)


def test_token_protects_the_api_when_configured(repo):
    from app import create_app

    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "API_TOKEN": "s3cret"}).test_client()
    missing = client.get("/v1/models")
    assert_problem(missing, 401)
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert_problem(client.get("/v1/models", headers={"Authorization": "Bearer wrong"}), 401)
    assert client.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/health/ready").status_code == 200


def test_input_the_model_itself_rejects_is_400_on_the_api_the_form_and_csv(client, monkeypatch, setosa):
    from app.core.runtime import Runtime

    def reject(self, matrix, probabilities):
        raise ValueError("Found unknown categories ['x'] in column 0 during transform")

    monkeypatch.setattr(Runtime, "predict_arrays", reject)
    body = assert_problem(client.post("/v1/models/iris/predict", json=setosa), 400)
    assert body["detail"].startswith("The model rejected the input: Found unknown categories")
    page = client.post("/ui/models/iris", data={k: str(v) for k, v in setosa.items()})
    assert page.status_code == 400 and "Found unknown categories" in page.get_data(as_text=True)
    csv_body = "sepal_length,sepal_width,petal_length,petal_width\n5.0,3.4,1.5,0.2\n"
    scored = client.post("/v1/models/iris/predict", data=csv_body, content_type="text/csv")
    assert "lines 2-2" in assert_problem(scored, 400)["detail"]
