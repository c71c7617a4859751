"""JSON request bodies: decoded with orjson, plus a hint that lets numeric rows skip per-value checks.

A body such as ``{"instances": [[5.1, 3.5, 1.4, 0.2], ...]}`` whose text has no quote, and no
letter of ``true``, ``false`` or ``null``, after its one key, can only hold numbers (and
brackets): numpy then checks its shape and converts it in one call, where a check in Python
would look at every value. Any other body takes the full validation path.

Decoded values take several times the memory of their text (an empty object ``{}`` is two bytes
of JSON and some sixty of Python), so the number of values a body may hold is capped before it
is decoded: a request for a model can use at most ``max_values`` of them.

Nesting is capped too, before the text is decoded: arrays in arrays a thousand deep would
otherwise reach code that recurses once per level (the decoder, the schema validator, the
flattening of a tensor's ``data``), and an Apache request thread has too little stack for that.
No request any protocol accepts comes near ``MAX_DEPTH``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from app.core.errors import InvalidInput, PayloadTooLarge

_KEY = b'"instances"'
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
#: Most levels of arrays and objects a JSON body may nest. The deepest request accepted is an
#: Open Inference Protocol tensor of many dimensions: body, ``inputs``, tensor, then ``data``
#: nested once per dimension.
MAX_DEPTH = 32
#: The bytes that are not brackets, and each bracket as the change of depth it makes (+1, -1).
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
_STEPS = bytes(1 if c in b"[{" else 255 if c in b"]}" else 0 for c in range(256))


@dataclass(frozen=True)
class Decoded:
    """A decoded body and whether its text held nothing but numbers besides the ``instances`` key."""

    body: Any
    numbers_only: bool = False


def max_values(features: int, max_batch: int) -> int:
    """Most JSON values a request for a model of ``features`` features can use: the instance limit
    times one instance's values (its features, an id, its object), and a few for the envelope."""
    return max_batch * (features + 3) + 16


def decode_json(raw: bytes, max_values: int | None = None, subject: str = "The body") -> Decoded:
    """Decode a JSON body; InvalidInput (400) saying why when it is not valid JSON.

    With ``max_values``, a body holding more values than that (numbers, strings, objects and
    arrays) is PayloadTooLarge (413) before it is decoded. ``subject`` is what the messages call
    the text (the JSON part of a body that has binary data after it).
    """
    if max_values is not None and len(raw) > max_values:  # each value counted takes a byte of its own
        _check_size(raw, max_values, subject)
    check_depth(raw, subject)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        hint = "" if raw.strip() else " The body is empty."
        raise InvalidInput(
            f"{subject} is not valid JSON: {exc}.{hint} NaN, Infinity and numbers beyond a double "
            "(such as 1e400) are not accepted.",
            errors=[{"path": "", "message": f"is not valid JSON: {exc}"}],
        ) from None
    return Decoded(body, numbers_only=isinstance(body, dict) and _numbers_only(raw))


def check_depth(raw: bytes, subject: str = "The body") -> None:
    """InvalidInput (400) when a JSON text nests arrays and objects deeper than MAX_DEPTH."""
    depth = _depth(raw)
    if depth > MAX_DEPTH and b'"' in raw:
        # Brackets inside strings are not nesting: measure again without the strings.
        depth = _depth(_STRING.sub(b'""', raw))
    if depth > MAX_DEPTH:
        raise InvalidInput(
            f"{subject} nests arrays and objects {depth} levels deep; at most {MAX_DEPTH} are accepted. A request "
            "needs a few: a list of instances, each a row or an object of features, or a tensor's data nested "
            "once per dimension of its shape (or flat).",
            errors=[{"path": "", "message": f"nests {depth} levels deep, more than {MAX_DEPTH}"}],
        )


def _depth(raw: bytes) -> int:
    """The deepest nesting of a JSON text's brackets (an upper bound for a text that is no JSON)."""
    brackets = raw.translate(None, _NOT_BRACKETS)  # a few microseconds even for 100 rows
    if len(brackets) <= MAX_DEPTH:  # too few to nest deeper: most bodies stop here
        return 0
    return int(np.frombuffer(brackets.translate(_STEPS), dtype=np.int8).cumsum(dtype=np.int64).max())


def _numbers_only(raw: bytes) -> bool:
    if raw.count(b'"') != 2:
        return False
    start = raw.find(_KEY)
    if start < 0:
        return False
    values = raw[start + len(_KEY) :]
    return b"t" not in values and b"f" not in values and b"n" not in values


def _count_values(raw: bytes) -> int:
    """At least the number of values in a JSON text: separators plus containers opened."""
    return raw.count(b",") + raw.count(b"{") + raw.count(b"[")


def _check_size(raw: bytes, max_values: int, subject: str) -> None:
    count = _count_values(raw)
    if count > max_values:
        # Commas and brackets inside strings are not values: count again without the strings.
        count = _count_values(_STRING.sub(b'""', raw))
    if count > max_values:
        raise PayloadTooLarge(
            f"{subject} holds about {count} JSON values; a request for this model holds at most {max_values} "
            "(the instance limit times the values of one instance). Send fewer or smaller instances per "
            "request."
        )
