"""Open Inference Protocol datatypes and tensor elements: the one datatype table, and errors naming elements.

Every codec of tensors (JSON ``data``, binary data, answers) reads its datatypes here; an error
about elements names each one at fault by its path (``inputs/2/data/5``), at most
:data:`MAX_LISTED` of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from app.core.errors import InvalidInput, listed

#: The fixed-size datatypes and their little-endian numpy types.
FIXED: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
BYTES = "BYTES"
DATATYPES = [*FIXED, BYTES]
INTEGERS = frozenset(name for name, dtype in FIXED.items() if dtype.kind in "iu")
FLOATS = frozenset(name for name, dtype in FIXED.items() if dtype.kind == "f")
#: The largest finite value of the floating-point datatypes narrower than a JSON number (a double).
NARROW_FLOAT_MAX = {name: float(np.finfo(FIXED[name]).max) for name in ("FP16", "FP32")}
#: How many problems of one tensor's elements an answer lists.
MAX_LISTED = 100


def element_error(path: str, detail: str, message: str | None = None) -> InvalidInput:
    return InvalidInput(detail, errors=[{"path": path, "message": message or detail}])


def elements_error(
    where: str, name: str, positions: Any, message: str, values: list[Any] | None = None
) -> InvalidInput:
    """InvalidInput naming the elements at fault (at most MAX_LISTED of them)."""
    positions = list(positions)
    shown = listed(positions)
    errors = [
        {
            "path": f"{where}/data/{p}",
            "message": message + ("" if values is None else f", got {type(values[p]).__name__}"),
        }
        for p in positions[:MAX_LISTED]
    ]
    return InvalidInput(f"Input {name!r}: element {shown} {message}.", errors=errors)
