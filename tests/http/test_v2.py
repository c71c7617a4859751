"""The Open Inference Protocol under /v2: health, metadata, and inference in JSON and binary tensor data.

Binary request bodies are made, and binary answers read, by the real client's own code
(tritonclient's ``generate_request_body`` and ``parse_response_body``), so the framing is the one
tritonclient sends, not this test's idea of it.
"""
from __future__ import annotations

import gzip
import struct
import zlib

import numpy as np
import pytest
import tritonclient.http as triton
from prometheus_client import REGISTRY
from sklearn.linear_model import LogisticRegression

from app import create_app

ROWS = [[5.0, 3.4, 1.5, 0.2], [6.6, 3.0, 5.5, 2.0], [5.9, 2.8, 4.3, 1.3]]
HEADER = "Inference-Header-Content-Length"


@pytest.fixture
def feature_tensors(iris_features):
    """Factory: one tensor per iris feature, holding its column of ``rows``."""
    def make(rows=ROWS, datatype="FP64"):
        columns = list(zip(*rows, strict=True))
        return [{"name": n, "datatype": datatype, "shape": [len(rows)], "data": list(c)}
                for n, c in zip(iris_features, columns, strict=True)]
    return make


def v1(client, rows=ROWS, name="iris", version="2"):
    """The /v1 answer for the same rows: what every V2 answer must equal."""
    body = client.post(f"/v1/models/{name}/versions/{version}/predict?probabilities=true",
                       json={"instances": rows}).get_json()
    return body["predictions"], body.get("probabilities")


def infer(client, body, path="/v2/models/iris/infer", **kwargs):
    return client.post(path, json=body, **kwargs)


