"""Schema violations in plain words: the ``errors`` list of a 400 and the sentence that sums it up.

The list is capped at ``MAX_ERRORS`` entries and collecting stops once it is full, so a request
of ten thousand empty objects costs a few entries' work and answers a few kilobytes, not
hundreds of thousands of entries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from itertools import islice
from typing import Any

from jsonschema.exceptions import ValidationError

from app.core.errors import InvalidInput, listed
from app.core.features import INT64_MAX

#: A protocol's name for a place in a request, given as its keys in ``{"instances": [...]}``.
Locate = Callable[[list[Any]], str]
#: Most violations one answer lists; validation stops when this many are found.
MAX_ERRORS = 100
#: Most key names the summary sentence quotes.
_NAMED_KEYS = 10
#: Whole numbers (integer features and ids) are taken from -INT64_MAX to INT64_MAX. The range is
#: symmetric because a JSON integer below -2^63 decodes as the double -2^63, which would pass a
#: bound of -2^63 though it is another number.
INT64_RANGE = "-(2^63 - 1) to 2^63 - 1"


class Violations:
    """The violations of one request, each (path, message) once, at most ``MAX_ERRORS`` of them."""

    def __init__(self, locate: Locate | None = None) -> None:
        #: How a protocol names a place in the request, from its place in ``{"instances": [...]}``.
        self.locate = locate
        self._unique: dict[tuple[str, str], dict[str, str]] = {}
        #: More violations exist than are listed (collecting stopped at the cap).
        self.truncated = False

    @property
    def full(self) -> bool:
        return len(self._unique) >= MAX_ERRORS

    def add(self, errors: Iterable[ValidationError], prefix: tuple[Any, ...] = ()) -> bool:
        """Describe jsonschema errors (paths under ``prefix``); False once the list is full."""
        for error in errors:
            for entry in describe(error, prefix, self.locate):
                if self.full:
                    self.truncated = True
                    return False
                # jsonschema reports each missing key separately, each naming the whole required list.
                self._unique.setdefault((entry["path"], entry["message"]), entry)
        return True

    def raise_if_any(self) -> None:
        """InvalidInput listing every collected violation, when there is one."""
        if not self._unique:
            return
        errors = sorted(self._unique.values(), key=lambda e: e.get("order", e["path"]))
        detail = summary(errors)
        if self.truncated:
            detail += (
                f". Only the first {MAX_ERRORS} problems are listed and validation stopped there; "
                "fix these and send the request again to see whether more remain"
            )
        raise InvalidInput(detail, errors=errors)


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _pointer(path: Iterable[Any]) -> str:
    return "/".join(str(p) for p in path)


def describe(
    error: ValidationError, prefix: tuple[Any, ...] = (), locate: Locate | None = None
) -> list[dict[str, str]]:
    """Turn one jsonschema error into one entry per offending field, in plain words.

    With ``locate``, each path is the protocol's own name for the place (the entries keep the order
    of their places in the instances).
    """
    where = [*prefix, *error.absolute_path]
    entries = _described(error, where)
    if locate is not None:
        for entry, place in zip(entries, _places(error, where), strict=True):
            entry["order"], entry["path"] = entry["path"], locate(place)
    return entries


def _rule(error: ValidationError) -> tuple[Any, Any, Mapping[str, Any]]:
    """The failed rule's value, the value it judged, and the schema that holds the rule.

    jsonschema types these as possibly unset, which they are only on errors built by hand: the
    errors a validator reports carry all three.
    """
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    return error.validator_value, error.instance, schema


def _places(error: ValidationError, where: list[Any]) -> list[list[Any]]:
    """The place of each entry :func:`_described` makes of the error, as lists of keys."""
    rule, instance, schema = _rule(error)
    if error.validator == "required":
        return [where + [k] for k in rule if k not in instance]
    if error.validator == "additionalProperties":
        known = schema.get("properties", {})
        return [where + [k] for k in islice((k for k in instance if k not in known), MAX_ERRORS)]
    return [where]


def _described(error: ValidationError, where: list[Any]) -> list[dict[str, str]]:
    rule, instance, schema = _rule(error)
    if error.validator == "required":
        missing = [k for k in rule if k not in instance]
        return [{"path": _pointer(where + [k]), "message": "is required", "kind": "missing"} for k in missing]
    if error.validator == "additionalProperties":
        known = schema.get("properties", {})
        extra = islice((k for k in instance if k not in known), MAX_ERRORS)
        return [
            {"path": _pointer(where + [k]), "message": "is not a feature of this model", "kind": "unknown"}
            for k in extra
        ]
    if error.validator == "type":
        expected = rule
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        article = "an" if expected[0] in "aeiou" else "a"
        message = f"must be {article} {expected}, got {json_type(instance)}"
    elif error.validator in ("minimum", "maximum") and rule in (-INT64_MAX, INT64_MAX):
        message = f"is beyond the range of a 64-bit integer ({INT64_RANGE})"
        if where[-1:] == ["id"]:
            message += "; send an id this large as a string"
    elif error.validator == "enum":
        message = "must be one of " + ", ".join(repr(v) for v in rule)
    elif error.validator in ("items", "minItems") and isinstance(instance, list) and where[-1:] != ["instances"]:
        expected = len(schema.get("prefixItems", []))
        message = f"has {len(instance)} values; the model takes {expected} features in order"
    elif error.validator == "minItems":
        message = "must not be empty"
    elif error.validator == "anyOf" and where[-1:] == ["id"]:
        message = f"must be a string or a whole number, got {json_type(instance)}"
        if isinstance(instance, (int, float)) and not isinstance(instance, bool):
            message = f"must be a string, or a whole number from {INT64_RANGE}; send other ids as strings"
    else:
        message = error.message
    return [{"path": _pointer(where), "message": message}]


def summary(errors: list[dict[str, str]]) -> str:
    """One sentence naming what is wrong, e.g. ``Missing keys: 'x_3', 'x_4'``; drops the entries' kinds."""
    parts = []
    for kind, label in (("missing", "Missing keys"), ("unknown", "Unknown keys")):
        names = sorted({e["path"].rsplit("/", 1)[-1] for e in errors if e.get("kind") == kind})
        if names:
            parts.append(f"{label}: " + listed([repr(n) for n in names], _NAMED_KEYS))
    others = [e for e in errors if "kind" not in e]
    if others:
        parts.append(listed([f"{e['path'] or 'body'} {e['message']}" for e in others], 5, "; ", see_errors=True))
    for entry in errors:
        entry.pop("kind", None)
        entry.pop("order", None)
    return "; ".join(parts)
