"""Open Inference Protocol requests to validated batches.

A model takes one input tensor per feature, named after it, of shape ``[-1]`` or ``[-1, 1]``
and the datatype of the feature's type (``app.core.features``); a model whose features are
all numbers also takes its rows as one ``[-1, n_features]`` tensor of any numeric datatype, as
MLServer's scikit-learn runtime does (:mod:`app.core.codecs.oipmodel` declares both forms in the
model's metadata, and makes the answer's outputs).

The elements then go through the model's own :class:`~app.core.schema.InputSchema`, so a V2
request is checked exactly as a /v1 request is, against the same limits, with every violation
listed; the paths of the violations name the tensor element at fault.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.core import features
from app.core.codecs.binary import HEADER_LENGTH, split_body
from app.core.codecs.elements import BYTES, FLOATS, INTEGERS
from app.core.codecs.jsonbody import decode_json, max_values
from app.core.codecs.oipinputs import Tensor, read_inputs
from app.core.codecs.oipmodel import takes_matrix
from app.core.codecs.tensors import check_request
from app.core.errors import SEE_V2_INPUTS, InvalidInput, PayloadTooLarge
from app.core.schema import Batch, InputSchema


def accepted_datatypes(kind: features.FeatureType) -> frozenset[str]:
    """The datatypes a feature's tensor may have: any numeric one for numbers (whole-number features take
    floats holding whole numbers), its own datatype otherwise."""
    return FLOATS | INTEGERS if kind.numeric else frozenset({kind.oip_datatype})


#: JSON values of one input tensor besides its elements: the object, name, datatype, shape and
#: its dimensions, parameters and binary_data_size, data.
_TENSOR_VALUES = 10


@dataclass
class Request:
    """An inference request's checked JSON part, and its input tensors with their elements."""

    body: dict[str, Any]
    inputs: list[Tensor]


def read_request(raw: bytes, header_length: str | None, schema: InputSchema, max_batch: int) -> Request:
    """Split a body into its JSON part and binary data, decode and check the JSON part, and read each input."""
    header, binary = split_body(raw, header_length)
    subject = (
        "The body"
        if header_length is None
        else f"The JSON part of the body (its first {len(header)} bytes, as {HEADER_LENGTH} says)"
    )
    # Each tensor's name, datatype, shape and parameters are values of their own too.
    limit = max_values(len(schema.names), max_batch) + _TENSOR_VALUES * len(schema.names) + 32
    body = decode_json(header, limit, subject).body
    check_request(body)
    return Request(body, read_inputs(body, binary, header_length is not None))


def to_batch(schema: InputSchema, tensors: list[Tensor], max_batch: int) -> Batch:
    """Check the input tensors against the model and its schema, and make them a validated batch."""
    names = schema.names
    if len(tensors) == 1 and tensors[0].name not in names and takes_matrix(schema):
        return _matrix_batch(schema, tensors[0], max_batch)
    by_name = _feature_tensors(schema, tensors)
    _rows(by_name, max_batch)
    columns = []
    for feature in schema.features:
        tensor = by_name[feature["name"]]
        kind = features.type_of(feature)
        if tensor.datatype not in accepted_datatypes(kind):
            raise _wrong_datatype(tensor, f"feature {tensor.name!r} is a {kind.name}", kind.oip_datatype)
        columns.append(_column(tensor))
    if schema.numeric:  # the columns hold numbers only: their datatypes were checked above
        batch = schema.from_matrix(np.column_stack([np.asarray(c, dtype=np.float64) for c in columns]))
        if batch is not None:
            return batch
    rows = zip(*map(_as_list, columns), strict=True)
    return _checked(
        schema,
        [dict(zip(names, row, strict=True)) for row in rows],
        max_batch,
        lambda i, f: f"{by_name[f].path}/data/{i}",
    )


def _matrix_batch(schema: InputSchema, tensor: Tensor, max_batch: int) -> Batch:
    width = len(schema.names)
    if len(tensor.shape) != 2 or tensor.shape[1] != width:
        raise InvalidInput(
            f"Input {tensor.name!r} is not a feature of this model, so it is read as the model's rows in one tensor, "
            f"which takes shape [n, {width}] (columns {', '.join(schema.names)}); it has shape {list(tensor.shape)}. "
            "Or send one tensor per feature, named after it.",
            errors=[{"path": f"{tensor.path}/shape", "message": f"must be [n, {width}] for the rows of this model"}],
        )
    if tensor.datatype not in FLOATS | INTEGERS:
        raise _wrong_datatype(tensor, "the rows of this model are numbers", "FP64")
    _check_rows(tensor.shape[0], max_batch)
    values = _column(tensor)
    array = np.asarray(values, dtype=np.float64).reshape(tensor.shape)
    batch = schema.from_matrix(array) if schema.numeric else None
    if batch is not None:
        return batch
    rows = (
        array.tolist()
        if isinstance(values, np.ndarray) and values.dtype.kind == "f"
        else np.asarray(values, dtype=object).reshape(tensor.shape).tolist()
    )
    position = {name: column for column, name in enumerate(schema.names)}
    return _checked(
        schema,
        [dict(zip(schema.names, row, strict=True)) for row in rows],
        max_batch,
        lambda i, f: f"{tensor.path}/data/{i * width + position[f]}",
    )


