"""JSON request bodies: decoded with orjson, plus a hint that lets numeric rows skip per-value checks.

A body such as ``{"instances": [[5.1, 3.5, 1.4, 0.2], ...]}`` whose text has no quote, and no
letter of ``true``, ``false`` or ``null``, after its one key, can only hold numbers (and
brackets): numpy then checks its shape and converts it in one call, where a check in Python
would look at every value. Any other body takes the full validation path.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from .errors import InvalidInput

_KEY = b'"instances"'


@dataclass(frozen=True)
class Decoded:
    """A decoded body and whether its text held nothing but numbers besides the ``instances`` key."""

    body: Any
    numbers_only: bool = False


def decode_json(raw: bytes) -> Decoded:
    """Decode a JSON body; InvalidInput (400) saying why when it is not valid JSON."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        hint = "" if raw.strip() else " The body is empty."
        raise InvalidInput(
            f"The body is not valid JSON: {exc}.{hint} NaN, Infinity and numbers beyond a double "
            "(such as 1e400) are not accepted.",
            errors=[{"path": "", "message": f"is not valid JSON: {exc}"}]) from None
    return Decoded(body, numbers_only=isinstance(body, dict) and _numbers_only(raw))


def _numbers_only(raw: bytes) -> bool:
    if raw.count(b'"') != 2:
        return False
    start = raw.find(_KEY)
    if start < 0:
        return False
    values = raw[start + len(_KEY):]
    return b"t" not in values and b"f" not in values and b"n" not in values
