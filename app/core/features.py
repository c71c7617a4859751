"""The feature types: what each ``type`` a feature of ``model.json`` may have means, everywhere.

A feature is ``number`` unless ``model.json`` says otherwise. This table is the one place that
knows, for each type, its JSON Schema type, the JSON values it takes, the Open Inference
Protocol datatype it is declared with, whether it is part of the model's matrix of numbers, the
input a prediction form shows for it, and how text (forms, CSV cells, query switches) reads as
its values. The schema, the codecs, the API docs, the pages, the repository's check of
``model.json`` and training all ask it; it imports nothing of the application, so the storage
layer can ask it too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: How true and false are written in forms, CSV files, query parameters and settings.
TRUE_WORDS = ("true", "1", "on", "yes")
FALSE_WORDS = ("false", "0", "off", "no")
#: A feature without a ``type`` is a number.
DEFAULT_TYPE = "number"
#: The largest whole number a feature, an id or an INT64 element takes: values are signed 64-bit
#: integers, and -2^63 is left out so that every bound is symmetric.
INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class FeatureType:
    """What one feature type means to each part of the server."""

    name: str
    #: The JSON values of the type (bool is no number here, although Python says so).
    json_types: frozenset[type]
    #: The datatype an Open Inference Protocol tensor of the feature is declared with.
    oip_datatype: str
    #: Numbers and whole numbers: the feature is a column of the model's float64 matrix.
    numeric: bool
    #: The <input type> of a prediction form (``select`` where the values are listed).
    form_input: str


TYPES: dict[str, FeatureType] = {
    "number": FeatureType("number", frozenset({int, float}), "FP64", True, "number"),
    "integer": FeatureType("integer", frozenset({int}), "INT64", True, "number"),
    "string": FeatureType("string", frozenset({str}), "BYTES", False, "text"),
    "boolean": FeatureType("boolean", frozenset({bool}), "BOOL", False, "select"),
}
#: The type names, in the order the docs list them.
NAMES = tuple(TYPES)


def type_name(feature: Mapping[str, Any]) -> str:
    """The type name of a feature of ``model.json``."""
    return feature.get("type", DEFAULT_TYPE)


def type_of(feature: Mapping[str, Any]) -> FeatureType:
    """The type of a feature of ``model.json`` (checked against :data:`NAMES` when the model loaded)."""
    return TYPES[type_name(feature)]


def all_numeric(features: Iterable[Mapping[str, Any]]) -> bool:
    """Whether every feature is a number or a whole number: the rows are one matrix of numbers."""
    return all(type_of(f).numeric for f in features)


def parse_switch(text: str) -> bool | None:
    """A true/false word as a bool; None when it is neither."""
    lowered = text.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    return None


def parse_text(value: str, type_name: str) -> Any:
    """Text (a form field, a CSV cell) as a value of the type; text that is none stays as it is, for the validator."""
    text = value.strip()
    try:
        if type_name == "integer":
            try:
                return int(text)  # exact, also beyond the 53 bits a double holds
            except ValueError:
                number = float(text)  # "3.0", "1e3": whole numbers written otherwise
                return int(number) if number.is_integer() else number
        if type_name == "number":
            number = float(text)
            return number if math.isfinite(number) else value
    except ValueError:
        return value
    if type_name == "boolean":
        switch = parse_switch(text)
        return value if switch is None else switch
    return value


def example_value(feature: Mapping[str, Any]) -> Any:
    """A plausible value of one feature for examples and form defaults."""
    if feature.get("example") is not None:
        return feature["example"]
    if feature.get("enum"):
        return feature["enum"][0]
    kind = type_name(feature)
    if kind == "boolean":
        return False
    if kind == "string":
        return ""
    low, high = feature.get("minimum"), feature.get("maximum")
    value = (low + high) / 2 if low is not None and high is not None else 0
    return int(round(value)) if kind == "integer" else round(value, 3)
