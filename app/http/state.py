"""The current request's :class:`~app.core.requeststate.RequestState`, kept on ``flask.g`` under one name.

One name, so no module invents attributes of its own on ``g``.
"""

from __future__ import annotations

from flask import g, has_request_context

from app.core.requeststate import RequestState


def begin(request_id: str) -> RequestState:
    """Start the state of the current request (called first thing for every request)."""
    state = RequestState(request_id)
    g.modelhost_request = state
    return state


def current() -> RequestState:
    """The current request's state; outside a request, or before it began, a blank one."""
    if not has_request_context():
        return RequestState()
    state = g.get("modelhost_request")
    if state is None:
        state = g.modelhost_request = RequestState()
    return state
