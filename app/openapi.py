"""Build the OpenAPI 3.0 document from the registry and each version's ``InputSchema``."""
from __future__ import annotations

from typing import Any

from flask import Flask

from .registry import Model, ModelRegistry, ModelVersion
from .runtime import Runtime
from .scoring import example_csv, output_columns

PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem document; every error response has this shape.",
    "required": ["type", "title", "status", "detail", "instance", "request_id"],
    "properties": {
        "type": {"type": "string", "example": "about:blank"},
        "title": {"type": "string", "example": "Bad Request"},
        "status": {"type": "integer", "example": 400},
        "detail": {"type": "string", "example": "Missing keys: 'petal_width'"},
        "instance": {"type": "string", "example": "/v1/models/iris/predict"},
        "request_id": {"type": "string", "example": "6f1c0e4ad2b54b0e9b8e1f3f6c9d2a71"},
        "errors": {"type": "array", "items": {
            "type": "object", "required": ["path", "message"],
            "properties": {"path": {"type": "string", "example": "petal_width"},
                           "message": {"type": "string", "example": "is required"}}}},
    },
}

_ERRORS = {
    "400": "The body is not valid JSON or does not match the model's schema; `errors` lists every violation.",
    "401": "A bearer token is required (only when the server is configured with API_TOKEN).",
    "404": "Unknown model or version.",
    "405": "Method not allowed on this path.",
    "413": "The body is over the size limit, holds more JSON values than the batch limit allows, or has "
           "more instances than the batch limit.",
    "422": "The model produced no usable number (NaN or infinity) for some instances; `errors` names them.",
    "406": "A text/csv body was sent but the Accept header does not allow text/csv.",
    "415": "The body is neither JSON, form-encoded nor CSV.",
    "500": "Unexpected failure; quote the request_id to the operator.",
    "503": "The model version exists but failed to load.",
}

_SUMMARY = {"type": "object", "properties": {
    "name": {"type": "string"}, "task": {"type": "string", "enum": ["classification", "regression"]},
    "versions": {"type": "array", "items": {"type": "string"}}, "default_version": {"type": "string"},
    "status": {"type": "string", "enum": ["ready", "degraded", "failed"]}}}

_METADATA = {"type": "object", "description": "The version's model.json (or metadata inferred from the "
             "estimator), with `status` and, for a failed version, `error`.",
             "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                            "task": {"type": "string"}, "status": {"type": "string"},
                            "features": {"type": "array", "items": {"type": "object"}},
                            "target": {"type": "object"}, "metrics": {"type": "object"}},
             "additionalProperties": True}

_PREDICTION = {"type": "object", "required": ["model", "version"], "properties": {
    "model": {"type": "string"}, "version": {"type": "string"},
    "id": {"description": "The request's id, when it sent one."},
    "prediction": {"description": "Class label or number (one instance)."},
    "predictions": {"type": "array", "items": {}, "description": "One per instance, in order."},
    "ids": {"type": "array", "items": {}, "description": "Each instance's id, when any sent one."},
    "probabilities": {"description": "Class probabilities (with ?probabilities=true)."}}}

_HEALTH = {"type": "object", "properties": {"status": {"type": "string"},
                                            "models": {"type": "array", "items": {"type": "object"}}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema, **extra}}}


def _responses(ok: str, schema: dict[str, Any], codes: str, **extra: Any) -> dict[str, Any]:
    responses = {"200": {"description": ok, **_json(schema, **extra)}}
    for code in codes.split():
        responses[code] = {"$ref": f"#/components/responses/{code}"}
    return responses


