"""The JSON API under /v1: model listing, metadata, readiness and predictions."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState
from werkzeug.routing import BaseConverter

from app import urls
from app.core.errors import InvalidInput
from app.core.features import parse_switch
from app.extensions import get_dataplane, get_registry
from app.http import files
from app.http import state as requeststate
from app.http.auth import require_token
from app.http.bodies import decoded_body, decoded_form, decoded_stream, is_json
from app.http.kserve import bp as kserve_bp
from app.http.management import bp as repository_bp
from app.http.problems import NotAcceptable, UnsupportedMediaType

bp = Blueprint("api", __name__, url_prefix=urls.V1)


class SegmentConverter(BaseConverter):
    """A path segment without ':', so ``/v1/models/iris:predict`` is never the metadata path of "iris:predict".

    A colon starts a custom method (KServe V1's ``:predict``); names and versions have none.
    """

    regex = "[^/:]+"


# Registered before the routes below are added (both are deferred to the blueprint's registration).
@bp.record_once
def _add_segment_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters.setdefault("segment", SegmentConverter)


# /v1/repository and the KServe V1 :predict paths: nested, so the token check below guards them too.
bp.register_blueprint(repository_bp)
bp.register_blueprint(kserve_bp)
bp.before_request(require_token)


@bp.get("/models")
def list_models() -> Response:
    """List every model with its versions, default version and status.
    ---
    tags: [models]
    operationId: list_models
    responses:
      200:
        description: Every model in the repository.
        content:
          application/json:
            schema:
              type: object
              required: [models]
              properties:
                models: {type: array, items: {$ref: "#/components/schemas/ModelSummary"}}
      401: {$ref: "#/components/responses/401"}
      500: {$ref: "#/components/responses/500"}
    """
    return jsonify({"models": [m.summary() for m in get_registry().models()]})


@bp.get("/models/<segment:name>")
def model_metadata(name: str) -> Response:
    """Metadata of a model's default version, plus its versions.

    The answer adds the model's `versions`, `default_version` and `status` to the metadata.
    ---
    tags: [models]
    operationId: model_metadata
    parameters:
      - $ref: "#/components/parameters/ModelName"
    responses:
      200: {$ref: "#/components/responses/Metadata"}
      401: {$ref: "#/components/responses/401"}
      404: {$ref: "#/components/responses/404"}
      500: {$ref: "#/components/responses/500"}
    """
    model = get_registry().model(name)
    body = model.versions[model.default_version].metadata
    body.update(model.summary())
    return jsonify(body)


@bp.get("/models/<segment:name>/versions/<segment:version>")
def version_metadata(name: str, version: str) -> Response:
    """Metadata of one model version.
    ---
    tags: [models]
    operationId: version_metadata
    parameters:
      - $ref: "#/components/parameters/ModelName"
      - $ref: "#/components/parameters/Version"
    responses:
      200: {$ref: "#/components/responses/Metadata"}
      401: {$ref: "#/components/responses/401"}
      404: {$ref: "#/components/responses/404"}
      500: {$ref: "#/components/responses/500"}
    """
    return jsonify(get_registry().get(name, version).metadata)


@bp.get("/models/<name>/versions/<version>/ready")
def version_ready(name: str, version: str) -> Response:
    """Whether one model version loaded: 200 when it did, 503 when it failed to load.
    ---
    tags: [models]
    operationId: version_ready
    parameters:
      - $ref: "#/components/parameters/ModelName"
      - $ref: "#/components/parameters/Version"
    responses:
      200:
        description: The version loaded and answers predictions.
        content:
          application/json:
            schema:
              type: object
              required: [ready]
              properties:
                ready: {type: boolean, enum: [true]}
      401: {$ref: "#/components/responses/401"}
      404: {$ref: "#/components/responses/404"}
      500: {$ref: "#/components/responses/500"}
      503: {$ref: "#/components/responses/503"}
    """
    get_registry().get(name, version).ready_runtime()
    return jsonify({"ready": True})


@bp.post("/models/<name>/predict")
@bp.post("/models/<name>/versions/<version>/predict")
@bp.post("/models/<name>/labels/<label>/predict")
def predict(name: str, version: str | None = None, label: str | None = None) -> Response:
    """Predict with a model's default version, one version, or the version a label names.

    The default route sends the canary's share of requests (the model's serving.json) to the
    canary version; `version` in the answer always says which version answered.

    The body holds one instance (features by name, with an optional `id` that is echoed back),
    many instances by name (`{"instances": [{...}, ...]}`, each with its own optional `id`), or
    many instances as rows in the model's feature order (`{"instances": [[...], ...]}`); or a
    form with one field per feature; or a CSV file. Predictions come back in request order. Any of
    them may be compressed (`Content-Encoding: gzip` or `deflate`).
    ---
    # What a request holds depends on the model, so the document has this operation once per
    # model (app/http/openapi.py), with the request schemas of its features and working examples.
    tags: [models]
    parameters:
      - $ref: "#/components/parameters/ModelName"
      - $ref: "#/components/parameters/Version"
      - name: probabilities
        in: query
        required: false
        # The query switches read an empty value (?probabilities=) as absent: allowEmptyValue says so.
        allowEmptyValue: true
        schema: {type: boolean}
        description: Add class probabilities.
      - name: escape_formulas
        in: query
        required: false
        allowEmptyValue: true
        schema: {type: boolean}
        description: >-
          text/csv bodies only: put a single quote before every answer cell that starts with =, +,
          -, @, a tab or a carriage return, so spreadsheets show it as text instead of running it
          as a formula (CSV injection). Numbers such as -1.5 stay as they are. Without it, the
          server's CSV_ESCAPE_FORMULAS setting applies (off unless the operator turned it on).
    requestBody:
      required: true
      content:
        application/json:
          schema: {type: object}
        application/x-www-form-urlencoded:
          schema: {type: object}
        text/csv:
          schema:
            type: string
            description: >-
              CSV with a header row naming every feature (other columns are kept), one instance
              per line. Answered as CSV (send Accept: text/csv) with `prediction` and, with
              ?probabilities=true, one `probability_<class>` column appended; invalid rows give a
              400 listing each `line N/feature`. A file with more columns than the server's
              CSV_MAX_COLUMNS (2048 by default), or a longer header line than 128 bytes per such
              column, gets a 413. With ?escape_formulas=true, cells that would run as spreadsheet
              formulas come back with a single quote in front.
    responses:
      200:
        description: Predictions, in request order.
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Prediction"}
          text/csv:
            schema: {type: string}
      400: {$ref: "#/components/responses/400"}
      401: {$ref: "#/components/responses/401"}
      404: {$ref: "#/components/responses/404"}
      405: {$ref: "#/components/responses/405"}
      406: {$ref: "#/components/responses/406"}
      413: {$ref: "#/components/responses/413"}
      415: {$ref: "#/components/responses/415"}
      422: {$ref: "#/components/responses/422"}
      500: {$ref: "#/components/responses/500"}
      503: {$ref: "#/components/responses/503"}
    """
    plane, state = get_dataplane(), requeststate.current()
    entry = plane.serving(state, name, version, label)
    probabilities = query_switch("probabilities", False)
    escape_formulas = query_switch("escape_formulas", current_app.config["CSV_ESCAPE_FORMULAS"])
    mimetype = request.mimetype
    if mimetype == "text/csv":
        # A CSV body is answered as CSV only: a JSON answer would hold the whole file in memory.
        if request.accept_mimetypes and request.accept_mimetypes["text/csv"] <= 0:
            raise NotAcceptable(
                "A text/csv body is answered with text/csv; send 'Accept: text/csv' (or */*), "
                "or send the instances as JSON to get JSON back."
            )
        scored = plane.score_csv(entry, state, decoded_stream(), probabilities, escape_formulas)
        return files.download(scored, f"{entry.name}-v{entry.version}-predictions.csv")
    if is_json(mimetype):
        answer = plane.predict_v1(entry, state, probabilities, raw=decoded_body())
    elif mimetype == "application/x-www-form-urlencoded":
        answer = plane.predict_v1(entry, state, probabilities, form=decoded_form().to_dict(flat=False))
    else:
        raise UnsupportedMediaType(
            f"Content-Type {mimetype or '(none)'} is not accepted here. Send 'Content-Type: "
            "application/json' (or a form with 'application/x-www-form-urlencoded', or a CSV file "
            "with 'text/csv')."
        )
    return jsonify(answer.body())


def query_switch(name: str, default: bool) -> bool:
    """A true/false query parameter (``default`` when absent), read strictly so a typo is not ignored.

    Given more than once it is refused: which of the values was meant is the client's to say.
    """
    if not request.query_string:  # the common case: no parameters to parse
        return default
    values = request.args.getlist(name)
    if len(values) > 1:
        raise InvalidInput(
            f"Query parameter '{name}' is given more than once ({len(values)} times); give it once, "
            "as true or false.",
            errors=[{"path": f"?{name}", "message": "is given more than once: give it once"}],
        )
    value = values[0].strip().lower() if values else ""
    if not value:
        return default
    switch = parse_switch(value)
    if switch is not None:
        return switch
    raise InvalidInput(
        f"Query parameter '{name}' must be true or false.",
        errors=[{"path": f"?{name}", "message": f"must be true or false, got {value!r}"}],
    )
