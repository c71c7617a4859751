"""KServe V1 and TF Serving's REST predict: ``{"instances": [...]}`` in, ``{"predictions": [...]}`` out.

Clients written for KServe's V1 protocol or TF Serving's REST API work unchanged. The
instances are rows in the model's feature order or objects with features by name, checked
as /v1 checks them. The answer holds the predictions only, none of modelhost's fields. Not
supported: ``:explain``, ``signature_name`` (a scikit-learn model has one signature) and TF
Serving's columnar ``inputs``. Errors are the problem documents of /v1 with the detail
repeated as ``error``, where those clients read it (app/http/problems.py). The bodies are read by
``app.core.codecs.kserve``.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from app.extensions import get_dataplane
from app.http import state as requeststate
from app.http.bodies import decoded_body, is_json
from app.http.problems import UnsupportedMediaType

bp = Blueprint("kserve", __name__)


@bp.post("/models/<name>:predict")
@bp.post("/models/<name>/versions/<version>:predict")
def predict(name: str, version: str | None = None) -> Response:
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
    plane, state = get_dataplane(), requeststate.current()
    state.protocol = "kserve_v1"
    entry = plane.serving(state, name, version)
    if not is_json(request.mimetype):
        raise UnsupportedMediaType(
            f"Content-Type {request.mimetype or '(none)'} is not accepted here. Send "
            "'Content-Type: application/json' with {\"instances\": [...]}."
        )
    return jsonify({"predictions": plane.predict_kserve(entry, state, decoded_body())})
