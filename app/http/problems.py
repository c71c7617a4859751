"""The one handler that turns every failure into an RFC 9457 problem document."""
from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from app.core.errors import ModelhostError
from app.http import state

PROBLEM_MIMETYPE = "application/problem+json"
#: RFC 9110 names where Python's table still has the older ones (Apache uses these too).
_TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}
#: Paths whose problem documents also carry the detail as ``error``: the member Open Inference
#: Protocol clients (/v2; tritonclient raises with it) and KServe V1 / TF Serving clients
#: (``:predict``) read.
_ERROR_MEMBER = re.compile(r"^/v2(?:/|$)|:predict$")


def problem(status: int, detail: str, errors: list[dict[str, Any]] | None = None,
            headers: dict[str, str] | None = None) -> Response:
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
    response = current_app.response_class(current_app.json.dumps(body), status=status,
                                          mimetype=PROBLEM_MIMETYPE)
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
    return problem(exc.status, exc.detail, exc.errors, exc.headers)


def _handle_unexpected(exc: Exception) -> Response:
    # Logged with the stack trace; the body only carries the request id an operator greps for.
    current_app.logger.exception("Unhandled error while serving %s %s", request.method, request.path)
    return problem(500, "The server failed to handle this request. Quote the request_id when "
                        "reporting it; the operator can find the cause in the log.")


def register_errorhandlers(app: Flask) -> None:
    """Route every error, including routing 404s and 405s, to the problem document."""
    app.register_error_handler(ModelhostError, _handle_modelhost_error)
    app.register_error_handler(RequestEntityTooLarge, _handle_http_exception)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(Exception, _handle_unexpected)
