"""Open Inference Protocol tensors: their JSON form and the binary tensor data extension.

An inference request's JSON part names each input tensor (``name``, ``datatype``, ``shape``)
and holds its elements in ``data``, flat or nested, row-major. With the binary tensor data
extension the JSON part is followed by raw data: the ``Inference-Header-Content-Length``
header says where the JSON ends, and each such input's ``parameters.binary_data_size`` how
many of the following bytes are its own, in the order of ``inputs``. Fixed-size elements are
little-endian; each BYTES element is preceded by its length as a 4-byte little-endian integer.
Outputs go back the same way, in JSON or as raw data, as the client asked.

This module knows tensors only: not models, not HTTP. Every malformed request is an
InvalidInput naming what is wrong and where.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
from jsonschema import Draft202012Validator, validators

from app.core.errors import SEE_API_DOCS, InvalidInput
from app.core.errors import listed as listed_text

#: The fixed-size datatypes and their little-endian numpy types.
FIXED = {"BOOL": np.dtype("?"), "UINT8": np.dtype("<u1"), "UINT16": np.dtype("<u2"), "UINT32": np.dtype("<u4"),
         "UINT64": np.dtype("<u8"), "INT8": np.dtype("<i1"), "INT16": np.dtype("<i2"), "INT32": np.dtype("<i4"),
         "INT64": np.dtype("<i8"), "FP16": np.dtype("<f2"), "FP32": np.dtype("<f4"), "FP64": np.dtype("<f8")}
BYTES = "BYTES"
DATATYPES = [*FIXED, BYTES]
INTEGERS = frozenset(name for name, dtype in FIXED.items() if dtype.kind in "iu")
FLOATS = frozenset(name for name, dtype in FIXED.items() if dtype.kind == "f")
#: The header of a request or answer with binary data: the length of the JSON part before it.
HEADER_LENGTH = "Inference-Header-Content-Length"
#: How many problems of one tensor's elements an answer lists.
_MAX_LISTED = 100
_LENGTH = struct.Struct("<I")

_PARAMETERS = {"type": "object", "description": "Free-form parameters; those named here are read."}
#: The JSON part of an inference request, checked before any tensor is read.
REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["inputs"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "description": "Echoed back in the answer."},
        "parameters": {**_PARAMETERS, "properties": {"binary_data_output": {
            "type": "boolean", "description": "Every output as raw binary data, unless it says otherwise."}}},
        "inputs": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "required": ["name", "datatype", "shape"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "datatype": {"enum": DATATYPES},
                "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                "parameters": {**_PARAMETERS, "properties": {"binary_data_size": {
                    "type": "integer", "minimum": 0,
                    "description": "Bytes of the binary data after the JSON part that hold this input."}}},
                "data": {"type": "array", "description": "The elements, flat or nested, row-major."},
            },
        }},
        "outputs": {"type": "array", "items": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string"},
                "parameters": {**_PARAMETERS, "properties": {"binary_data": {
                    "type": "boolean", "description": "This output as raw binary data."}}},
            },
        }},
    },
}
#: The protocol's whole numbers (sizes, dimensions) are JSON integers written as such: JSON
#: Schema's "integer" also takes 32.0, which is no size a slice or a shape can use.
_STRICT_INTEGERS = Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _checker, value: type(value) is int)
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


def split_body(raw: bytes, header_length: str | None) -> tuple[bytes, memoryview]:
    """The JSON part of a request body and the binary data after it."""
    if header_length is None:
        return raw, memoryview(b"")
    text = header_length.strip()
    # Digits 0-9 only: str.isdigit() also takes other scripts' digits and superscripts ("²").
    if not (text.isascii() and text.isdigit()) or int(text) > len(raw):
        raise InvalidInput(
            f"The Inference-Header-Content-Length header must be the number of bytes of the JSON part of the "
            f"body, from 0 to the body's {len(raw)} bytes, got {header_length!r}.",
            errors=[{"path": "Inference-Header-Content-Length", "message": "is not the length of the JSON part"}])
    length = int(text)
    return raw[:length], memoryview(raw)[length:]


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
    listed = [{"path": "/".join(map(str, e.absolute_path)), "message": _message(e)} for e in errors[:_MAX_LISTED]]
    detail = listed_text([f"{e['path'] or 'body'} {e['message']}" for e in listed], 5, "; ", see_errors=True)
    raise InvalidInput(f"The inference request is not valid: {detail}. The Open Inference Protocol request is "
                       '{"inputs": [{"name", "datatype", "shape", "data"}, ...]}.', errors=listed, see=SEE_API_DOCS)


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
        if type(tensor) is not dict or not tensor.keys() <= _INPUT or type(tensor.get("name")) is not str \
                or not tensor["name"] or type(tensor.get("shape")) is not list \
                or ("data" in tensor and type(tensor["data"]) is not list):
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
    return all(type(o) is dict and o.keys() <= _OUTPUT and type(o.get("name")) is str
               and _switches(o, "binary_data") for o in outputs)


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
                raise _error(where, f"Input {name!r} has both 'data' and parameters.binary_data_size; send one.")
            if not has_header_length:
                raise _error(where, f"Input {name!r} has parameters.binary_data_size, but the request has no "
                                    "Inference-Header-Content-Length header saying where the JSON part ends.")
            if offset + size > len(binary):
                raise _error(where, f"Input {name!r} has binary_data_size {size}, but only {len(binary) - offset} "
                                    "bytes of binary data are left after the inputs before it.")
            values = _from_binary(name, where, datatype, shape, binary[offset:offset + size])
            offset += size
        elif "data" in spec:
            values = _from_json(name, where, datatype, shape, spec["data"])
        else:
            raise _error(where, f"Input {name!r} has no elements: give them in 'data' or, as binary data, "
                                "in parameters.binary_data_size.")
        tensors.append(Tensor(name, datatype, shape, values, index))
    if offset != len(binary):
        raise InvalidInput(f"The body has {len(binary)} bytes of binary data after the JSON part, but the inputs' "
                           f"binary_data_size add up to {offset}; check Inference-Header-Content-Length and the "
                           "sizes.", errors=[{"path": "Inference-Header-Content-Length",
                                              "message": "does not match the inputs' binary_data_size"}])
    return tensors


def _error(path: str, detail: str, message: str | None = None) -> InvalidInput:
    return InvalidInput(detail, errors=[{"path": path, "message": message or detail}])


def _from_binary(name: str, where: str, datatype: str, shape: tuple[int, ...], data: memoryview) -> Any:
    count = math.prod(shape)
    if datatype == BYTES:
        return _bytes_elements(name, where, data, count)
    dtype = FIXED[datatype]
    if len(data) != count * dtype.itemsize:
        raise _error(where, f"Input {name!r}: shape {list(shape)} of {datatype} takes {count * dtype.itemsize} "
                            f"bytes, but binary_data_size is {len(data)}.")
    if datatype == "BOOL":
        raw = np.frombuffer(data, dtype=np.uint8)
        wrong = np.flatnonzero(raw > 1)
        if len(wrong):
            raise _listed(where, name, wrong, "is not a BOOL: each element is one byte, 0 or 1")
    return np.frombuffer(data, dtype=dtype)


def _bytes_elements(name: str, where: str, data: memoryview, count: int) -> list[bytes]:
    """The elements of raw BYTES data: each a 4-byte little-endian length, then that many bytes."""
    elements, position, end = [], 0, len(data)
    while position < end:
        if position + 4 > end:
            raise _error(f"{where}/data/{len(elements)}", f"Input {name!r}: the BYTES data ends inside the 4-byte "
                         f"length of element {len(elements)}; each element is its length, then its bytes.")
        (length,) = _LENGTH.unpack_from(data, position)
        position += 4
        if position + length > end:
            raise _error(f"{where}/data/{len(elements)}", f"Input {name!r}: BYTES element {len(elements)} says "
                         f"it is {length} bytes long, but only {end - position} bytes are left.")
        elements.append(bytes(data[position:position + length]))
        position += length
    if len(elements) != count:
        raise _error(where, f"Input {name!r} holds {len(elements)} BYTES elements, but its shape takes {count}.")
    return elements


def _from_json(name: str, where: str, datatype: str, shape: tuple[int, ...], data: list[Any]) -> list[Any]:
    # Nested data is nested throughout (row-major); a mix is found by the element check below.
    values = _flatten(name, where, data, len(shape)) if data and type(data[0]) is list else data
    count = math.prod(shape)
    if len(values) != count:
        raise _error(f"{where}/data", f"Input {name!r} has {len(values)} elements in 'data', but its shape "
                                      f"{list(shape)} takes {count}.")
    kinds = _JSON_KINDS.get(datatype, (int, float))
    if not set(map(type, values)) <= set(kinds):
        wrong = [i for i, v in enumerate(values) if type(v) not in kinds]
        raise _listed(where, name, wrong, f"must be {_JSON_WORDS[kinds]} (datatype {datatype})", values)
    if datatype in INTEGERS and values:
        info = np.iinfo(FIXED[datatype])
        if min(values) < info.min or max(values) > info.max:
            wrong = [i for i, v in enumerate(values) if not info.min <= v <= info.max]
            raise _listed(where, name, wrong, f"is beyond the range of {datatype} ({info.min} to {info.max})",
                          values)
    if datatype in NARROW_FLOAT_MAX and values:
        # A JSON number is a double; FP16 and FP32 hold less, and beyond their range a value
        # would become infinity, as the same element sent as binary data cannot be. The bound is
        # the type's largest value itself, as the API docs state it.
        largest = NARROW_FLOAT_MAX[datatype]
        beyond = np.flatnonzero(np.abs(np.asarray(values, dtype=np.float64)) > largest)
        if len(beyond):
            raise _listed(where, name, beyond, f"is beyond the range of {datatype} (-{largest:g} to {largest:g}); "
                          "declare the tensor FP64")
    return values


#: The largest finite value of the floating-point datatypes narrower than a JSON number (a double).
NARROW_FLOAT_MAX = {name: float(np.finfo(FIXED[name]).max) for name in ("FP16", "FP32")}
_JSON_KINDS: dict[str, tuple[type, ...]] = {"BOOL": (bool,), BYTES: (str,), **{t: (int,) for t in INTEGERS}}
_JSON_WORDS = {(bool,): "true or false", (str,): "a string", (int,): "a whole number", (int, float): "a number"}


def _flatten(name: str, where: str, data: list[Any], dimensions: int) -> list[Any]:
    """The elements of nested ``data``, row-major; InvalidInput when it nests deeper than the shape."""
    values: list[Any] = []
    stack = [iter(data)]
    while stack:
        for value in stack[-1]:
            if type(value) is list:
                if len(stack) >= dimensions:
                    raise _error(f"{where}/data", f"Input {name!r}: 'data' nests arrays deeper than the "
                                 f"{dimensions} dimensions of its shape; nest it once per dimension, or send it flat.",
                                 f"nests arrays deeper than the {dimensions} dimensions of the shape")
                stack.append(iter(value))
                break
            values.append(value)
        else:
            stack.pop()
    return values


def _listed(where: str, name: str, positions: Any, message: str, values: list[Any] | None = None) -> InvalidInput:
    """InvalidInput naming the elements at fault (at most _MAX_LISTED of them)."""
    positions = list(positions)
    shown = listed_text(positions)
    errors = [{"path": f"{where}/data/{p}", "message": message + ("" if values is None else
                                                                  f", got {type(values[p]).__name__}")}
              for p in positions[:_MAX_LISTED]]
    return InvalidInput(f"Input {name!r}: element {shown} {message}.", errors=errors)


@dataclass
class Output:
    """One output tensor of an answer, as JSON or as raw data."""

    name: str
    datatype: str
    values: np.ndarray | list[Any]
    binary: bool
    parameters: dict[str, Any] | None = None

    def encode(self) -> tuple[dict[str, Any], bytes | None]:
        """The output's JSON part and, when it goes as binary data, its bytes."""
        shape = list(np.shape(self.values)) if isinstance(self.values, np.ndarray) else [len(self.values)]
        tensor: dict[str, Any] = {"name": self.name, "datatype": self.datatype, "shape": shape}
        parameters = dict(self.parameters or {})
        raw = None
        if self.binary:
            raw = self._raw()
            parameters["binary_data_size"] = len(raw)
        else:
            flat = self.values.ravel() if isinstance(self.values, np.ndarray) else self.values
            tensor["data"] = flat.tolist() if isinstance(flat, np.ndarray) else list(flat)
        if parameters:
            tensor["parameters"] = parameters
        return tensor, raw

    def _raw(self) -> bytes:
        if self.datatype == BYTES:
            flat = self.values.ravel().tolist() if isinstance(self.values, np.ndarray) else self.values
            encoded = [v if isinstance(v, bytes) else str(v).encode() for v in flat]
            return b"".join(chain.from_iterable((_LENGTH.pack(len(e)), e) for e in encoded))
        return np.ascontiguousarray(self.values, dtype=FIXED[self.datatype]).tobytes()


def encode_answer(answer: dict[str, Any], outputs: list[Output]) -> tuple[dict[str, Any], bytes]:
    """The answer's JSON part with every output in it, and the binary data that follows it (maybe none)."""
    tensors, buffers = [], []
    for output in outputs:
        tensor, raw = output.encode()
        tensors.append(tensor)
        if raw is not None:
            buffers.append(raw)
    return {**answer, "outputs": tensors}, b"".join(buffers)
