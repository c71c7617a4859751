"""Prometheus metrics at /metrics: requests, latency, predicted instances and model status.

mod_wsgi runs several daemon processes; when ``PROMETHEUS_MULTIPROC_DIR`` is set (the start
script sets it and empties it at every start) each process writes its samples there and
/metrics aggregates them, so a scrape sees the whole server, not one process.
"""
from __future__ import annotations

import os
import time

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram,
                               generate_latest, multiprocess)

from .registry import get_registry

bp = Blueprint("metrics", __name__)

REQUESTS = Counter("modelhost_http_requests_total", "HTTP requests answered.",
                   ["method", "endpoint", "status"])
LATENCY = Histogram("modelhost_http_request_duration_seconds", "Time to answer a request.",
                    ["endpoint"], buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
INSTANCES = Counter("modelhost_predicted_instances_total", "Instances predicted.", ["model", "version"])
LOADED = Gauge("modelhost_model_version_loaded", "1 when the model version loaded, 0 when it failed.",
               ["model", "version"], multiprocess_mode="min")


def _record(response: Response) -> Response:
    # Label by route rule, not raw path, so unknown paths cannot grow the label set without bound.
    endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
    REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
    started = g.get("started")
    if started is not None:
        LATENCY.labels(endpoint).observe(time.perf_counter() - started)
    if response.status_code == 200 and g.get("batch_size"):
        INSTANCES.labels(g.model, g.version).inc(g.batch_size)
    return response


@bp.get("/metrics")
def metrics():
    """Prometheus text exposition of every process's metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(body, content_type=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    """Count every request and publish which model versions loaded."""
    for model in get_registry(app).models():
        for number, entry in model.versions.items():
            LOADED.labels(model.name, str(number)).set(1 if entry.status == "loaded" else 0)
    app.after_request(_record)
    app.register_blueprint(bp)
