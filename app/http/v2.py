"""The Open Inference Protocol (KServe V2) REST API under /v2, with the binary tensor data extension.

Clients of KServe, Seldon MLServer and Triton (tritonclient among them) talk to modelhost in
this protocol. Health and server metadata are open to probes; the model paths need the API
token when one is configured, as /v1 does. Predictions go through the same inference service
as /v1 (validation, limits, batching, metrics). Errors are the problem documents of /v1 with
the detail repeated as ``error``, where OIP clients read it (app/core/errors.py).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from app import urls
from app.core import SERVER_NAME, VERSION
from app.core.codecs import oipmodel
from app.core.codecs.binary import HEADER_LENGTH
from app.extensions import get_dataplane, get_registry
from app.http import state as requeststate
from app.http.auth import require_token
from app.http.bodies import decoded_body, is_json
from app.http.problems import UnsupportedMediaType

bp = Blueprint("v2", __name__, url_prefix=urls.V2)
#: What a probe reads: open like /health.
OPEN = frozenset({"v2.server_live", "v2.server_ready"})


@bp.before_request
def check_token() -> None:
    """The model paths need the API token when one is configured; health does not."""
    if request.endpoint not in OPEN:
        require_token()


@bp.get("")
def server_metadata() -> Response:
    """Server metadata: name, version and the protocol extensions it supports.
    ---
    tags: [v2]
    operationId: v2_server_metadata
    responses:
      200:
        description: The server's name, version and extensions.
        content:
          application/json:
            schema: {$ref: "#/components/schemas/V2ServerMetadata"}
      401: {$ref: "#/components/responses/V2_401"}
      500: {$ref: "#/components/responses/V2_500"}
    """
    return jsonify({"name": SERVER_NAME, "version": VERSION, "extensions": ["binary_tensor_data"]})


@bp.get("/health/live")
def server_live() -> Response:
    """Liveness in the Open Inference Protocol: 200 while the process can answer.
    ---
    tags: [v2]
    operationId: v2_server_live
    security: []
    responses:
      200:
        description: The process answers.
        content:
          application/json:
            schema: {$ref: "#/components/schemas/V2Live"}
      500: {$ref: "#/components/responses/V2_500"}
    """
    return jsonify({"live": True})


@bp.get("/health/ready")
def server_ready() -> Response:
    """Readiness in the Open Inference Protocol: 200 while every model's default version answers, 503 otherwise.

    The same rule as /health/ready, which also names each model and version.
    ---
    tags: [v2]
    operationId: v2_server_ready
    security: []
    responses:
      200:
        description: Every model's default version answers.
        content:
          application/json:
            schema: {$ref: "#/components/schemas/V2Ready"}
      500: {$ref: "#/components/responses/V2_500"}
      503:
        description: Some model has no version that answers; /health/ready says which and why.
        content:
          application/json:
            schema: {$ref: "#/components/schemas/V2Ready"}
    """
    ok = get_registry().serving()
    response = jsonify({"ready": ok})
    response.status_code = 200 if ok else 503
    return response


@bp.get("/models/<name>")
def model_metadata(name: str) -> Response:
    """Model metadata: the versions, and the input and output tensors of the default version.

    Inputs are one tensor per feature, named after it, of shape [-1] (or [-1, 1]); a model whose
    features are all numbers also takes its rows as one [-1, n_features] tensor of FP64, FP32 or
    INT64 (any name that is not a feature's), described in `parameters.matrix_input`. Outputs are
    `predict` and, for classifiers with probabilities, `predict_proba` with the class order in
    its `parameters.classes`.
    ---
    tags: [v2]
    operationId: v2_model_metadata
    parameters:
      - $ref: "#/components/parameters/ModelName"
    responses:
      200: {$ref: "#/components/responses/V2Metadata"}
      401: {$ref: "#/components/responses/V2_401"}
      404: {$ref: "#/components/responses/V2_404"}
      500: {$ref: "#/components/responses/V2_500"}
      503: {$ref: "#/components/responses/V2_503"}
    """
    return metadata(name, None)


@bp.get("/models/<name>/versions/<version>")
def version_metadata(name: str, version: str) -> Response:
    """Model metadata of one version: its input and output tensors.
    ---
    tags: [v2]
    operationId: v2_version_metadata
    parameters:
      - $ref: "#/components/parameters/ModelName"
      - $ref: "#/components/parameters/Version"
    responses:
      200: {$ref: "#/components/responses/V2Metadata"}
      401: {$ref: "#/components/responses/V2_401"}
      404: {$ref: "#/components/responses/V2_404"}
      500: {$ref: "#/components/responses/V2_500"}
      503: {$ref: "#/components/responses/V2_503"}
    """
    return metadata(name, version)


def metadata(name: str, version: str | None) -> Response:
    """The metadata of a model's default version (all its versions listed), or of one version."""
    registry = get_registry()
    model = registry.model(name)
    entry = registry.get(name, version if version is not None else str(model.default_version))
    runtime = entry.ready_runtime()
    versions = [str(v) for v in sorted(model.versions)] if version is None else [str(entry.version)]
    return jsonify(
        {"name": name, "versions": versions, "platform": "scikit-learn", **oipmodel.tensor_metadata(runtime)}
    )


@bp.get("/models/<name>/ready")
def model_ready(name: str) -> Response:
    """Model readiness: 200 when the default version answers, 503 when it failed to load.
    ---
    tags: [v2]
    operationId: v2_model_ready
    parameters:
      - $ref: "#/components/parameters/ModelName"
    responses:
      200: {$ref: "#/components/responses/V2ModelReady"}
      401: {$ref: "#/components/responses/V2_401"}
      404: {$ref: "#/components/responses/V2_404"}
      500: {$ref: "#/components/responses/V2_500"}
      503: {$ref: "#/components/responses/V2_503"}
    """
    return readiness(name, None)


@bp.get("/models/<name>/versions/<version>/ready")
def version_ready(name: str, version: str) -> Response:
    """Readiness of one model version: 200 when it answers, 503 when it failed to load.
    ---
    tags: [v2]
    operationId: v2_version_ready
    parameters:
      - $ref: "#/components/parameters/ModelName"
      - $ref: "#/components/parameters/Version"
    responses:
      200: {$ref: "#/components/responses/V2ModelReady"}
      401: {$ref: "#/components/responses/V2_401"}
      404: {$ref: "#/components/responses/V2_404"}
      500: {$ref: "#/components/responses/V2_500"}
      503: {$ref: "#/components/responses/V2_503"}
    """
    return readiness(name, version)


def readiness(name: str, version: str | None) -> Response:
    """200 when the version (by default the default one) answers; 503 (problem document) when it does not."""
    registry = get_registry()
    model = registry.model(name)
    registry.get(name, version if version is not None else str(model.default_version)).ready_runtime()
    return jsonify({"name": name, "ready": True})


@bp.post("/models/<name>/infer")
@bp.post("/models/<name>/versions/<version>/infer")
def infer(name: str, version: str | None = None) -> Response:
    """Inference in the Open Inference Protocol, in JSON or with the binary tensor data extension.

    The default route sends the canary's share of requests (the model's serving.json) to the
    canary version; `model_version` in the answer says which version answered.

    `inputs` are one tensor per feature, named after it, of shape [n] or [n, 1] (or, for models
    whose features are all numbers, one [n, n_features] tensor of rows). `data` may be flat or
    nested, row-major. `outputs` chooses `predict` and/or `predict_proba`; without it the answer
    is `predict`. Each output, or with the request parameter `binary_data_output` all of them, can
    come back as raw binary data (`parameters.binary_data: true`): the answer then starts with its
    JSON part, whose length the `Inference-Header-Content-Length` header gives. Binary input data
    works the same way: send that header with the length of the request's JSON part and put each
    input's size in its `parameters.binary_data_size`; BYTES elements are each preceded by their
    length as a 4-byte little-endian integer, other elements are little-endian. The body may be
    compressed (`Content-Encoding: gzip` or `deflate`).

    Values are checked as on /v1, against the same schema and limits, with every violation
    listed; the paths in `errors` name the tensor element at fault (`inputs/<i>/data/<j>`).
    ---
    # What a request holds depends on the model, so the document has this operation once per
    # model (app/http/openapi.py), with the request schema of its tensors and working examples.
    tags: [v2]
    parameters:
      - $ref: "#/components/parameters/ModelName"
      - $ref: "#/components/parameters/Version"
    # Binary bodies (a JSON part, then raw data) are described in words above, not as a request
    # body: OpenAPI cannot describe their framing, and as "any bytes" it would call every body
    # valid. Inference-Header-Content-Length belongs to them alone, so it is no parameter either.
    requestBody:
      required: true
      content:
        application/json:
          schema: {$ref: "#/components/schemas/V2InferRequest"}
    responses:
      200:
        description: The outputs asked for, in JSON, or a JSON part followed by binary data.
        headers:
          Inference-Header-Content-Length:
            description: The length of the JSON part, when binary output data follows it.
            schema: {type: integer}
        content:
          application/json:
            schema: {$ref: "#/components/schemas/V2InferResponse"}
          application/octet-stream:
            schema: {type: string, format: binary}
      400: {$ref: "#/components/responses/V2_400"}
      401: {$ref: "#/components/responses/V2_401"}
      404: {$ref: "#/components/responses/V2_404"}
      405: {$ref: "#/components/responses/V2_405"}
      413: {$ref: "#/components/responses/V2_413"}
      415: {$ref: "#/components/responses/V2_415"}
      422: {$ref: "#/components/responses/V2_422"}
      500: {$ref: "#/components/responses/V2_500"}
      503: {$ref: "#/components/responses/V2_503"}
    """
    plane, state = get_dataplane(), requeststate.current()
    state.protocol = "v2"
    entry = plane.serving(state, name, version)
    mimetype = request.mimetype
    if mimetype and not is_json(mimetype) and mimetype != "application/octet-stream":
        raise UnsupportedMediaType(
            f"Content-Type {mimetype} is not accepted here. Send 'Content-Type: "
            "application/json', or 'application/octet-stream' for a body with binary tensor "
            "data after its JSON part."
        )
    head, raw = plane.infer_v2(entry, state, decoded_body(), request.headers.get(HEADER_LENGTH))
    text = current_app.json.dumps(head)
    if not raw:
        return current_app.response_class(text, mimetype="application/json")
    data = text.encode()
    return Response(data + raw, mimetype="application/octet-stream", headers={HEADER_LENGTH: str(len(data))})
