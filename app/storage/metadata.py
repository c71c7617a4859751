"""The shape of ``model.json``: what modelhost reads from a version's metadata file, checked.

Every key is checked against a JSON Schema; other keys are kept and shown as they are. The
feature types are those of ``app.core.features``, the table every part of the server reads.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from jsonschema import Draft202012Validator

from app.core import features

_NUMBER_OR_NULL = {"type": ["number", "null"]}
_STRING_OR_NULL = {"type": ["string", "null"]}
#: What modelhost reads from model.json; other keys are kept and shown as they are.
METADATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["task", "features"],
    "properties": {
        "name": {"type": "string"},
        "version": {"type": ["integer", "string", "null"]},
        "task": {"enum": ["classification", "regression"]},
        "framework": _STRING_OR_NULL,
        "framework_version": _STRING_OR_NULL,
        "estimator": _STRING_OR_NULL,
        "artifact": _STRING_OR_NULL,
        "sha256": _STRING_OR_NULL,
        "created_at": _STRING_OR_NULL,
        "features": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "type": {"enum": list(features.NAMES)},
                    "enum": {"type": ["array", "null"], "items": {"type": ["string", "number", "boolean"]}},
                    "minimum": _NUMBER_OR_NULL,
                    "maximum": _NUMBER_OR_NULL,
                    "description": _STRING_OR_NULL,
                },
            },
        },
        "target": {
            "type": "object",
            "properties": {"name": {"type": ["string", "null"]}, "classes": {"type": "array"}},
        },
        "metrics": {"type": "object", "additionalProperties": _NUMBER_OR_NULL},
        "plots": {"type": "object", "additionalProperties": {"type": "string"}},
        "feature_importance": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"feature": {"type": "string"}, "importance": {"type": "number"}},
            },
        },
        "feature_importance_method": _STRING_OR_NULL,
        "training_data": {"type": "object"},
        "params": {"type": "object"},
        "batching": {"type": "object"},
    },
}
_METADATA_VALIDATOR = Draft202012Validator(METADATA_SCHEMA)


def metadata_problems(data: Any) -> list[str]:
    """Every way (at most ten) ``model.json`` differs from the shape modelhost reads; none when it is right."""
    problems = []
    for error in sorted(_METADATA_VALIDATOR.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        location = "/".join(str(p) for p in error.absolute_path) or "the top level"
        problems.append(f"{location}: {error.message}")
        if len(problems) == 10:
            break
    if not problems:
        counts = Counter(f["name"] for f in data["features"])
        problems = [f"features: '{n}' is listed more than once" for n in sorted(n for n, c in counts.items() if c > 1)]
    return problems
