"""Before any timing: a server's predictions against ``model.predict`` of the same joblib files in this process."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import make_models
import requests

from harness.bodies import Body
from harness.console import BenchError, log
from harness.servers import HTTP_TIMEOUT, Server


def expected_predictions(models_dir: Path, bodies: list[Body]) -> dict[tuple[str, str], list[Any]]:
    """(model, body) -> ``model.predict(rows)`` of the joblib file the servers load."""
    expected = {}
    for model in make_models.MODEL_NAMES:
        estimator = joblib.load(make_models.artifact_path(models_dir, model))
        for body in bodies:
            expected[model, body.name] = estimator.predict(body.rows).tolist()
    return expected


def verify(server: Server, bodies: list[Body], expected: dict[tuple[str, str], list[Any]]) -> None:
    """Every prediction of the server for every body equals the in-process one, or BenchError."""
    with requests.Session() as session:
        for model in make_models.MODEL_NAMES:
            for body in bodies:
                where = f"{server.name}, {model}, body {body.name}"
                try:
                    response = session.post(f"{server.url}/v1/models/{model}/predict", data=body.json,
                                            headers={"Content-Type": "application/json"}, timeout=HTTP_TIMEOUT)
                except requests.RequestException as exc:
                    raise BenchError(f"{where}: no answer: {exc}") from None
                text = " ".join(response.text.split())[:500]
                if response.status_code != 200:
                    raise BenchError(f"{where}: HTTP {response.status_code}: {text}")
                try:
                    answer = response.json()
                except ValueError:
                    raise BenchError(f"{where}: the answer is not JSON: {text}") from None
                if not isinstance(answer, dict):
                    raise BenchError(f"{where}: expected a JSON object, got {text}")
                if server.is_modelhost and (answer.get("model"), answer.get("version")) != (model, "1"):
                    raise BenchError(f"{where}: answered for model {answer.get('model')!r} version "
                                     f"{answer.get('version')!r}, expected {model!r} version '1'")
                if problem := mismatch(answer.get("predictions"), expected[model, body.name]):
                    raise BenchError(f"{where}: predictions differ from model.predict: {problem}")
    log(f"{server.name}: predictions equal model.predict for {sum(len(b.rows) for b in bodies)} rows "
        f"x {len(make_models.MODEL_NAMES)} models")


def mismatch(got: Any, want: list[Any]) -> str | None:
    """How ``got`` differs from ``want`` (value and JSON type of every prediction), or None."""
    if not isinstance(got, list) or len(got) != len(want):
        return f"expected a list of {len(want)} predictions, got {str(got)[:200]}"
    wrong = [i for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w or type(g) is not type(w)]
    if not wrong:
        return None
    first = wrong[0]
    return f"{len(wrong)} of {len(want)} differ; the first, row {first}: got {got[first]!r}, expected {want[first]!r}"
