"""The bodies of bench/protocols.py: the same rows in each protocol, and how to read each protocol's answer.

  /v1              modelhost's own POST /v1/models/iris_lr/predict, {"instances": rows}: the reference
  KServe V1        POST /v1/models/iris_lr:predict, the same body
  V2 JSON, rows    POST /v2/models/iris_lr/infer, the rows as one [n, 4] FP64 tensor (flat data)
  V2 JSON, columns the same, one [n] FP64 tensor per feature (named as GET /v2/models/iris_lr says)
  V2 binary        the [n, 4] FP64 tensor as binary tensor data, `predict` asked for as binary data:
                   the body of tritonclient's InferenceServerClient.generate_request_body, sent with
                   its Inference-Header-Content-Length
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import make_models
import numpy as np
import requests
from harness.checks import mismatch
from harness.console import BenchError
from harness.paths import MODELS_DIR, OUT_DIR
from harness.servers import HTTP_TIMEOUT, Server

#: The model every protocol's body goes to: the LogisticRegression, whose predict call is cheap,
#: so what a protocol costs shows.
MODEL = "iris_lr"
PROTOCOLS_DIR = OUT_DIR / "protocols"
HEADER_LENGTH = "Inference-Header-Content-Length"
JSON = "application/json"

Encoder = Callable[[np.ndarray, list[str]], tuple[bytes, dict[str, str]]]
#: The predictions of a 200 answer to a body of so many rows (mismatch checks them); AnswerError
#: for an answer its protocol does not allow.
Reader = Callable[[requests.Response, int], Any]


class AnswerError(Exception):
    """An answer that is not what its protocol promises."""


def rows_json(rows: np.ndarray, features: list[str]) -> tuple[bytes, dict[str, str]]:
    """bench/throughput.py's body: {"instances": rows}."""
    return json.dumps({"instances": rows.tolist()}).encode(), {}


def v2_rows_json(rows: np.ndarray, features: list[str]) -> tuple[bytes, dict[str, str]]:
    tensor = {"name": "input-0", "datatype": "FP64", "shape": list(rows.shape), "data": rows.ravel().tolist()}
    return json.dumps({"inputs": [tensor]}).encode(), {}


def v2_columns_json(rows: np.ndarray, features: list[str]) -> tuple[bytes, dict[str, str]]:
    tensors = [{"name": name, "datatype": "FP64", "shape": [len(rows)], "data": rows[:, i].tolist()}
               for i, name in enumerate(features)]
    return json.dumps({"inputs": tensors}).encode(), {}


def v2_binary(rows: np.ndarray, features: list[str]) -> tuple[bytes, dict[str, str]]:
    """tritonclient's body: the [n, 4] FP64 tensor as binary data, `predict` asked for as binary data."""
    import tritonclient.http as httpclient  # here: gevent and friends only when the bench gets this far

    tensor = httpclient.InferInput("input-0", list(rows.shape), "FP64")
    tensor.set_data_from_numpy(np.ascontiguousarray(rows, dtype=np.float64), binary_data=True)
    output = httpclient.InferRequestedOutput("predict", binary_data=True)
    body, json_size = httpclient.InferenceServerClient.generate_request_body([tensor], outputs=[output])
    if json_size is None:
        raise BenchError("tritonclient made a body without binary data for the binary protocol")
    return bytes(body), {HEADER_LENGTH: str(json_size)}


