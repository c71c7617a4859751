"""The OpenAPI schema of a model version's JSON infer requests on /v2 (Open Inference Protocol).

app/http/openapi.py puts it in the document as the component ``<model>.v2``, the request body of
the model's infer operations.
"""

from __future__ import annotations

from typing import Any

from app.core import features
from app.core.codecs import oipmodel
from app.core.codecs.elements import NARROW_FLOAT_MAX
from app.core.features import INT64_MAX
from app.core.runtime import Runtime
from app.core.schema import feature_schema


def v2_request_schema(runtime: Runtime) -> dict[str, Any]:
    """The JSON infer requests of a model version that the document describes, each one the server accepts.

    OpenAPI 3.0 cannot say that the tensors of several features hold as many rows each, nor that
    each feature has one, so for a model whose features are all numbers (without allowed-value
    lists) this is the one-tensor form of one row, which it can describe exactly; the
    description and the examples show the rest. For other models it is one tensor per feature
    of one row each, every feature once.
    """
    schema = runtime.schema
    names = schema.names
    outputs: list[list[dict[str, str]]] = [[], [{"name": oipmodel.PREDICT}]]
    if runtime.supports_probabilities:
        outputs += [
            [{"name": oipmodel.PROBABILITIES}],
            [{"name": oipmodel.PREDICT}, {"name": oipmodel.PROBABILITIES}],
            [{"name": oipmodel.PROBABILITIES}, {"name": oipmodel.PREDICT}],
        ]
    if schema.numeric:
        # The INT64 datatype holds -2^63 too, which number features take; whole-number features
        # take -(2^63 - 1) to 2^63 - 1, as on /v1.
        kinds = {"INT64": {"type": "integer", "minimum": -INT64_MAX, "maximum": INT64_MAX}}
        if all(features.type_name(f) == "number" for f in schema.features):
            fp32 = NARROW_FLOAT_MAX["FP32"]  # beyond it an FP32 element would be infinite: refused
            kinds = {
                "FP64": {"type": "number"},
                "FP32": {"type": "number", "minimum": -fp32, "maximum": fp32},
                "INT64": {"type": "integer", "minimum": -INT64_MAX - 1, "maximum": INT64_MAX},
            }
        inputs = {
            "type": "array",
            "minItems": 1,
            "maxItems": 1,
            "items": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["name", "datatype", "shape", "data"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {
                                "type": "string",
                                "minLength": 1,
                                "not": {"enum": names},
                                "description": "Any name but a feature's, such as input-0",
                            },
                            "datatype": {"type": "string", "enum": [datatype]},
                            "shape": {"type": "array", "items": {"type": "integer"}, "enum": [[1, len(names)]]},
                            "data": {
                                "type": "array",
                                "minItems": len(names),
                                "maxItems": len(names),
                                "items": item,
                                "description": "The row's values in feature order: " + ", ".join(names),
                            },
                        },
                    }
                    for datatype, item in kinds.items()
                ]
            },
            "description": "The rows as one [n, n_features] tensor (here one row). One tensor per feature, "
            "named after it, of shape [n] or [n, 1], is accepted too: see the examples.",
        }
    else:
        inputs = {
            "type": "array",
            "minItems": len(names),
            "maxItems": len(names),
            "description": "One tensor per feature, named after it, each feature once.",
            "items": {"oneOf": [_feature_tensor(f) for f in schema.features]},
        }
    return {
        "type": "object",
        "required": ["inputs"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "description": "Echoed back in the answer."},
            "parameters": {
                "type": "object",
                "properties": {
                    "binary_data_output": {
                        "type": "boolean",
                        "description": "Every output as raw binary data after the JSON part.",
                    }
                },
            },
            "inputs": inputs,
            "outputs": {
                "type": "array",
                "items": {"type": "object"},
                "enum": outputs,
                "description": "The outputs to compute; without it, predict.",
            },
        },
    }


def _feature_tensor(feature: dict[str, Any]) -> dict[str, Any]:
    kind = features.type_of(feature)
    value = {k: v for k, v in feature_schema(feature).items() if k in ("type", "enum")}
    if kind.name == "integer":
        value.update(minimum=-INT64_MAX, maximum=INT64_MAX)
    return {
        "type": "object",
        "required": ["name", "datatype", "shape", "data"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "enum": [feature["name"]]},
            "datatype": {"type": "string", "enum": [kind.oip_datatype]},
            "shape": {"type": "array", "items": {"type": "integer"}, "enum": [[1]]},
            "data": {"type": "array", "minItems": 1, "maxItems": 1, "items": value},
        },
    }
