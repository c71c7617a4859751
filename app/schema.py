"""Request validation built from a model version's features.

One ``InputSchema`` per model version produces both the JSON Schemas the API docs show and
the compiled validators that check requests, so documentation and behaviour cannot drift.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Iterable, Mapping

import numpy as np
from jsonschema import Draft202012Validator

from .errors import InvalidInput, PayloadTooLarge

#: How true and false are written in forms, CSV files and query parameters.
TRUE_WORDS = ("true", "1", "on", "yes")
FALSE_WORDS = ("false", "0", "off", "no")
_JSON_TYPES = {"number": "number", "integer": "integer", "string": "string", "boolean": "boolean"}
_ID_SCHEMA = {"anyOf": [{"type": "string"}, {"type": "integer"}],
              "description": "Echoed back with the prediction."}


@dataclass
class Batch:
    """A validated request: feature columns in model order, plus what the response echoes.

    For a model whose features are all numbers (no allowed-value lists), ``array`` holds the
    same values as one float64 matrix, rows in request order and columns in feature order,
    and ``columns`` are views of it.
    """

    columns: dict[str, Any]
    size: int
    single: bool
    ids: list[Any] | None
    array: np.ndarray | None = None


def feature_schema(feature: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON Schema of one feature's value."""
    schema: dict[str, Any] = {"type": _JSON_TYPES.get(feature.get("type", "number"), "number")}
    if feature.get("enum"):
        schema["enum"] = list(feature["enum"])
    for key in ("description", "minimum", "maximum"):
        if feature.get(key) is not None:
            # Training ranges document the data; values outside them are still predicted.
            schema["x-training-" + key if key != "description" else key] = feature[key]
    return schema


