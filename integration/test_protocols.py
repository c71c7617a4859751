"""The Open Inference Protocol V2 (/v2) and KServe V1 (``:predict``), spoken by the clients their users run.

V2 is driven with the real ``tritonclient.http`` (the client of Triton, KServe and MLServer
users), so what passes here is what such a user's script gets: health, server and model
metadata, readiness, and inference with JSON and binary tensor data, both input forms (one
tensor per feature, or the rows in one ``[n, n_features]`` tensor), compressed bodies, and
errors raised as ``InferenceServerException`` carrying modelhost's own message. KServe V1 is
plain JSON, driven with ``requests``.

Every answer is checked against /v1's answer for the same rows (``POST /v1/models/<name>/predict
?probabilities=true``): the same estimator sees the same float64 input, so labels, regression
outputs and class probabilities must be *exactly* equal, not merely close. The FP32 form rounds
the input, so it is compared with /v1's answer for the float32-rounded rows. The rows are a few
dozen, drawn with a fixed seed from each feature's minimum..maximum as /v1/models/<name> lists them.

Tests that start containers of their own (a body limit answered by Apache, a token) need the
docker CLI and the image (containers.py); the rest run against any BASE_URL. With
MODELHOST_TEST_TOKEN set, every model call sends it.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import requests
import tritonclient.http as httpclient
from containers import needs_containers
from tritonclient.utils import InferenceServerException

TIMEOUT = 10
DEMO_MODELS = ("iris", "breast_cancer", "diabetes")
#: Rows per inference: each feature's minimum, its maximum, then random rows in between.
ROWS = 36
SEED = 20261201
MAX_CONTENT_LENGTH = int(os.environ.get("MODELHOST_MAX_CONTENT_LENGTH", str(10 * 1024 * 1024)))
TOKEN = os.environ.get("MODELHOST_TEST_TOKEN")
#: The datatype GET /v2/models/<name> declares for each feature type.
DATATYPES = {"number": "FP64", "integer": "INT64"}
#: The ways to send the rows: one tensor per feature (in its declared datatype, or all FP64),
#: or all rows in one [n, n_features] tensor (FP64, or FP32, which rounds the values).
FORMS = ("features", "features_fp64", "rows_fp64", "rows_fp32")


def auth() -> dict[str, str]:
    """The headers of a model call: a new dict each time, as tritonclient adds its own headers to it."""
    return {"Authorization": f"Bearer {TOKEN}"} if TOKEN else {}


def client_for(url: str) -> httpclient.InferenceServerClient:
    """A tritonclient for a server at ``http(s)://host:port``: tritonclient takes the URL without its scheme."""
    scheme, _, rest = url.partition("://")
    return httpclient.InferenceServerClient(url=rest, ssl=scheme == "https", network_timeout=60)


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[httpclient.InferenceServerClient]:
    with client_for(base_url) as triton:
        yield triton


@dataclass
class Model:
    """What /v1 says about a served model."""

    name: str
    task: str
    default_version: str
    versions: list[str]
    features: list[dict[str, Any]]
    classes: list[Any] | None

    @property
    def names(self) -> list[str]:
        return [f["name"] for f in self.features]

    @property
    def is_classifier(self) -> bool:
        return self.task == "classification"


@pytest.fixture(scope="module")
def models(session: requests.Session, base_url: str) -> dict[str, Model]:
    """The models GET /v1/models lists, each with its metadata from GET /v1/models/<name>."""
    response = session.get(f"{base_url}/v1/models", timeout=TIMEOUT)
    assert response.status_code == 200, response.text[:500]
    found = {}
    for entry in response.json()["models"]:
        detail = session.get(f"{base_url}/v1/models/{entry['name']}", timeout=TIMEOUT)
        assert detail.status_code == 200, detail.text[:500]
        meta = detail.json()
        found[entry["name"]] = Model(entry["name"], meta["task"], str(entry["default_version"]),
                                     [str(v) for v in entry["versions"]], meta["features"],
                                     meta["target"].get("classes"))
    missing = [name for name in DEMO_MODELS if name not in found]
    assert not missing, f"GET /v1/models does not list the demo models {missing}: {sorted(found)}"
    return found


