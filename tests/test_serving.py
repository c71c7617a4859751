"""serving.json: a pinned default, labels and a canary, picked up live; a bad file keeps the last good one."""
from __future__ import annotations

import json

import pytest

from app.serving import ServingConfig, ServingFileError, parse_serving, route
from tests.conftest import SETOSA, apply_changes, default_version, iris_metadata, live_app, write_version


def write_serving(repo, config, name="iris") -> None:
    (repo / name / "serving.json").write_text(config if isinstance(config, str) else json.dumps(config))


def test_a_pinned_default_answers_the_default_route(repo):
    write_serving(repo, {"default": 1})
    client = live_app(repo).test_client()
    assert default_version(client) == "1"
    assert client.get("/v1/models/iris").get_json()["version"] == "1"
    assert client.get("/v1/models").get_json()["models"][0]["default_version"] == "1"


def test_a_higher_version_copied_in_does_not_take_over_a_pinned_default(repo, estimators):
    write_serving(repo, {"default": 2})
    app = live_app(repo)
    write_version(repo, "iris", 3, estimators["iris1"], {**iris_metadata(), "version": 3})
    apply_changes(app)
    client = app.test_client()
    assert default_version(client) == "2"
    assert client.post("/v1/models/iris/versions/3/predict", json=SETOSA).get_json()["version"] == "3"


def test_a_pinned_default_that_is_not_loaded_leaves_the_default_in_force(repo):
    write_serving(repo, {"default": 1})
    app = live_app(repo)
    client = app.test_client()
    assert default_version(client) == "1"
    write_serving(repo, {"default": 7})  # a version that is not (yet) in the repository
    apply_changes(app)
    assert default_version(client) == "1", "the previous default keeps serving, not the highest version"


def test_labels_route_to_their_versions_and_unknown_labels_are_404(repo):
    write_serving(repo, {"labels": {"stable": 1, "next": 2, "gone": 9}})
    client = live_app(repo).test_client()
    assert client.post("/v1/models/iris/labels/stable/predict", json=SETOSA).get_json()["version"] == "1"
    assert client.post("/v1/models/iris/labels/next/predict", json=SETOSA).get_json()["version"] == "2"
    unknown = client.post("/v1/models/iris/labels/nope/predict", json=SETOSA)
    assert unknown.status_code == 404 and "gone, next, stable" in unknown.get_json()["detail"]
    missing = client.post("/v1/models/iris/labels/gone/predict", json=SETOSA)
    assert missing.status_code == 503 and "version 9" in missing.get_json()["detail"]
    assert client.post("/v1/models/linear/labels/stable/predict", json={}).status_code == 404
    assert client.get("/v1/models").get_json()["models"][0]["labels"] == {"gone": "9", "next": "2", "stable": "1"}


def test_each_label_of_a_serving_file_has_its_path_in_the_document(repo):
    write_serving(repo, {"labels": {"stable": 1}})
    spec = live_app(repo).test_client().get("/apispec.json").get_json()
    operation = spec["paths"]["/v1/models/iris/labels/stable/predict"]["post"]
    assert operation["operationId"] == "predict_iris_label_stable"
    assert "version 1" in operation["summary"]
    assert not [path for path in spec["paths"] if "/labels/" in path and "/iris/" not in path]


def test_the_canary_takes_its_share_of_the_default_route_within_3_points(repo):
    write_serving(repo, {"default": 1, "canary": {"version": 2, "percent": 10}})
    client = live_app(repo).test_client()
    before = answered_by_version(client)
    versions = [client.post("/v1/models/iris/predict", json=SETOSA).get_json()["version"] for _ in range(2000)]
    share = versions.count("2") / len(versions) * 100
    assert 7 <= share <= 13, share
    assert set(versions) == {"1", "2"}
    # Only the default route: a version asked for by number is that version.
    assert {client.post("/v1/models/iris/versions/1/predict", json=SETOSA).get_json()["version"]
            for _ in range(50)} == {"1"}
    # Metrics are labelled by the version that answered, so the two can be compared.
    after = answered_by_version(client)
    assert after["2"] - before.get("2", 0) == versions.count("2")
    assert after["1"] - before.get("1", 0) == versions.count("1") + 50
    text = client.get("/metrics").get_data(as_text=True)
    assert 'modelhost_prediction_request_duration_seconds_count{model="iris",protocol="v1",version="2"}' in text


