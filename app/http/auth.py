"""Bearer tokens: who may call the API (API_TOKEN), and who may change the repository (ADMIN_TOKEN).

Every API blueprint (``/v1``, ``/v2``) checks :func:`require_token` before its views; the
repository's write operations also :func:`require_admin`. CORS preflight requests pass
unchecked: a browser sends them without credentials, and they reach no view.

Behind Apache with LDAP sign-in (docker/apache/ldap.conf), a user Apache signed in takes the
place of the API token: :func:`signed_in_user` is REMOTE_USER while TRUST_REMOTE_USER is on,
which the start script turns on with LDAP. REMOTE_USER is Apache's word alone: mod_wsgi sets it
from the user Apache authenticated, and a request header only ever becomes an ``HTTP_*`` key.
The admin operations stay token-only.
"""

from __future__ import annotations

import hmac

from flask import current_app, request

from app.http.problems import Forbidden, Unauthorized


def bearer_token() -> str | None:
    """The token of the request's ``Authorization: Bearer`` header, or None when it has none."""
    scheme, _, supplied = request.headers.get("Authorization", "").partition(" ")
    return supplied if scheme.lower() == "bearer" and supplied else None


def token_matches(supplied: str, key: str = "API_TOKEN") -> bool:
    """Whether a supplied token is the configured token ``key`` (constant-time comparison)."""
    # The configuration holds the token as its exact text (app/config.py checks that at start);
    # anything else, such as no token at all, matches nothing.
    token = current_app.config.get(key)
    return isinstance(token, str) and hmac.compare_digest(supplied.strip().encode(), token.encode())


def signed_in_user() -> str | None:
    """The user Apache signed in (REMOTE_USER), when TRUST_REMOTE_USER says Apache checks sign-ins."""
    if not current_app.config.get("TRUST_REMOTE_USER"):
        return None
    return request.environ.get("REMOTE_USER") or None


def pages_need_token() -> bool:
    """Whether the pages ask for the API token to predict: it is configured and Apache signed nobody in."""
    return current_app.config.get("API_TOKEN") is not None and signed_in_user() is None


def is_preflight() -> bool:
    """A CORS preflight: OPTIONS asking whether a cross-origin request may be sent."""
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers


def require_token() -> None:
    """When API_TOKEN is configured, the request needs it (or the ADMIN_TOKEN) as a bearer token,
    or a user Apache signed in (:func:`signed_in_user`)."""
    if current_app.config.get("API_TOKEN") is None or is_preflight():
        return
    supplied = bearer_token()
    if supplied is None:
        if signed_in_user() is not None:
            return
        raise Unauthorized("This server requires a token: send 'Authorization: Bearer <token>'.")
    if not (token_matches(supplied) or token_matches(supplied, "ADMIN_TOKEN")):
        raise Unauthorized("The bearer token is not valid; ask the operator for the current token.")


def require_admin() -> None:
    """The request carries the admin token; 403 while none is configured or for the API token, else 401."""
    if current_app.config.get("ADMIN_TOKEN") is None:
        raise Forbidden(
            "Repository operations are turned off on this server. To turn them on, set "
            "MODELHOST_ADMIN_TOKEN (a token of its own, not MODELHOST_API_TOKEN) and send it as "
            "'Authorization: Bearer <admin token>'."
        )
    supplied = bearer_token()
    if supplied is None:
        raise Unauthorized("This operation needs the admin token: send 'Authorization: Bearer <admin token>'.")
    if token_matches(supplied, "ADMIN_TOKEN"):
        return
    if token_matches(supplied):
        raise Forbidden(
            "The API token may not change the repository; this operation needs the admin token "
            "(MODELHOST_ADMIN_TOKEN)."
        )
    raise Unauthorized("The bearer token is not the admin token; ask the operator for the current one.")
