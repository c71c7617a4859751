"""serving.json: a pinned default, labels and a canary, picked up live; a bad file keeps the last good one."""
from __future__ import annotations

import gc
import json
import shutil

import pytest

from app.core.routing import route
from app.storage.serving import ServingConfig, ServingFileError, parse_serving


def write_serving(repo, config, name="iris") -> None:
    (repo / name / "serving.json").write_text(config if isinstance(config, str) else json.dumps(config))


def test_a_pinned_default_answers_the_default_route(repo, default_version, live_app):
    write_serving(repo, {"default": 1})
    client = live_app(repo).test_client()
    assert default_version(client) == "1"
    assert client.get("/v1/models/iris").get_json()["version"] == "1"
    assert client.get("/v1/models").get_json()["models"][0]["default_version"] == "1"


def test_a_higher_version_copied_in_does_not_take_over_a_pinned_default(repo, estimators, live_app, write_version,
                                                                        apply_changes, default_version, iris_metadata,
                                                                        setosa):
    write_serving(repo, {"default": 2})
    app = live_app(repo)
    write_version(repo, "iris", 3, estimators["iris1"], {**iris_metadata(), "version": 3})
    apply_changes(app)
    client = app.test_client()
    assert default_version(client) == "2"
    assert client.post("/v1/models/iris/versions/3/predict", json=setosa).get_json()["version"] == "3"


def test_a_pinned_default_that_is_not_loaded_leaves_the_default_in_force(repo, live_app, apply_changes,
                                                                         default_version):
    write_serving(repo, {"default": 1})
    app = live_app(repo)
    client = app.test_client()
    assert default_version(client) == "1"
    write_serving(repo, {"default": 7})  # a version that is not (yet) in the repository
    apply_changes(app)
    assert default_version(client) == "1", "the previous default keeps serving, not the highest version"


def test_labels_route_to_their_versions_and_unknown_labels_are_404(repo, setosa, live_app):
    write_serving(repo, {"labels": {"stable": 1, "next": 2, "gone": 9}})
    client = live_app(repo).test_client()
    assert client.post("/v1/models/iris/labels/stable/predict", json=setosa).get_json()["version"] == "1"
    assert client.post("/v1/models/iris/labels/next/predict", json=setosa).get_json()["version"] == "2"
    unknown = client.post("/v1/models/iris/labels/nope/predict", json=setosa)
    assert unknown.status_code == 404 and "gone, next, stable" in unknown.get_json()["detail"]
    missing = client.post("/v1/models/iris/labels/gone/predict", json=setosa)
    assert missing.status_code == 503 and "version 9" in missing.get_json()["detail"]
    assert client.post("/v1/models/linear/labels/stable/predict", json={}).status_code == 404
    assert client.get("/v1/models").get_json()["models"][0]["labels"] == {"gone": "9", "next": "2", "stable": "1"}


def test_each_label_of_a_serving_file_has_its_path_in_the_document(repo, live_app):
    write_serving(repo, {"labels": {"stable": 1}})
    spec = live_app(repo).test_client().get("/apispec.json").get_json()
    operation = spec["paths"]["/v1/models/iris/labels/stable/predict"]["post"]
    assert operation["operationId"] == "predict_iris_label_stable"
    assert "version 1" in operation["summary"]
    assert not [path for path in spec["paths"] if "/labels/" in path and "/iris/" not in path]


def test_the_canary_takes_its_share_of_the_default_route_within_3_points(repo, live_app, setosa):
    write_serving(repo, {"default": 1, "canary": {"version": 2, "percent": 10}})
    client = live_app(repo).test_client()
    before = answered_by_version(client)
    versions = [client.post("/v1/models/iris/predict", json=setosa).get_json()["version"] for _ in range(2000)]
    share = versions.count("2") / len(versions) * 100
    assert 7 <= share <= 13, share
    assert set(versions) == {"1", "2"}
    # Only the default route: a version asked for by number is that version.
    assert {client.post("/v1/models/iris/versions/1/predict", json=setosa).get_json()["version"]
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


def test_a_canary_that_is_not_loaded_gets_no_traffic(repo, live_app, default_version):
    write_serving(repo, {"canary": {"version": 5, "percent": 50}})
    client = live_app(repo).test_client()
    assert {default_version(client) for _ in range(40)} == {"2"}
    assert "canary" not in client.get("/v1/models").get_json()["models"][0]


def test_an_invalid_file_is_reported_and_the_last_good_one_stays(repo, caplog, live_app, apply_changes,
                                                                 default_version):
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


def test_removing_the_file_returns_to_the_highest_version(repo, live_app, apply_changes, default_version):
    write_serving(repo, {"default": 1})
    app = live_app(repo)
    (repo / "iris" / "serving.json").unlink()
    apply_changes(app)
    assert default_version(app.test_client()) == "2"


def test_an_invalid_file_at_start_is_reported_and_the_model_still_serves(repo, default_version, live_app):
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


def break_version(repo, number: int, name: str = "iris") -> None:
    """A version directory whose artifact is not a model: it fails to load."""
    directory = repo / name / str(number)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / "model.joblib").write_bytes(b"not a model")