def answered_by_version(client) -> dict[str, float]:
    """modelhost_prediction_requests_total of iris's 200 answers, by version (the counters are per process)."""
    counts = {}
    for line in client.get("/metrics").get_data(as_text=True).splitlines():
        if line.startswith('modelhost_prediction_requests_total{model="iris",protocol="v1",status="200",version='):
            counts[line.split('version="')[1].split('"')[0]] = float(line.split()[-1])
    return counts


def test_a_canary_that_is_not_loaded_gets_no_traffic(repo):
    write_serving(repo, {"canary": {"version": 5, "percent": 50}})
    client = live_app(repo).test_client()
    assert {default_version(client) for _ in range(40)} == {"2"}
    assert "canary" not in client.get("/v1/models").get_json()["models"][0]


def test_an_invalid_file_is_reported_and_the_last_good_one_stays(repo, caplog):
    write_serving(repo, {"default": 1})
    app = live_app(repo)
    client = app.test_client()
    write_serving(repo, '{"default": "one", "lables": {}}')
    apply_changes(app)
    assert default_version(client) == "1", "the last good file stays in force"
    [iris] = [m for m in client.get("/v1/repository").get_json()["models"] if m["name"] == "iris"]
    error = iris["serving_file"]["error"]
    assert "iris/serving.json" in error and "default" in error and "lables" in error
    assert any("refusing its serving file" in r.getMessage() for r in caplog.records)
    write_serving(repo, {"default": 2})
    apply_changes(app)
    assert default_version(client) == "2"
    [iris] = [m for m in client.get("/v1/repository").get_json()["models"] if m["name"] == "iris"]
    assert iris["serving_file"]["error"] is None and iris["serving_file"]["requested"]["default"] == "2"


def test_removing_the_file_returns_to_the_highest_version(repo):
    write_serving(repo, {"default": 1})
    app = live_app(repo)
    (repo / "iris" / "serving.json").unlink()
    apply_changes(app)
    assert default_version(app.test_client()) == "2"


def test_an_invalid_file_at_start_is_reported_and_the_model_still_serves(repo):
    write_serving(repo, "{not json")
    client = live_app(repo).test_client()
    assert default_version(client) == "2"
    [iris] = [m for m in client.get("/v1/repository").get_json()["models"] if m["name"] == "iris"]
    assert "not valid JSON" in iris["serving_file"]["error"]


@pytest.mark.parametrize("text, fragment", [
    ('{"default": 0}', "default"),
    ('{"labels": {"Bad Label": 1}}', "Bad Label"),
    ('{"canary": {"version": 2}}', "percent"),
    ('{"canary": {"version": 2, "percent": 101}}', "101"),
    ('[1, 2]', "top level"),
    ('{"default": 1.5}', "1.5"),
])
def test_the_file_is_checked_and_every_problem_named(text, fragment):
    with pytest.raises(ServingFileError, match="not a valid serving file") as raised:
        parse_serving(text.encode(), "iris/serving.json")
    assert fragment in str(raised.value)


def test_routing_resolves_pins_canaries_and_the_previous_default():
    config = parse_serving(b'{"default": 3, "canary": {"version": 4, "percent": 25}}', "x")
    assert route(config, [1, 2, 3, 4], [1, 2, 3, 4], None).default == 3
    assert route(config, [1, 2, 3, 4], [1, 2, 4], previous=2).default == 2
    assert route(config, [1, 2, 3, 4], [1, 4], previous=2).default == 4
    routing = route(config, [1, 2, 3, 4], [3, 4], None)
    assert routing.choose(draw=0.2) == 4 and routing.choose(draw=0.3) == 3
    assert route(ServingConfig(), [1, 2], [], None).default == 2