class InputSchema:
    """JSON Schemas and compiled validators for one model version's requests."""

    def __init__(self, features: Iterable[Mapping[str, Any]]) -> None:
        self.features = [dict(f) for f in features]
        self.names = [f["name"] for f in self.features]
        properties = {f["name"]: feature_schema(f) for f in self.features}
        self.instance = {
            "type": "object",
            "properties": {**properties, "id": _ID_SCHEMA},
            "required": list(self.names),
            "additionalProperties": False,
        }
        self.row = {
            "type": "array",
            "prefixItems": [properties[n] for n in self.names],
            "items": False,
            "minItems": len(self.names),
            "description": "Feature values in this order: " + ", ".join(self.names),
        }
        self.by_name = _instances_schema(self.instance)
        self.by_row = _instances_schema(self.row)
        self._single_validator = Draft202012Validator(self.instance)
        self._name_validator = Draft202012Validator(self.by_name)
        self._row_validator = Draft202012Validator(self.by_row)
        self._key_set = set(self.names)
        self._column_checks = [_column_check(f) for f in self.features]
        #: All features numbers or whole numbers without allowed-value lists: requests become
        #: one float64 matrix, checked with numpy.
        self.numeric = all(f.get("type", "number") in ("number", "integer") and not f.get("enum")
                           for f in self.features)
        self._integer_columns = [i for i, f in enumerate(self.features) if f.get("type") == "integer"]
        self._values_of = itemgetter(*self.names) if len(self.names) > 1 else lambda i: (i[self.names[0]],)

    def openapi_schemas(self) -> dict[str, dict[str, Any]]:
        """The request schemas in the OpenAPI 3.0 dialect the Swagger UI renders.

        OpenAPI 3.0 has no ``prefixItems``; a row becomes an array of exactly as many values
        as there are features, each of one of the feature types, and its description names
        the order. Everything else is the validating schema itself.
        """
        value_types = []
        for schema in self.row["prefixItems"]:
            plain = {"type": schema["type"]}
            if plain not in value_types:
                value_types.append(plain)
        row = {
            "type": "array",
            "minItems": len(self.names),
            "maxItems": len(self.names),
            "items": value_types[0] if len(value_types) == 1 else {"anyOf": value_types},
            "description": self.row["description"],
            "example": list(self.example().values()),
        }
        return {
            "instance": {**self.instance, "example": self.example()},
            "instances": _instances_schema({**self.instance, "example": self.example()}),
            "rows": _instances_schema(row),
        }

    def example(self) -> dict[str, Any]:
        """A valid single instance, from each feature's example, enum or training range."""
        return {f["name"]: example_value(f) for f in self.features}

    def parse(self, body: Any, max_batch: int, numbers_only: bool = False) -> Batch:
        """Validate a decoded request body and turn it into feature columns.

        A vectorised check that only ever accepts schema-valid input runs first; anything it
        does not accept goes through the compiled JSON Schema validator, which lists every
        violation. A 10 000-row batch thus costs milliseconds, not half a second.
        ``numbers_only`` says the JSON text held no strings, booleans or nulls besides the
        ``instances`` key (see :func:`app.decoding.decode_json`): rows of such a body are
        checked by numpy alone.
        """
        if isinstance(body, dict) and "instances" in body:
            instances = body["instances"]
            if isinstance(instances, list) and len(instances) > max_batch:
                raise PayloadTooLarge(
                    f"The request has {len(instances)} instances; the limit is {max_batch}. "
                    "Split it into smaller requests."
                )
            if numbers_only and self.numeric:
                array = self._numeric_rows(instances)
                if array is not None:
                    return self._array_batch(array, single=False, ids=None)
            rows = isinstance(instances, list) and bool(instances) and isinstance(instances[0], list)
            if len(body) != 1 or not self._fast_check(instances, rows):
                _check(self._row_validator if rows else self._name_validator, body)
            if self.numeric:
                values = instances if rows else list(map(self._values_of, instances))
                ids = None if rows else [inst.get("id") for inst in instances]
                return self._array_batch(np.array(values, dtype=np.float64), single=False,
                                         ids=ids if ids and any(i is not None for i in ids) else None)
            if rows:
                columns = dict(zip(self.names, map(list, zip(*instances))))
                return Batch(columns, len(instances), single=False, ids=None)
            columns = {n: [inst[n] for inst in instances] for n in self.names}
            ids = [inst.get("id") for inst in instances]
            return Batch(columns, len(instances), single=False,
                         ids=ids if any(i is not None for i in ids) else None)
        if not isinstance(body, dict):
            raise InvalidInput(
                "The body must be a JSON object: one instance with features by name, or "
                '{"instances": [...]} with objects or rows. See /apidocs/ for examples.',
                errors=[{"path": "", "message": f"must be an object, got {_json_type(body)}"}],
            )
        if not self._fast_check([body], rows=False):
            _check(self._single_validator, body)
        ids = [body["id"]] if "id" in body else None
        if self.numeric:
            return self._array_batch(np.array([self._values_of(body)], dtype=np.float64), single=True, ids=ids)
        columns = {n: [body[n]] for n in self.names}
        return Batch(columns, 1, single=True, ids=ids)

    def _numeric_rows(self, instances: Any) -> np.ndarray | None:
        """Rows of plain numbers as one matrix, or None when anything needs the full check."""
        if not isinstance(instances, list) or not instances:
            return None
        try:
            array = np.array(instances, dtype=np.float64)
        except (ValueError, TypeError, OverflowError):  # ragged rows, objects, huge integers
            return None
        if array.ndim != 2 or array.shape[1] != len(self.names):
            return None
        if self._integer_columns:
            whole = array[:, self._integer_columns]
            if not np.array_equal(whole, np.floor(whole)):
                return None
        return array

    def _array_batch(self, array: np.ndarray, single: bool, ids: list[Any] | None) -> Batch:
        columns = {name: array[:, i] for i, name in enumerate(self.names)}
        return Batch(columns, len(array), single=single, ids=ids, array=array)

    def _fast_check(self, instances: Any, rows: bool) -> bool:
        """True only when the instances certainly match the schema; False means 'ask jsonschema'."""
        if not isinstance(instances, list) or not instances:
            return False
        width = len(self.names)
        if rows:
            if not all(type(r) is list and len(r) == width for r in instances):
                return False
            columns = zip(*instances)
        else:
            if not all(type(i) is dict for i in instances):
                return False
            keys = self._key_set
            if not all(i.keys() == keys or (i.keys() - {"id"} == keys and type(i["id"]) in (str, int))
                       for i in instances):
                return False
            columns = ([i[n] for i in instances] for n in self.names)
        return all(check(values) for check, values in zip(self._column_checks, columns))

    def from_form(self, form: Mapping[str, str]) -> dict[str, Any]:
        """Turn form fields (all strings) into typed values; bad values are left for the validator."""
        typed: dict[str, Any] = {}
        kinds = {f["name"]: f.get("type", "number") for f in self.features}
        for key, value in form.items():
            typed[key] = _coerce_text(value, kinds.get(key, "string"))
        return typed


