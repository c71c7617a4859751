"""What one request carries across modules: its id, start time, and the model it predicted with.

Logging, metrics and error documents read it; the inference service fills in the model
fields. It lives on ``flask.g`` under one name, so no module invents attributes of its own.
Code outside a request (the inference service, the CLI) receives it as an argument instead.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from flask import g, has_request_context


@dataclass
class RequestState:
    """One request's id and timing, and what the access line and metrics say about its prediction."""

    request_id: str = "-"
    started: float = field(default_factory=time.perf_counter)
    #: The model and version that answered, once the request reached one.
    model: str | None = None
    version: str | None = None
    #: How the request asked: "v1" (modelhost's own JSON, form and CSV bodies), "kserve_v1"
    #: (``:predict``), "v2" (the Open Inference Protocol) or "page" (the prediction pages).
    protocol: str = "v1"
    #: Instances predicted; stays None when the request predicted nothing.
    batch_size: int | None = None

    def use(self, model: str, version: int | str) -> None:
        """Record which model version this request is for."""
        self.model, self.version = model, str(version)


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