def json_answer(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise AnswerError("the answer is not JSON") from None


def read_v1(response: requests.Response, rows: int) -> Any:
    answer = json_answer(response)
    if not isinstance(answer, dict) or (answer.get("model"), answer.get("version")) != (MODEL, "1"):
        raise AnswerError(f"expected the answer of {MODEL} version 1")
    return answer.get("predictions")  # checked by mismatch


def read_kserve(response: requests.Response, rows: int) -> Any:
    answer = json_answer(response)
    if not isinstance(answer, dict) or set(answer) != {"predictions"}:
        raise AnswerError('expected {"predictions": [...]} and nothing else')
    return answer["predictions"]


def read_v2_json(response: requests.Response, rows: int) -> Any:
    answer = json_answer(response)
    if not isinstance(answer, dict) or (answer.get("model_name"), answer.get("model_version")) != (MODEL, "1"):
        raise AnswerError(f"expected the answer of {MODEL} version 1")
    outputs = [o for o in answer.get("outputs") or [] if isinstance(o, dict) and o.get("name") == "predict"]
    if len(outputs) != 1 or "data" not in outputs[0]:
        raise AnswerError("expected one output named predict, with its data in JSON")
    shape = outputs[0].get("shape")
    if shape not in ([rows], [rows, 1]):  # MLServer answers [n, 1]
        raise AnswerError(f"expected predict of shape [{rows}], got {shape}")
    return outputs[0]["data"]


def read_v2_binary(response: requests.Response, rows: int) -> Any:
    import tritonclient.http as httpclient

    if response.headers.get("Content-Type") != "application/octet-stream" or HEADER_LENGTH not in response.headers:
        raise AnswerError(f"expected application/octet-stream with {HEADER_LENGTH}")
    result = httpclient.InferenceServerClient.parse_response_body(
        response.content, header_length=int(response.headers[HEADER_LENGTH]))
    predict = result.as_numpy("predict")
    if predict is None or predict.shape != (rows,):
        raise AnswerError(f"expected predict of shape [{rows}] as binary data, got {predict!r:.200}")
    return predict.tolist()


@dataclass(frozen=True)
class Protocol:
    label: str
    slug: str
    #: The request path, ``{model}`` filled in.
    path: str
    content_type: str
    encode: Encoder
    read: Reader


V1 = Protocol("/v1", "v1", "/v1/models/{model}/predict", JSON, rows_json, read_v1)
KSERVE = Protocol("KServe V1 :predict", "kserve", "/v1/models/{model}:predict", JSON, rows_json, read_kserve)
V2_ROWS = Protocol("V2 JSON, [n, 4] tensor", "v2-rows", "/v2/models/{model}/infer", JSON, v2_rows_json, read_v2_json)
V2_COLUMNS = Protocol("V2 JSON, tensor per feature", "v2-columns", "/v2/models/{model}/infer", JSON,
                      v2_columns_json, read_v2_json)
V2_BINARY = Protocol("V2 binary, [n, 4] tensor", "v2-binary", "/v2/models/{model}/infer", "application/octet-stream",
                     v2_binary, read_v2_binary)
PROTOCOLS = (V1, KSERVE, V2_ROWS, V2_COLUMNS, V2_BINARY)


@dataclass(frozen=True, eq=False)
class Body:
    """One protocol's body for some rows, written to a file for wrk."""

    protocol: Protocol
    rows: np.ndarray
    path: Path
    headers: dict[str, str]

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    @property
    def url_path(self) -> str:
        return self.protocol.path.format(model=MODEL)


def write_body(protocol: Protocol, rows: np.ndarray, features: list[str]) -> Body:
    data, headers = protocol.encode(rows, features)
    suffix = "bin" if protocol.content_type != JSON else "json"
    path = PROTOCOLS_DIR / "bodies" / f"{protocol.slug}-{len(rows)}rows.{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return Body(protocol, rows, path, headers)


def feature_names(server: Server) -> list[str]:
    """The model's inputs, one per feature, from its V2 metadata."""
    response = requests.get(f"{server.url}/v2/models/{MODEL}", timeout=HTTP_TIMEOUT)
    if response.status_code != 200:
        raise BenchError(f"GET /v2/models/{MODEL} answered HTTP {response.status_code}: {response.text[:300]}")
    return [tensor["name"] for tensor in response.json()["inputs"]]


def predictions(server: Server, body: Body, session: requests.Session) -> Any:
    """The server's predictions for a body, read as its protocol says; BenchError for any other answer."""
    where = f"{server.name}, {body.protocol.label}, {len(body.rows)} rows"
    try:
        response = session.post(server.url + body.url_path, data=body.path.read_bytes(), timeout=HTTP_TIMEOUT,
                                headers={"Content-Type": body.protocol.content_type, **body.headers})
    except requests.RequestException as exc:
        raise BenchError(f"{where}: no answer: {exc}") from None
    if response.status_code != 200:
        raise BenchError(f"{where}: HTTP {response.status_code}: {' '.join(response.text.split())[:500]}")
    try:
        return body.protocol.read(response, len(body.rows))
    except AnswerError as exc:
        raise BenchError(f"{where}: {exc}: {' '.join(response.text.split())[:300]}") from None


def verify(server: Server, bodies: list[Body], reference: dict[int, list[Any]]) -> None:
    """Every body's predictions equal the reference (/v1's) for its rows, value and JSON type alike."""
    with requests.Session() as session:
        for body in bodies:
            got = predictions(server, body, session)
            if problem := mismatch(got, reference[len(body.rows)]):
                raise BenchError(f"{server.name}, {body.protocol.label}, {len(body.rows)} rows: predictions "
                                 f"differ from /v1's: {problem}")


def reference_predictions(server: Server, row_sets: list[np.ndarray], features: list[str]) -> dict[int, list[Any]]:
    """/v1's predictions for each set of rows, by its length; BenchError unless they are ``model.predict``'s."""
    estimator = joblib.load(make_models.artifact_path(MODELS_DIR, MODEL))
    reference: dict[int, list[Any]] = {}
    with requests.Session() as session:
        for rows in row_sets:
            got = predictions(server, write_body(V1, rows, features), session)
            if problem := mismatch(got, estimator.predict(rows).tolist()):
                raise BenchError(f"{server.name}, /v1, {len(rows)} rows: predictions differ from "
                                 f"model.predict: {problem}")
            reference[len(rows)] = got
    return reference