def _instances_schema(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"instances": {"type": "array", "minItems": 1, "items": item}},
        "required": ["instances"],
        "additionalProperties": False,
    }


def _column_check(feature: Mapping[str, Any]):
    """A check of a whole column of values that accepts only what the feature's schema accepts."""
    kind = feature.get("type", "number")
    enum = feature.get("enum")
    if enum:
        if not all(type(v) is str for v in enum):
            return lambda values: False  # mixed-type enums: leave the subtle cases to jsonschema
        allowed = frozenset(enum)
        return lambda values: all(type(v) is str for v in values) and allowed.issuperset(values)
    if kind == "integer":
        return lambda values: set(map(type, values)) <= {int}
    accepted = {"number": {int, float}, "string": {str}, "boolean": {bool}}.get(kind, set())
    return lambda values: set(map(type, values)) <= accepted


def example_value(feature: Mapping[str, Any]) -> Any:
    """A plausible value of one feature for examples and form defaults."""
    if feature.get("example") is not None:
        return feature["example"]
    if feature.get("enum"):
        return feature["enum"][0]
    kind = feature.get("type", "number")
    if kind == "boolean":
        return False
    if kind == "string":
        return ""
    low, high = feature.get("minimum"), feature.get("maximum")
    value = (low + high) / 2 if low is not None and high is not None else 0
    return int(round(value)) if kind == "integer" else round(value, 3)


def _coerce_text(value: str, kind: str) -> Any:
    text = value.strip()
    try:
        if kind == "integer":
            number = float(text)
            return int(number) if number.is_integer() else number
        if kind == "number":
            number = float(text)
            return number if math.isfinite(number) else value
    except ValueError:
        return value
    if kind == "boolean":
        lowered = text.lower()
        if lowered in TRUE_WORDS:
            return True
        if lowered in FALSE_WORDS:
            return False
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _check(validator: Draft202012Validator, body: Any) -> None:
    unique: dict[tuple[str, str], dict[str, str]] = {}
    for error in validator.iter_errors(body):
        for entry in _describe(error):
            # jsonschema reports each missing key separately, each naming the whole required list.
            unique.setdefault((entry["path"], entry["message"]), entry)
    errors = list(unique.values())
    if errors:
        errors.sort(key=lambda e: e["path"])
        raise InvalidInput(_summary(errors), errors=errors)


def _pointer(path: Iterable[Any]) -> str:
    return "/".join(str(p) for p in path)


def _describe(error: Any) -> list[dict[str, str]]:
    """Turn one jsonschema error into one entry per offending field, in plain words."""
    where = list(error.absolute_path)
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return [{"path": _pointer(where + [k]), "message": "is required", "kind": "missing"} for k in missing]
    if error.validator == "additionalProperties":
        known = error.schema.get("properties", {})
        extra = [k for k in error.instance if k not in known]
        return [{"path": _pointer(where + [k]), "message": "is not a feature of this model", "kind": "unknown"}
                for k in extra]
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        article = "an" if expected[0] in "aeiou" else "a"
        message = f"must be {article} {expected}, got {_json_type(error.instance)}"
    elif error.validator == "enum":
        message = "must be one of " + ", ".join(repr(v) for v in error.validator_value)
    elif error.validator in ("items", "minItems") and isinstance(error.instance, list) and where[-1:] != ["instances"]:
        expected = len(error.schema.get("prefixItems", []))
        message = f"has {len(error.instance)} values; the model takes {expected} features in order"
    elif error.validator == "minItems":
        message = "must not be empty"
    else:
        message = error.message
    return [{"path": _pointer(where), "message": message}]


def _summary(errors: list[dict[str, str]]) -> str:
    """One sentence naming what is wrong, e.g. ``Missing keys: 'x_3', 'x_4'``."""
    parts = []
    for kind, label in (("missing", "Missing keys"), ("unknown", "Unknown keys")):
        names = sorted({e["path"].rsplit("/", 1)[-1] for e in errors if e.get("kind") == kind})
        if names:
            parts.append(f"{label}: " + ", ".join(repr(n) for n in names))
    others = [e for e in errors if "kind" not in e]
    for entry in others[:5]:
        parts.append(f"{entry['path'] or 'body'} {entry['message']}")
    if len(others) > 5:
        parts.append(f"and {len(others) - 5} more (see errors)")
    for entry in errors:
        entry.pop("kind", None)
    return "; ".join(parts)