@pytest.fixture
def one_three_and_a_failed_two(repo, estimators, write_version, iris_metadata) -> None:
    """iris 1 and 3 load, 2 fails (the review's case)."""
    write_version(repo, "iris", 3, estimators["iris1"], {**iris_metadata(), "version": 3})
    break_version(repo, 2)


@pytest.mark.usefixtures("one_three_and_a_failed_two")
def test_a_pinned_default_that_fails_at_start_leaves_the_highest_version_that_loaded(repo, default_version, live_app):
    write_serving(repo, {"default": 2})
    client = live_app(repo).test_client()
    assert default_version(client) == "3", "not the version the start-up scan happened to load first"
    assert client.get("/v1/models").get_json()["models"][0]["default_version"] == "3"
    ready = client.get("/health/ready")
    assert ready.status_code == 200 and ready.get_json()["models"][0]["status"] == "degraded"


def test_a_fresh_start_routes_like_the_running_server_it_replaces(repo, estimators, write_version, live_app,
                                                                  apply_changes, default_version, iris_metadata):
    shutil.rmtree(repo / "iris" / "2")
    write_version(repo, "iris", 3, estimators["iris1"], {**iris_metadata(), "version": 3})
    running = live_app(repo)
    assert default_version(running.test_client()) == "3"
    # The change: a version 2 that fails, and a serving file that pins it.
    break_version(repo, 2)
    write_serving(repo, {"default": 2})
    apply_changes(running)
    restarted = live_app(repo)  # the same files, read by a process that starts now
    assert default_version(running.test_client()) == default_version(restarted.test_client()) == "3"


def test_a_model_copied_in_whole_at_run_time_routes_like_a_fresh_start(repo, estimators, live_app, write_version,
                                                                       apply_changes, default_version, iris_metadata):
    app = live_app(repo)
    write_version(repo, "copy", 1, estimators["iris1"], {**iris_metadata(), "name": "copy"})
    break_version(repo, 2, "copy")
    write_version(repo, "copy", 3, estimators["iris1"], {**iris_metadata(), "name": "copy", "version": 3})
    write_serving(repo, {"default": 2}, "copy")
    apply_changes(app)
    assert default_version(app.test_client(), "copy") == default_version(live_app(repo).test_client(), "copy") == "3"


def test_a_process_started_beside_running_ones_routes_like_them(repo, estimators, tmp_path, write_version, live_app,
                                                                apply_changes, default_version, iris_metadata):
    """The default in force while a pinned one is not loaded is the server's, kept in the state folder."""
    state = tmp_path / "state"
    state.mkdir()
    write_version(repo, "iris", 3, estimators["iris1"], {**iris_metadata(), "version": 3})
    write_serving(repo, {"default": 2})
    running = live_app(repo, STATE_DIR=str(state))
    write_serving(repo, {"default": 7})  # not in the repository (yet)
    apply_changes(running)
    assert default_version(running.test_client()) == "2"
    recycled = live_app(repo, STATE_DIR=str(state))  # e.g. a daemon process mod_wsgi started to replace one
    assert default_version(recycled.test_client()) == "2"
    del running, recycled
    gc.collect()
    later = live_app(repo, STATE_DIR=str(state))
    assert default_version(later.test_client()) == "2", "the server's memory, not one process's"
    # A server of its own (a new replica, or a restart) has only the repository to go by.
    assert default_version(live_app(repo).test_client()) == "3"