def sample_rows(model: Model) -> list[list[Any]]:
    """ROWS rows in feature order: the minima, the maxima, then seeded random values in between.

    Integer features get whole numbers (Python ints), number features any float64 in the range.
    """
    for feature in model.features:
        assert feature.get("type") in DATATYPES, f"{model.name}: feature {feature} is not a number or integer"
        assert feature.get("minimum") is not None and feature.get("maximum") is not None, \
            f"{model.name}: feature {feature['name']} has no minimum/maximum to draw rows from"
    rng = np.random.default_rng([SEED, DEMO_MODELS.index(model.name)])
    rows = [[f["minimum"] for f in model.features], [f["maximum"] for f in model.features]]
    for _ in range(ROWS - 2):
        rows.append([int(rng.integers(f["minimum"], f["maximum"], endpoint=True)) if f["type"] == "integer"
                     else float(rng.uniform(f["minimum"], f["maximum"])) for f in model.features])
    return [[int(v) if f["type"] == "integer" else float(v) for f, v in zip(model.features, row, strict=True)]
            for row in rows]


def float32_rows(model: Model, rows: list[list[Any]]) -> list[list[Any]]:
    """The rows as an FP32 tensor carries them: every value rounded to float32 (whole numbers stay exact)."""
    rounded = np.asarray(rows, dtype=np.float64).astype(np.float32).astype(np.float64).tolist()
    return [[int(v) if f["type"] == "integer" else v for f, v in zip(model.features, row, strict=True)]
            for row in rounded]


@dataclass
class Reference:
    """/v1's answer for some rows: the predictions and, for classifiers, the probabilities in class order."""

    predictions: list[Any]
    probabilities: np.ndarray | None


