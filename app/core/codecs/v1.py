"""modelhost's own ``/v1`` predict bodies: JSON (one instance, or ``instances`` by name or as rows) and forms.

A body becomes a validated :class:`~app.core.schema.Batch` through the model's own schema, with
every violation listed at its path in the body (``instances/3/sepal_length``); the answer puts
the predictions back in request order, with the ids the request gave.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.core.codecs.jsonbody import Decoded, decode_json, max_values
from app.core.errors import InvalidInput
from app.core.runtime import Runtime
from app.core.schema import Batch, InputSchema


def decode(raw: bytes, schema: InputSchema, max_batch: int) -> Decoded:
    """Decode a JSON body; 413 for one holding more values than a request for the model can use."""
    return decode_json(raw, max_values(len(schema.names), max_batch))


def decode_form(form: Mapping[str, list[str]], schema: InputSchema) -> Decoded:
    """A form of one field per feature (every value of each field, as sent) as the body of one instance."""
    repeated = [key for key, values in form.items() if len(values) > 1]
    if repeated:
        # One instance has one value per feature: which of two would be the one is a guess.
        raise InvalidInput(
            "Form fields given more than once: " + ", ".join(map(repr, repeated)) + "; a form body is one "
            "instance, so give each feature once (send several instances as JSON or CSV).",
            errors=[{"path": key, "message": "is given more than once"} for key in repeated],
        )
    return Decoded(schema.from_form({key: values[0] for key, values in form.items()}))


def row_path(batch: Batch) -> str:
    """How the errors of a 422 name a row: the body itself for one instance, else its place in ``instances``."""
    return "" if batch.single else "instances/{}"


@dataclass
class Answer:
    """What a /v1 prediction answers: the version, the predictions, and what the request asked for."""

    model: str
    version: str
    predictions: list[Any]
    probabilities: list[dict[str, float]] | None
    single: bool
    ids: list[Any] | None

    def body(self) -> dict[str, Any]:
        """The JSON answer: ``prediction`` for one instance, ``predictions`` in request order for many."""
        body: dict[str, Any] = {"model": self.model, "version": self.version}
        if self.single:
            if self.ids:
                body["id"] = self.ids[0]
            body["prediction"] = self.predictions[0]
            if self.probabilities is not None:
                body["probabilities"] = self.probabilities[0]
            return body
        if self.ids:
            body["ids"] = self.ids
        body["predictions"] = self.predictions
        if self.probabilities is not None:
            body["probabilities"] = self.probabilities
        return body


def answer(
    name: str, version: int, batch: Batch, runtime: Runtime, predictions: np.ndarray, probabilities: np.ndarray | None
) -> Answer:
    """The answer of one request, its results as JSON values."""
    native, probs = runtime.to_native(predictions, probabilities)
    return Answer(name, str(version), native, probs, batch.single, batch.ids)
