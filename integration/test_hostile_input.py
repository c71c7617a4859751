"""Request bodies built to crash the server, sent through Apache: each a 400, and no process lost.

A V2 tensor nested a thousand levels deep once crashed the Apache child that read it (its
request threads have less stack than ``flask run``'s), taking every request in flight on that
process with it. These tests send such bodies, and the other inputs that once reached a 500, to
a container of their own in each WSGI mode, then check that the processes running the
application are the very ones that ran it before.
"""
from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import requests
from containers import IRIS, Container, app_processes, needs_containers

pytestmark = needs_containers

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
HEADER = "Inference-Header-Content-Length"


def nested(depth: int) -> str:
    return "[" * depth + "1.0" + "]" * depth


def v2_deep(depth: int) -> str:
    return '{"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": ' + nested(depth) + "}]}"


def tensors(datatype: str, values: list[float]) -> dict:
    return {"inputs": [{"name": n, "datatype": datatype, "shape": [1], "data": [v]}
                       for n, v in zip(FEATURES, values, strict=True)]}


JSON = {"Content-Type": "application/json"}
FRAMED = (b'{"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1, 4], '
          b'"parameters": {"binary_data_size": 32.0}}]}')
#: (path, body, headers, a fragment of the answer's detail)
HOSTILE: list[tuple[str, bytes | str, dict[str, str], str]] = [
    *[("/v2/models/iris/infer", v2_deep(depth), JSON, "levels deep") for depth in (400, 600, 800, 1000)],
    ("/v2/models/iris/versions/1/infer", v2_deep(1000), JSON, "levels deep"),
    ("/v1/models/iris/predict", '{"instances": ' + nested(1000) + "}", JSON, "levels deep"),
    ("/v1/models/iris:predict", '{"instances": ' + nested(1000) + "}", JSON, "levels deep"),
    ("/v1/models/iris/predict", nested(1000), JSON, "levels deep"),
    ("/v1/models/iris/predict", "sepal_length=" + nested(1000) + "&sepal_width=3&petal_length=1&petal_width=0",
     {"Content-Type": "application/x-www-form-urlencoded"}, "sepal_length"),
    ("/v1/models/iris/predict", ",".join(FEATURES) + "\n" + nested(1000) + ",3,1,0\n", {"Content-Type": "text/csv"},
     "sepal_length"),
    # "²" as one Latin-1 byte (how WSGI decodes header bytes), and as UTF-8.
    ("/v2/models/iris/infer", b'{"inputs": []}', {HEADER: "\u00b2"}, HEADER),
    ("/v2/models/iris/infer", b'{"inputs": []}', {HEADER: "\u00b2".encode().decode("latin-1")}, HEADER),
    ("/v2/models/iris/infer", FRAMED + b"\0" * 32, {HEADER: str(len(FRAMED))}, "whole number"),
    ("/v2/models/iris/infer", '{"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1.0, 4.0], '
                              '"data": [5.0, 3.4, 1.5, 0.2]}]}', JSON, "whole number"),
    ("/v2/models/iris/infer", json.dumps(tensors("FP16", [5.0, 3.4, 1.5, 1e300])), JSON, "FP16"),
    ("/v2/models/iris/infer", json.dumps(tensors("FP32", [5.0, 3.4, 1.5, 1e39])), JSON, "FP32"),
]


@pytest.mark.parametrize("mode", ["embedded", "daemon"])
def test_hostile_bodies_are_400s_and_every_application_process_survives(
        start_container: Callable[..., Container], mode: str) -> None:
    container = start_container(env={"MODELHOST_WSGI_MODE": mode})
    container.wait("/health/ready")
    with requests.Session() as http:
        # Every process answers once before the count, so none is still starting.
        for _ in range(8):
            assert http.post(container.url + "/v1/models/iris/predict", json={"instances": [IRIS]},
                             timeout=10).status_code == 200
        before = app_processes(container)
        assert before, container.logs()[-3000:]
        for path, body, headers, fragment in HOSTILE:
            for _ in range(3):  # more than once: each process may take one
                response = http.post(container.url + path, data=body, headers=headers, timeout=30)
                assert response.status_code == 400, (path, fragment, response.status_code, response.text[:500])
                assert response.headers["Content-Type"] == "application/problem+json", response.headers
                assert fragment in response.json()["detail"], (path, response.json()["detail"])
        # Still answering, from the same processes as before.
        assert http.post(container.url + "/v1/models/iris/predict", json={"instances": [IRIS]},
                         timeout=10).status_code == 200
    assert app_processes(container) == before
    logs = container.logs()
    assert "Segmentation fault" not in logs and "AH00052" not in logs, logs[-3000:]
    assert "Traceback" not in logs, logs[-5000:]