def v1_reference(session: requests.Session, base_url: str, model: Model, rows: list[list[Any]]) -> Reference:
    params = {"probabilities": "true"} if model.is_classifier else None
    response = session.post(f"{base_url}/v1/models/{model.name}/predict", params=params,
                            json={"instances": rows}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text[:500]
    answer = response.json()
    assert len(answer["predictions"]) == len(rows)
    probabilities = None
    if model.is_classifier:
        probabilities = np.array([[p[str(c)] for c in model.classes] for p in answer["probabilities"]])
    return Reference(answer["predictions"], probabilities)


def inputs_for(model: Model, rows: list[list[Any]], form: str, binary: bool) -> list[httpclient.InferInput]:
    """The rows as tritonclient inputs in one of FORMS, as raw binary data or as JSON."""
    if form.startswith("rows"):
        dtype, datatype = (np.float32, "FP32") if form == "rows_fp32" else (np.float64, "FP64")
        matrix = np.asarray(rows, dtype=dtype)
        return [httpclient.InferInput("input-0", list(matrix.shape), datatype)
                .set_data_from_numpy(matrix, binary_data=binary)]
    tensors = []
    for column, feature in enumerate(model.features):
        datatype = DATATYPES[feature["type"]] if form == "features" else "FP64"
        values = np.array([row[column] for row in rows], dtype=np.int64 if datatype == "INT64" else np.float64)
        tensors.append(httpclient.InferInput(feature["name"], [len(rows)], datatype)
                       .set_data_from_numpy(values, binary_data=binary))
    return tensors


def requested(model: Model, binary: bool) -> list[httpclient.InferRequestedOutput]:
    names = ["predict", "predict_proba"] if model.is_classifier else ["predict"]
    return [httpclient.InferRequestedOutput(name, binary_data=binary) for name in names]


def labels(array: np.ndarray) -> list[Any]:
    """``predict`` as JSON natives: BYTES come back as bytes (binary) or str (JSON); numbers as floats."""
    return [v.decode("utf-8") if isinstance(v, bytes) else v for v in array.tolist()]


def assert_same_as_v1(model: Model, result: httpclient.InferResult, reference: Reference, rows: int) -> None:
    predict = result.as_numpy("predict")
    assert predict is not None and predict.shape == (rows,)
    assert labels(predict) == reference.predictions
    if model.is_classifier:
        probabilities = result.as_numpy("predict_proba")
        assert probabilities is not None and probabilities.dtype == np.float64
        assert probabilities.shape == (rows, len(model.classes))
        assert result.get_output("predict_proba")["parameters"]["classes"] == model.classes
        difference = np.max(np.abs(probabilities - reference.probabilities))
        assert np.array_equal(probabilities, reference.probabilities), f"largest difference {difference!r}"


# --- Server: health and metadata ------------------------------------------------------------

def test_server_is_live_and_ready(client) -> None:
    assert client.is_server_live(headers=auth()) is True
    assert client.is_server_ready(headers=auth()) is True


def test_server_metadata_names_modelhost_and_binary_tensor_data(client) -> None:
    metadata = client.get_server_metadata(headers=auth())
    assert metadata["name"] == "modelhost"
    assert isinstance(metadata["version"], str) and metadata["version"]
    assert "binary_tensor_data" in metadata["extensions"]


# --- Models: readiness and metadata ---------------------------------------------------------

@pytest.mark.parametrize("name", DEMO_MODELS)
def test_model_is_ready_by_default_route_and_by_version(client, models, name) -> None:
    assert client.is_model_ready(name, headers=auth()) is True
    assert client.is_model_ready(name, models[name].default_version, headers=auth()) is True


@pytest.mark.parametrize("name,version", [("no_such_model", ""), ("iris", "999")], ids=["model", "version"])
def test_unknown_model_or_version_is_not_ready(client, name, version) -> None:
    assert client.is_model_ready(name, version, headers=auth()) is False


@pytest.mark.parametrize("name", DEMO_MODELS)
def test_model_metadata_has_a_tensor_per_feature_and_the_outputs(client, models, name) -> None:
    model = models[name]
    metadata = client.get_model_metadata(name, headers=auth())
    assert metadata["name"] == name
    assert metadata["versions"] == model.versions
    assert [i["name"] for i in metadata["inputs"]] == model.names
    assert [i["datatype"] for i in metadata["inputs"]] == [DATATYPES[f["type"]] for f in model.features]
    assert all(i["shape"] == [-1] for i in metadata["inputs"]), metadata["inputs"]
    outputs = {o["name"]: o for o in metadata["outputs"]}
    if model.is_classifier:
        assert list(outputs) == ["predict", "predict_proba"]
        assert outputs["predict"]["datatype"] == "BYTES"  # the demo classifiers' classes are strings
        assert outputs["predict_proba"]["datatype"] == "FP64"
        assert outputs["predict_proba"]["shape"] == [-1, len(model.classes)]
        assert outputs["predict_proba"]["parameters"]["classes"] == model.classes
    else:
        assert list(outputs) == ["predict"]
        assert outputs["predict"]["datatype"] == "FP64"
    assert outputs["predict"]["shape"] == [-1]
    matrix = metadata["parameters"]["matrix_input"]
    assert matrix["shape"] == [-1, len(model.names)] and matrix["columns"] == model.names
    assert {"FP64", "FP32"} <= set(matrix["datatypes"])


@pytest.mark.parametrize("name", DEMO_MODELS)
def test_version_metadata_names_that_version(client, models, name) -> None:
    version = models[name].default_version
    metadata = client.get_model_metadata(name, version, headers=auth())
    assert metadata["versions"] == [version]
    assert [i["name"] for i in metadata["inputs"]] == models[name].names


def test_metadata_of_an_unknown_model_raises_404(client) -> None:
    with pytest.raises(InferenceServerException) as caught:
        client.get_model_metadata("no_such_model", headers=auth())
    assert caught.value.status() == "404"
    assert "No model named 'no_such_model'" in caught.value.message()


# --- Inference: every form, JSON and binary, against /v1 ------------------------------------

@pytest.mark.parametrize("binary_output", [True, False], ids=["binary-out", "json-out"])
@pytest.mark.parametrize("binary_input", [True, False], ids=["binary-in", "json-in"])
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("name", DEMO_MODELS)
def test_infer_answers_as_v1_does(client, session, base_url, models, name, form, binary_input,
                                  binary_output) -> None:
    model = models[name]
    rows = sample_rows(model)
    sent = float32_rows(model, rows) if form == "rows_fp32" else rows
    reference = v1_reference(session, base_url, model, sent)
    result = client.infer(name, inputs_for(model, rows, form, binary_input), outputs=requested(model, binary_output),
                          headers=auth())
    response = result.get_response()
    assert response["model_name"] == name and response["model_version"] == model.default_version
    for output in response["outputs"]:
        # Each output in the form asked for: raw data after the JSON part, or its elements in JSON.
        if binary_output:
            assert "data" not in output and output["parameters"]["binary_data_size"] > 0, output
        else:
            assert "data" in output and "binary_data_size" not in output.get("parameters", {}), output
    assert_same_as_v1(model, result, reference, len(rows))


def test_fp32_rows_are_read_as_float32(client, session, base_url, models) -> None:
    """The FP32 check above means something only if rounding to float32 changes a probability: it does."""
    model = models["iris"]
    rows = sample_rows(model)
    exact = v1_reference(session, base_url, model, rows)
    rounded = v1_reference(session, base_url, model, float32_rows(model, rows))
    assert not np.array_equal(exact.probabilities, rounded.probabilities)
    result = client.infer("iris", inputs_for(model, rows, "rows_fp32", True), outputs=requested(model, True),
                          headers=auth())
    assert np.array_equal(result.as_numpy("predict_proba"), rounded.probabilities)


@pytest.mark.parametrize("name", DEMO_MODELS)
def test_infer_on_a_version_answers_as_that_version(client, session, base_url, models, name) -> None:
    model = models[name]
    rows = sample_rows(model)[:8]
    result = client.infer(name, inputs_for(model, rows, "features", True), model_version=model.default_version,
                          outputs=requested(model, True), headers=auth())
    assert result.get_response()["model_version"] == model.default_version
    assert_same_as_v1(model, result, v1_reference(session, base_url, model, rows), len(rows))


@pytest.mark.parametrize("name", DEMO_MODELS)
def test_infer_without_outputs_answers_predict_in_binary(client, session, base_url, models, name) -> None:
    """tritonclient then asks for every output as binary data (binary_data_output); the answer is predict."""
    model = models[name]
    rows = sample_rows(model)[:10]
    result = client.infer(name, inputs_for(model, rows, "rows_fp64", True), headers=auth())
    outputs = result.get_response()["outputs"]
    assert [o["name"] for o in outputs] == ["predict"]
    assert "binary_data_size" in outputs[0]["parameters"]
    assert result.as_numpy("predict_proba") is None
    assert labels(result.as_numpy("predict")) == v1_reference(session, base_url, model, rows).predictions


def test_request_id_is_echoed(client, models) -> None:
    rows = sample_rows(models["iris"])[:2]
    result = client.infer("iris", inputs_for(models["iris"], rows, "rows_fp64", True), request_id="protocols-42",
                          headers=auth())
    assert result.get_response()["id"] == "protocols-42"


@pytest.mark.parametrize("binary_input", [True, False], ids=["binary-in", "json-in"])
@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_compressed_request_body(client, session, base_url, models, algorithm, binary_input) -> None:
    model = models["breast_cancer"]
    rows = sample_rows(model)
    result = client.infer(model.name, inputs_for(model, rows, "features", binary_input),
                          outputs=requested(model, True), request_compression_algorithm=algorithm, headers=auth())
    assert_same_as_v1(model, result, v1_reference(session, base_url, model, rows), len(rows))


@pytest.mark.parametrize("binary_output", [True, False], ids=["binary-out", "json-out"])
@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_compressed_response_body(client, session, base_url, models, algorithm, binary_output) -> None:
    """Asked for compression, the server may compress (Apache does for JSON) or not; the answer is right."""
    model = models["breast_cancer"]
    rows = sample_rows(model)
    result = client.infer(model.name, inputs_for(model, rows, "rows_fp64", True),
                          outputs=requested(model, binary_output), response_compression_algorithm=algorithm,
                          headers=auth())
    assert_same_as_v1(model, result, v1_reference(session, base_url, model, rows), len(rows))


# --- Inference errors: InferenceServerException with modelhost's message --------------------

IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


def iris_inputs(*, without: str | None = None, as_bytes: str | None = None,
                binary: bool = True) -> list[httpclient.InferInput]:
    """One FP64 tensor per iris feature; ``without`` leaves one out, ``as_bytes`` sends one as BYTES."""
    tensors = []
    for column, name in enumerate(["sepal_length", "sepal_width", "petal_length", "petal_width"]):
        if name == without:
            continue
        values = np.array([row[column] for row in IRIS_ROWS])
        if name == as_bytes:
            tensors.append(httpclient.InferInput(name, [len(values)], "BYTES")
                           .set_data_from_numpy(np.array([repr(v).encode() for v in values], dtype=object),
                                                binary_data=binary))
        else:
            tensors.append(httpclient.InferInput(name, [len(values)], "FP64").set_data_from_numpy(values, binary))
    return tensors


def raised(client: httpclient.InferenceServerClient, *args: Any, **kwargs: Any) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as caught:
        client.infer(*args, headers=auth(), **kwargs)
    return caught.value


def test_valid_iris_inputs_are_accepted(client) -> None:
    """The requests below are this one with one thing wrong: this one succeeds."""
    assert labels(client.infer("iris", iris_inputs(), headers=auth()).as_numpy("predict")) == ["setosa", "virginica"]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_missing_feature_tensor_raises_400(client, binary) -> None:
    error = raised(client, "iris", iris_inputs(without="petal_width", binary=binary))
    assert error.status() == "400"
    assert "has no tensor for feature 'petal_width'" in error.message(), error.message()
    assert "The features are sepal_length, sepal_width, petal_length, petal_width" in error.message()


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_bytes_for_a_number_feature_raises_400(client, binary) -> None:
    error = raised(client, "iris", iris_inputs(as_bytes="sepal_width", binary=binary))
    assert error.status() == "400"
    assert "Input 'sepal_width' has datatype BYTES, but feature 'sepal_width' is a number: send FP64" \
        in error.message(), error.message()


def test_nan_in_binary_data_raises_400(client) -> None:
    """JSON cannot carry NaN, raw FP64 data can: it is refused, naming the element (row 1, column 1)."""
    rows = np.array(IRIS_ROWS)
    rows[1, 1] = np.nan
    error = raised(client, "iris", [httpclient.InferInput("input-0", [2, 4], "FP64").set_data_from_numpy(rows)])
    assert error.status() == "400"
    assert "Input 'input-0': element 5 is NaN or infinite" in error.message(), error.message()


def test_rows_tensor_of_the_wrong_width_raises_400(client) -> None:
    rows = np.array(IRIS_ROWS)[:, :3].copy()
    error = raised(client, "iris", [httpclient.InferInput("input-0", [2, 3], "FP64").set_data_from_numpy(rows)])
    assert error.status() == "400"
    assert "takes shape [n, 4]" in error.message() and "it has shape [2, 3]" in error.message(), error.message()


def test_unknown_model_raises_404(client) -> None:
    error = raised(client, "no_such_model", iris_inputs())
    assert error.status() == "404"
    assert "No model named 'no_such_model'" in error.message(), error.message()


def test_unknown_version_raises_404(client) -> None:
    error = raised(client, "iris", iris_inputs(), model_version="999")
    assert error.status() == "404"
    assert "Model 'iris' has no version '999'" in error.message(), error.message()


def test_predict_proba_of_the_regressor_raises_400(client, models) -> None:
    model = models["diabetes"]
    inputs = inputs_for(model, sample_rows(model)[:3], "features", True)
    assert client.infer("diabetes", inputs, headers=auth()).as_numpy("predict").shape == (3,)
    error = raised(client, "diabetes", inputs, outputs=[httpclient.InferRequestedOutput("predict_proba")])
    assert error.status() == "400"
    assert "'predict_proba' is not an output: model 'diabetes' has no class probabilities" in error.message(), \
        error.message()


@pytest.mark.parametrize("method,path,body,status", [
    ("POST", "/v2/models/no_such_model/infer", {"inputs": []}, 404),
    ("POST", "/v2/models/iris/infer", "{not json", 400),
    ("POST", "/v2/models/iris/infer", {"inputs": [{"name": "x", "datatype": "FP64", "shape": [1]}]}, 400),
    ("GET", "/v2/models/iris/infer", None, 405),
    ("GET", "/v2/no-such-resource", None, 404),
], ids=["unknown-model", "not-json", "no-data", "wrong-method", "unknown-path"])
def test_v2_errors_are_problem_documents_with_error(session, base_url, method, path, body, status) -> None:
    """OIP clients read ``error``: it is the problem document's ``detail``, on every error under /v2."""
    data = body if isinstance(body, str) else json.dumps(body) if body is not None else None
    response = session.request(method, base_url + path, data=data, timeout=TIMEOUT,
                               headers={"Content-Type": "application/json"} if data is not None else {})
    assert response.status_code == status, response.text[:500]
    assert response.headers["Content-Type"].split(";")[0] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status and problem["detail"]
    assert problem["error"] == problem["detail"]


# --- Apache's own error documents on /v2 ----------------------------------------------------

def oversized_infer_body() -> bytes:
    """A valid JSON infer request for one iris row, padded by its id to 1 MiB over the body limit."""
    padding = "x" * (MAX_CONTENT_LENGTH + 1024 * 1024)
    return json.dumps({"id": padding, "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1, 4],
                                                  "data": IRIS_ROWS[0]}]}).encode()