def _feature_tensors(schema: InputSchema, tensors: list[Tensor]) -> dict[str, Tensor]:
    """The tensors by feature name; InvalidInput listing unknown, repeated and missing ones."""
    errors, by_name = [], {}
    for tensor in tensors:
        if tensor.name not in schema.names:
            errors.append({"path": f"{tensor.path}/name", "message": f"{tensor.name!r} is not a feature of this model"})
        elif tensor.name in by_name:
            errors.append({"path": f"{tensor.path}/name", "message": f"{tensor.name!r} is sent twice"})
        else:
            by_name[tensor.name] = tensor
    missing = [n for n in schema.names if n not in by_name]
    errors += [{"path": "inputs", "message": f"has no tensor for feature {n!r}"} for n in missing]
    if errors:
        matrix = (
            f" or, the features being numbers, one [n, {len(schema.names)}] tensor of rows"
            if takes_matrix(schema)
            else ""
        )
        listed = "; ".join(f"{e['path']} {e['message']}" for e in errors[:5])
        raise InvalidInput(
            f"The inputs must be one tensor per feature, named after it{matrix}. The features are "
            f"{', '.join(schema.names)}. {listed}",
            errors=errors[:100],
        )
    return by_name


def _rows(by_name: dict[str, Tensor], max_batch: int) -> int:
    """The number of rows all feature tensors have; InvalidInput for shapes other than [n] and [n, 1]."""
    errors, counts = [], set()
    for tensor in by_name.values():
        if len(tensor.shape) not in (1, 2) or (len(tensor.shape) == 2 and tensor.shape[1] != 1):
            errors.append(
                {
                    "path": f"{tensor.path}/shape",
                    "message": f"is {list(tensor.shape)}; a feature's tensor " "has shape [n] or [n, 1]",
                }
            )
        else:
            counts.add(tensor.shape[0])
    if not errors and len(counts) > 1:
        shapes = ", ".join(f"{t.name} {list(t.shape)}" for t in by_name.values())
        errors.append(
            {
                "path": "inputs",
                "message": f"hold different numbers of rows ({shapes}); every feature's "
                "tensor needs one element per row",
            }
        )
    if errors:
        raise InvalidInput("; ".join(f"{e['path']} {e['message']}" for e in errors), errors=errors)
    rows = counts.pop()
    _check_rows(rows, max_batch)
    return rows


def _check_rows(rows: int, max_batch: int) -> None:
    if rows == 0:
        raise InvalidInput(
            "The inputs hold no rows; send at least one.", errors=[{"path": "inputs", "message": "must not be empty"}]
        )
    if rows > max_batch:
        raise PayloadTooLarge(f"The request has {rows} rows; the limit is {max_batch}. Split it into smaller requests.")


def _wrong_datatype(tensor: Tensor, why: str, datatype: str) -> InvalidInput:
    return InvalidInput(
        f"Input {tensor.name!r} has datatype {tensor.datatype}, but {why}: send {datatype}.",
        errors=[{"path": f"{tensor.path}/datatype", "message": f"must be {datatype}, not " f"{tensor.datatype}"}],
        see=SEE_V2_INPUTS,
    )


def _column(tensor: Tensor) -> np.ndarray | list[Any]:
    """A tensor's elements for the schema: numbers finite, BYTES decoded as UTF-8 text."""
    values = tensor.values
    if tensor.datatype == BYTES:
        return [_text(tensor, i, v) for i, v in enumerate(values)] if values and type(values[0]) is bytes else values
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            shown = ", ".join(map(str, bad[:10].tolist()))
            raise InvalidInput(
                f"Input {tensor.name!r}: element {shown} is NaN or infinite; send finite numbers.",
                errors=[
                    {"path": f"{tensor.path}/data/{p}", "message": "must be a finite number"}
                    for p in bad[:100].tolist()
                ],
            )
    return values


def _text(tensor: Tensor, index: int, value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(
            f"Input {tensor.name!r}: BYTES element {index} is not UTF-8 text.",
            errors=[{"path": f"{tensor.path}/data/{index}", "message": "is not UTF-8 text"}],
        ) from None


def _as_list(column: np.ndarray | list[Any]) -> list[Any]:
    return column.tolist() if isinstance(column, np.ndarray) else column


def _checked(
    schema: InputSchema, instances: list[dict[str, Any]], max_batch: int, element: Callable[[int, str], str]
) -> Batch:
    """The schema's own check of the rows, each violation named by the tensor element at fault."""

    def locate(place: list[Any]) -> str:
        if len(place) >= 3 and place[0] == "instances":
            return element(place[1], place[2])
        return "/".join(map(str, place))

    return schema.parse({"instances": instances}, max_batch, locate=locate)
