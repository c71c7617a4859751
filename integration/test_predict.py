"""Every predict form on every demo model, checked against the answers in ``expected/``.

Classifier rows come from scikit-learn's data sets with their true labels and are chosen so
that any sane model gets them right (see ``make_expected.py``); the diabetes regressor is
checked for quality over all stored rows, and every other form must agree with that answer.
"""
from __future__ import annotations

import json
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

EXPECTED = {name: json.loads((Path(__file__).parent / "expected" / f"{name}.json").read_text(encoding="utf-8"))
            for name in ("iris", "breast_cancer", "diabetes")}
MODELS = tuple(EXPECTED)
CLASSIFIERS = tuple(name for name, doc in EXPECTED.items() if doc["task"] == "classification")
TIMEOUT = 10
#: Two regression answers for the same row are the same number, whatever form carried the row.
SAME = {"rel": 1e-9, "abs": 1e-9}


def instances(name: str) -> list[dict[str, Any]]:
    return EXPECTED[name]["instances"]


def row(name: str, instance: dict[str, Any]) -> list[Any]:
    """The instance's values in the model's feature order."""
    return [instance["features"][f] for f in EXPECTED[name]["features"]]


def predict(session: requests.Session, base_url: str, name: str, *, version: str | None = None,
            probabilities: bool = False, **body: Any) -> dict[str, Any]:
    """POST to the predict endpoint and return the JSON answer, asserting a 200."""
    path = f"/v1/models/{name}" + (f"/versions/{version}" if version else "") + "/predict"
    params = {"probabilities": "true"} if probabilities else None
    response = session.post(base_url + path, params=params, timeout=TIMEOUT, **body)
    assert response.status_code == 200, f"POST {path}: {response.status_code} {response.text[:500]}"
    assert response.headers["Content-Type"].split(";")[0] == "application/json"
    answer = response.json()
    assert answer["model"] == name
    assert isinstance(answer["version"], str), f"version must be a string: {answer['version']!r}"
    return answer


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@pytest.fixture(scope="module")
def default_versions(session: requests.Session, base_url: str) -> dict[str, str]:
    response = session.get(f"{base_url}/v1/models", timeout=TIMEOUT)
    assert response.status_code == 200
    return {m["name"]: m["default_version"] for m in response.json()["models"]}


@pytest.fixture(scope="module")
def diabetes_answers(session: requests.Session, base_url: str) -> list[float]:
    """The regressor's answers for every stored row (one rows request), quality-checked."""
    answer = predict(session, base_url, "diabetes",
                     json={"instances": [row("diabetes", i) for i in instances("diabetes")]})
    predictions = answer["predictions"]
    assert len(predictions) == len(instances("diabetes"))
    assert all(is_number(p) for p in predictions), f"regression outputs must be numbers: {predictions}"
    return predictions


def check(name: str, stored: list[dict[str, Any]], predictions: list[Any],
          diabetes_answers: list[float] | None = None) -> None:
    """Classifiers: the true labels. Regressor: the same numbers as the reference answers."""
    assert len(predictions) == len(stored)
    if name in CLASSIFIERS:
        assert predictions == [i["label"] for i in stored], [i["row"] for i in stored]
    else:
        assert diabetes_answers is not None
        reference = {i["row"]: a for i, a in zip(instances("diabetes"), diabetes_answers, strict=True)}
        assert predictions == pytest.approx([reference[i["row"]] for i in stored], **SAME)


def check_probabilities(name: str, probabilities: dict[str, float], prediction: Any) -> None:
    """Keys are the class labels, values a distribution whose most likely class is the prediction."""
    assert set(probabilities) == set(EXPECTED[name]["classes"])
    assert all(is_number(p) and 0.0 <= p <= 1.0 for p in probabilities.values()), probabilities
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-6)
    assert max(probabilities, key=probabilities.get) == prediction


def test_diabetes_predictions_are_close_to_the_truth(diabetes_answers: list[float]) -> None:
    """Regression cannot match exactly: R² and mean absolute error over the stored rows."""
    truth = [i["target"] for i in instances("diabetes")]
    mean = sum(truth) / len(truth)
    residual = sum((t - p) ** 2 for t, p in zip(truth, diabetes_answers, strict=True))
    r2 = 1 - residual / sum((t - mean) ** 2 for t in truth)
    mae = sum(abs(t - p) for t, p in zip(truth, diabetes_answers, strict=True)) / len(truth)
    checks = EXPECTED["diabetes"]["checks"]
    assert r2 > checks["min_r2"], f"R² {r2:.3f} over {len(truth)} rows"
    assert mae < checks["max_mae"], f"mean absolute error {mae:.1f} over {len(truth)} rows"


