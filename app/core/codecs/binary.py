"""The binary tensor data extension: a request's JSON part and the raw data after it, and answers alike.

The ``Inference-Header-Content-Length`` header says where the JSON part ends, and each input's
``parameters.binary_data_size`` how many of the following bytes are its own, in the order of
``inputs``. Fixed-size elements are little-endian; each BYTES element is preceded by its length
as a 4-byte little-endian integer. Outputs go back the same way, in JSON or as raw data, as the
client asked.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from app.core.codecs.elements import BYTES, FIXED, element_error, elements_error
from app.core.errors import InvalidInput

#: The header of a request or answer with binary data: the length of the JSON part before it.
HEADER_LENGTH = "Inference-Header-Content-Length"
_LENGTH = struct.Struct("<I")


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
            errors=[{"path": "Inference-Header-Content-Length", "message": "is not the length of the JSON part"}],
        )
    length = int(text)
    return raw[:length], memoryview(raw)[length:]


def from_binary(name: str, where: str, datatype: str, shape: tuple[int, ...], data: memoryview) -> Any:
    count = math.prod(shape)
    if datatype == BYTES:
        return _bytes_elements(name, where, data, count)
    dtype = FIXED[datatype]
    if len(data) != count * dtype.itemsize:
        raise element_error(
            where,
            f"Input {name!r}: shape {list(shape)} of {datatype} takes {count * dtype.itemsize} "
            f"bytes, but binary_data_size is {len(data)}.",
        )
    if datatype == "BOOL":
        raw = np.frombuffer(data, dtype=np.uint8)
        wrong = np.flatnonzero(raw > 1)
        if len(wrong):
            raise elements_error(where, name, wrong, "is not a BOOL: each element is one byte, 0 or 1")
    return np.frombuffer(data, dtype=dtype)


def _bytes_elements(name: str, where: str, data: memoryview, count: int) -> list[bytes]:
    """The elements of raw BYTES data: each a 4-byte little-endian length, then that many bytes."""
    elements: list[bytes] = []
    position, end = 0, len(data)
    while position < end:
        if position + 4 > end:
            raise element_error(
                f"{where}/data/{len(elements)}",
                f"Input {name!r}: the BYTES data ends inside the 4-byte "
                f"length of element {len(elements)}; each element is its length, then its bytes.",
            )
        (length,) = _LENGTH.unpack_from(data, position)
        position += 4
        if position + length > end:
            raise element_error(
                f"{where}/data/{len(elements)}",
                f"Input {name!r}: BYTES element {len(elements)} says "
                f"it is {length} bytes long, but only {end - position} bytes are left.",
            )
        elements.append(bytes(data[position : position + length]))
        position += length
    if len(elements) != count:
        raise element_error(where, f"Input {name!r} holds {len(elements)} BYTES elements, but its shape takes {count}.")
    return elements


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
