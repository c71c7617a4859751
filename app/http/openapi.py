"""Each model's predict operations, from the generic predict docstring and each version's ``InputSchema``.

What a predict request holds depends on the model, which OpenAPI 3.0 cannot tie to a path
parameter; so the document has the predict operations once per model, on paths of their own
(``/v1/models/iris/predict``), and any other name is answered 404. Each is the operation the
predict view's docstring documents, with the model's request schemas (the schemas that
validate its requests), examples that predict, and its CSV format. app/http/docs.py merges them
into flasgger's template.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from app.core.codecs import oipmodel
from app.core.codecs.csvanswer import example_csv, output_columns
from app.core.registry import ModelRegistry
from app.core.schema_docs import openapi_schemas
from app.core.versions import Model, ModelVersion
from app.http.infer_schema import v2_request_schema

_NO_PROBABILITIES = {
    "name": "probabilities",
    "in": "query",
    "required": False,
    "allowEmptyValue": True,
    "schema": {"type": "boolean", "enum": [False]},
    "description": "This model has no class probabilities: true is answered 400.",
}
_CSV_PATTERN = (
    " The pattern is the file as the example shows it: the header naming the features in order, "
    "commas, one row per line. The server reads more: other column orders and extra columns, ; or "
    "tab delimiters, quoted values, CRLF line ends, numbers in any notation."
)


@dataclass
class ModelDocs:
    """What the document holds for the models: their predict paths, request schemas and tags."""

    paths: dict[str, Any] = field(default_factory=dict)
    schemas: dict[str, Any] = field(default_factory=dict)
    tags: list[dict[str, str]] = field(default_factory=list)


def model_docs(registry: ModelRegistry, generic: dict[str, dict[str, Any]]) -> ModelDocs:
    """Every model's predict operations in each protocol, each made from that protocol's ``generic`` operation."""
    docs = ModelDocs()
    for model in registry.models():
        for protocol, (make, default_path, version_path, operation_id) in _PROTOCOLS.items():
            docs.paths.update(
                _model_paths(model, generic[protocol], docs.schemas, make, (default_path, version_path, operation_id))
            )
        docs.tags.append({"name": model.name, "description": f"Model {model.name} ({model.summary()['task']})"})
    return docs


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _model_paths(
    model: Model, generic: dict[str, Any], schemas: dict[str, Any], make: Any, paths_of: tuple[str, str, str]
) -> dict[str, Any]:
    """The paths of one model in one protocol, its request schemas added to ``schemas``.

    The default version's schemas are ``<name>.*``. Versions whose requests are the default's
    share the path with ``{version}``; any other version (other features, or not loaded) has a
    path of its own, with schemas ``<name>.v<version>.*``. Each label of the model's serving
    file has a /v1 predict path of its own, with its version's schemas.
    """
    default_path, version_path, operation_id = (p.replace("{model}", model.name) for p in paths_of)
    default = model.versions[model.default_version]
    alike = [number for number, entry in sorted(model.versions.items()) if _same_requests(entry, default)]
    version = {
        "name": "version",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": [str(v) for v in alike]},
        "description": "Version number (versions with other features have paths of their own)",
    }
    paths = {default_path: {"post": make(generic, default, model.name, [], operation_id)}}
    chosen = make(generic, default, model.name, [version], f"{operation_id}_version")
    paths[version_path] = {"post": {**chosen, "summary": chosen["summary"] + " (a chosen version)"}}
    keys = {number: model.name if number in alike else f"{model.name}.v{number}" for number in model.versions}
    for number, entry in sorted(model.versions.items()):
        if entry.runtime is not None and (number == model.default_version or number not in alike):
            for kind, schema in openapi_schemas(entry.runtime.schema).items():
                schemas[f"{keys[number]}.{kind}"] = schema
            schemas[f"{keys[number]}.v2"] = v2_request_schema(entry.runtime)
        if number not in alike:
            paths[version_path.replace("{version}", str(number))] = {
                "post": make(generic, entry, keys[number], [], f"{operation_id}_v{number}")
            }
    if make is not _operation:
        return paths
    for label, number in sorted(model.routing.labels.items()):
        labelled = model.versions.get(number)
        if labelled is not None:  # a label of a version that is not here is answered 503
            operation = _operation(generic, labelled, keys[number], [], f"predict_{model.name}_label_{label}")
            operation["summary"] = f"Predict with {model.name} label {label} (version {number})"
            paths[f"/v1/models/{model.name}/labels/{label}/predict"] = {"post": operation}
    return paths


def _same_requests(entry: ModelVersion, default: ModelVersion) -> bool:
    """Whether a version takes exactly the requests the default version takes."""
    if entry.runtime is None or default.runtime is None:
        return entry.runtime is default.runtime
    return (
        entry.runtime.schema.instance == default.runtime.schema.instance
        and entry.runtime.supports_probabilities == default.runtime.supports_probabilities
    )


def _operation(
    predict: dict[str, Any], entry: ModelVersion, key: str, path: list[dict[str, Any]], operation_id: str
) -> dict[str, Any]:
    """The predict operation of one model version: the generic one with this version's requests.

    A loaded version's request schemas are the components ``<key>.*`` and its examples work;
    a version that failed to load is answered 503 whatever the request.
    """
    operation = copy.deepcopy(predict)
    operation.update(tags=[entry.name], operationId=operation_id, summary=f"Predict with {entry.name}")
    query = [p for p in operation.get("parameters", []) if p.get("in") == "query"]
    if entry.runtime is None:
        operation.pop("requestBody", None)
        operation.update(
            summary=f"Predict with {entry.name} (version {entry.version} failed to load)",
            description="This version did not load, so every request is answered 503; " "GET /health/ready says why.",
            responses={code: operation["responses"][code] for code in ("401", "503")},
        )
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
        "many": {
            "summary": "Many instances by name",
            "value": {"instances": [{"id": "a", **example}, {"id": "b", **example}]},
        },
        "rows": {"summary": "Rows in feature order", "value": {"instances": [list(example.values())]}},
    }
    if "rows" not in openapi_schemas(runtime.schema):  # OpenAPI 3.0 cannot describe its rows
        forms.pop()
        examples.pop("rows")
    content = operation["requestBody"]["content"]
    content["application/json"] = {"schema": {"oneOf": [_ref(f) for f in forms]}, "examples": examples}
    content["application/x-www-form-urlencoded"] = {"schema": _ref(f"{key}.instance")}
    csv = content["text/csv"]
    csv["schema"]["pattern"] = openapi_schemas(runtime.schema)["csv"]["pattern"]
    csv["schema"]["description"] = csv["schema"].get("description", "") + _CSV_PATTERN
    csv["example"] = example_csv(runtime.schema)
    header, row = csv["example"].splitlines()
    columns = output_columns(runtime, runtime.supports_probabilities)
    answer = operation["responses"]["200"]["content"]["text/csv"]
    answer["example"] = f"{header},{','.join(columns)}\n{row}{',<' + '>,<'.join(columns) + '>'}\n"
    return operation


def _copy(
    generic: dict[str, Any], entry: ModelVersion, path: list[dict[str, Any]], operation_id: str, summary: str
) -> dict[str, Any]:
    """The generic operation for one model version: its tag, id and summary, and only ``path`` as parameters.

    For a version that failed to load, every request is answered 503: no body, no examples.
    """
    operation = copy.deepcopy(generic)
    operation.update(tags=[entry.name], operationId=operation_id, summary=summary)
    operation.pop("parameters", None)
    if path:
        operation["parameters"] = path
    if entry.runtime is None:
        operation.pop("requestBody", None)
        operation.update(
            summary=f"{summary} (version {entry.version} failed to load)",
            description="This version did not load, so every request is answered 503; " "GET /health/ready says why.",
            responses={code: operation["responses"][code] for code in ("401", "503")},
        )
    return operation


def _kserve_operation(
    kserve: dict[str, Any], entry: ModelVersion, key: str, path: list[dict[str, Any]], operation_id: str
) -> dict[str, Any]:
    """The KServe V1 :predict operation of one model version: the /v1 instance schemas, without ids."""
    operation = _copy(kserve, entry, path, operation_id, f"Predict with {entry.name} (KServe V1 / TF Serving)")
    if entry.runtime is None:
        return operation
    example = entry.runtime.schema.example()
    forms = [f"{key}.instances"] + ([f"{key}.rows"] if "rows" in openapi_schemas(entry.runtime.schema) else [])
    operation["requestBody"]["content"]["application/json"] = {
        "schema": {"oneOf": [_ref(f) for f in forms]} if len(forms) > 1 else _ref(forms[0]),
        "examples": {
            "rows": {"summary": "Rows in feature order", "value": {"instances": [list(example.values())]}},
            "objects": {"summary": "Instances by name", "value": {"instances": [example]}},
        },
    }
    return operation


def _infer_operation(
    infer: dict[str, Any], entry: ModelVersion, key: str, path: list[dict[str, Any]], operation_id: str
) -> dict[str, Any]:
    """The Open Inference Protocol infer operation of one model version, with its tensors and examples."""
    operation = _copy(infer, entry, path, operation_id, f"Infer with {entry.name} (Open Inference Protocol)")
    if entry.runtime is None:
        return operation
    runtime = entry.runtime
    example = runtime.schema.example()
    outputs = [{"name": oipmodel.PREDICT}] + (
        [{"name": oipmodel.PROBABILITIES}] if runtime.supports_probabilities else []
    )
    tensors = [
        {"name": n, "datatype": t["datatype"], "shape": [1], "data": [example[n]]}
        for n, t in zip(runtime.schema.names, oipmodel.tensor_metadata(runtime)["inputs"], strict=True)
    ]
    examples = {
        "features": {"summary": "One tensor per feature", "value": {"id": "1", "inputs": tensors, "outputs": outputs}}
    }
    if oipmodel.takes_matrix(runtime.schema):
        examples["rows"] = {
            "summary": "The rows as one tensor",
            "value": {
                "id": "2",
                "inputs": [
                    {"name": "input-0", "datatype": "FP64", "shape": [1, len(example)], "data": list(example.values())}
                ],
                "outputs": outputs,
            },
        }
    content = operation["requestBody"]["content"]
    content["application/json"] = {"schema": _ref(f"{key}.v2"), "examples": examples}
    return operation


#: Each protocol's per-model operations: how one is made, the paths of the default and of a chosen
#: version, and the operation id.
_PROTOCOLS = {
    "predict": (
        _operation,
        "/v1/models/{model}/predict",
        "/v1/models/{model}/versions/{version}/predict",
        "predict_{model}",
    ),
    "kserve": (
        _kserve_operation,
        "/v1/models/{model}:predict",
        "/v1/models/{model}/versions/{version}:predict",
        "kserve_predict_{model}",
    ),
    "infer": (
        _infer_operation,
        "/v2/models/{model}/infer",
        "/v2/models/{model}/versions/{version}/infer",
        "v2_infer_{model}",
    ),
}
