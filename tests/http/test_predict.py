"""Predictions in every request form of API.md, against tiny real estimators."""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import pytest

VIRGINICA = {"sepal_length": 6.6, "sepal_width": 3.0, "petal_length": 5.5, "petal_width": 2.0}


def test_single_instance_echoes_id_and_uses_default_version(client, setosa):
    response = client.post("/v1/models/iris/predict", json={"id": "2", **setosa})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {"model": "iris", "version": "2", "id": "2", "prediction": "setosa"}


def test_integer_id_is_echoed_as_given(client, setosa):
    assert client.post("/v1/models/iris/predict", json={"id": 7, **setosa}).get_json()["id"] == 7


@pytest.mark.parametrize("ident", [2**63 - 1, -(2**63 - 1), 123456789012345678])
def test_large_integer_ids_are_echoed_digit_for_digit(client, ident, setosa):
    single = client.post("/v1/models/iris/predict", json={"id": ident, **setosa})
    assert single.status_code == 200 and f'"id":{ident}' in single.get_data(as_text=True).replace(" ", "")
    many = client.post("/v1/models/iris/predict", json={"instances": [{"id": ident, **setosa}, setosa]})
    assert many.status_code == 200 and f'"ids":[{ident},null]' in many.get_data(as_text=True).replace(" ", "")


@pytest.mark.parametrize("raw", [b"1180591620717411303424", b"9223372036854775808", b"-9223372036854775809",
                                 b"18446744073709551615"])
def test_ids_that_cannot_be_echoed_exactly_are_refused(client, raw):
    features = b'"sepal_length": 5.0, "sepal_width": 3.4, "petal_length": 1.5, "petal_width": 0.2'
    for body, path in ((b'{"id": ' + raw + b", " + features + b"}", "id"),
                       (b'{"instances": [{"id": ' + raw + b", " + features + b"}]}", "instances/0/id")):
        answer = client.post("/v1/models/iris/predict", data=body, content_type="application/json")
        assert answer.status_code == 400, body
        error = answer.get_json()["errors"][0]
        assert error["path"] == path and "send other ids as strings" in error["message"]


def test_probabilities_are_keyed_by_class_label_and_sum_to_one(client, setosa):
    body = client.post("/v1/models/iris/predict?probabilities=true", json=setosa).get_json()
    assert set(body["probabilities"]) == {"setosa", "versicolor", "virginica"}
    assert math.isclose(sum(body["probabilities"].values()), 1.0, rel_tol=1e-9)
    assert max(body["probabilities"], key=body["probabilities"].get) == "setosa"


def test_many_instances_by_name_answer_in_order_with_ids(client, setosa):
    payload = {"instances": [{"id": "a", **VIRGINICA}, setosa, {"id": "c", **setosa}]}
    body = client.post("/v1/models/iris/predict", json=payload).get_json()
    assert body["predictions"] == ["virginica", "setosa", "setosa"]
    assert body["ids"] == ["a", None, "c"]
    assert "probabilities" not in body


def test_rows_in_feature_order(client, setosa):
    rows = [list(setosa.values()), list(VIRGINICA.values())]
    body = client.post("/v1/models/iris/predict?probabilities=1", json={"instances": rows}).get_json()
    assert body["predictions"] == ["setosa", "virginica"]
    assert len(body["probabilities"]) == 2 and "ids" not in body


def test_form_encoded_body_is_one_instance(client):
    form = {k: str(v) for k, v in VIRGINICA.items()}
    body = client.post("/v1/models/iris/predict", data=form).get_json()
    assert body["prediction"] == "virginica"


def test_explicit_version(client, setosa):
    body = client.post("/v1/models/iris/versions/1/predict", json=setosa).get_json()
    assert body["version"] == "1" and body["prediction"] == "setosa"


def test_regression_returns_json_numbers(client):
    body = client.post("/v1/models/linear/predict", json={"instances": [[1, 2, 3], [0, 0, 0]]}).get_json()
    assert body["predictions"] == pytest.approx([1 + 4 - 3 + 0.5, 0.5])
    assert all(type(p) is float for p in body["predictions"])


def test_probabilities_for_a_regressor_is_a_clear_400(client):
    response = client.post("/v1/models/linear/predict?probabilities=true", json={"x_0": 1, "x_1": 1, "x_2": 1})
    assert response.status_code == 400
    assert "probabilities" in response.get_json()["detail"]


def test_categorical_pipeline_takes_raw_values_and_returns_native_bools(client):
    body = client.post("/v1/models/shop/predict", json={"instances": [{"colour": "red", "size": 39}]}).get_json()
    assert body["predictions"] == [True]


def test_concurrent_predictions_from_many_threads_are_all_correct(client, app, setosa):
    cases = [(setosa, "setosa"), (VIRGINICA, "virginica")] * 100

    def call(case):
        with app.test_client() as local:
            return local.post("/v1/models/iris/predict", json=case[0]).get_json()["prediction"], case[1]

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(call, cases))
    assert all(got == want for got, want in results)
