"""The requests of `make soak` (bench/soak.py): the mix, what each must be answered, and its file.

Every kind of request is sent once and checked before the load (``check_mix``): its status,
predictions equal to ``model.predict`` of the same joblib files in this process, problem
documents with a detail. The answers that must not vary are pinned then, and bench/soak.lua
compares every later answer of those kinds with them byte for byte. ``write_mix`` writes the mix
file bench/soak.lua reads: one kind per line, its bodies and pinned answers in files beside it.
"""
from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import make_models
import numpy as np
import requests
from harness.checks import mismatch
from harness.console import BenchError
from harness.servers import HTTP_TIMEOUT

MODEL_NAMES = make_models.MODEL_NAMES
FEATURES = tuple(f"x_{i}" for i in range(4))  # what modelhost infers for the plain iris arrays

Check = Callable[[requests.Response], "str | None"]


@dataclass(frozen=True)
class Kind:
    """One kind of request of the mix, with the status it must get."""

    name: str
    group: str  # valid, csv or invalid
    weight: int
    method: str
    path: str
    status: int
    body: bytes | None = None
    content_type: str | None = None
    accept: str | None = None
    #: Whether every answer must be byte for byte the one checked before the load.
    pinned: bool = False
    #: What else the answer checked before the load must satisfy; the reason it does not, or None.
    check: Check | None = field(default=None, compare=False)


def by_name(row: np.ndarray) -> dict[str, float]:
    return {name: float(value) for name, value in zip(FEATURES, row, strict=True)}


def json_body(value: Any) -> bytes:
    return json.dumps(value).encode()


def csv_body(rows: np.ndarray, extra: list[str] | None = None) -> bytes:
    """A CSV file of ``rows`` under the feature names, with an optional last column ``ref``."""
    lines = [",".join([*FEATURES, *(["ref"] if extra else [])])]
    for i, row in enumerate(rows):
        cells = [repr(float(value)) for value in row] + ([extra[i]] if extra else [])
        lines.append(",".join(cells))
    return ("\n".join(lines) + "\n").encode()


class Expectations:
    """Checks of answers against ``model.predict`` of the joblib files the server loads."""

    def __init__(self, models_dir: Path) -> None:
        self.estimators = {name: joblib.load(make_models.artifact_path(models_dir, name)) for name in MODEL_NAMES}

    def classes(self, model: str) -> list[str]:
        return [str(label) for label in self.estimators[model].classes_]

    def json_predictions(self, model: str, rows: np.ndarray, *, single: bool = False,
                         ids: list[str] | None = None, probabilities: bool = False) -> Check:
        expected = self.estimators[model].predict(rows).tolist()
        classes = self.classes(model)

        def check(response: requests.Response) -> str | None:
            answer = response.json()
            if (answer.get("model"), answer.get("version")) != (model, "1"):
                return f"answered for model {answer.get('model')!r} version {answer.get('version')!r}"
            got = [answer.get("prediction")] if single else answer.get("predictions")
            if problem := mismatch(got, expected):
                return f"predictions differ from model.predict: {problem}"
            if ids is not None and ([answer.get("id")] if single else answer.get("ids")) != ids:
                return f"ids not echoed: expected {ids}"
            if probabilities:
                given = [answer.get("probabilities")] if single else answer.get("probabilities")
                if not isinstance(given, list) or len(given) != len(expected) or not all(
                        isinstance(p, dict) and sorted(p) == sorted(classes) and math.isclose(sum(p.values()), 1.0)
                        for p in given):
                    return f"expected class probabilities over {classes} summing to 1, got {str(given)[:200]}"
            return None

        return check

    def csv_predictions(self, model: str, rows: np.ndarray, refs: list[str], *, probabilities: bool = False) -> Check:
        expected = [str(label) for label in self.estimators[model].predict(rows).tolist()]
        probability_columns = [f"probability_{label}" for label in self.classes(model)]

        def check(response: requests.Response) -> str | None:
            if response.headers.get("Content-Type", "").split(";")[0] != "text/csv":
                return f"Content-Type {response.headers.get('Content-Type')!r}, expected text/csv"
            scored = list(csv.DictReader(io.StringIO(response.text)))
            if [row.get("prediction") for row in scored] != expected:
                return f"the prediction column differs from model.predict: {[r.get('prediction') for r in scored]}"
            if [row.get("ref") for row in scored] != refs:
                return "the other columns are not kept as sent"
            if probabilities and any(column not in scored[0] for column in probability_columns):
                return f"expected the columns {probability_columns}, got {list(scored[0])}"
            return None

        return check


