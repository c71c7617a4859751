"""The live repository: versions copied in, changed, broken and removed while the server runs."""
from __future__ import annotations

import gc
import json
import shutil
import threading
import time
import weakref

import joblib

from app.extensions import get_watcher


def settle_and_scan(app) -> bool:
    """Let the files age past the settle time, then scan once; True while changes are still pending."""
    watcher = get_watcher(app)
    time.sleep(watcher.settle_seconds * 1.5)
    return watcher.scan()


def test_a_copied_in_version_is_served_once_its_files_are_stable(repo, estimators, live_app, write_version,
                                                                 default_version, iris_metadata, setosa):
    app = live_app(repo)
    client = app.test_client()
    write_version(repo, "iris", 3, estimators["iris1"], {**iris_metadata(), "version": 3})
    # The first scan sees new files: they may still be being copied, so nothing changes yet.
    assert get_watcher(app).scan() is True
    assert default_version(client) == "2"
    assert client.post("/v1/models/iris/versions/3/predict", json=setosa).status_code == 404
    assert settle_and_scan(app) is False
    assert default_version(client) == "3"
    assert client.get("/v1/models/iris").get_json()["versions"] == ["1", "2", "3"]


def test_files_still_changing_between_scans_are_not_loaded(repo, estimators, live_app, default_version):
    app = live_app(repo)
    target = repo / "iris" / "3"
    target.mkdir()
    joblib.dump(estimators["iris1"], target / "model.joblib")
    partial = (target / "model.joblib").read_bytes()
    (target / "model.joblib").write_bytes(partial[: len(partial) // 2])  # half copied
    assert get_watcher(app).scan() is True
    time.sleep(get_watcher(app).settle_seconds * 1.5)
    (target / "model.joblib").write_bytes(partial)  # the copy goes on between two scans
    assert get_watcher(app).scan() is True, "a file that changed since the last scan is not stable"
    assert "3" not in app.test_client().get("/v1/models/iris").get_json()["versions"]
    assert settle_and_scan(app) is False
    assert default_version(app.test_client()) == "3"


def test_an_empty_version_directory_is_not_a_version_yet(repo, live_app, default_version):
    app = live_app(repo)
    (repo / "iris" / "3").mkdir()
    assert settle_and_scan(app) is False
    assert settle_and_scan(app) is False
    assert default_version(app.test_client()) == "2"


def test_changed_files_reload_that_version_and_the_new_copy_answers(repo, estimators, live_app, write_version):
    app = live_app(repo)
    registry = app.extensions["modelhost.registry"]
    before = registry.get("iris", 2)
    shutil.rmtree(repo / "iris" / "2")
    write_version(repo, "iris", 2, estimators["linear"])  # another estimator entirely: a regressor of 3 features
    get_watcher(app).scan()
    assert registry.get("iris", 2) is before, "changed files are loaded only once they are stable"
    settle_and_scan(app)
    after = registry.get("iris", 2)
    assert after is not before and after.status == "loaded"
    assert after.metadata["task"] == "regression" and after.loaded_at >= before.loaded_at
    answer = app.test_client().post("/v1/models/iris/predict", json={"x_0": 1.0, "x_1": 0.0, "x_2": 0.0})
    assert answer.status_code == 200 and answer.get_json()["version"] == "2"


def test_a_failed_reload_keeps_the_loaded_copy_serving_and_says_why(repo, live_app, apply_changes, setosa):
    app = live_app(repo)
    client = app.test_client()
    (repo / "iris" / "2" / "model.joblib").write_bytes(b"not a model any more")
    apply_changes(app)
    answer = client.post("/v1/models/iris/versions/2/predict", json=setosa)
    assert answer.status_code == 200 and answer.get_json()["prediction"] == "setosa"
    [iris] = [m for m in client.get("/v1/repository").get_json()["models"] if m["name"] == "iris"]
    [two] = [v for v in iris["versions"] if v["version"] == "2"]
    assert two["state"] == "loaded" and "sha256" in two["reload_error"]
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert "sha256" in ready.get_json()["models"][0]["versions"][1]["reload_error"]
    # It is not tried again until the files change again.
    assert settle_and_scan(app) is False


def test_a_bad_new_version_is_reported_failed_and_the_default_keeps_serving(repo, caplog, live_app, apply_changes,
                                                                            default_version, setosa):
    app = live_app(repo)
    client = app.test_client()
    (repo / "iris" / "3").mkdir()
    shutil.copy(repo / "iris" / "2" / "model.json", repo / "iris" / "3" / "model.json")
    (repo / "iris" / "3" / "model.joblib").write_bytes(b"garbage")
    apply_changes(app)
    assert default_version(client) == "2"
    ready = client.get("/health/ready")
    assert ready.status_code == 200, "a failed new version must not take the instance out of rotation"
    iris = ready.get_json()["models"][0]
    assert iris["status"] == "degraded" and "sha256" in iris["versions"][2]["error"]
    listing = client.get("/v1/models").get_json()["models"][0]
    assert listing["versions"] == ["1", "2", "3"] and listing["default_version"] == "2"
    [three] = [v for m in client.get("/v1/repository").get_json()["models"] if m["name"] == "iris"
               for v in m["versions"] if v["version"] == "3"]
    assert three["state"] == "failed" and "sha256" in three["error"]
    assert client.post("/v1/models/iris/versions/3/predict", json=setosa).status_code == 503
    assert any("version 3 failed to load" in r.getMessage() for r in caplog.records)


def test_a_removed_version_is_unloaded_after_the_requests_using_it_and_its_memory_released(repo, live_app,
                                                                                           default_version, setosa):
    app = live_app(repo)
    registry = app.extensions["modelhost.registry"]
    client = app.test_client()
    assert default_version(client) == "2"  # the version now has a batcher too
    in_flight = registry.get("iris", 2)  # what a request being served holds
    estimator = weakref.ref(in_flight.runtime.estimator)
    shutil.rmtree(repo / "iris" / "2")
    get_watcher(app).scan()
    assert client.post("/v1/models/iris/versions/2/predict", json=setosa).status_code == 404
    assert default_version(client) == "1"
    # The request that had it finishes with it.
    assert in_flight.ready_runtime().predict({k: [v] for k, v in setosa.items()}, False)[0] == ["setosa"]
    [iris] = [m for m in client.get("/v1/repository").get_json()["models"] if m["name"] == "iris"]
    assert [(v["version"], v["state"]) for v in iris["versions"]] == [("1", "loaded"), ("2", "unloaded")]
    del in_flight
    gc.collect()
    assert estimator() is None, "nothing may keep an unloaded version's estimator in memory"


def test_a_model_directory_appearing_and_disappearing_adds_and_removes_the_model(repo, estimators, live_app,
                                                                                 write_version, apply_changes,
                                                                                 default_version, iris_metadata,
                                                                                 setosa):
    app = live_app(repo)
    client = app.test_client()
    write_version(repo, "fresh", 1, estimators["iris1"], {**iris_metadata(), "name": "fresh"})
    apply_changes(app)
    assert "fresh" in [m["name"] for m in client.get("/v1/models").get_json()["models"]]
    assert default_version(client, "fresh") == "1"
    assert "/v1/models/fresh/predict" in client.get("/apispec.json").get_json()["paths"]
    shutil.rmtree(repo / "fresh")
    get_watcher(app).scan()
    assert "fresh" not in [m["name"] for m in client.get("/v1/models").get_json()["models"]]
    assert client.post("/v1/models/fresh/predict", json=setosa).status_code == 404
    assert "/v1/models/fresh/predict" not in client.get("/apispec.json").get_json()["paths"]


def test_replacing_the_only_version_leaves_no_moment_without_one(repo, estimators, live_app, write_version):
    app = live_app(repo)
    client = app.test_client()
    shutil.rmtree(repo / "linear" / "1")
    write_version(repo, "linear", 2, estimators["linear"], artifact="model.pkl")
    get_watcher(app).scan()  # version 2 is not stable yet: version 1 keeps serving
    row = {"x_0": 1.0, "x_1": 1.0, "x_2": 1.0}
    assert client.post("/v1/models/linear/predict", json=row).get_json()["version"] == "1"
    settle_and_scan(app)
    assert client.post("/v1/models/linear/predict", json=row).get_json()["version"] == "2"
    assert client.post("/v1/models/linear/versions/1/predict", json=row).status_code == 404


def test_an_unreadable_repository_unloads_nothing(repo, tmp_path, live_app, default_version):
    app = live_app(repo)
    repo.rename(tmp_path / "elsewhere")  # e.g. a volume that is not mounted for a moment
    settle_and_scan(app)
    assert default_version(app.test_client()) == "2"


def test_no_request_sees_a_missing_or_half_loaded_version_while_versions_come_and_go(repo, estimators, live_app,
                                                                                     write_version, iris_metadata,
                                                                                     setosa):
    app = live_app(repo)
    watcher = get_watcher(app)
    watcher.settle_seconds = 0
    failures: list[str] = []
    answered: set[str] = set()
    stop = threading.Event()

    def client_loop() -> None:
        client = app.test_client()
        while not stop.is_set():
            response = client.post("/v1/models/iris/predict", json={"instances": [setosa] * 3})
            body = response.get_json()
            if response.status_code != 200 or body["predictions"] != ["setosa"] * 3:
                failures.append(f"{response.status_code}: {body}")
            else:
                answered.add(body["version"])

    threads = [threading.Thread(target=client_loop) for _ in range(8)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(10):
            write_version(repo, "iris", 3, estimators["iris1"], {**iris_metadata(), "version": 3})
            watcher.scan()
            shutil.rmtree(repo / "iris" / "3")
            watcher.scan()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    assert answered == {"2", "3"}, answered


def test_training_next_to_a_running_server_is_served(repo, runner, tmp_path, live_app, apply_changes):
    """`flask train` writes a hidden staging folder and renames it: the watcher serves the result."""
    import numpy as np

    rng = np.random.default_rng(0)
    rows = ["a,b,label"] + [f"{x:.3f},{y:.3f},{'yes' if x > y else 'no'}" for x, y in rng.normal(size=(60, 2))]
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    app = live_app(repo)
    result = app.test_cli_runner().invoke(args=["train", "trained", "--data", str(tmp_path / "data.csv"),
                                                 "--target", "label"])
    assert result.exit_code == 0, result.output
    apply_changes(app)
    answer = app.test_client().post("/v1/models/trained/predict", json={"a": 1.0, "b": -1.0})
    assert answer.status_code == 200 and answer.get_json() == {"model": "trained", "version": "1",
                                                                "prediction": "yes"}


def test_loads_and_unloads_are_counted_by_result(repo, estimators, live_app, write_version, apply_changes,
                                                 iris_metadata):
    app = live_app(repo)
    client = app.test_client()
    write_version(repo, "iris", 3, estimators["iris1"], {**iris_metadata(), "version": 3})
    (repo / "iris" / "4").mkdir()
    (repo / "iris" / "4" / "model.joblib").write_bytes(b"garbage")
    apply_changes(app)
    shutil.rmtree(repo / "iris" / "1")
    get_watcher(app).scan()
    text = client.get("/metrics").get_data(as_text=True)
    for version, result in (("3", "loaded"), ("4", "failed"), ("1", "unloaded")):
        line = f'modelhost_model_loads_total{{model="iris",result="{result}",version="{version}"}}'
        assert any(sample.startswith(line) and float(sample.split()[-1]) >= 1 for sample in text.splitlines()), line
    assert 'modelhost_model_load_duration_seconds_count{model="iris",version="3"}' in text


def test_model_json_changes_are_picked_up_like_any_other(repo, live_app, apply_changes):
    app = live_app(repo)
    meta = json.loads((repo / "iris" / "2" / "model.json").read_text())
    meta["metrics"] = {"accuracy": 0.5}
    (repo / "iris" / "2" / "model.json").write_text(json.dumps(meta))
    apply_changes(app)
    assert app.test_client().get("/v1/models/iris/versions/2").get_json()["metrics"] == {"accuracy": 0.5}


def test_a_problem_of_the_repository_is_logged_once_not_at_every_poll(repo, caplog, live_app):
    (repo / "Bad Name").mkdir()
    (repo / "iris" / "draft").mkdir()
    app = live_app(repo)
    for _ in range(3):
        get_watcher(app).scan()
    messages = [r.getMessage() for r in caplog.records if r.name == "app.storage.repository"]
    assert len([m for m in messages if "Bad Name" in m]) == 1
    assert len([m for m in messages if "draft" in m and "positive whole numbers" in m]) == 1
