"""Errors in HTTP's terms: the errors only HTTP has, and the one handler that turns every failure into
an RFC 9457 problem document.

The core's errors carry facts; here they are worded for a client of this server: the resource an
error points to becomes its URL (:data:`SEE`), a version that is loading gets ``Retry-After``.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from app import urls
from app.core import errors
from app.core.errors import ModelhostError, ModelNotReady
from app.http import state

PROBLEM_MIMETYPE = "application/problem+json"
#: RFC 9110 names where Python's table still has the older ones (Apache uses these too).
_TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}
#: Paths whose problem documents also carry the detail as ``error``: the member Open Inference
#: Protocol clients (/v2; tritonclient raises with it) and KServe V1 / TF Serving clients
#: (``:predict``) read.
_ERROR_MEMBER = re.compile(rf"^{urls.V2}(?:/|$)|:predict$")

#: Where each resource an error points to is, in the words the detail ends with.
SEE = {
    errors.SEE_MODELS: "GET /v1/models lists the models served.",
    errors.SEE_REPOSITORY: "GET /v1/repository shows its state.",
    errors.SEE_READINESS: "GET /health/ready shows every model's status.",
    errors.SEE_RANGES: "Its model card and GET /v1/models/<name> show the ranges the model was trained on.",
    errors.SEE_V2_INPUTS: "GET /v2/models/<name> lists each input's datatype.",
    errors.SEE_V2_OUTPUTS: "GET /v2/models/<name> lists the model's outputs.",
    errors.SEE_API_DOCS: "/apidocs/ documents it.",
    errors.SEE_EXAMPLES: "See /apidocs/ for examples.",
}


class HTTPError(ModelhostError):
    """An error only HTTP has (sign-in, media types), with the headers its answer needs."""

    def __init__(
        self, detail: str, errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail, errors)
        self.headers = headers or {}


class Unauthorized(HTTPError):
    """Authentication is enabled and the bearer token is missing or wrong."""

    status = 401

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="modelhost"'})


class Forbidden(HTTPError):
    """The operation is turned off, or the token sent may not perform it."""

    status = 403


class UnsupportedMediaType(HTTPError):
    """The predict body is neither JSON nor form-encoded (nor CSV where CSV is accepted)."""

    status = 415


class NotAcceptable(HTTPError):
    """The client asked for a response type this endpoint cannot produce."""

    status = 406


def describe(exc: ModelhostError) -> str:
    """An error's detail, ending with where to look, for a problem document or a page."""
    return exc.detail if exc.see is None else f"{exc.detail} {SEE[exc.see]}"


def headers_of(exc: ModelhostError) -> dict[str, str]:
    """The headers an error's answer needs."""
    if isinstance(exc, HTTPError):
        return exc.headers
    if isinstance(exc, ModelNotReady) and exc.retry_after is not None:
        return {"Retry-After": str(exc.retry_after)}
    return {}


def problem(
    status: int, detail: str, errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None
) -> Response:
    """Build the problem document every error response uses."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(status) or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.path,
        "request_id": state.current().request_id,
    }
    if errors:
        body["errors"] = errors
    if _ERROR_MEMBER.search(request.path):
        body["error"] = detail
    response = current_app.response_class(current_app.json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)
    response.headers.update(headers or {})
    return response


# Messages for statuses Werkzeug raises on its own, phrased to say how to fix the request.
_HTTP_DETAILS = {
    404: "No resource at this path. GET /v1/models lists the models; /apidocs/ documents every endpoint.",
    405: "Method {method} is not allowed on this path; the Allow header lists the methods it accepts.",
    413: "The request body is larger than the limit of {limit} bytes. Send fewer instances per request.",
}


def _handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    template = _HTTP_DETAILS.get(status)
    if template:
        detail = template.format(method=request.method, limit=current_app.config["MAX_CONTENT_LENGTH"])
    else:
        detail = exc.description or HTTPStatus(status).phrase
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    return problem(status, detail, headers=headers)


def _handle_modelhost_error(exc: ModelhostError) -> Response:
    return problem(exc.status, describe(exc), exc.errors, headers_of(exc))


def _handle_unexpected(exc: Exception) -> Response:
    # Logged with the stack trace; the body only carries the request id an operator greps for.
    current_app.logger.exception("Unhandled error while serving %s %s", request.method, request.path)
    return problem(
        500,
        "The server failed to handle this request. Quote the request_id when "
        "reporting it; the operator can find the cause in the log.",
    )


def register_errorhandlers(app: Flask) -> None:
    """Route every error, including routing 404s and 405s, to the problem document."""
    app.register_error_handler(ModelhostError, _handle_modelhost_error)
    app.register_error_handler(RequestEntityTooLarge, _handle_http_exception)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(Exception, _handle_unexpected)
