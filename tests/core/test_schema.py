"""The vectorised fast path accepts exactly what the JSON Schema accepts."""
from __future__ import annotations

import orjson
import pytest
from jsonschema import Draft202012Validator

from app.core.codecs.jsonbody import decode_json
from app.core.errors import InvalidInput
from app.core.schema import InputSchema

FEATURES = [{"name": "n", "type": "number"}, {"name": "i", "type": "integer"},
            {"name": "s", "type": "string", "enum": ["a", "b"]}, {"name": "b", "type": "boolean"},
            {"name": "t", "type": "string"}]
SCHEMA = InputSchema(FEATURES)
GOOD = {"n": 1.5, "i": 2, "s": "a", "b": True, "t": "free text"}

CASES = [
    GOOD, {**GOOD, "id": "x"}, {**GOOD, "id": 3}, {**GOOD, "id": True}, {**GOOD, "id": None},
    {**GOOD, "n": 1}, {**GOOD, "n": True}, {**GOOD, "n": "1.5"}, {**GOOD, "n": None},
    {**GOOD, "i": 2.0}, {**GOOD, "i": 2.5}, {**GOOD, "i": False},
    {**GOOD, "s": "c"}, {**GOOD, "s": 1}, {**GOOD, "b": 1}, {**GOOD, "b": "true"}, {**GOOD, "t": 5},
    {**GOOD, "extra": 1}, {k: v for k, v in GOOD.items() if k != "n"}, {"n": [1]},
    # 64-bit bounds of integer features and ids
    {**GOOD, "i": 2**63 - 1}, {**GOOD, "i": 2**63}, {**GOOD, "i": -(2**63)}, {**GOOD, "i": -(2**63 - 1)},
    {**GOOD, "i": -(2**63) - 1},
    {**GOOD, "i": 1e20}, {**GOOD, "i": 2**64 - 1}, {**GOOD, "id": 2**63 - 1}, {**GOOD, "id": 2**63},
    {**GOOD, "id": 1.1805916207174113e21}, {**GOOD, "id": -(2**63) - 1},
]


def jsonschema_accepts(body) -> bool:
    schema = SCHEMA.by_name if "instances" in body else SCHEMA.instance
    if "instances" in body and body["instances"] and isinstance(body["instances"][0], list):
        schema = SCHEMA.by_row
    return Draft202012Validator(schema).is_valid(body)


def parse_accepts(body) -> bool:
    try:
        SCHEMA.parse(body, 100)
    except InvalidInput:
        return False
    return True


@pytest.mark.parametrize("instance", CASES)
def test_single_batch_and_row_forms_agree_with_jsonschema(instance):
    assert parse_accepts(instance) == jsonschema_accepts(instance)
    batch = {"instances": [GOOD, instance, GOOD]}
    assert parse_accepts(batch) == jsonschema_accepts(batch)
    row = {"instances": [list(GOOD.values()), [instance.get(f["name"]) for f in FEATURES]]}
    assert parse_accepts(row) == jsonschema_accepts(row)


@pytest.mark.parametrize("body", [{"instances": [[1.5, 2, "a", True]]}, {"instances": [[1.5, 2, "a", True, "x", 1]]},
                                  {"instances": [GOOD, [1.5, 2, "a", True, "x"]]}, {"instances": "no"},
                                  {"instances": [GOOD], "other": 1}, {"instances": [{}]}])
def test_structural_cases_agree_with_jsonschema(body):
    assert parse_accepts(body) == jsonschema_accepts(body)


def test_columns_are_in_feature_order():
    batch = SCHEMA.parse({"instances": [GOOD, {**GOOD, "n": 3}]}, 10)
    assert list(batch.columns) == ["n", "i", "s", "b", "t"] and batch.columns["n"] == [1.5, 3]


def test_form_values_are_typed_per_feature():
    typed = SCHEMA.from_form({"n": " 2.5", "i": "3", "s": "a", "b": "on", "t": "12", "junk": "x"})
    assert typed == {"n": 2.5, "i": 3, "s": "a", "b": True, "t": "12", "junk": "x"}
    assert SCHEMA.from_form({"n": "nan", "i": "1.5", "b": "maybe"}) == {"n": "nan", "i": 1.5, "b": "maybe"}


NUMERIC = InputSchema([{"name": "x", "type": "number"}, {"name": "k", "type": "integer"}])
NUMERIC_ROWS = [
    [[1.5, 2]], [[1.5, 2.0]], [[1.5, 2.5]], [[1, 2], [3, 4]], [[1.5]], [[1.5, 2, 3]], [[1.5, [2]]],
    [[[1.5, 2]]], [[1.5, 2], [1.5]], [], [{}], [[None, 2]], [[True, 2]], [[1.5, False]], [["1.5", 2]],
    [[1.5, 2], "x"], [1.5, 2], [[1e308, -1e308]], [[1.5, 123456789012345678901234567890]],
    [[1.5, 1e20]], [[1.5, 2**63]], [[1.5, 2**63 - 1024]], [[1.5, -(2**63)]], [[1.5, -1e19]],
]


@pytest.mark.parametrize("instances", NUMERIC_ROWS)
def test_numeric_rows_checked_by_numpy_agree_with_jsonschema(instances):
    body = {"instances": instances}
    rows = bool(instances) and isinstance(instances[0], list)
    accepts = Draft202012Validator(NUMERIC.by_row if rows else NUMERIC.by_name).is_valid(body)
    try:
        hints = {False, decode_json(orjson.dumps(body)).numbers_only}
    except TypeError:  # an integer beyond 64 bits, which orjson does not write
        hints = {False}
    for numbers_only in hints:
        try:
            batch = NUMERIC.parse(body, 100, numbers_only)
        except InvalidInput:
            assert not accepts, numbers_only
        else:
            assert accepts, numbers_only
            assert batch.array.tolist() == [[float(v) for v in row] for row in instances]


@pytest.mark.parametrize("text, numbers_only", [
    (b'{"instances": [[1.5, 2], [3e-5, -4]]}', True), (b'{"instances": [[1.5, true]]}', False),
    (b'{"instances": [[1.5, null]]}', False), (b'{"instances": [["1", 2]]}', False),
    (b'{"instances": [[1.5, 2]], "x": 1}', False), (b'[[1.5, 2]]', False), (b'{"rows": [[1, 2]]}', False),
    (b'{"instances": [{"x": 1, "k": 2}]}', False),
])
def test_the_numbers_only_hint_is_given_only_for_bodies_of_plain_numbers(text, numbers_only):
    assert decode_json(text).numbers_only is numbers_only


def test_integer_text_is_read_exactly():
    typed = SCHEMA.from_form({"i": "9223372036854775807"})
    assert typed["i"] == 2**63 - 1 and type(typed["i"]) is int
    assert SCHEMA.from_form({"i": " 3.0 "})["i"] == 3 and SCHEMA.from_form({"i": "1e3"})["i"] == 1000
    assert SCHEMA.from_form({"i": "1e20"})["i"] == 10**20  # refused later by the 64-bit bounds
    with pytest.raises(InvalidInput, match="64-bit integer"):
        SCHEMA.parse({**GOOD, **SCHEMA.from_form({"i": "1e20"})}, 1)
