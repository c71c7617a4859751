"""Each model's predict operations, from the generic predict docstring and each version's ``InputSchema``.

What a predict request holds depends on the model, which OpenAPI 3.0 cannot tie to a path
parameter; so the document has the predict operations once per model, on paths of their own
(``/v1/models/iris/predict``), and any other name is answered 404. Each is the operation the
predict view's docstring documents, with the model's request schemas (the schemas that
validate its requests), examples that predict, and its CSV format. app/docs.py merges them
into flasgger's template.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from .registry import Model, ModelRegistry, ModelVersion
from .scoring import example_csv, output_columns

_NO_PROBABILITIES = {"name": "probabilities", "in": "query", "required": False, "allowEmptyValue": True,
                     "schema": {"type": "boolean", "enum": [False]},
                     "description": "This model has no class probabilities: true is answered 400."}
_CSV_PATTERN = (" The pattern is the file as the example shows it: the header naming the features in order, "
                "commas, one row per line. The server reads more: other column orders and extra columns, ; or "
                "tab delimiters, quoted values, CRLF line ends, numbers in any notation.")


@dataclass
class ModelDocs:
    """What the document holds for the models: their predict paths, request schemas and tags."""

    paths: dict[str, Any] = field(default_factory=dict)
    schemas: dict[str, Any] = field(default_factory=dict)
    tags: list[dict[str, str]] = field(default_factory=list)


def model_docs(registry: ModelRegistry, predict: dict[str, Any]) -> ModelDocs:
    """Every model's predict operations, each made from ``predict``, the generic predict operation."""
    docs = ModelDocs()
    for model in registry.models():
        docs.paths.update(_model_paths(model, predict, docs.schemas))
        docs.tags.append({"name": model.name, "description": f"Model {model.name} ({model.summary()['task']})"})
    return docs


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _model_paths(model: Model, predict: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """The predict paths of one model, its request schemas added to ``schemas``.

    The default version's schemas are ``<name>.*``. Versions whose requests are the default's
    share ``/versions/{version}/predict``; any other version (other features, or not loaded)
    has a path of its own, with schemas ``<name>.v<version>.*``. Each label of the model's
    serving file has a path of its own, with its version's schemas.
    """
    default = model.versions[model.default_version]
    alike = [number for number, entry in sorted(model.versions.items()) if _same_requests(entry, default)]
    version = {"name": "version", "in": "path", "required": True, "schema": {"type": "string",
               "enum": [str(v) for v in alike]},
               "description": "Version number (versions with other features have paths of their own)"}
    base = f"/v1/models/{model.name}"
    paths = {f"{base}/predict": {"post": _operation(predict, default, model.name, [], f"predict_{model.name}")},
             f"{base}/versions/{{version}}/predict": {"post": {
                 **_operation(predict, default, model.name, [version], f"predict_{model.name}_version"),
                 "summary": f"Predict with {model.name} (a chosen version)"}}}
    keys = {number: model.name if number in alike else f"{model.name}.v{number}" for number in model.versions}
    for number, entry in sorted(model.versions.items()):
        if entry.runtime is not None and (number == model.default_version or number not in alike):
            for kind, schema in entry.runtime.schema.openapi_schemas().items():
                schemas[f"{keys[number]}.{kind}"] = schema
        if number not in alike:
            paths[f"{base}/versions/{number}/predict"] = {
                "post": _operation(predict, entry, keys[number], [], f"predict_{model.name}_v{number}")}
    assert model.routing is not None
    for label, number in sorted(model.routing.labels.items()):
        entry = model.versions.get(number)
        if entry is not None:  # a label of a version that is not here is answered 503
            operation = _operation(predict, entry, keys[number], [], f"predict_{model.name}_label_{label}")
            operation["summary"] = f"Predict with {model.name} label {label} (version {number})"
            paths[f"{base}/labels/{label}/predict"] = {"post": operation}
    return paths


def _same_requests(entry: ModelVersion, default: ModelVersion) -> bool:
    """Whether a version takes exactly the requests the default version takes."""
    if entry.runtime is None or default.runtime is None:
        return entry.runtime is default.runtime
    return (entry.runtime.schema.instance == default.runtime.schema.instance
            and entry.runtime.supports_probabilities == default.runtime.supports_probabilities)


def _operation(predict: dict[str, Any], entry: ModelVersion, key: str, path: list[dict[str, Any]],
               operation_id: str) -> dict[str, Any]:
    """The predict operation of one model version: the generic one with this version's requests.

    A loaded version's request schemas are the components ``<key>.*`` and its examples work;
    a version that failed to load is answered 503 whatever the request.
    """
    operation = copy.deepcopy(predict)
    operation.update(tags=[entry.name], operationId=operation_id, summary=f"Predict with {entry.name}")
    query = [p for p in operation.get("parameters", []) if p.get("in") == "query"]
    if entry.runtime is None:
        operation.pop("requestBody", None)
        operation.update(summary=f"Predict with {entry.name} (version {entry.version} failed to load)",
                         description="This version did not load, so every request is answered 503; "
                                     "GET /health/ready says why.",
                         responses={code: operation["responses"][code] for code in ("401", "503")})
        operation["parameters"] = path
        if not path:
            del operation["parameters"]
        return operation
    runtime, forms = entry.runtime, [f"{key}.instance", f"{key}.instances", f"{key}.rows"]
    if not runtime.supports_probabilities:
        query = [_NO_PROBABILITIES if p["name"] == "probabilities" else p for p in query]
    operation["parameters"] = [*path, *query]
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
    content = operation["requestBody"]["content"]
    content["application/json"] = {"schema": {"oneOf": [_ref(f) for f in forms]}, "examples": examples}
    content["application/x-www-form-urlencoded"] = {"schema": _ref(f"{key}.instance")}
    csv = content["text/csv"]
    csv["schema"]["pattern"] = runtime.schema.openapi_schemas()["csv"]["pattern"]
    csv["schema"]["description"] = csv["schema"].get("description", "") + _CSV_PATTERN
    csv["example"] = example_csv(runtime.schema)
    header, row = csv["example"].splitlines()
    columns = output_columns(runtime, runtime.supports_probabilities)
    answer = operation["responses"]["200"]["content"]["text/csv"]
    answer["example"] = f"{header},{','.join(columns)}\n{row}{',<' + '>,<'.join(columns) + '>'}\n"
    return operation