def binary(client, inputs, outputs=None, path="/v2/models/iris/infer", **kwargs):
    """Send tritonclient's own encoding of the request; the answer as tritonclient reads it."""
    body, length = triton.InferenceServerClient.generate_request_body(inputs, outputs=outputs, **kwargs)
    headers = {HEADER: str(length)} if length is not None else {}
    response = client.post(path, data=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    header = response.headers.get(HEADER)
    return triton.InferenceServerClient.parse_response_body(response.data, header_length=header and int(header))


def labels(array) -> list:
    """Class labels as tritonclient returns them: bytes from binary data, text from JSON."""
    return [v.decode() if isinstance(v, bytes) else v for v in array.tolist()]


def problem(response, status, *fragments):
    """A problem document with `error` equal to `detail`, which holds every fragment."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["error"] == body["detail"] and body["status"] == status
    for fragment in fragments:
        assert fragment in body["detail"], body["detail"]
    return body


@pytest.fixture
def mixed_app(repo, write_version, iris_metadata):
    """A model with a whole-number, a true/false and a number feature, and whole-number classes."""
    rng = np.random.default_rng(4)
    X = np.column_stack([rng.integers(0, 20, 80), rng.integers(0, 2, 80), rng.normal(size=80)])
    features = [{"name": "visits", "type": "integer"}, {"name": "member", "type": "boolean"},
                {"name": "spend", "type": "number"}]
    metadata = {**iris_metadata(), "name": "mixed", "features": features, "target": {"name": "churn"}}
    write_version(repo, "mixed", 1, LogisticRegression().fit(X, (X[:, 0] > 10).astype(int)), metadata)
    return create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo)})


# --- Server ------------------------------------------------------------------------------------


def test_server_metadata_names_the_binary_extension(client):
    body = client.get("/v2").get_json()
    assert body["name"] == "modelhost" and body["extensions"] == ["binary_tensor_data"] and body["version"]


def test_live_and_ready(client):
    assert client.get("/v2/health/live").get_json() == {"live": True}
    ready = client.get("/v2/health/ready")
    assert ready.status_code == 200 and ready.get_json() == {"ready": True}


def test_not_ready_while_a_model_has_no_version_that_loaded(repo):
    (repo / "linear" / "1" / "model.pkl").write_bytes(b"\x80\x04broken")
    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo)}).test_client()
    ready = client.get("/v2/health/ready")
    assert ready.status_code == 503 and ready.get_json() == {"ready": False}
    problem(client.get("/v2/models/linear/ready"), 503, "model.pkl")
    problem(client.get("/v2/models/linear"), 503)


def test_health_is_open_and_the_models_need_the_token(repo, feature_tensors):
    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "API_TOKEN": "s3cret"}).test_client()
    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/health/ready").status_code == 200
    for path in ("/v2", "/v2/models/iris", "/v2/models/iris/ready"):
        problem(client.get(path), 401, "Authorization: Bearer")
    problem(infer(client, {"inputs": feature_tensors()}), 401)
    answer = infer(client, {"inputs": feature_tensors()}, headers={"Authorization": "Bearer s3cret"})
    assert answer.status_code == 200


# --- Metadata ----------------------------------------------------------------------------------


def test_model_metadata_declares_a_tensor_per_feature_and_both_outputs(client, iris_features):
    body = client.get("/v2/models/iris").get_json()
    assert body["name"] == "iris" and body["versions"] == ["1", "2"] and body["platform"] == "scikit-learn"
    assert body["inputs"] == [{"name": n, "datatype": "FP64", "shape": [-1]} for n in iris_features]
    assert body["outputs"] == [
        {"name": "predict", "datatype": "BYTES", "shape": [-1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3],
         "parameters": {"classes": ["setosa", "versicolor", "virginica"]}}]
    assert body["parameters"]["matrix_input"]["shape"] == [-1, 4]
    one = client.get("/v2/models/iris/versions/1").get_json()
    assert one["versions"] == ["1"] and one["inputs"] == body["inputs"]


def test_metadata_datatypes_follow_the_feature_and_class_types(client, mixed_app):
    shop = client.get("/v2/models/shop").get_json()
    assert {t["name"]: t["datatype"] for t in shop["inputs"]} == {"colour": "BYTES", "size": "FP64"}
    assert shop["outputs"][0] == {"name": "predict", "datatype": "BOOL", "shape": [-1]}
    assert "matrix_input" not in shop["parameters"]  # a string feature: rows cannot be one numeric tensor
    linear = client.get("/v2/models/linear").get_json()
    assert linear["outputs"] == [{"name": "predict", "datatype": "FP64", "shape": [-1]}]
    mixed = mixed_app.test_client().get("/v2/models/mixed").get_json()
    assert [t["datatype"] for t in mixed["inputs"]] == ["INT64", "BOOL", "FP64"]
    assert mixed["outputs"][0]["datatype"] == "INT64" and mixed["outputs"][1]["parameters"]["classes"] == [0, 1]


def test_readiness_of_models_and_versions(client):
    assert client.get("/v2/models/iris/ready").get_json() == {"name": "iris", "ready": True}
    assert client.get("/v2/models/iris/versions/1/ready").status_code == 200
    problem(client.get("/v2/models/nope/ready"), 404)
    problem(client.get("/v2/models/iris/versions/9/ready"), 404)
    problem(client.get("/v2/models/nope"), 404)


# --- Inference in JSON -------------------------------------------------------------------------


def test_one_tensor_per_feature_equals_v1(client, feature_tensors):
    body = infer(client, {"id": "r-1", "inputs": feature_tensors(),
                          "outputs": [{"name": "predict"}, {"name": "predict_proba"}]}).get_json()
    predictions, probabilities = v1(client)
    assert body["model_name"] == "iris" and body["model_version"] == "2" and body["id"] == "r-1"
    predict, proba = body["outputs"]
    assert predict == {"name": "predict", "datatype": "BYTES", "shape": [3], "data": predictions}
    assert proba["shape"] == [3, 3] and proba["parameters"] == {"classes": ["setosa", "versicolor", "virginica"]}
    assert proba["data"] == [row[c] for row in probabilities for c in proba["parameters"]["classes"]]


def test_without_outputs_the_answer_is_predict(client, feature_tensors):
    body = infer(client, {"inputs": feature_tensors()}).get_json()
    assert [o["name"] for o in body["outputs"]] == ["predict"] and "id" not in body


def test_outputs_choose_what_is_computed_in_the_order_asked(client, feature_tensors):
    body = infer(client, {"inputs": feature_tensors(), "outputs": [{"name": "predict_proba"}]}).get_json()
    assert [o["name"] for o in body["outputs"]] == ["predict_proba"]
    body = infer(client, {"inputs": feature_tensors(),
                          "outputs": [{"name": "predict_proba"}, {"name": "predict"}]}).get_json()
    assert [o["name"] for o in body["outputs"]] == ["predict_proba", "predict"]


def test_rows_as_one_tensor_flat_or_nested_any_numeric_datatype(client):
    predictions, _ = v1(client)
    flat = [v for row in ROWS for v in row]
    for tensor in ({"name": "input-0", "datatype": "FP64", "shape": [3, 4], "data": flat},
                   {"name": "input-0", "datatype": "FP64", "shape": [3, 4], "data": ROWS},
                   {"name": "rows", "datatype": "FP32", "shape": [3, 4], "data": ROWS}):
        body = infer(client, {"inputs": [tensor]}).get_json()
        assert body["outputs"][0]["data"] == predictions, tensor
    whole = [[5, 3, 1, 0], [7, 3, 6, 2]]
    body = infer(client, {"inputs": [{"name": "x", "datatype": "INT64", "shape": [2, 4], "data": whole}]}).get_json()
    assert body["outputs"][0]["data"] == v1(client, whole)[0]


def test_shape_n_by_1_per_feature(client, feature_tensors):
    tensors = [{**t, "shape": [3, 1]} for t in feature_tensors()]
    assert infer(client, {"inputs": tensors}).get_json()["outputs"][0]["data"] == v1(client)[0]


def test_string_bool_and_integer_features(client, mixed_app):
    body = {"inputs": [{"name": "colour", "datatype": "BYTES", "shape": [2], "data": ["red", "blue"]},
                       {"name": "size", "datatype": "FP64", "shape": [2], "data": [30.0, 2.0]}],
            "outputs": [{"name": "predict"}]}
    answer = infer(client, body, path="/v2/models/shop/infer").get_json()
    expected = client.post("/v1/models/shop/predict", json={"instances": [{"colour": "red", "size": 30.0},
                                                                           {"colour": "blue", "size": 2.0}]})
    assert answer["outputs"][0] == {"name": "predict", "datatype": "BOOL", "shape": [2],
                                    "data": expected.get_json()["predictions"]}
    mixed = mixed_app.test_client()
    rows = [{"visits": 3, "member": True, "spend": 0.5}, {"visits": 15, "member": False, "spend": -1.0}]
    tensors = [{"name": "visits", "datatype": "INT64", "shape": [2], "data": [3, 15]},
               {"name": "member", "datatype": "BOOL", "shape": [2], "data": [True, False]},
               {"name": "spend", "datatype": "FP64", "shape": [2], "data": [0.5, -1.0]}]
    answer = infer(mixed, {"inputs": tensors}, path="/v2/models/mixed/infer").get_json()
    assert answer["outputs"][0]["data"] == mixed.post("/v1/models/mixed/predict",
                                                      json={"instances": rows}).get_json()["predictions"]


def test_a_version_path_and_the_default_route(client, feature_tensors):
    answer = infer(client, {"inputs": feature_tensors()}, path="/v2/models/iris/versions/1/infer").get_json()
    assert answer["model_version"] == "1" and answer["outputs"][0]["data"] == v1(client, version="1")[0]
    problem(infer(client, {"inputs": feature_tensors()}, path="/v2/models/iris/versions/7/infer"), 404)
    problem(infer(client, {"inputs": feature_tensors()}, path="/v2/models/nope/infer"), 404, "nope")


# --- Inference with binary tensor data ---------------------------------------------------------


@pytest.mark.parametrize("binary_inputs", [True, False])
@pytest.mark.parametrize("binary_outputs", [True, False])
def test_tritonclient_bodies_both_ways_equal_v1(client, binary_inputs, binary_outputs, numpy_inputs):
    outputs = [triton.InferRequestedOutput("predict", binary_data=binary_outputs),
               triton.InferRequestedOutput("predict_proba", binary_data=binary_outputs)]
    result = binary(client, numpy_inputs(ROWS, binary_data=binary_inputs), outputs, request_id="abc")
    predictions, probabilities = v1(client)
    assert labels(result.as_numpy("predict")) == predictions
    assert result.as_numpy("predict_proba").tolist() == [list(p.values()) for p in probabilities]
    assert result.get_response()["id"] == "abc"


def test_tritonclient_without_outputs_gets_predict_as_binary_data(client, numpy_inputs):
    # tritonclient asks for every output as binary data (binary_data_output) when it names none.
    result = binary(client, numpy_inputs(ROWS))
    assert labels(result.as_numpy("predict")) == v1(client)[0]
    assert result.get_output("predict")["parameters"]["binary_data_size"] == sum(4 + len(p) for p in v1(client)[0])


def test_rows_as_one_binary_fp32_tensor(client):
    rows = np.array(ROWS, dtype=np.float32)
    tensor = triton.InferInput("input-0", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows)
    result = binary(client, [tensor], [triton.InferRequestedOutput("predict_proba")])
    _, probabilities = v1(client, rows.astype(np.float64).tolist())
    assert result.as_numpy("predict_proba").tolist() == [list(p.values()) for p in probabilities]


def test_binary_bytes_input_and_output(client):
    def inputs(colours):
        colour = triton.InferInput("colour", [2], "BYTES")
        colour.set_data_from_numpy(np.array(colours, dtype=object))
        size = triton.InferInput("size", [2], "FP64")
        size.set_data_from_numpy(np.array([30.0, 2.0]))
        return [colour, size]

    result = binary(client, inputs([b"red", b"blue"]), [triton.InferRequestedOutput("predict")],
                    path="/v2/models/shop/infer")
    expected = client.post("/v1/models/shop/predict", json={"instances": [{"colour": "red", "size": 30.0},
                                                                           {"colour": "blue", "size": 2.0}]})
    assert result.as_numpy("predict").tolist() == expected.get_json()["predictions"]
    # UTF-8 text is decoded and then checked as /v1 checks it: "grün" is not one of the colours.
    raw, length = triton.InferenceServerClient.generate_request_body(inputs([b"red", "grün".encode()]))
    body = problem(client.post("/v2/models/shop/infer", data=raw, headers={HEADER: str(length)}), 400)
    assert body["errors"] == [{"path": "inputs/0/data/1", "message": "must be one of 'blue', 'green', 'red'"}]


def test_a_per_output_binary_flag_overrides_the_request_parameter(client, feature_tensors):
    body = {"inputs": feature_tensors(), "parameters": {"binary_data_output": True},
            "outputs": [{"name": "predict", "parameters": {"binary_data": False}}, {"name": "predict_proba"}]}
    response = infer(client, body)
    length = int(response.headers[HEADER])
    assert response.mimetype == "application/octet-stream"
    result = triton.InferenceServerClient.parse_response_body(response.data, header_length=length)
    assert result.get_output("predict")["data"] == v1(client)[0]
    assert result.get_output("predict_proba")["parameters"]["binary_data_size"] == 3 * 3 * 8
    assert len(response.data) == length + 3 * 3 * 8


def test_a_json_part_cut_short_by_the_header_says_so(client, feature_tensors):
    response = client.post("/v2/models/iris/infer", json={"inputs": feature_tensors()}, headers={HEADER: "1"})
    problem(response, 400, "The JSON part of the body (its first 1 bytes, as Inference-Header-Content-Length says) "
                           "is not valid JSON")


def test_gzip_and_deflate_bodies(client, numpy_inputs):
    raw, length = triton.InferenceServerClient.generate_request_body(numpy_inputs(ROWS))
    for coding, packed in (("gzip", gzip.compress(raw)), ("deflate", zlib.compress(raw))):
        response = client.post("/v2/models/iris/infer", data=packed,
                               headers={HEADER: str(length), "Content-Encoding": coding})
        assert response.status_code == 200, (coding, response.get_json())
    problem(client.post("/v2/models/iris/infer", data=b"not gzip", headers={"Content-Encoding": "gzip"}), 400, "gzip")
    problem(client.post("/v2/models/iris/infer", data=raw, headers={"Content-Encoding": "br"}), 415, "br")


def test_a_compressed_body_inflates_at_most_to_the_body_limit(repo):
    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "MAX_CONTENT_LENGTH": 4096}).test_client()
    bomb = gzip.compress(b" " * 100_000)
    assert len(bomb) < 4096
    problem(client.post("/v2/models/iris/infer", data=bomb, headers={"Content-Encoding": "gzip"}), 413, "4096")


# --- Malformed framing -------------------------------------------------------------------------


def framed(header: dict, data: bytes, length: int | None = None):
    text = __import__("json").dumps(header).encode()
    return text + data, {HEADER: str(len(text) if length is None else length)}


def one_input(datatype="FP64", shape=(1, 4), size=32, name="input-0"):
    return {"inputs": [{"name": name, "datatype": datatype, "shape": list(shape),
                        "parameters": {"binary_data_size": size}}]}


@pytest.mark.parametrize("case, fragment", [
    ("header_not_a_number", "Inference-Header-Content-Length"),
    ("header_past_the_end", "Inference-Header-Content-Length"),
    ("size_does_not_fit_shape", "takes 32 bytes"),
    ("sizes_do_not_add_up", "add up to"),
    ("size_without_header", "no Inference-Header-Content-Length"),
    ("data_and_size", "both 'data' and"),
    ("no_data", "has no elements"),
    ("bytes_length_cut", "ends inside the 4-byte length"),
    ("bytes_element_overruns", "only 2 bytes are left"),
    ("bytes_count", "holds 1 BYTES elements"),
    ("bool_not_0_or_1", "is not a BOOL"),
    ("not_utf8", "is not UTF-8"),
])
def test_malformed_framing_is_a_400_naming_what_is_wrong(client, case, fragment):
    rows = np.array([ROWS[0]], dtype=np.float64).tobytes()
    bodies = {
        "header_not_a_number": (b"{}", {HEADER: "twelve"}),
        "header_past_the_end": (b"{}", {HEADER: "99"}),
        "size_does_not_fit_shape": framed(one_input(size=16), rows[:16]),
        "sizes_do_not_add_up": framed(one_input(), rows + b"extra"),
        "size_without_header": (__import__("json").dumps(one_input()).encode(), {}),
        "data_and_size": framed({"inputs": [{**one_input()["inputs"][0], "data": ROWS[0]}]}, rows),
        "no_data": framed({"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1, 4]}]}, b""),
        "bytes_length_cut": framed(one_input("BYTES", [1], 2, "colour"), b"\x03\x00"),
        "bytes_element_overruns": framed(one_input("BYTES", [1], 6, "colour"), struct.pack("<I", 5) + b"re"),
        "bytes_count": framed(one_input("BYTES", [2], 7, "colour"), struct.pack("<I", 3) + b"red"),
        "bool_not_0_or_1": framed(one_input("BOOL", [2], 2, "flag"), b"\x01\x02"),
        "not_utf8": framed({"inputs": [*one_input("BYTES", [1], 6, "colour")["inputs"],
                                       {"name": "size", "datatype": "FP64", "shape": [1], "data": [1.0]}]},
                           struct.pack("<I", 2) + b"\xff\xfe"),
    }
    data, headers = bodies[case]
    path = "/v2/models/shop/infer" if case in ("not_utf8",) else "/v2/models/iris/infer"
    body = problem(client.post(path, data=data, headers=headers), 400, fragment)
    assert body["errors"] and all("path" in e and "message" in e for e in body["errors"])


# --- Validation, as on /v1 ---------------------------------------------------------------------


def test_missing_unknown_and_repeated_tensors_are_all_listed(client, feature_tensors):
    tensors = feature_tensors()[:2] + [{"name": "colour", "datatype": "BYTES", "shape": [3], "data": ["a"] * 3},
                                       feature_tensors()[0]]
    body = problem(infer(client, {"inputs": tensors}), 400, "one tensor per feature", "petal_length")
    messages = {e["path"]: e["message"] for e in body["errors"]}
    assert "'colour' is not a feature of this model" in messages["inputs/2/name"]
    assert "sent twice" in messages["inputs/3/name"]
    assert sum("has no tensor for feature" in e["message"] for e in body["errors"]) == 2


def test_values_are_checked_by_the_model_schema_with_tensor_paths(client):
    body = {"inputs": [{"name": "colour", "datatype": "BYTES", "shape": [3], "data": ["red", "purple", "pink"]},
                       {"name": "size", "datatype": "FP64", "shape": [3], "data": [1.0, 2.0, 3.0]}]}
    answer = problem(infer(client, body, path="/v2/models/shop/infer"), 400)
    assert [e["path"] for e in answer["errors"]] == ["inputs/0/data/1", "inputs/0/data/2"]
    assert all("must be one of" in e["message"] for e in answer["errors"])


def test_datatype_shape_and_element_errors(client, feature_tensors):
    wrong_type = feature_tensors()
    wrong_type[1] = {**wrong_type[1], "datatype": "BYTES", "data": ["1", "2", "3"]}
    problem(infer(client, {"inputs": wrong_type}), 400, "'sepal_width' has datatype BYTES", "send FP64")
    uneven = feature_tensors()
    uneven[3] = {**uneven[3], "shape": [2], "data": [0.1, 0.2]}
    problem(infer(client, {"inputs": uneven}), 400, "different numbers of rows")
    count = feature_tensors()
    count[0] = {**count[0], "shape": [4]}
    problem(infer(client, {"inputs": count}), 400, "has 3 elements in 'data'", "takes 4")
    strings = feature_tensors()
    strings[2] = {**strings[2], "data": [1.0, "x", True]}
    body = problem(infer(client, {"inputs": strings}), 400, "element 1, 2 must be a number")
    assert [e["path"] for e in body["errors"]] == ["inputs/2/data/1", "inputs/2/data/2"]
    problem(infer(client, {"inputs": [{"name": "m", "datatype": "FP64", "shape": [1, 3], "data": [1, 2, 3]}]}),
            400, "shape [n, 4]")
    problem(infer(client, {"inputs": [{"name": "m", "datatype": "INT8", "shape": [1, 4], "data": [1, 2, 3, 300]}]}),
            400, "beyond the range of INT8")


def test_nan_and_infinity_in_binary_data_are_refused(client):
    rows = np.array([[5.0, np.nan, 1.5, 0.2], [np.inf, 3.0, 5.5, 2.0]])
    tensor = triton.InferInput("input-0", [2, 4], "FP64")
    tensor.set_data_from_numpy(rows)
    raw, length = triton.InferenceServerClient.generate_request_body([tensor])
    body = problem(client.post("/v2/models/iris/infer", data=raw, headers={HEADER: str(length)}), 400, "finite")
    assert [e["path"] for e in body["errors"]] == ["inputs/0/data/1", "inputs/0/data/4"]


def test_whole_number_features_refuse_fractions_and_overflow(mixed_app):
    client = mixed_app.test_client()
    tensors = [{"name": "visits", "datatype": "FP64", "shape": [2], "data": [3.0, 2.5]},
               {"name": "member", "datatype": "BOOL", "shape": [2], "data": [True, False]},
               {"name": "spend", "datatype": "FP64", "shape": [2], "data": [0.5, 1.0]}]
    body = problem(infer(client, {"inputs": tensors}, path="/v2/models/mixed/infer"), 400)
    assert [e["path"] for e in body["errors"]] == ["inputs/0/data/1"]
    tensors[0] = {"name": "visits", "datatype": "FP64", "shape": [2], "data": [3.0, 4.0]}
    assert infer(client, {"inputs": tensors}, path="/v2/models/mixed/infer").status_code == 200
    tensors[1] = {"name": "member", "datatype": "INT64", "shape": [2], "data": [1, 0]}
    problem(infer(client, {"inputs": tensors}, path="/v2/models/mixed/infer"), 400, "'member' has datatype INT64",
            "send BOOL")


def test_the_request_envelope_is_checked_whole(client):
    body = problem(infer(client, {"input": [], "id": 5, "outputs": "predict"}), 400)
    paths = {e["path"] for e in body["errors"]}
    assert {"", "id", "outputs"} <= paths
    problem(infer(client, {"inputs": [{"name": "x", "datatype": "FLOAT", "shape": [1], "data": [1]}]}), 400,
            "datatypes BOOL")
    problem(client.post("/v2/models/iris/infer", data=b"{not json", content_type="application/json"), 400,
            "not valid JSON")
    problem(client.post("/v2/models/iris/infer", data=b"a,b", content_type="text/csv"), 415, "application/json")


def test_output_errors(client, feature_tensors):
    problem(infer(client, {"inputs": feature_tensors(), "outputs": [{"name": "labels"}]}), 400,
            "'labels' is not an output")
    problem(infer(client, {"inputs": feature_tensors(), "outputs": [{"name": "predict"}, {"name": "predict"}]}), 400,
            "asked for twice")
    linear = [{"name": f"x_{i}", "datatype": "FP64", "shape": [1], "data": [0.5]} for i in range(3)]
    problem(infer(client, {"inputs": linear, "outputs": [{"name": "predict_proba"}]}, path="/v2/models/linear/infer"),
            400, "model 'linear' has no class probabilities")


def test_limits_are_those_of_v1(repo, feature_tensors):
    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "MAX_BATCH_SIZE": 2}).test_client()
    problem(infer(client, {"inputs": feature_tensors()}), 413, "3 rows", "limit is 2")
    empty = [{**t, "shape": [0], "data": []} for t in feature_tensors()]
    problem(infer(client, {"inputs": empty}), 400, "no rows")


def test_v2_requests_are_batched_and_counted_with_their_protocol(client, setosa, feature_tensors):
    def sample(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0.0

    rows = ("modelhost_batch_rows_count", {"model": "iris", "version": "2"})
    requests = ("modelhost_prediction_requests_total", {"model": "iris", "version": "2", "protocol": "v2",
                                                        "status": "200"})
    instances = ("modelhost_predicted_instances_total", {"model": "iris", "version": "2", "protocol": "v2"})
    before = [sample(n, **labels) for n, labels in (rows, requests, instances)]
    assert infer(client, {"inputs": feature_tensors()}).status_code == 200
    after = [sample(n, **labels) for n, labels in (rows, requests, instances)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 3]
    v1_requests = {**requests[1], "protocol": "v1"}
    before_v1 = sample(requests[0], **v1_requests)
    client.post("/v1/models/iris/predict", json=setosa)
    assert sample(requests[0], **v1_requests) - before_v1 == 1


def test_unknown_paths_and_methods_under_v2_carry_error_too(client):
    problem(client.get("/v2/nothing/here"), 404)
    problem(client.get("/v2/models/iris/infer"), 405)


def test_int64_rows_take_the_whole_int64_range_for_number_features(client, mixed_app):
    # The document says so (app/http/infer_schema.py): number features take -2^63; whole-number ones stop
    # at -(2^63 - 1).
    rows = {"name": "x", "datatype": "INT64", "shape": [1, 4], "data": [-(2**63), 0, 0, 2**63 - 1]}
    assert infer(client, {"inputs": [rows]}).status_code == 200
    tensors = [{"name": "visits", "datatype": "INT64", "shape": [1], "data": [-(2**63)]},
               {"name": "member", "datatype": "BOOL", "shape": [1], "data": [True]},
               {"name": "spend", "datatype": "FP64", "shape": [1], "data": [0.5]}]
    body = problem(infer(mixed_app.test_client(), {"inputs": tensors}, path="/v2/models/mixed/infer"), 400)
    assert [e["path"] for e in body["errors"]] == ["inputs/0/data/0"]


def test_the_plain_envelope_check_never_accepts_what_the_schema_refuses():
    """app/core/codecs/tensors.py's quick check and REQUEST_SCHEMA agree: every variation refused by one is
    by the other."""
    import copy

    from jsonschema import Draft202012Validator

    from app.core.codecs import tensors

    validator = Draft202012Validator(tensors.REQUEST_SCHEMA)
    good = {"id": "a", "parameters": {"binary_data_output": True, "custom": 1},
            "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4],
                        "parameters": {"binary_data_size": 0}}],
            "outputs": [{"name": "predict", "parameters": {"binary_data": False}}]}
    assert tensors._plain(good) and validator.is_valid(good)
    wrong = [None, 1, "x", [], {"x": 1}, {"name": ""}, {"binary_data_output": "yes"}, {"binary_data": 1},
             {"binary_data_size": -1}, {"binary_data_size": True}, -1, True, 1.5, {}]
    paths = [("id",), ("parameters",), ("parameters", "binary_data_output"), ("inputs",), ("inputs", 0),
             ("inputs", 0, "name"), ("inputs", 0, "datatype"), ("inputs", 0, "shape"), ("inputs", 0, "shape", 0),
             ("inputs", 0, "data"), ("inputs", 0, "parameters"), ("inputs", 0, "parameters", "binary_data_size"),
             ("inputs", 0, "extra"), ("outputs",), ("outputs", 0), ("outputs", 0, "name"),
             ("outputs", 0, "parameters"), ("outputs", 0, "parameters", "binary_data"), ("extra",)]
    checked = 0
    for path in paths:
        for value in wrong:
            request = copy.deepcopy(good)
            target = request
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
            if not validator.is_valid(request):
                assert not tensors._plain(request), (path, value)
                with pytest.raises(Exception) as raised:
                    tensors.check_request(request)
                assert raised.value.status == 400
                checked += 1
    assert checked > 150
