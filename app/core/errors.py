"""Typed errors of the model core: each carries its status and the facts a client needs, no HTTP wording.

``detail`` says what is wrong and how to fix it; ``errors`` lists each problem at its path in
the request; ``see`` names the resource that shows more (the models, a model's metadata, the
repository's state), which the HTTP layer words as its URL (``app.http.problems``), as it turns
``retry_after`` into a header.
"""

from __future__ import annotations

from typing import Any

#: The resources an error may point to; ``app.http.problems`` words each with its URL.
SEE_MODELS, SEE_REPOSITORY, SEE_READINESS, SEE_RANGES = "models", "repository", "readiness", "ranges"
SEE_V2_INPUTS, SEE_V2_OUTPUTS, SEE_API_DOCS, SEE_EXAMPLES = "v2-inputs", "v2-outputs", "api-docs", "examples"


class ModelhostError(Exception):
    """Base of every error a client can cause; carries its HTTP status."""

    status = 500

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None, see: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.see = see


class InvalidInput(ModelhostError):
    """The request body does not match the model's input schema."""

    status = 400


class ModelNotFound(ModelhostError):
    """No model or version of that name is in the repository."""

    status = 404


class PayloadTooLarge(ModelhostError):
    """The request carries more instances than the configured batch limit."""

    status = 413


class UnusableOutput(ModelhostError):
    """The model answered with no usable number (NaN or infinity) for some of the input."""

    status = 422

    @classmethod
    def for_rows(cls, rows: list[int], path: str, noun: str = "instance") -> UnusableOutput:
        """The error naming each row without a usable prediction; ``path`` formats a row's number."""
        return cls(
            f"The model produced no usable number (NaN or infinity) for {noun} {listed(rows)}. Such values "
            "usually lie far outside the range the model was trained on: check them and send realistic "
            "values.",
            errors=[
                {"path": path.format(r), "message": "the model's prediction for it is not a finite number"}
                for r in rows[:100]
            ],
            see=SEE_RANGES,
        )


class ModelNotReady(ModelhostError):
    """The model version exists but failed to load, or is loading (``retry_after`` seconds)."""

    status = 503

    def __init__(self, detail: str, see: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(detail, see=see)
        self.retry_after = retry_after


def listed(items: list[Any], shown: int = 10, sep: str = ", ", see_errors: bool = False) -> str:
    """The first ``shown`` items and how many more there are: ``1, 2, 3 and 7 more``, or with ``sep="; "``
    ``a; b; and 7 more``; ``see_errors`` adds where the rest are listed: ``and 7 more (see errors)``."""
    text = sep.join(str(item) for item in items[:shown])
    if len(items) <= shown:
        return text
    return (
        text
        + ("; " if sep == "; " else " ")
        + f"and {len(items) - shown} more"
        + (" (see errors)" if see_errors else "")
    )