@pytest.mark.parametrize("name", MODELS)
def test_single_instance_by_name_echoes_the_id(session, base_url, name, diabetes_answers) -> None:
    """Form 1: one request per stored row, each with its own id."""
    for instance in instances(name):
        answer = predict(session, base_url, name, json={"id": f"row-{instance['row']}", **instance["features"]})
        assert answer["id"] == f"row-{instance['row']}"
        assert "predictions" not in answer and "probabilities" not in answer
        check(name, [instance], [answer["prediction"]], diabetes_answers)


@pytest.mark.parametrize("name", MODELS)
def test_single_instance_without_id_has_no_id(session, base_url, name, diabetes_answers) -> None:
    instance = instances(name)[0]
    answer = predict(session, base_url, name, json=instance["features"])
    assert "id" not in answer
    check(name, [instance], [answer["prediction"]], diabetes_answers)


@pytest.mark.parametrize("name", MODELS)
def test_many_instances_by_name_answer_ids_in_order(session, base_url, name, diabetes_answers) -> None:
    """Form 2 with ids: ``ids`` and ``predictions`` follow the request order."""
    stored = list(reversed(instances(name)))
    body = {"instances": [{"id": f"row-{i['row']}", **i["features"]} for i in stored]}
    answer = predict(session, base_url, name, json=body)
    assert answer["ids"] == [f"row-{i['row']}" for i in stored]
    assert "id" not in answer and "prediction" not in answer and "probabilities" not in answer
    check(name, stored, answer["predictions"], diabetes_answers)


@pytest.mark.parametrize("name", MODELS)
def test_many_instances_by_name_without_ids(session, base_url, name, diabetes_answers) -> None:
    answer = predict(session, base_url, name, json={"instances": [i["features"] for i in instances(name)]})
    assert "ids" not in answer
    check(name, instances(name), answer["predictions"], diabetes_answers)


@pytest.mark.parametrize("name", MODELS)
def test_rows_in_feature_order(session, base_url, name, diabetes_answers) -> None:
    """Form 3: rows of values in the order the metadata lists the features."""
    answer = predict(session, base_url, name, json={"instances": [row(name, i) for i in instances(name)]})
    assert "ids" not in answer
    check(name, instances(name), answer["predictions"], diabetes_answers)


@pytest.mark.parametrize("name", MODELS)
def test_form_encoded_instance(session, base_url, name, diabetes_answers) -> None:
    """application/x-www-form-urlencoded, one field per feature, is answered like form 1."""
    for instance in instances(name)[:6]:
        fields = {k: repr(v) for k, v in instance["features"].items()}
        answer = predict(session, base_url, name, data=fields)
        check(name, [instance], [answer["prediction"]], diabetes_answers)


@pytest.mark.parametrize("name", MODELS)
def test_explicit_version_path_answers_like_the_default(session, base_url, name, default_versions,
                                                        diabetes_answers) -> None:
    version = default_versions[name]
    answer = predict(session, base_url, name, version=version,
                     json={"instances": [row(name, i) for i in instances(name)]})
    assert answer["version"] == version
    check(name, instances(name), answer["predictions"], diabetes_answers)
    single = predict(session, base_url, name, version=version, json={"id": "v", **instances(name)[0]["features"]})
    assert single["version"] == version and single["id"] == "v"
    check(name, instances(name)[:1], [single["prediction"]], diabetes_answers)


@pytest.mark.parametrize("name", MODELS)
def test_default_version_is_named_in_the_answer(session, base_url, name, default_versions) -> None:
    answer = predict(session, base_url, name, json=instances(name)[0]["features"])
    assert answer["version"] == default_versions[name]


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_probabilities_for_one_instance(session, base_url, name) -> None:
    for instance in instances(name):
        answer = predict(session, base_url, name, probabilities=True, json={"id": "p", **instance["features"]})
        assert answer["prediction"] == instance["label"]
        check_probabilities(name, answer["probabilities"], answer["prediction"])


