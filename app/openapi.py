"""Build the OpenAPI 3.0 document from the registry and each version's ``InputSchema``."""
from __future__ import annotations

from typing import Any

from flask import Flask

from .registry import ModelRegistry, ModelVersion
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
    "413": "The body is over the size limit, or has more instances than the batch limit.",
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


_PROBABILITIES = {"name": "probabilities", "in": "query", "required": False, "schema": {"type": "boolean"},
                  "description": "Add class probabilities (classifiers only)."}


def _predict_operation(entry: ModelVersion | None, tag: str, auth: list[Any] | None) -> dict[str, Any]:
    """One predict operation; with a loaded version, its schemas and working examples."""
    params = [_PROBABILITIES]
    csv_body, csv_answer = _csv(entry)
    if entry is None or entry.runtime is None:
        body = {"type": "object", "description": "Features by name, or {\"instances\": [...]}; see the "
                "model's own section for its schema.", "additionalProperties": True}
        content = {"schema": body}
        form = {"schema": {"type": "object", "additionalProperties": {"type": "string"}}}
    else:
        key, schema = entry.name, entry.runtime.schema
        example = schema.example()
        content = {
            "schema": {"oneOf": [_ref(f"{key}.instance"), _ref(f"{key}.instances"), _ref(f"{key}.rows")]},
            "examples": {
                "one": {"summary": "One instance by name", "value": {"id": "1", **example}},
                "many": {"summary": "Many instances by name",
                         "value": {"instances": [{"id": "a", **example}, {"id": "b", **example}]}},
                "rows": {"summary": "Rows in feature order", "value": {"instances": [list(example.values())]}},
            },
        }
        form = {"schema": {**_ref(f"{key}.instance")}}
    operation = {
        "tags": [tag],
        "summary": "Predict" if entry is None else f"Predict with {entry.name}",
        "parameters": params,
        "requestBody": {"required": True, "content": {
            "application/json": content, "application/x-www-form-urlencoded": form, "text/csv": csv_body}},
        "responses": _responses("Predictions, in request order.", _ref("Prediction"),
                                "400 401 404 405 406 413 415 500 503"),
    }
    operation["responses"]["200"]["content"]["text/csv"] = csv_answer
    if auth is not None:
        operation["security"] = auth
    return operation


def _csv(entry: ModelVersion | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The text/csv request body and answer: a file with a header row, scored row by row."""
    body: dict[str, Any] = {"schema": {"type": "string", "description": "CSV with a header row naming every "
                            "feature (other columns are kept), one instance per line. Answered as CSV (send "
                            "Accept: text/csv) with `prediction` and, with ?probabilities=true, one "
                            "`probability_<class>` column appended; invalid rows give a 400 listing each "
                            "`line N/feature`."}}
    answer: dict[str, Any] = {"schema": {"type": "string"}}
    if entry is not None and entry.runtime is not None:
        body["example"] = example_csv(entry.runtime.schema)
        header, row = body["example"].splitlines()
        columns = output_columns(entry.runtime, entry.runtime.supports_probabilities)
        answer["example"] = f"{header},{','.join(columns)}\n{row}{',<' + '>,<'.join(columns) + '>'}\n"
    return body, answer


def build(app: Flask, registry: ModelRegistry) -> dict[str, Any]:
    """The whole OpenAPI 3.0 document for this server's models."""
    auth = [{"bearerAuth": []}] if app.config.get("API_TOKEN") else None
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
        "/v1/models/{name}/predict": {"post": {**_predict_operation(None, "predict", auth),
                                               "parameters": [name, _PROBABILITIES]}},
        "/v1/models/{name}/versions/{version}/predict": {"post": {
            **_predict_operation(None, "predict", auth), "parameters": [name, version, _PROBABILITIES]}},
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
    for model in registry.models():
        entry = model.versions[model.default_version]
        if entry.runtime is not None:
            for kind, schema in entry.runtime.schema.openapi_schemas().items():
                schemas[f"{model.name}.{kind}"] = schema
        versions = _param("version", "Version number", [str(v) for v in sorted(model.versions)])
        paths[f"/v1/models/{model.name}/predict"] = {"post": _predict_operation(entry, model.name, auth)}
        operation = _predict_operation(entry, model.name, auth)
        operation["parameters"] = [versions, _PROBABILITIES]
        operation["summary"] += " (a chosen version)"
        paths[f"/v1/models/{model.name}/versions/{{version}}/predict"] = {"post": operation}
    responses = {code: {"description": text, "content": {"application/problem+json": {"schema": _ref("Problem")}}}
                 for code, text in _ERRORS.items()}
    components: dict[str, Any] = {"schemas": schemas, "responses": responses}
    if auth is not None:
        components["securitySchemes"] = {"bearerAuth": {"type": "http", "scheme": "bearer"}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "modelhost", "version": "1.0.0",
                 "description": "Predictions from scikit-learn models. Errors are RFC 9457 problem "
                                "documents; every response carries X-Request-ID."},
        "paths": paths,
        "components": components,
        "tags": [{"name": m.name, "description": f"Model {m.name} ({m.summary()['task']})"}
                 for m in registry.models()] + [{"name": "models"}, {"name": "predict"}, {"name": "health"}],
    }
