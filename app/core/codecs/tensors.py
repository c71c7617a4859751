"""The JSON part of an Open Inference Protocol inference request, checked before any tensor is read.

The JSON part names each input tensor (``name``, ``datatype``, ``shape``) and holds its elements
in ``data``, flat or nested, row-major, or says how many bytes of the binary data after it are
the tensor's (``app.core.codecs.binary``); :mod:`app.core.codecs.oipinputs` reads them.

This module knows tensors only: not models, not HTTP. Every malformed request is an
InvalidInput naming what is wrong and where.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator, validators

from app.core.codecs.elements import DATATYPES, MAX_LISTED
from app.core.errors import SEE_API_DOCS, InvalidInput
from app.core.errors import listed as listed_text

_PARAMETERS = {"type": "object", "description": "Free-form parameters; those named here are read."}
#: The JSON part of an inference request, checked before any tensor is read.
REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["inputs"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "description": "Echoed back in the answer."},
        "parameters": {
            **_PARAMETERS,
            "properties": {
                "binary_data_output": {
                    "type": "boolean",
                    "description": "Every output as raw binary data, unless it says otherwise.",
                }
            },
        },
        "inputs": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "datatype", "shape"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "datatype": {"enum": DATATYPES},
                    "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                    "parameters": {
                        **_PARAMETERS,
                        "properties": {
                            "binary_data_size": {
                                "type": "integer",
                                "minimum": 0,
                                "description": "Bytes of the binary data after the JSON part that hold this input.",
                            }
                        },
                    },
                    "data": {"type": "array", "description": "The elements, flat or nested, row-major."},
                },
            },
        },
        "outputs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string"},
                    "parameters": {
                        **_PARAMETERS,
                        "properties": {
                            "binary_data": {"type": "boolean", "description": "This output as raw binary data."}
                        },
                    },
                },
            },
        },
    },
}
#: The protocol's whole numbers (sizes, dimensions) are JSON integers written as such: JSON
#: Schema's "integer" also takes 32.0, which is no size a slice or a shape can use.
_STRICT_INTEGERS = Draft202012Validator.TYPE_CHECKER.redefine("integer", lambda _checker, value: type(value) is int)
_REQUEST = validators.extend(Draft202012Validator, type_checker=_STRICT_INTEGERS)(REQUEST_SCHEMA)


def check_request(request: Any) -> None:
    """InvalidInput listing every way the JSON part differs from REQUEST_SCHEMA.

    A plain check in Python accepts the requests clients send in a few microseconds (the
    validator takes 50 to 200 per request); whatever it does not accept, the validator checks.
    """
    if _plain(request):
        return
    errors = sorted(_REQUEST.iter_errors(request), key=lambda e: list(map(str, e.absolute_path)))
    if not errors:
        return
    listed = [{"path": "/".join(map(str, e.absolute_path)), "message": _message(e)} for e in errors[:MAX_LISTED]]
    detail = listed_text([f"{e['path'] or 'body'} {e['message']}" for e in listed], 5, "; ", see_errors=True)
    raise InvalidInput(
        f"The inference request is not valid: {detail}. The Open Inference Protocol request is "
        '{"inputs": [{"name", "datatype", "shape", "data"}, ...]}.',
        errors=listed,
        see=SEE_API_DOCS,
    )


_TOP = frozenset(REQUEST_SCHEMA["properties"])
_INPUT = frozenset(REQUEST_SCHEMA["properties"]["inputs"]["items"]["properties"])
_OUTPUT = frozenset(REQUEST_SCHEMA["properties"]["outputs"]["items"]["properties"])
_DATATYPE_SET = frozenset(DATATYPES)


def _plain(request: Any) -> bool:
    """True only for requests REQUEST_SCHEMA certainly accepts; False means "ask the validator"."""
    if type(request) is not dict or "inputs" not in request or not request.keys() <= _TOP:
        return False
    if "id" in request and type(request["id"]) is not str:
        return False
    if not _switches(request, "binary_data_output"):
        return False
    inputs, outputs = request["inputs"], request.get("outputs", [])
    if type(inputs) is not list or not inputs or type(outputs) is not list:
        return False
    for tensor in inputs:
        if (
            type(tensor) is not dict
            or not tensor.keys() <= _INPUT
            or type(tensor.get("name")) is not str
            or not tensor["name"]
            or type(tensor.get("shape")) is not list
            or ("data" in tensor and type(tensor["data"]) is not list)
        ):
            return False
        if type(tensor.get("datatype")) is not str or tensor["datatype"] not in _DATATYPE_SET:
            return False
        if not all(type(d) is int and d >= 0 for d in tensor["shape"]):
            return False
        if "parameters" in tensor:
            parameters = tensor["parameters"]
            size = parameters.get("binary_data_size", 0) if type(parameters) is dict else -1
            if type(size) is not int or size < 0:
                return False
    return all(
        type(o) is dict and o.keys() <= _OUTPUT and type(o.get("name")) is str and _switches(o, "binary_data")
        for o in outputs
    )


def _switches(holder: dict[str, Any], name: str) -> bool:
    """``parameters`` of a request or tensor absent, or an object whose ``name`` is absent, true or false."""
    if "parameters" not in holder:
        return True
    parameters = holder["parameters"]
    return type(parameters) is dict and type(parameters.get(name, False)) is bool


def _message(error: Any) -> str:
    if error.validator == "additionalProperties":
        known = ", ".join(error.schema.get("properties", {}))
        extra = ", ".join(repr(k) for k in error.instance if k not in error.schema.get("properties", {}))
        return f"has unknown members {extra} (known: {known})"
    if error.validator == "enum" and error.validator_value is DATATYPES:
        return f"must be one of the datatypes {', '.join(DATATYPES)}, got {error.instance!r}"
    if error.validator == "type" and error.validator_value == "integer" and type(error.instance) is float:
        return f"must be a whole number written without a decimal point or exponent, got {error.instance!r}"
    return error.message
