"""The per-model serving file: ``<repository>/<name>/serving.json``, read and checked.

The file is optional. It may pin the default version, name versions with labels (served at
``/v1/models/<name>/labels/<label>/predict``) and send a share of the default route's traffic
to a canary version::

    {"default": 3, "labels": {"stable": 3, "canary": 4}, "canary": {"version": 4, "percent": 10}}

Every key is optional. The file is checked against a JSON Schema; an invalid one is refused
as a whole (the registry keeps the last good one in force). ``app.core.routing`` applies it to
the versions that loaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

SERVING_FILE = "serving.json"
#: Largest serving file read; a real one is a few hundred bytes.
MAX_SERVING_BYTES = 64 * 1024
LABEL_PATTERN = "^[a-z0-9][a-z0-9_-]{0,63}$"
_VERSION = {"type": "integer", "minimum": 1, "maximum": 999_999_999}
SERVING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "default": _VERSION,
        "labels": {"type": "object", "propertyNames": {"pattern": LABEL_PATTERN}, "additionalProperties": _VERSION},
        "canary": {
            "type": "object",
            "additionalProperties": False,
            "required": ["version", "percent"],
            "properties": {"version": _VERSION, "percent": {"type": "number", "minimum": 0, "maximum": 100}},
        },
    },
}
_VALIDATOR = Draft202012Validator(SERVING_SCHEMA)
_EXAMPLE = '{"default": 3, "labels": {"stable": 3}, "canary": {"version": 4, "percent": 10}}'


class ServingFileError(ValueError):
    """The serving file cannot be used; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class Canary:
    """A share of the default route's requests, in percent, sent to another version."""

    version: int
    percent: float

    def as_json(self) -> dict[str, Any]:
        """The canary as the API shows it: its version as a string, like every version in the API."""
        return {"version": str(self.version), "percent": self.percent}


@dataclass(frozen=True)
class ServingConfig:
    """What a model's serving file asks for; the empty config asks for nothing."""

    default: int | None = None
    labels: dict[str, int] = field(default_factory=dict)
    canary: Canary | None = None

    def as_json(self) -> dict[str, Any]:
        """The config as its file would hold it, versions as strings like everywhere in the API."""
        return {
            "default": None if self.default is None else str(self.default),
            "labels": labels_json(self.labels),
            "canary": None if self.canary is None else self.canary.as_json(),
        }


def labels_json(labels: dict[str, int]) -> dict[str, str]:
    """Labels as the API shows them: sorted, each naming its version as a string."""
    return {label: str(version) for label, version in sorted(labels.items())}


def parse_serving(text: bytes, where: str) -> ServingConfig:
    """The config a serving file holds, or ServingFileError naming every problem."""
    if len(text) > MAX_SERVING_BYTES:
        raise ServingFileError(f"{where} is larger than {MAX_SERVING_BYTES // 1024} KiB; it holds a few keys only")
    try:
        data = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ServingFileError(f"{where} is not valid JSON ({exc}); write it like {_EXAMPLE}") from None
    problems = []
    for error in sorted(_VALIDATOR.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        location = "/".join(str(p) for p in error.absolute_path) or "the top level"
        problems.append(f"{location}: {error.message}")
    if problems:
        raise ServingFileError(
            f"{where} is not a valid serving file: {'; '.join(problems[:10])}. Versions are "
            f"whole numbers and labels lower-case names, as in {_EXAMPLE}"
        )
    canary = data.get("canary")
    return ServingConfig(
        data.get("default"),
        dict(data.get("labels", {})),
        Canary(canary["version"], float(canary["percent"])) if canary else None,
    )