def _param(name: str, description: str, enum: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if enum:
        schema["enum"] = enum
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


# The query switches read an empty value (?probabilities=) as absent: allowEmptyValue says so.
_PROBABILITIES = {"name": "probabilities", "in": "query", "required": False, "allowEmptyValue": True,
                  "schema": {"type": "boolean"}, "description": "Add class probabilities."}
_NO_PROBABILITIES = {"name": "probabilities", "in": "query", "required": False, "allowEmptyValue": True,
                     "schema": {"type": "boolean", "enum": [False]},
                     "description": "This model has no class probabilities: true is answered 400."}
_ESCAPE_FORMULAS = {"name": "escape_formulas", "in": "query", "required": False, "allowEmptyValue": True,
                    "schema": {"type": "boolean"},
                    "description": "text/csv bodies only: put a single quote before every answer cell that starts "
                    "with =, +, -, @, a tab or a carriage return, so spreadsheets show it as text instead of "
                    "running it as a formula (CSV injection). Numbers such as -1.5 stay as they are. Without it, "
                    "the server's CSV_ESCAPE_FORMULAS setting applies (off unless the operator turned it on)."}


def _probabilities(runtime: Runtime) -> dict[str, Any]:
    """The ``probabilities`` parameter as this model takes it."""
    return _PROBABILITIES if runtime.supports_probabilities else _NO_PROBABILITIES


def _predict_operation(entry: ModelVersion, key: str, path: list[dict[str, Any]],
                       auth: list[Any] | None) -> dict[str, Any]:
    """The predict operation of one model version, with its path parameters.

    A loaded version's request schemas are the components ``<key>.*`` and its examples work;
    a version that failed to load is answered 503 whatever the request.
    """
    if entry.runtime is None:
        operation: dict[str, Any] = {
            "tags": [entry.name], "summary": f"Predict with {entry.name} (version {entry.version} failed to load)",
            "description": "This version did not load, so every request is answered 503; GET /health/ready "
                           "says why.",
            "parameters": path, "responses": _codes("401 503")}
    else:
        runtime, forms = entry.runtime, [f"{key}.instance", f"{key}.instances", f"{key}.rows"]
        example = runtime.schema.example()
        examples = {
            "one": {"summary": "One instance by name", "value": {"id": "1", **example}},
            "many": {"summary": "Many instances by name",
                     "value": {"instances": [{"id": "a", **example}, {"id": "b", **example}]}},
            "rows": {"summary": "Rows in feature order", "value": {"instances": [list(example.values())]}},
        }
        if "rows" not in runtime.schema.openapi_schemas():  # OpenAPI 3.0 cannot describe its rows
            forms.pop()
            examples.pop("rows")
        csv_body, csv_answer = _csv(entry)
        operation = {
            "tags": [entry.name],
            "summary": f"Predict with {entry.name}",
            "parameters": [*path, _probabilities(runtime), _ESCAPE_FORMULAS],
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": {"oneOf": [_ref(f) for f in forms]}, "examples": examples},
                "application/x-www-form-urlencoded": {"schema": _ref(f"{key}.instance")},
                "text/csv": csv_body}},
            "responses": _responses("Predictions, in request order.", _ref("Prediction"),
                                    "400 401 404 405 406 413 415 422 500 503"),
        }
        operation["responses"]["200"]["content"]["text/csv"] = csv_answer
    if auth is not None:
        operation["security"] = auth
    return operation


def _model_paths(model: Model, auth: list[Any] | None, schemas: dict[str, Any]) -> dict[str, Any]:
    """The predict paths of one model, its request schemas added to ``schemas``.

    The default version's schemas are ``<name>.*``. Versions whose requests are the default's
    share ``/versions/{version}/predict``; any other version (other features, or not loaded)
    has a path of its own, with schemas ``<name>.v<version>.*``.
    """
    default = model.versions[model.default_version]
    alike = [number for number, entry in sorted(model.versions.items()) if _same_requests(entry, default)]
    versions = _param("version", "Version number (versions with other features have paths of their own)",
                      [str(v) for v in alike])
    paths = {f"/v1/models/{model.name}/predict": {"post": _predict_operation(default, model.name, [], auth)},
             f"/v1/models/{model.name}/versions/{{version}}/predict": {"post": {
                 **_predict_operation(default, model.name, [versions], auth),
                 "summary": f"Predict with {model.name} (a chosen version)"}}}
    keys = {number: model.name if number in alike else f"{model.name}.v{number}" for number in model.versions}
    for number, entry in sorted(model.versions.items()):
        if entry.runtime is not None and (number == model.default_version or number not in alike):
            for kind, schema in entry.runtime.schema.openapi_schemas().items():
                schemas[f"{keys[number]}.{kind}"] = schema
        if number not in alike:
            paths[f"/v1/models/{model.name}/versions/{number}/predict"] = {
                "post": _predict_operation(entry, keys[number], [], auth)}
    return paths


def _same_requests(entry: ModelVersion, default: ModelVersion) -> bool:
    """Whether a version takes exactly the requests the default version takes."""
    if entry.runtime is None or default.runtime is None:
        return entry.runtime is default.runtime
    return (entry.runtime.schema.instance == default.runtime.schema.instance
            and entry.runtime.supports_probabilities == default.runtime.supports_probabilities)


def _codes(codes: str) -> dict[str, Any]:
    return {code: {"$ref": f"#/components/responses/{code}"} for code in codes.split()}


