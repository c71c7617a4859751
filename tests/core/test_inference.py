"""The inference service behind every caller: identical results under concurrency, batching
settings per model, and metrics and access-log fields for predictions made from the pages."""
from __future__ import annotations

import io
import json
import logging
import math
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pandas as pd
import pytest
from prometheus_client import REGISTRY
from sklearn.ensemble import RandomForestClassifier

from app import create_app
from app.core.batching import BatchSettings
from app.extensions import get_dataplane, get_registry


def metric(name: str, **labels: str) -> float:
    """A sample of this process's metrics; predictions by /v1 unless another protocol is named."""
    if name == "modelhost_predicted_instances_total":
        labels.setdefault("protocol", "v1")
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def forest_app(repo, estimators, write_version, iris_metadata):
    """The test repository plus a random forest, whose predict call is slow enough to queue behind."""
    rng = np.random.default_rng(3)
    X = rng.uniform(0, 8, size=(200, 4))
    forest = RandomForestClassifier(n_estimators=60, random_state=0).fit(X, (X[:, 2] > 4).astype(int) + (X[:, 3] > 1.5))
    write_version(repo, "forest", 1, forest, {**iris_metadata(), "name": "forest",
                                              "target": {"name": "k", "classes": [0, 1, 2]}})
    return create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo)})


def test_thousands_of_concurrent_random_requests_get_exactly_their_own_answers(forest_app, iris_features):
    rng = np.random.default_rng(7)
    requests = []
    for i in range(2000):
        n = int(rng.integers(1, 6))
        requests.append((["forest", "iris"][i % 2], rng.uniform(0, 8, size=(n, 4)).round(3), i % 3 == 0, i % 4))
    estimators = {name: joblib.load(get_registry(forest_app).get(name).path / "model.joblib")
                  for name in ("forest", "iris")}
    calls_before = metric("modelhost_batch_rows_count", model="forest", version="1")
    rows_before = metric("modelhost_batch_rows_sum", model="forest", version="1")

    def call(request):
        name, X, probabilities, form = request
        path = f"/v1/models/{name}/predict" + ("?probabilities=true" if probabilities else "")
        if form == 0:
            body = {"instances": X.tolist()}
        elif form == 1:
            body = {"instances": [dict(zip(iris_features, row, strict=True), id=f"r{j}")
                                  for j, row in enumerate(X.tolist())]}
        else:
            body = {"instances": [dict(zip(iris_features, row, strict=True)) for row in X.tolist()]}
        with forest_app.test_client() as client:
            return client.post(path, json=body)

    with ThreadPoolExecutor(max_workers=32) as pool:
        responses = list(pool.map(call, requests))
    for (name, X, probabilities, form), response in zip(requests, responses, strict=True):
        assert response.status_code == 200, response.get_data(as_text=True)
        answer = response.get_json()
        if hasattr(estimators[name], "feature_names_in_"):  # fitted on a DataFrame
            X = pd.DataFrame(X, columns=iris_features)
        expected = estimators[name].predict(X).tolist()
        assert answer["predictions"] == expected
        if form == 1:
            assert answer["ids"] == [f"r{j}" for j in range(len(X))]
        if probabilities:
            # Every row's probabilities are the estimator's own, to the last bits BLAS may round
            # differently for a matrix of another height.
            table = estimators[name].predict_proba(X)
            for got, want in zip(answer["probabilities"], table, strict=True):
                assert list(got.values()) == pytest.approx(want.tolist(), rel=1e-12, abs=1e-15)
        else:
            assert "probabilities" not in answer
    calls = metric("modelhost_batch_rows_count", model="forest", version="1") - calls_before
    merged_rows = metric("modelhost_batch_rows_sum", model="forest", version="1") - rows_before
    forest_requests = [r for r in requests if r[0] == "forest"]
    assert merged_rows == sum(len(r[1]) for r in forest_requests)
    assert calls < len(forest_requests), "concurrent requests for the forest were never merged"


def test_a_model_json_batching_object_tunes_that_version(repo, estimators, write_version, iris_metadata):
    write_version(repo, "tuned", 1, estimators["iris1"],
                  {**iris_metadata(), "batching": {"max_rows": 32, "max_wait_us": 200}})
    app = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "BATCH_MAX_ROWS": 100})
    service, registry = get_dataplane(app), get_registry(app)
    assert service.batcher(registry.get("tuned")).settings == BatchSettings(True, 32, 200)
    assert service.batcher(registry.get("iris")).settings == BatchSettings(True, 100, 1000)