def problem_check(status: int, allow: str | None = None) -> Check:
    """An RFC 9457 problem document of ``status`` with a detail; with ``allow``, an Allow header naming it."""

    def check(response: requests.Response) -> str | None:
        if response.headers.get("Content-Type", "").split(";")[0] != "application/problem+json":
            return f"Content-Type {response.headers.get('Content-Type')!r}, expected application/problem+json"
        body = response.json()
        if body.get("status") != status or not body.get("detail"):
            return f"expected a problem document of status {status} with a detail, got {response.text[:200]}"
        if allow is not None and allow not in response.headers.get("Allow", ""):
            return f"the Allow header {response.headers.get('Allow')!r} does not name {allow}"
        return None

    return check


def make_mix(expect: Expectations, max_batch_size: int) -> list[Kind]:
    """Every kind of request of the soak, weighted: 74 % valid JSON and metadata, 7 % CSV, 19.5 % invalid."""
    iris, _ = make_models.iris_data()
    one = iris[[0]]
    three = iris[[0, 75, 149]]
    ten = iris[::15]
    hundred = iris[:100]
    twenty = iris[::7][:20]
    refs = [f"ref-{i}" for i in range(len(twenty))]
    ids = [f"row-{i}" for i in range(len(ten))]
    lr, rf = (f"/v1/models/{name}/predict" for name in MODEL_NAMES)
    json_type, csv_type = "application/json", "text/csv"
    kinds: list[Kind] = []

    def valid(name: str, weight: int, path: str, body: bytes | None, check: Check | None, *, method: str = "POST",
              content_type: str | None = json_type, pinned: bool = True, group: str = "valid") -> None:
        kinds.append(Kind(name, group, weight, method, path, 200, body, content_type if body else None,
                          pinned=pinned, check=check))

    def invalid(name: str, weight: int, path: str, status: int, body: bytes | None, *, method: str = "POST",
                content_type: str | None = json_type, accept: str | None = None, allow: str | None = None) -> None:
        kinds.append(Kind(name, "invalid", weight, method, path, status, body, content_type if body else None,
                          accept, check=problem_check(status, allow)))

    model_lr, model_rf = MODEL_NAMES
    valid("lr, one instance by name, with id", 150, lr, json_body({"id": "r1", **by_name(one[0])}),
          expect.json_predictions(model_lr, one, single=True, ids=["r1"]))
    valid("lr, one row", 150, lr, json_body({"instances": one.tolist()}), expect.json_predictions(model_lr, one))
    valid("lr, 10 instances by name, with ids", 80, lr,
          json_body({"instances": [{"id": i, **by_name(row)} for i, row in zip(ids, ten, strict=True)]}),
          expect.json_predictions(model_lr, ten, ids=ids))
    valid("lr, 100 rows", 30, lr, json_body({"instances": hundred.tolist()}),
          expect.json_predictions(model_lr, hundred))
    valid("lr, 3 rows, probabilities", 60, lr + "?probabilities=true", json_body({"instances": three.tolist()}),
          expect.json_predictions(model_lr, three, probabilities=True), pinned=False)
    valid("lr, form", 60, lr, "&".join(f"{k}={v}" for k, v in by_name(one[0]).items()).encode(),
          expect.json_predictions(model_lr, one, single=True), content_type="application/x-www-form-urlencoded")
    valid("lr, version 1, one row", 50, f"/v1/models/{model_lr}/versions/1/predict",
          json_body({"instances": one.tolist()}), expect.json_predictions(model_lr, one))
    valid("rf, one row", 80, rf, json_body({"instances": one.tolist()}), expect.json_predictions(model_rf, one))
    valid("rf, one instance by name", 50, rf, json_body(by_name(three[1])),
          expect.json_predictions(model_rf, three[[1]], single=True))
    valid("rf, 3 rows, probabilities", 20, rf + "?probabilities=true", json_body({"instances": three.tolist()}),
          expect.json_predictions(model_rf, three, probabilities=True), pinned=False)
    valid("rf, metadata", 20, f"/v1/models/{model_rf}", None, None, method="GET", pinned=False)
    valid("readiness", 10, "/health/ready", None, None, method="GET", pinned=False)
    valid("lr, CSV of 20 rows", 50, lr, csv_body(twenty, refs), expect.csv_predictions(model_lr, twenty, refs),
          content_type=csv_type, group="csv")
    valid("rf, CSV of 20 rows, probabilities", 20, rf + "?probabilities=true", csv_body(twenty, refs),
          expect.csv_predictions(model_rf, twenty, refs, probabilities=True), content_type=csv_type, pinned=False,
          group="csv")

    row = by_name(one[0])
    invalid("400 broken JSON", 25, lr, 400, b'{"instances": [[5.1, 3.5,')
    invalid("400 a string for a number", 25, lr, 400, json_body({**row, "x_1": "wide"}))
    invalid("400 missing and unknown keys", 15, lr, 400, json_body({"x_0": 5.1, "petal": 1.0}))
    invalid("400 a row of 3 values", 15, lr, 400, json_body({"instances": [[5.1, 3.5, 1.4]]}))
    invalid("400 NaN", 10, lr, 400, b'{"instances": [[NaN, 3.5, 1.4, 0.2]]}')
    invalid("400 empty instances", 10, lr, 400, json_body({"instances": []}))
    invalid("400 ?probabilities=maybe", 10, lr + "?probabilities=maybe", 400, json_body({"instances": one.tolist()}))
    invalid("400 CSV with a bad line", 15, lr, 400, csv_body(one) + b"5.1,abc,1.4,0.2\n", content_type=csv_type)
    invalid("404 unknown model", 15, "/v1/models/no_such_model/predict", 404, json_body(row))
    invalid("404 unknown version", 15, f"/v1/models/{model_lr}/versions/99/predict", 404, json_body(row))
    invalid("404 unknown path", 10, "/v1/no/such/path", 404, None, method="GET")
    invalid("405 GET on predict", 10, lr, 405, None, method="GET", allow="POST")
    invalid("406 CSV for a JSON-only client", 10, lr, 406, csv_body(one), content_type=csv_type,
            accept="application/json")
    invalid("413 more instances than the batch limit", 1, lr, 413,
            json_body({"instances": [one[0].tolist()] * (max_batch_size + 1)}))
    invalid("415 text/plain", 15, lr, 415, b"5.1,3.5,1.4,0.2", content_type="text/plain")
    return kinds


