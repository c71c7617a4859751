"""The input tensors of a checked Open Inference Protocol request, read: each one's elements from
its ``data`` (flat or nested, row-major) or from its slice of the binary data after the JSON part.

Every element is checked against the tensor's datatype and shape; what does not fit is an
InvalidInput naming the elements at fault.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.core.codecs.binary import from_binary
from app.core.codecs.elements import BYTES, FIXED, INTEGERS, NARROW_FLOAT_MAX, element_error, elements_error
from app.core.errors import InvalidInput


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
