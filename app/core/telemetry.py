"""The Prometheus metrics modelhost records, in one place, free of any web framework.

The HTTP layer counts requests and their latency; the dataplane counts predicted instances and
observes batching. ``app.http.metrics`` serves them all at /metrics; with several processes,
``app.core.samples`` keeps the files each process writes its samples to.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("modelhost_http_requests_total", "HTTP requests answered.", ["method", "endpoint", "status"])
LATENCY = Histogram(
    "modelhost_http_request_duration_seconds",
    "Time to answer a request.",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
INSTANCES = Counter(
    "modelhost_predicted_instances_total",
    "Instances predicted, by every caller " "(API, pages, CSV scoring), by protocol: v1, kserve_v1, v2 or page.",
    ["model", "version", "protocol"],
)
# livemin: the processes alive now decide; a process that ended (its gauges retired, app.core.samples) no
# longer holds a version at 0 once every live process loaded it.
LOADED = Gauge(
    "modelhost_model_version_loaded",
    "1 when the model version loaded (in every live process), 0 when " "it failed or was unloaded.",
    ["model", "version"],
    multiprocess_mode="livemin",
)
LOADS = Counter(
    "modelhost_model_loads_total",
    "Model version state changes, by result: loaded, failed "
    "(the copy loaded before, if any, keeps serving) or unloaded.",
    ["model", "version", "result"],
)
LOAD_SECONDS = Histogram(
    "modelhost_model_load_duration_seconds",
    "Time to check and load a model version " "(sha256, artifact, schema, trial prediction).",
    ["model", "version"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
PREDICTIONS = Counter(
    "modelhost_prediction_requests_total",
    "Requests that reached a model version, by the "
    "version that answered (canaries included), the protocol (v1, kserve_v1, v2 or page) and the "
    "HTTP status.",
    ["model", "version", "protocol", "status"],
)
PREDICTION_LATENCY = Histogram(
    "modelhost_prediction_request_duration_seconds",
    "Time to answer a request that " "reached a model version, by that version and the protocol.",
    ["model", "version", "protocol"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BATCH_ROWS = Histogram(
    "modelhost_batch_rows",
    "Rows per predict call of the model (several requests' " "rows when batched).",
    ["model", "version"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384),
)
QUEUE_WAIT = Histogram(
    "modelhost_batch_queue_seconds",
    "Time a request waited for the predict call " "that ran its rows.",
    ["model", "version"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)