def send(session: requests.Session, url: str, kind: Kind) -> requests.Response:
    headers = {name: value for name, value in (("Content-Type", kind.content_type), ("Accept", kind.accept))
               if value is not None}
    return session.request(kind.method, url + kind.path, data=kind.body, headers=headers, timeout=HTTP_TIMEOUT)


def check_mix(url: str, kinds: list[Kind]) -> dict[str, bytes]:
    """Send every kind once and check its answer; returns the pinned bodies by kind name."""
    pinned = {}
    with requests.Session() as session:
        # Like wrk: no Accept and no compression unless the kind asks.
        session.headers.clear()
        session.headers["Accept-Encoding"] = "identity"
        for kind in kinds:
            try:
                response = send(session, url, kind)
            except requests.RequestException as exc:
                raise BenchError(f"{kind.name}: no answer: {exc}") from None
            text = " ".join(response.text.split())[:300]
            if response.status_code != kind.status:
                raise BenchError(f"{kind.name}: HTTP {response.status_code}, expected {kind.status}: {text}")
            try:
                problem = kind.check(response) if kind.check else None
            except ValueError as exc:
                problem = f"unreadable answer ({exc}): {text}"
            if problem:
                raise BenchError(f"{kind.name}: {problem}")
            if kind.pinned:
                pinned[kind.name] = response.content
    return pinned


def write_mix(kinds: list[Kind], pinned: dict[str, bytes], folder: Path) -> Path:
    """The mix file of bench/soak.lua in ``folder``, the bodies and pinned answers beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for index, kind in enumerate(kinds, start=1):
        files = []
        for suffix, content in (("body", kind.body), ("pinned", pinned.get(kind.name))):
            if content is None:
                files.append("-")
                continue
            path = folder / f"{index:02d}.{suffix}"
            path.write_bytes(content)
            files.append(str(path))
        lines.append("\t".join([kind.name, str(kind.weight), kind.method, kind.path, kind.content_type or "-",
                                kind.accept or "-", files[0], str(kind.status), files[1]]))
    mix = folder / "mix.tsv"
    mix.write_text("\n".join(lines) + "\n")
    return mix