def _csv(entry: ModelVersion | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The text/csv request body and answer: a file with a header row, scored row by row."""
    body: dict[str, Any] = {"schema": {"type": "string", "description": "CSV with a header row naming every "
                            "feature (other columns are kept), one instance per line. Answered as CSV (send "
                            "Accept: text/csv) with `prediction` and, with ?probabilities=true, one "
                            "`probability_<class>` column appended; invalid rows give a 400 listing each "
                            "`line N/feature`. A file with more columns than the server's CSV_MAX_COLUMNS "
                            "(2048 by default), or a longer header line than 128 bytes per such column, gets "
                            "a 413. With ?escape_formulas=true, cells that would run as spreadsheet formulas "
                            "come back with a single quote in front."}}
    answer: dict[str, Any] = {"schema": {"type": "string"}}
    if entry is not None and entry.runtime is not None:
        body["schema"]["pattern"] = entry.runtime.schema.openapi_schemas()["csv"]["pattern"]
        body["schema"]["description"] += (" The pattern is the file as the example shows it: the header naming the "
                                          "features in order, commas, one row per line. The server reads more: "
                                          "other column orders and extra columns, ; or tab delimiters, quoted "
                                          "values, CRLF line ends, numbers in any notation.")
        body["example"] = example_csv(entry.runtime.schema)
        header, row = body["example"].splitlines()
        columns = output_columns(entry.runtime, entry.runtime.supports_probabilities)
        answer["example"] = f"{header},{','.join(columns)}\n{row}{',<' + '>,<'.join(columns) + '>'}\n"
    return body, answer


def build(app: Flask, registry: ModelRegistry) -> dict[str, Any]:
    """The whole OpenAPI 3.0 document for this server's models."""
    auth: list[Any] | None = [{"bearerAuth": []}] if app.config.get("API_TOKEN") else None
    schemas: dict[str, Any] = {"Problem": PROBLEM, "ModelSummary": _SUMMARY, "ModelMetadata": _METADATA,
                               "Prediction": _PREDICTION, "Health": _HEALTH}
    name = _param("name", "Model name", [m.name for m in registry.models()] or None)
    version = _param("version", "Version number")
    paths: dict[str, Any] = {
        "/v1/models": {"get": {"tags": ["models"], "summary": "List models",
                               "responses": _responses("Every model.", {"type": "object", "properties": {
                                   "models": {"type": "array", "items": _ref("ModelSummary")}}}, "401 500")}},
        "/v1/models/{name}": {"get": {"tags": ["models"], "summary": "Default version's metadata",
                                      "parameters": [name],
                                      "responses": _responses("Metadata.", _ref("ModelMetadata"), "401 404 500")}},
        "/v1/models/{name}/versions/{version}": {"get": {
            "tags": ["models"], "summary": "One version's metadata", "parameters": [name, version],
            "responses": _responses("Metadata.", _ref("ModelMetadata"), "401 404 500")}},
        "/v1/models/{name}/versions/{version}/ready": {"get": {
            "tags": ["models"], "summary": "Whether one version loaded", "parameters": [name, version],
            "responses": _responses("Loaded.", {"type": "object", "properties": {"ready": {"type": "boolean"}}},
                                    "401 404 500 503")}},
        "/metrics": {"get": {"tags": ["health"], "summary": "Prometheus metrics", "responses": {
            "200": {"description": "Prometheus text exposition format.",
                    "content": {"text/plain": {"schema": {"type": "string"}}}},
            "500": {"$ref": "#/components/responses/500"}}}},
        "/health/live": {"get": {"tags": ["health"], "summary": "Liveness",
                                 "responses": _responses("The process answers.", _HEALTH, "500")}},
        "/health/ready": {"get": {"tags": ["health"], "summary": "Readiness of every model", "responses": {
            **_responses("Every model loaded.", _ref("Health"), "500"),
            "503": {"description": "Some model failed to load; the body names it.", **_json(_ref("Health"))}}}},
    }
    # Predict paths are per model, not /v1/models/{name}/predict: what a request holds depends on
    # the model, which OpenAPI 3.0 cannot tie to a path parameter. Other names are answered 404.
    for model in registry.models():
        paths.update(_model_paths(model, auth, schemas))
    responses = {code: {"description": text, "content": {"application/problem+json": {"schema": _ref("Problem")}}}
                 for code, text in _ERRORS.items()}
    components: dict[str, Any] = {"schemas": schemas, "responses": responses}
    if auth is not None:
        components["securitySchemes"] = {"bearerAuth": {"type": "http", "scheme": "bearer"}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "modelhost", "version": "1.0.0",
                 "description": "Predictions from scikit-learn models. Each model has its own predict "
                                "paths, /v1/models/<name>/predict and /v1/models/<name>/versions/<version>/predict, "
                                "with the request schemas of its features; any other name is answered 404. "
                                "Errors are RFC 9457 problem documents; every response carries X-Request-ID."},
        "paths": paths,
        "components": components,
        "tags": [{"name": m.name, "description": f"Model {m.name} ({m.summary()['task']})"}
                 for m in registry.models()] + [{"name": "models"}, {"name": "health"}],
    }
