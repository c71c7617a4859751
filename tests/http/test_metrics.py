"""Prometheus metrics: requests by route and status, predicted instances, model status."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    found = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_predictions_and_statuses_are_counted(client, setosa):
    before = samples(client)
    key = ("modelhost_predicted_instances_total", (("model", "iris"), ("protocol", "v1"), ("version", "2")))
    client.post("/v1/models/iris/predict", json={"instances": [setosa] * 3})
    client.post("/v1/models/iris/predict", json={"bad": 1})
    client.get("/no/such/path")
    after = samples(client)
    assert after[key] - before.get(key, 0) == 3
    bad = ("modelhost_http_requests_total",
           (("endpoint", "/v1/models/<name>/predict"), ("method", "POST"), ("status", "400")))
    assert after[bad] - before.get(bad, 0) == 1
    unmatched = ("modelhost_http_requests_total", (("endpoint", "unmatched"), ("method", "GET"), ("status", "404")))
    assert after[unmatched] - before.get(unmatched, 0) == 1


def test_model_status_gauge(client):
    found = samples(client)
    assert found[("modelhost_model_version_loaded", (("model", "linear"), ("version", "1")))] == 1


def test_invented_methods_share_one_label_so_clients_cannot_create_series(client):
    before = samples(client)
    for number in range(20):
        client.open("/health/live", method=f"X{number:04d}")
    client.open("/health/live", method="PATCH")
    after = samples(client)
    methods = {dict(labels)["method"] for name, labels in after if name == "modelhost_http_requests_total"}
    assert not [m for m in methods if m.startswith("X0")], methods
    other = ("modelhost_http_requests_total", (("endpoint", "unmatched"), ("method", "other"), ("status", "405")))
    assert after[other] - before.get(other, 0) == 20
    patch = ("modelhost_http_requests_total", (("endpoint", "unmatched"), ("method", "PATCH"), ("status", "405")))
    assert after[patch] - before.get(patch, 0) == 1