@pytest.mark.parametrize("name", CLASSIFIERS)
@pytest.mark.parametrize("shape", ["by_name", "rows"])
def test_probabilities_for_many_instances(session, base_url, name, shape) -> None:
    stored = instances(name)
    body = [i["features"] for i in stored] if shape == "by_name" else [row(name, i) for i in stored]
    answer = predict(session, base_url, name, probabilities=True, json={"instances": body})
    check(name, stored, answer["predictions"])
    assert len(answer["probabilities"]) == len(stored)
    for probabilities, prediction in zip(answer["probabilities"], answer["predictions"], strict=True):
        check_probabilities(name, probabilities, prediction)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_probabilities_for_a_form(session, base_url, name, default_versions) -> None:
    instance = instances(name)[-1]
    fields = {k: repr(v) for k, v in instance["features"].items()}
    answer = predict(session, base_url, name, version=default_versions[name], probabilities=True, data=fields)
    assert answer["prediction"] == instance["label"]
    check_probabilities(name, answer["probabilities"], answer["prediction"])


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_probabilities_false_leaves_them_out(session, base_url, name) -> None:
    response = session.post(f"{base_url}/v1/models/{name}/predict", params={"probabilities": "false"},
                            json=instances(name)[0]["features"], timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert "probabilities" not in response.json()


@dataclass
class Job:
    """One request of the concurrency test and the stored rows its answer must match."""

    label: str
    name: str
    path: str
    send: dict[str, Any]
    many: bool
    stored: list[dict[str, Any]]


def concurrent_jobs(default_versions: dict[str, str]) -> list[Job]:
    """200 requests cycling through every model and every form, with 1 to 5 stored rows each."""
    forms = ["single", "single_probabilities", "by_name", "rows", "form", "version"]
    jobs = []
    for n in range(200):
        name = MODELS[n % len(MODELS)]
        form = forms[(n // len(MODELS)) % len(forms)]
        if form == "single_probabilities" and name not in CLASSIFIERS:
            form = "single"
        stored = instances(name)
        start = (n * 7) % len(stored)
        chosen = (stored[start:] + stored[:start])[: 1 + n % 5]
        path = f"/v1/models/{name}/predict"
        if form == "single":
            send: dict[str, Any] = {"json": {"id": f"job-{n}", **chosen[0]["features"]}}
        elif form == "single_probabilities":
            send = {"json": chosen[0]["features"], "params": {"probabilities": "true"}}
        elif form == "by_name":
            send = {"json": {"instances": [i["features"] for i in chosen]}}
        elif form == "rows":
            send = {"json": {"instances": [row(name, i) for i in chosen]}}
        elif form == "form":
            send = {"data": {k: repr(v) for k, v in chosen[0]["features"].items()}}
        else:
            path = f"/v1/models/{name}/versions/{default_versions[name]}/predict"
            send = {"json": {"instances": [row(name, i) for i in chosen]}}
        many = form in ("by_name", "rows", "version")
        jobs.append(Job(f"#{n} {name} {form}", name, path, send, many, chosen if many else chosen[:1]))
    return jobs


def test_200_concurrent_requests_all_succeed_with_correct_answers(session, base_url, default_versions,
                                                                  diabetes_answers) -> None:
    local = threading.local()
    opened: list[requests.Session] = []
    lock = threading.Lock()

    def worker_session() -> requests.Session:
        # requests.Session is not thread-safe: one keep-alive session per worker thread.
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers.update(session.headers)
            with lock:
                opened.append(local.session)
        return local.session

    def run(job: Job) -> str | None:
        try:
            response = worker_session().post(base_url + job.path, timeout=30, **job.send)
        except requests.RequestException as exc:
            return f"{job.label}: {type(exc).__name__}: {exc}"
        if response.status_code != 200:
            return f"{job.label}: HTTP {response.status_code} {response.text[:200]}"
        answer = response.json()
        try:
            check(job.name, job.stored, answer["predictions"] if job.many else [answer["prediction"]],
                  diabetes_answers)
        except (AssertionError, KeyError) as exc:
            return f"{job.label}: wrong answer {answer}: {exc!r}"
        return None

    jobs = concurrent_jobs(default_versions)
    try:
        with ThreadPoolExecutor(max_workers=48) as pool:
            failures = [f for f in pool.map(run, jobs) if f]
    finally:
        for opened_session in opened:
            opened_session.close()
    assert not failures, f"{len(failures)} of {len(jobs)} concurrent requests failed:\n" + "\n".join(failures[:20])
