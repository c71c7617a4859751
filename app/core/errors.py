"""Typed errors of the model core, each with the HTTP status it stands for (app.http.problems words the answer)."""
from __future__ import annotations

from typing import Any


class ModelhostError(Exception):
    """Base of every error a client can cause; carries its HTTP status."""

    status = 500

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


class InvalidInput(ModelhostError):
    """The request body does not match the model's input schema."""

    status = 400


class Unauthorized(ModelhostError):
    """Authentication is enabled and the bearer token is missing or wrong."""

    status = 401

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="modelhost"'})


class Forbidden(ModelhostError):
    """The operation is turned off, or the token sent may not perform it."""

    status = 403


class ModelNotFound(ModelhostError):
    """No model or version of that name is in the repository."""

    status = 404


class PayloadTooLarge(ModelhostError):
    """The request carries more instances than the configured batch limit."""

    status = 413


class UnsupportedMediaType(ModelhostError):
    """The predict body is neither JSON nor form-encoded (nor CSV where CSV is accepted)."""

    status = 415


class NotAcceptable(ModelhostError):
    """The client asked for a response type this endpoint cannot produce."""

    status = 406


class UnusableOutput(ModelhostError):
    """The model answered with no usable number (NaN or infinity) for some of the input."""

    status = 422

    @classmethod
    def for_rows(cls, rows: list[int], path: str, noun: str = "instance") -> "UnusableOutput":
        """The error naming each row without a usable prediction; ``path`` formats a row's number."""
        shown = ", ".join(str(r) for r in rows[:10]) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")
        error = cls(f"The model produced no usable number (NaN or infinity) for {noun} {shown}. Such values "
                   "usually lie far outside the range the model was trained on (its model card and "
                   "GET /v1/models/<name> show the ranges): check them and send realistic values.",
                   errors=[{"path": path.format(r), "message": "the model's prediction for it is not a finite number"}
                           for r in rows[:100]])
        return error


class ModelNotReady(ModelhostError):
    """The model version exists but failed to load."""

    status = 503
