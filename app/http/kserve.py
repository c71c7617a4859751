"""KServe V1 and TF Serving's REST predict: ``{"instances": [...]}`` in, ``{"predictions": [...]}`` out.

Clients written for KServe's V1 protocol or TF Serving's REST API work unchanged. The
instances are rows in the model's feature order or objects with features by name, checked
as /v1 checks them. The answer holds the predictions only, none of modelhost's fields. Not
supported: ``:explain``, ``signature_name`` (a scikit-learn model has one signature) and TF
Serving's columnar ``inputs``. Errors are the problem documents of /v1 with the detail
repeated as ``error``, where those clients read it (app/core/errors.py).
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from app.http import state as requeststate
from app.http.bodies import decoded_body, is_json
from app.core.errors import InvalidInput, UnsupportedMediaType
from app.extensions import get_service
from app.extensions import get_registry
from app.core.registry import ModelVersion

bp = Blueprint("kserve", __name__)
#: Members of a TF Serving request that modelhost does not take, and what to send instead.
_UNSUPPORTED = {
    "signature_name": "a scikit-learn model has one signature: leave signature_name out",
    "inputs": "the columnar 'inputs' format is not supported: send the rows as 'instances'",
}


@bp.post("/models/<name>:predict")
@bp.post("/models/<name>/versions/<version>:predict")
def predict(name: str, version: str | None = None):
    """Predict in the KServe V1 / TF Serving REST protocol: {"instances": [...]} in, {"predictions": [...]} out.

    The instances are rows in the model's feature order, or objects with the features by name.
    The default route sends the canary's share of requests to the canary version, as
    /v1/models/{name}/predict does. The body may be compressed (`Content-Encoding: gzip` or `deflate`).
    ---
    # Once per model in the document (app/http/openapi.py), with the request schema of its features.
    tags: [kserve-v1]
    parameters:
      - $ref: "#/components/parameters/ModelName"
      - $ref: "#/components/parameters/Version"
    requestBody:
      required: true
      content:
        application/json:
          schema: {type: object}
    responses:
      200:
        description: One prediction per instance, in order.
        content:
          application/json:
            schema: {$ref: "#/components/schemas/KServeV1Predictions"}
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
    registry = get_registry()
    entry = registry.route(name) if version is None else registry.get(name, version)
    return respond(entry)


def respond(entry: ModelVersion):
    """Decode and check the body, have the inference service predict it, and answer the predictions."""
    state = requeststate.current()
    state.protocol = "kserve_v1"
    state.use(entry.name, entry.version)
    entry.ready_runtime()  # 503 for a version that failed to load, before anything else
    if not is_json(request.mimetype):
        raise UnsupportedMediaType(f"Content-Type {request.mimetype or '(none)'} is not accepted here. Send "
                                   "'Content-Type: application/json' with {\"instances\": [...]}.")
    service = get_service()
    decoded = service.decode(entry, decoded_body())
    check_envelope(decoded.body)
    result = service.predict(entry, decoded.body, False, state, numbers_only=decoded.numbers_only)
    return jsonify({"predictions": result.predictions})


def check_envelope(body: Any) -> None:
    """InvalidInput unless the body is ``{"instances": [...]}``; names what to send instead."""
    if not isinstance(body, dict) or "instances" not in body:
        unsupported = [_UNSUPPORTED[k] for k in _UNSUPPORTED if isinstance(body, dict) and k in body]
        hint = f" ({'; '.join(unsupported)})" if unsupported else ""
        raise InvalidInput('The body must be {"instances": [...]}: rows in the model\'s feature order or objects '
                           f"with the features by name{hint}.",
                           errors=[{"path": "instances", "message": "is required"}])
    extra = [k for k in body if k != "instances"]
    if extra:
        errors = [{"path": k, "message": _UNSUPPORTED.get(k, "is not a member of a predict request")} for k in extra]
        raise InvalidInput("; ".join(f"{e['path']}: {e['message']}" for e in errors) +
                           '. The body is {"instances": [...]} and nothing else.', errors=errors)
