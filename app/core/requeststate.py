"""What one request carries across modules: its id, start time, and the model it predicted with.

Logging, metrics and error documents read it; the dataplane fills in the model fields. The
HTTP layer keeps one per request (``app.http.state``); the dataplane receives it as an argument.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


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
