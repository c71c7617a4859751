"""Open Inference Protocol tensors: an inference request's JSON part checked, and its input tensors read.

The JSON part names each input tensor (``name``, ``datatype``, ``shape``) and holds its elements
in ``data``, flat or nested, row-major, or says how many bytes of the binary data after it are
the tensor's (``app.core.codecs.binary``).

This module knows tensors only: not models, not HTTP. Every malformed request is an
InvalidInput naming what is wrong and where.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from jsonschema import Draft202012Validator, validators

from app.core.codecs.binary import from_binary
from app.core.codecs.elements import (
    BYTES,
    DATATYPES,
    FIXED,
    INTEGERS,
    MAX_LISTED,
    NARROW_FLOAT_MAX,
    element_error,
    elements_error,
)
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


@dataclass
class Tensor:
    """One input tensor: flat elements in row-major order, numpy for raw fixed-size data, else a list."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    values: np.ndarray | list[Any]
    #: Its position in the request's ``inputs``, for error paths.
    index: int

    @property
    def path(self) -> str:
        return f"inputs/{self.index}"

    @property
    def size(self) -> int:
        return math.prod(self.shape)


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


def read_inputs(request: dict[str, Any], binary: memoryview, has_header_length: bool) -> list[Tensor]:
    """Every input tensor of a checked request, its elements taken from ``data`` or the binary data."""
    tensors, offset = [], 0
    for index, spec in enumerate(request["inputs"]):
        shape, datatype = tuple(spec["shape"]), spec["datatype"]
        size = (spec.get("parameters") or {}).get("binary_data_size")
        where = f"inputs/{index}"
        name = spec["name"]
        if size is not None:
            if "data" in spec:
                raise element_error(where, f"Input {name!r} has both 'data' and parameters.binary_data_size; send one.")
            if not has_header_length:
                raise element_error(
                    where,
                    f"Input {name!r} has parameters.binary_data_size, but the request has no "
                    "Inference-Header-Content-Length header saying where the JSON part ends.",
                )
            if offset + size > len(binary):
                raise element_error(
                    where,
                    f"Input {name!r} has binary_data_size {size}, but only {len(binary) - offset} "
                    "bytes of binary data are left after the inputs before it.",
                )
            values = from_binary(name, where, datatype, shape, binary[offset : offset + size])
            offset += size
        elif "data" in spec:
            values = _from_json(name, where, datatype, shape, spec["data"])
        else:
            raise element_error(
                where,
                f"Input {name!r} has no elements: give them in 'data' or, as binary data, "
                "in parameters.binary_data_size.",
            )
        tensors.append(Tensor(name, datatype, shape, values, index))
    if offset != len(binary):
        raise InvalidInput(
            f"The body has {len(binary)} bytes of binary data after the JSON part, but the inputs' "
            f"binary_data_size add up to {offset}; check Inference-Header-Content-Length and the "
            "sizes.",
            errors=[
                {"path": "Inference-Header-Content-Length", "message": "does not match the inputs' binary_data_size"}
            ],
        )
    return tensors


_JSON_KINDS: dict[str, tuple[type, ...]] = {"BOOL": (bool,), BYTES: (str,), **{t: (int,) for t in INTEGERS}}
_JSON_WORDS = {(bool,): "true or false", (str,): "a string", (int,): "a whole number", (int, float): "a number"}


def _from_json(name: str, where: str, datatype: str, shape: tuple[int, ...], data: list[Any]) -> list[Any]:
    # Nested data is nested throughout (row-major); a mix is found by the element check below.
    values = _flatten(name, where, data, len(shape)) if data and type(data[0]) is list else data
    count = math.prod(shape)
    if len(values) != count:
        raise element_error(
            f"{where}/data",
            f"Input {name!r} has {len(values)} elements in 'data', but its shape " f"{list(shape)} takes {count}.",
        )
    kinds = _JSON_KINDS.get(datatype, (int, float))
    if not set(map(type, values)) <= set(kinds):
        wrong = [i for i, v in enumerate(values) if type(v) not in kinds]
        raise elements_error(where, name, wrong, f"must be {_JSON_WORDS[kinds]} (datatype {datatype})", values)
    if datatype in INTEGERS and values:
        info = np.iinfo(FIXED[datatype])
        if min(values) < info.min or max(values) > info.max:
            wrong = [i for i, v in enumerate(values) if not info.min <= v <= info.max]
            raise elements_error(
                where, name, wrong, f"is beyond the range of {datatype} ({info.min} to {info.max})", values
            )
    if datatype in NARROW_FLOAT_MAX and values:
        # A JSON number is a double; FP16 and FP32 hold less, and beyond their range a value
        # would become infinity, as the same element sent as binary data cannot be. The bound is
        # the type's largest value itself, as the API docs state it.
        largest = NARROW_FLOAT_MAX[datatype]
        beyond = np.flatnonzero(np.abs(np.asarray(values, dtype=np.float64)) > largest)
        if len(beyond):
            raise elements_error(
                where,
                name,
                beyond,
                f"is beyond the range of {datatype} (-{largest:g} to {largest:g}); " "declare the tensor FP64",
            )
    return values


def _flatten(name: str, where: str, data: list[Any], dimensions: int) -> list[Any]:
    """The elements of nested ``data``, row-major; InvalidInput when it nests deeper than the shape."""
    values: list[Any] = []
    stack = [iter(data)]
    while stack:
        for value in stack[-1]:
            if type(value) is list:
                if len(stack) >= dimensions:
                    raise element_error(
                        f"{where}/data",
                        f"Input {name!r}: 'data' nests arrays deeper than the "
                        f"{dimensions} dimensions of its shape; nest it once per dimension, or send it flat.",
                        f"nests arrays deeper than the {dimensions} dimensions of the shape",
                    )
                stack.append(iter(value))
                break
            values.append(value)
        else:
            stack.pop()
    return values
