"""Prometheus metrics at /metrics: requests, latency, predictions, batching and model status.

mod_wsgi runs several daemon processes; when ``PROMETHEUS_MULTIPROC_DIR`` is set (the start
script sets it and empties it at every start; elsewhere the processes keep their samples in
``<STATE_DIR>/prometheus``, see app/core/fleet.py) each process writes its samples there and
/metrics aggregates them, so a scrape sees the whole server, not one process. Before it reads
them, the samples of processes that ended are retired (app/core/telemetry.py): their gauges no longer
count and their counts are folded into one file.
"""

from __future__ import annotations

import os
import time
from http import HTTPMethod

from flask import Blueprint, Flask, Response, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from app.core.samples import live_samples
from app.core.telemetry import LATENCY, PREDICTION_LATENCY, PREDICTIONS, REQUESTS
from app.http import state as requeststate

bp = Blueprint("metrics", __name__)
#: The methods HTTP defines (RFC 9110, PATCH from RFC 5789); the label of any other is "other".
STANDARD_METHODS = frozenset(method.value for method in HTTPMethod)


def method_label(method: str) -> str:
    """The ``method`` label of a request: a client inventing methods must not create series."""
    return method if method in STANDARD_METHODS else "other"


def _record(response: Response) -> Response:
    # Label by route rule, not raw path, so unknown paths cannot grow the label set without bound.
    endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
    state = requeststate.current()
    elapsed = time.perf_counter() - state.started
    status = str(response.status_code)
    REQUESTS.labels(method_label(request.method), endpoint, status).inc()
    LATENCY.labels(endpoint).observe(elapsed)
    if state.model is not None and state.version is not None:
        # By the version that answered: a canary and the default it is compared with side by side.
        PREDICTIONS.labels(state.model, state.version, state.protocol, status).inc()
        PREDICTION_LATENCY.labels(state.model, state.version, state.protocol).observe(elapsed)
    return response


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus metrics of every server process.
    ---
    tags: [health]
    operationId: metrics
    security: []
    responses:
      200:
        description: >-
          Prometheus text exposition format: requests, latency, predictions, batching and which
          model versions loaded.
        content:
          text/plain:
            schema: {type: string}
      500: {$ref: "#/components/responses/500"}
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        with live_samples():
            body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(body, content_type=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    """Count every request (the registry publishes which model versions loaded)."""
    app.after_request(_record)
    app.register_blueprint(bp)
