"""KServe V1 / TF Serving REST predict: {"instances": [...]} in, {"predictions": [...]} out, nothing else."""
from __future__ import annotations

from prometheus_client import REGISTRY

from app import create_app

ROWS = [[5.0, 3.4, 1.5, 0.2], [6.6, 3.0, 5.5, 2.0]]


def problem(response, status, *fragments):
    """A problem document with `error` (what these clients read) equal to `detail`."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert response.mimetype == "application/problem+json" and body["error"] == body["detail"]
    for fragment in fragments:
        assert fragment in body["detail"], body["detail"]
    return body


def test_rows_and_objects_answer_only_the_predictions_of_v1(client, setosa):
    expected = client.post("/v1/models/iris/predict", json={"instances": ROWS}).get_json()["predictions"]
    for instances in (ROWS, [dict(setosa), {**setosa, "petal_length": 5.5, "petal_width": 2.0}]):
        response = client.post("/v1/models/iris:predict", json={"instances": instances})
        assert response.status_code == 200 and response.mimetype == "application/json"
        body = response.get_json()
        assert list(body) == ["predictions"] and len(body["predictions"]) == len(instances)
    assert client.post("/v1/models/iris:predict", json={"instances": ROWS}).get_json() == {"predictions": expected}


def test_a_chosen_version_and_regression_numbers(client):
    one = client.post("/v1/models/iris/versions/1:predict", json={"instances": ROWS}).get_json()
    assert one == {"predictions": client.post("/v1/models/iris/versions/1/predict",
                                              json={"instances": ROWS}).get_json()["predictions"]}
    linear = client.post("/v1/models/linear:predict", json={"instances": [[0.0, 0.0, 0.0]]}).get_json()
    assert isinstance(linear["predictions"][0], float)
    problem(client.post("/v1/models/iris/versions/9:predict", json={"instances": ROWS}), 404)
    problem(client.post("/v1/models/nope:predict", json={"instances": ROWS}), 404, "nope")


def test_what_tf_serving_has_and_modelhost_does_not_is_refused_with_the_way_out(client, setosa):
    problem(client.post("/v1/models/iris:predict", json={"instances": ROWS, "signature_name": "serving_default"}),
            400, "one signature")
    problem(client.post("/v1/models/iris:predict", json={"inputs": {"sepal_length": [5.0]}}), 400, "columnar",
            "instances")
    problem(client.post("/v1/models/iris:predict", json=setosa), 400, '{"instances": [...]}')
    problem(client.post("/v1/models/iris:predict", json={"instances": ROWS, "extra": 1}), 400, "extra")


def test_invalid_instances_list_every_violation_as_on_v1(client):
    body = problem(client.post("/v1/models/iris:predict", json={"instances": [[1, 2, 3], [1, "x", 3, 4]]}), 400)
    assert {e["path"] for e in body["errors"]} == {"instances/0", "instances/1/1"}
    problem(client.post("/v1/models/iris:predict", data="a,b", content_type="text/csv"), 415, "application/json")
    problem(client.post("/v1/models/iris:predict", data="{", content_type="application/json"), 400, "not valid JSON")


def test_the_token_is_needed_as_on_v1(repo):
    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "API_TOKEN": "s3cret"}).test_client()
    problem(client.post("/v1/models/iris:predict", json={"instances": ROWS}), 401)
    ok = client.post("/v1/models/iris:predict", json={"instances": ROWS}, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200


def test_counted_with_the_kserve_v1_protocol_label(client):
    labels = {"model": "iris", "version": "2", "protocol": "kserve_v1", "status": "200"}
    before = REGISTRY.get_sample_value("modelhost_prediction_requests_total", labels) or 0.0
    client.post("/v1/models/iris:predict", json={"instances": ROWS})
    assert REGISTRY.get_sample_value("modelhost_prediction_requests_total", labels) - before == 1


def test_get_on_a_predict_path_is_a_405_that_allows_post_only(client):
    for path in ("/v1/models/iris:predict", "/v1/models/iris/versions/1:predict"):
        response = client.get(path)
        body = problem(response, 405)
        assert body["instance"] == path and "GET" not in response.headers["Allow"]
        assert "POST" in client.options(path).headers["Allow"] and "GET" not in client.options(path).headers["Allow"]
    assert client.get("/v1/models/iris").status_code == 200


def test_a_body_with_both_tf_serving_members_names_both(client):
    body = problem(client.post("/v1/models/iris:predict", json={"signature_name": "s", "inputs": {}}), 400)
    assert "one signature" in body["detail"] and "columnar" in body["detail"]


def test_v1_problem_documents_elsewhere_have_no_error_member(client):
    body = client.post("/v1/models/iris/predict", json={"bad": 1}).get_json()
    assert body["status"] == 400 and "error" not in body