def test_body_over_the_limit_is_413_with_error(session, base_url) -> None:
    """Apache refuses a Content-Length over the limit before the application sees it; its document has ``error``."""
    response = session.post(f"{base_url}/v2/models/iris/infer", data=oversized_infer_body(),
                            headers={"Content-Type": "application/json"}, timeout=60)
    assert response.status_code == 413, response.text[:500]
    assert response.headers["Content-Type"].split(";")[0] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 413 and problem["instance"] == "/v2/models/iris/infer"
    assert f"larger than the limit of {MAX_CONTENT_LENGTH} bytes" in problem["detail"], problem["detail"]
    assert problem["error"] == problem["detail"]
    assert problem["request_id"] == response.headers["X-Request-ID"]


def test_body_over_the_limit_raises_413_in_tritonclient(client) -> None:
    """tritonclient reports Apache's 413 with its message (it reads ``error``), not a decoding failure."""
    rows = np.tile(np.array(IRIS_ROWS[:1]), (MAX_CONTENT_LENGTH // 32 + 1024, 1))  # 32 bytes a row, binary
    error = raised(client, "iris", [httpclient.InferInput("input-0", list(rows.shape), "FP64")
                                    .set_data_from_numpy(rows)])
    assert error.status() == "413"
    assert f"The request body is larger than the limit of {MAX_CONTENT_LENGTH} bytes" in error.message(), \
        error.message()


@needs_containers
def test_configured_body_limit_is_413_with_error_in_tritonclient(start_container) -> None:
    """With a small MODELHOST_MAX_CONTENT_LENGTH, Apache's 413 names that limit, in ``detail`` and ``error``."""
    limit = 64 * 1024
    container = start_container(env={"MODELHOST_MAX_CONTENT_LENGTH": str(limit)})
    rows = np.tile(np.array(IRIS_ROWS[:1]), (limit // 32 + 100, 1))
    inputs = [httpclient.InferInput("input-0", list(rows.shape), "FP64").set_data_from_numpy(rows)]
    small = [httpclient.InferInput("input-0", [1, 4], "FP64").set_data_from_numpy(np.array(IRIS_ROWS[:1]))]
    with client_for(container.url) as triton:
        wait_until_ready(triton)
        assert labels(triton.infer("iris", small).as_numpy("predict")) == ["setosa"]
        with pytest.raises(InferenceServerException) as caught:
            triton.infer("iris", inputs)
    assert caught.value.status() == "413"
    assert f"The request body is larger than the limit of {limit} bytes" in caught.value.message()
    response = requests.post(container.url + "/v2/models/iris/infer", data=b"{" + b" " * limit + b"}",
                             headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
    assert response.status_code == 413
    problem = response.json()
    assert problem["error"] == problem["detail"] == caught.value.message()


# --- Tokens ---------------------------------------------------------------------------------

def wait_until_ready(triton: httpclient.InferenceServerClient, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not triton.is_server_ready():
        assert time.monotonic() < deadline, f"/v2/health/ready did not answer 200 within {timeout:.0f} s"
        time.sleep(0.5)


@needs_containers
def test_api_token_guards_v2_models_but_not_health(start_container) -> None:
    token = "protocols-secret"
    container = start_container(env={"MODELHOST_API_TOKEN": token})
    inputs = [httpclient.InferInput("input-0", [1, 4], "FP64").set_data_from_numpy(np.array(IRIS_ROWS[:1]))]
    with client_for(container.url) as triton:
        wait_until_ready(triton)  # health needs no token
        assert triton.is_server_live() is True
        with pytest.raises(InferenceServerException) as missing:
            triton.infer("iris", inputs)
        assert missing.value.status() == "401"
        assert missing.value.message() == "This server requires a token: send 'Authorization: Bearer <token>'."
        with pytest.raises(InferenceServerException) as wrong:
            triton.infer("iris", inputs, headers={"Authorization": "Bearer not-the-token"})
        assert wrong.value.status() == "401"
        assert "The bearer token is not valid" in wrong.value.message()
        with pytest.raises(InferenceServerException) as metadata:
            triton.get_model_metadata("iris")
        assert metadata.value.status() == "401"
        assert triton.is_model_ready("iris") is False
        right = {"Authorization": f"Bearer {token}"}
        assert triton.is_model_ready("iris", headers=dict(right)) is True
        assert triton.get_model_metadata("iris", headers=dict(right))["name"] == "iris"
        result = triton.infer("iris", inputs, headers=dict(right))
        assert labels(result.as_numpy("predict")) == ["setosa"]
    assert token not in container.logs()


# --- KServe V1 / TF Serving :predict --------------------------------------------------------

@pytest.mark.parametrize("route", ["default", "version"])
@pytest.mark.parametrize("shape", ["rows", "objects"])
@pytest.mark.parametrize("name", DEMO_MODELS)
def test_kserve_v1_predict_answers_predictions_only(session, base_url, models, name, shape, route) -> None:
    model = models[name]
    rows = sample_rows(model)
    instances = rows if shape == "rows" else [dict(zip(model.names, row, strict=True)) for row in rows]
    path = f"/v1/models/{name}" + (f"/versions/{model.default_version}" if route == "version" else "") + ":predict"
    response = session.post(base_url + path, json={"instances": instances}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["Content-Type"].split(";")[0] == "application/json"
    assert response.json() == {"predictions": v1_reference(session, base_url, model, rows).predictions}


@pytest.mark.parametrize("body,detail", [
    ({"signature_name": "serving_default", "instances": IRIS_ROWS}, "signature_name: a scikit-learn model has one"),
    ({"inputs": IRIS_ROWS}, "the columnar 'inputs' format is not supported"),
], ids=["signature_name", "columnar-inputs"])
def test_kserve_v1_unsupported_members_are_400_with_error(session, base_url, body, detail) -> None:
    response = session.post(f"{base_url}/v1/models/iris:predict", json=body, timeout=TIMEOUT)
    assert response.status_code == 400, response.text[:500]
    assert response.headers["Content-Type"].split(";")[0] == "application/problem+json"
    problem = response.json()
    assert detail in problem["detail"], problem["detail"]
    assert problem["error"] == problem["detail"]


# --- Metrics --------------------------------------------------------------------------------

def counter(session: requests.Session, base_url: str, metric: str, **match: str) -> float:
    """The sum of a counter's samples whose labels include ``match``, over every server process."""
    response = session.get(f"{base_url}/metrics", timeout=TIMEOUT)
    assert response.status_code == 200
    wanted = [f'{key}="{value}"' for key, value in match.items()]
    total = 0.0
    for line in response.text.splitlines():
        if line.startswith(metric + "{"):
            names, value = line.rsplit(" ", 1)
            if all(w in names for w in wanted):
                total += float(value)
    return total


def test_metrics_count_v2_and_kserve_v1_requests(client, session, base_url, models) -> None:
    model = models["iris"]
    rows = sample_rows(model)[:5]
    answered = {"model": "iris", "version": model.default_version, "status": "200"}

    def counts() -> tuple[float, ...]:
        return (counter(session, base_url, "modelhost_prediction_requests_total", protocol="v2", **answered),
                counter(session, base_url, "modelhost_prediction_requests_total", protocol="kserve_v1", **answered),
                counter(session, base_url, "modelhost_predicted_instances_total", protocol="v2", model="iris"),
                counter(session, base_url, "modelhost_predicted_instances_total", protocol="kserve_v1", model="iris"))

    before = counts()
    for _ in range(3):
        client.infer("iris", inputs_for(model, rows, "rows_fp64", True), headers=auth())
    for _ in range(2):
        response = session.post(f"{base_url}/v1/models/iris:predict", json={"instances": rows}, timeout=TIMEOUT)
        assert response.status_code == 200
    after = counts()
    assert [a - b for a, b in zip(after, before, strict=True)] == [3, 2, 3 * len(rows), 2 * len(rows)]