def test_per_model_settings_from_the_environment_win_over_model_json(repo, estimators, monkeypatch, write_version,
                                                                     iris_metadata):
    write_version(repo, "tuned", 1, estimators["iris1"], {**iris_metadata(), "batching": {"max_rows": 32}})
    monkeypatch.setenv("MODELHOST_MODEL_REPOSITORY", str(repo))
    monkeypatch.setenv("MODELHOST_BATCHING_MODELS", '{"tuned": {"enabled": false}, "iris": {"max_wait_us": 50}}')
    monkeypatch.setenv("MODELHOST_BATCHING", "on")
    monkeypatch.setenv("MODELHOST_INSTANCE_PATH", str(repo.parent))
    app = create_app()
    service, registry = get_dataplane(app), get_registry(app)
    assert service.batcher(registry.get("tuned")).settings == BatchSettings(False, 32, 1000)
    assert service.batcher(registry.get("iris")).settings == BatchSettings(True, 256, 50)


@pytest.mark.parametrize("env, message", [
    ({"MODELHOST_BATCHING": "perhaps"}, "BATCHING must be on or off"),
    ({"MODELHOST_BATCH_MAX_ROWS": "0"}, "BATCH_MAX_ROWS must be a positive"),
    ({"MODELHOST_BATCH_MAX_WAIT_US": "-5"}, "BATCH_MAX_WAIT_US must be a whole number"),
    ({"MODELHOST_LOG_FLUSH_MS": "soon"}, "LOG_FLUSH_MS must be a whole number"),
    ({"MODELHOST_BATCHING_MODELS": '{"iris": {"max_rows": "lots"}}'}, "model 'iris'.*max_rows"),
    ({"MODELHOST_BATCHING_MODELS": "iris=64"}, "BATCHING_MODELS"),
])
def test_bad_batching_configuration_stops_the_start_with_the_key_named(repo, monkeypatch, env, message):
    monkeypatch.setenv("MODELHOST_INSTANCE_PATH", str(repo.parent))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValueError, match=message):
        create_app()


def test_a_bad_batching_object_in_model_json_fails_only_that_version(repo, estimators, write_version, iris_metadata,
                                                                     setosa):
    write_version(repo, "tuned", 1, estimators["iris1"], {**iris_metadata(), "batching": {"max_rows": -1}})
    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo)}).test_client()
    ready = client.get("/health/ready").get_json()
    [tuned] = [m for m in ready["models"] if m["name"] == "tuned"]
    assert tuned["status"] == "failed" and "max_rows" in tuned["versions"][0]["error"]
    assert client.post("/v1/models/iris/predict", json=setosa).status_code == 200


def test_predictions_from_the_form_page_are_counted_and_logged(client, caplog, setosa):
    before = metric("modelhost_predicted_instances_total", model="iris", version="2", protocol="page")
    with caplog.at_level(logging.INFO, logger="app.access"):
        page = client.post("/ui/models/iris", data={k: str(v) for k, v in setosa.items()},
                           headers={"X-Request-ID": "page-1"})
    assert page.status_code == 200 and "setosa" in page.get_data(as_text=True)
    assert metric("modelhost_predicted_instances_total", model="iris", version="2", protocol="page") - before == 1
    [record] = [r for r in caplog.records if r.name == "app.access"]
    assert (record.model, record.version, record.batch_size, record.request_id) == ("iris", "2", 1, "page-1")


def test_csv_uploads_from_the_page_are_counted_and_logged(client, caplog, iris_features):
    before = metric("modelhost_predicted_instances_total", model="iris", version="1", protocol="page")
    text = ",".join(iris_features) + "\n" + "5.0,3.4,1.5,0.2\n" * 3
    from io import BytesIO

    with caplog.at_level(logging.INFO, logger="app.access"):
        scored = client.post("/ui/models/iris/versions/1/score", data={"file": (BytesIO(text.encode()), "f.csv")},
                             content_type="multipart/form-data")
    assert scored.status_code == 200 and scored.headers["X-Rows-Scored"] == "3"
    assert metric("modelhost_predicted_instances_total", model="iris", version="1", protocol="page") - before == 3
    [record] = [r for r in caplog.records if r.name == "app.access"]
    assert (record.model, record.version, record.batch_size) == ("iris", "1", 3)


def test_failed_validation_counts_nothing_and_rows_never_reach_a_batch(client):
    before_instances = metric("modelhost_predicted_instances_total", model="iris", version="2")
    before_calls = metric("modelhost_batch_rows_count", model="iris", version="2")
    response = client.post("/v1/models/iris/predict", json={"instances": [[1, 2, 3, 4], [1, 2, "x", 4]]})
    assert response.status_code == 400
    assert metric("modelhost_predicted_instances_total", model="iris", version="2") == before_instances
    assert metric("modelhost_batch_rows_count", model="iris", version="2") == before_calls


def test_queue_wait_is_observed_per_prediction(client):
    before = metric("modelhost_batch_queue_seconds_count", model="iris", version="2")
    client.post("/v1/models/iris/predict", json={"instances": [[5.0, 3.4, 1.5, 0.2]]})
    assert metric("modelhost_batch_queue_seconds_count", model="iris", version="2") - before == 1


