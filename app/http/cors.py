"""CORS: which browser front-ends served from other origins may call the API, with flask-cors.

``CORS_ORIGINS`` (app/config.py) lists the origins; empty, the server sends no CORS headers at
all. The headers go on the API paths only, ``/v1/...``, ``/v2`` and ``/v2/...``, and
``/health/...``: the HTML pages, the API docs and ``/metrics`` are for people and scrapers,
not for scripts of other sites. Error responses carry them too, so a front-end can read the
problem document of a 400, 401 or 413 instead of seeing an opaque network error.

Preflights (``OPTIONS`` with ``Access-Control-Request-Method``) are answered by Flask's
automatic ``OPTIONS`` response, which flask-cors completes; the token check lets them through
(app/http/auth.py), as browsers send them without the ``Authorization`` header.

No credentials mode: ``Access-Control-Allow-Credentials`` is never sent, so browsers send no
cookies or HTTP authentication along. A front-end sends the bearer token explicitly in the
``Authorization`` header, which preflights allow while a token is configured.

Errors Apache answers itself (a body over the limit, for one) never reach this module; for
those docker/apache/modelhost.conf adds the same headers (README, "CORS").
"""

from __future__ import annotations

import re

from flask import Flask, Response, request
from flask_cors import CORS

from app import urls

#: The paths front-ends of other origins may call (matched against the decoded path).
API_PATHS = re.compile(rf"{urls.V1}/|{urls.V2}(?:/|$)|{urls.HEALTH}/")
#: Request headers a front-end may send besides the CORS-safelisted ones; Authorization is added
#: while a token is configured. Inference-Header-Content-Length is the OIP binary tensor extension.
ALLOW_HEADERS = ("Content-Type", "X-Request-ID", "Inference-Header-Content-Length", "Content-Encoding")
#: Response headers a front-end's script may read besides the safelisted ones (Content-Type, ...).
EXPOSE_HEADERS = (
    "X-Request-ID",
    "Inference-Header-Content-Length",
    "WWW-Authenticate",
    "Retry-After",
    "Content-Encoding",
)
METHODS = ("GET", "POST")
#: Seconds a browser may reuse a preflight's answer (Chromium caps it at 7200).
MAX_AGE_SECONDS = 600


def init_app(app: Flask) -> None:
    """Answer cross-origin requests of the configured origins on the API paths; nothing when none are."""
    origins: list[str] = app.config["CORS_ORIGINS"]
    if not origins:
        return
    allow_headers = list(ALLOW_HEADERS)
    if app.config.get("API_TOKEN") is not None or app.config.get("ADMIN_TOKEN") is not None:
        allow_headers.append("Authorization")
    # Every option is given here: flask-cors would otherwise take CORS_* keys from app.config, and
    # its defaults (every method and header, headers even without an Origin) are not ours.
    CORS(
        app,
        resources={API_PATHS: {}},
        origins=_origin_patterns(origins),
        methods=list(METHODS),
        allow_headers=allow_headers,
        expose_headers=list(EXPOSE_HEADERS),
        max_age=MAX_AGE_SECONDS,
        supports_credentials=False,
        # "*" echoes the request's Origin rather than sending "*", as Apache does for its own errors.
        send_wildcard=False,
        always_send=False,
        # flask-cors adds Vary only with several origins; _vary_on_origin adds it to every answer.
        vary_header=False,
        automatic_options=True,
        # Error responses pass through after_request like any other, so it needs no wrapping
        # of Flask's exception handlers.
        intercept_exceptions=False,
        allow_private_network=False,
    )
    app.after_request(_vary_on_origin)


def _origin_patterns(origins: list[str]) -> list[str | re.Pattern[str]]:
    """Each origin as an exact, case-insensitive pattern; ``"*"`` as flask-cors's wildcard.

    flask-cors takes a text with ``[`` or ``]`` (an IPv6 origin) for a regular expression, so
    every origin goes in already compiled from its escaped text.
    """
    if origins == ["*"]:
        return ["*"]
    return [re.compile(re.escape(origin) + r"\Z", re.IGNORECASE) for origin in origins]


def _vary_on_origin(response: Response) -> Response:
    """API answers depend on the Origin header (with or without CORS headers): caches must key on it."""
    if API_PATHS.match(request.path):
        response.vary.add("Origin")
    return response
