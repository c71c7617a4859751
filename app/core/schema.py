"""Request validation built from a model version's features.

One ``InputSchema`` per model version holds both the JSON Schemas the API docs show (in the
OpenAPI dialect by :mod:`app.core.schema_docs`) and the compiled validators that check
requests, so documentation and behaviour cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np
from jsonschema import Draft202012Validator

from app.core.errors import SEE_EXAMPLES, InvalidInput, PayloadTooLarge
from app.core.features import INT64_MAX, TYPES, all_numeric, example_value, parse_text, type_name
from app.core.violations import INT64_RANGE, Locate, Violations, json_type

#: Integer values (features and ids) are whole numbers a signed 64-bit integer holds: larger ones
#: reach the model wrapped or rounded, and an id could not be echoed exactly.
_INT64 = {"minimum": -INT64_MAX, "maximum": INT64_MAX}
_ID_SCHEMA = {
    "anyOf": [{"type": "string"}, {"type": "integer", **_INT64}],
    "description": f"Echoed back with the prediction: a string, or a whole number from {INT64_RANGE}.",
}
#: The envelope of a request of many instances, checked before the instances one by one.
_ENVELOPE = Draft202012Validator(
    {
        "type": "object",
        "properties": {"instances": {"type": "array", "minItems": 1}},
        "required": ["instances"],
        "additionalProperties": False,
    }
)


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
    schema: dict[str, Any] = {"type": type_name(feature)}
    if schema["type"] == "integer":
        schema.update(_INT64)
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
        self.by_name = instances_schema(self.instance)
        self.by_row = instances_schema(self.row)
        self._single_validator = Draft202012Validator(self.instance)
        self._row_validator = Draft202012Validator(self.row)
        self._key_set = set(self.names)
        self._column_checks = [_column_check(f) for f in self.features]
        #: All features numbers or whole numbers without allowed-value lists: requests become
        #: one float64 matrix, checked with numpy.
        self.numeric = all_numeric(self.features) and not any(f.get("enum") for f in self.features)
        self._integer_columns = [i for i, f in enumerate(self.features) if type_name(f) == "integer"]
        self._values_of = itemgetter(*self.names) if len(self.names) > 1 else lambda i: (i[self.names[0]],)

    def example(self) -> dict[str, Any]:
        """A valid single instance, from each feature's example, enum or training range."""
        return {f["name"]: example_value(f) for f in self.features}

    def parse(self, body: Any, max_batch: int, numbers_only: bool = False, locate: Locate | None = None) -> Batch:
        """Validate a decoded request body and turn it into feature columns.

        A vectorised check that only ever accepts schema-valid input runs first; anything it
        does not accept goes through the compiled JSON Schema validator, which lists every
        violation. A 10 000-row batch thus costs milliseconds, not half a second.
        ``numbers_only`` says the JSON text held no strings, booleans or nulls besides the
        ``instances`` key (see :func:`app.core.codecs.jsonbody.decode_json`): rows of such a body are
        checked by numpy alone. ``locate`` names the places of violations in the protocol's own terms
        (an Open Inference Protocol tensor element) instead of their places in ``instances``.
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
                self._check_instances(body, rows, locate)
            if self.numeric:
                values = instances if rows else list(map(self._values_of, instances))
                ids = None if rows else [inst.get("id") for inst in instances]
                return self._array_batch(
                    np.array(values, dtype=np.float64),
                    single=False,
                    ids=ids if ids and any(i is not None for i in ids) else None,
                )
            if rows:
                columns = dict(zip(self.names, map(list, zip(*instances, strict=True)), strict=True))
                return Batch(columns, len(instances), single=False, ids=None)
            columns = {n: [inst[n] for inst in instances] for n in self.names}
            ids = [inst.get("id") for inst in instances]
            return Batch(columns, len(instances), single=False, ids=ids if any(i is not None for i in ids) else None)
        if not isinstance(body, dict):
            raise InvalidInput(
                "The body must be a JSON object: one instance with features by name, or "
                '{"instances": [...]} with objects or rows.',
                errors=[{"path": "", "message": f"must be an object, got {json_type(body)}"}],
                see=SEE_EXAMPLES,
            )
        if not self._fast_check([body], rows=False):
            violations = Violations()
            violations.add(self._single_validator.iter_errors(body))
            violations.raise_if_any()
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
        return array if self._plain_matrix(array) else None

    def from_matrix(self, array: np.ndarray) -> Batch | None:
        """A float64 matrix of rows as a batch, when it certainly matches the schema; None means 'check each value'.

        For models whose features are all numbers without allowed-value lists (``numeric``), such as
        the rows of an Open Inference Protocol tensor. The caller has ruled out NaN and infinities.
        """
        if not self.numeric or not len(array) or not self._plain_matrix(array):
            return None
        return self._array_batch(array, single=False, ids=None)

    def _plain_matrix(self, array: np.ndarray) -> bool:
        """Rows of the model's width whose whole-number columns hold 64-bit integers."""
        if array.ndim != 2 or array.shape[1] != len(self.names):
            return False
        if self._integer_columns:
            whole = array[:, self._integer_columns]
            # As doubles, +-INT64_MAX round to +-2^63: both bounds are exclusive here (the exact
            # integers at the bounds take the full check).
            if not (np.array_equal(whole, np.floor(whole)) and whole.min() > -(2.0**63) and whole.max() < 2.0**63):
                return False
        return True

    def _array_batch(self, array: np.ndarray, single: bool, ids: list[Any] | None) -> Batch:
        columns = {name: array[:, i] for i, name in enumerate(self.names)}
        return Batch(columns, len(array), single=single, ids=ids, array=array)

    def _fast_check(self, instances: Any, rows: bool) -> bool:
        """True only when the instances certainly match the schema; False means 'ask jsonschema'."""
        if not isinstance(instances, list) or not instances:
            return False
        width = len(self.names)
        columns: Iterable[Sequence[Any]]
        if rows:
            if not all(type(r) is list and len(r) == width for r in instances):
                return False
            columns = zip(*instances, strict=True)
        else:
            if not all(type(i) is dict for i in instances):
                return False
            keys = self._key_set
            if not all(i.keys() == keys or (i.keys() - {"id"} == keys and _echoable(i["id"])) for i in instances):
                return False
            columns = ([i[n] for i in instances] for n in self.names)
        return all(check(values) for check, values in zip(self._column_checks, columns, strict=True))

    def _check_instances(self, body: dict[str, Any], rows: bool, locate: Locate | None) -> None:
        """InvalidInput listing the violations of a many-instance body, at most MAX_ERRORS of them.

        The envelope is checked first, then each instance the vectorised check does not accept,
        so the cost stays that of the instances at fault (and of at most MAX_ERRORS problems).
        """
        violations = Violations(locate)
        violations.add(_ENVELOPE.iter_errors(body))
        instances = body.get("instances")
        if isinstance(instances, list):
            validator = self._row_validator if rows else self._single_validator
            for index, item in enumerate(instances):
                if not self._fast_check([item], rows) and not violations.add(
                    validator.iter_errors(item), ("instances", index)
                ):
                    break
        violations.raise_if_any()

    def from_form(self, form: Mapping[str, str]) -> dict[str, Any]:
        """Turn form fields (all strings) into typed values; bad values are left for the validator."""
        typed: dict[str, Any] = {}
        kinds = {f["name"]: type_name(f) for f in self.features}
        for key, value in form.items():
            typed[key] = parse_text(value, kinds.get(key, "string"))
        return typed


def instances_schema(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"instances": {"type": "array", "minItems": 1, "items": item}},
        "required": ["instances"],
        "additionalProperties": False,
    }


def _column_check(feature: Mapping[str, Any]) -> Callable[[Sequence[Any]], bool]:
    """A check of a whole column of values that accepts only what the feature's schema accepts."""
    kind = type_name(feature)
    enum = feature.get("enum")
    if enum:
        if not all(type(v) is str for v in enum):
            return lambda values: False  # mixed-type enums: leave the subtle cases to jsonschema
        allowed = frozenset(enum)
        return lambda values: all(type(v) is str for v in values) and allowed.issuperset(values)
    if kind == "integer":
        return lambda values: set(map(type, values)) <= {int} and min(values) >= -INT64_MAX and max(values) <= INT64_MAX
    accepted = TYPES[kind].json_types
    return lambda values: set(map(type, values)) <= accepted


def _echoable(value: Any) -> bool:
    """An id the response can echo exactly: a string, or an integer a 64-bit integer holds."""
    return type(value) is str or (type(value) is int and -INT64_MAX <= value <= INT64_MAX)