def test_access_line_can_be_turned_off(repo, caplog, setosa):
    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "ACCESS_LOG": "off"}).test_client()
    with caplog.at_level(logging.INFO, logger="app.access"):
        response = client.post("/v1/models/iris/predict", json=setosa)
    assert response.status_code == 200 and response.headers["X-Request-ID"]
    assert not [r for r in caplog.records if r.name == "app.access"]


def test_numbers_only_rows_give_the_same_answers_as_named_instances(client, iris_features):
    rows = [[5.0, 3.4, 1.5, 0.2], [6.6, 3.0, 5.5, 2.0], [1, 2, 3, 4]]
    fast = client.post("/v1/models/iris/predict?probabilities=true", data=json.dumps({"instances": rows}),
                       content_type="application/json").get_json()
    named = client.post("/v1/models/iris/predict?probabilities=true",
                        json={"instances": [dict(zip(iris_features, r, strict=True)) for r in rows]}).get_json()
    assert fast["predictions"] == named["predictions"] and fast["predictions"][:2] == ["setosa", "virginica"]
    assert all(math.isclose(sum(p.values()), 1.0) for p in fast["probabilities"])


HUGE = {"x_0": 1e308, "x_1": 1e308, "x_2": -1e308}
EXTREME = {"sepal_length": 1e308, "sepal_width": -1e308, "petal_length": 1e308, "petal_width": -1e308}


def test_non_finite_regression_output_is_a_422_naming_the_instances(client):
    single = client.post("/v1/models/linear/predict", json=HUGE)
    assert single.status_code == 422 and single.mimetype == "application/problem+json"
    body = single.get_json()
    assert "no usable number" in body["detail"] and "null" not in single.get_data(as_text=True)
    many = client.post("/v1/models/linear/predict", json={"instances": [[1, 2, 3], list(HUGE.values()), [1, 2, 3]]})
    assert many.status_code == 422
    assert [e["path"] for e in many.get_json()["errors"]] == ["instances/1"]
    assert "instance 1" in many.get_json()["detail"]


def test_non_finite_probabilities_are_a_422(client, setosa):
    plain = client.post("/v1/models/iris/predict", json=EXTREME)
    assert plain.status_code == 200  # a class label is still an answer
    with_probabilities = client.post("/v1/models/iris/predict?probabilities=true",
                                     json={"instances": [setosa, EXTREME]})
    assert with_probabilities.status_code == 422
    assert [e["path"] for e in with_probabilities.get_json()["errors"]] == ["instances/1"]


def test_non_finite_output_on_the_form_page_is_shown_on_the_page(client):
    page = client.post("/ui/models/linear", data={k: str(v) for k, v in HUGE.items()})
    assert page.status_code == 422 and page.mimetype == "text/html"
    assert b"no usable number" in page.data


def test_non_finite_output_in_a_csv_file_names_its_lines(client):
    csv = "x_0,x_1,x_2\n1,2,3\n1e308,1e308,-1e308\n1,2,3\n"
    api = client.post("/v1/models/linear/predict", data=csv, content_type="text/csv")
    assert api.status_code == 422 and api.mimetype == "application/problem+json"
    assert [e["path"] for e in api.get_json()["errors"]] == ["line 3"]
    page = client.post("/ui/models/linear/score", data={"file": (io.BytesIO(csv.encode()), "rows.csv")},
                       content_type="multipart/form-data")
    assert page.status_code == 422 and page.mimetype == "text/html" and b"line 3" in page.data


def test_the_largest_integer_reaches_a_dataframe_model_unwrapped(tmp_path, write_version):
    from sklearn.linear_model import LinearRegression

    frame = pd.DataFrame({"age": np.arange(1, 41, dtype=np.int64)})
    model = LinearRegression().fit(frame, frame["age"] * 2.0)
    meta = {"task": "regression", "features": [{"name": "age", "type": "integer"}], "target": {"name": "y"}}
    write_version(tmp_path, "ages", 1, model, meta)
    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(tmp_path)}).test_client()
    for body in ({"age": 2**63 - 1}, {"instances": [[2**63 - 1]]}, {"instances": [{"age": 2**63 - 1}]}):
        answer = client.post("/v1/models/ages/predict", json=body)
        assert answer.status_code == 200, answer.get_json()
        value = answer.get_json().get("prediction") or answer.get_json()["predictions"][0]
        assert value > 1e19  # 2 * (2^63 - 1), not the wrapped -2^64
    lowest = client.post("/v1/models/ages/predict", json={"instances": [[-(2**63 - 1)]]})
    assert lowest.status_code == 200 and lowest.get_json()["predictions"][0] < -1e19
    # -2^63 - 1 decodes as the double -2^63: refused like 2^63, not taken as another number.
    for raw in (b'{"age": 9223372036854775808}', b'{"age": -9223372036854775809}', b'{"instances": [[1e20]]}'):
        too_big = client.post("/v1/models/ages/predict", data=raw, content_type="application/json")
        assert too_big.status_code == 400 and "64-bit integer" in too_big.get_json()["errors"][0]["message"]
