"""Liveness, readiness and per-version readiness."""
from __future__ import annotations

import shutil

from app import create_app


def test_live(client):
    response = client.get("/health/live")
    assert response.status_code == 200 and response.get_json() == {"status": "live"}


def test_ready_names_every_model(client):
    body = client.get("/health/ready").get_json()
    assert body["status"] == "ready"
    assert {m["name"]: m["status"] for m in body["models"]} == {"iris": "ready", "linear": "ready", "shop": "ready"}


def test_ready_is_503_with_detail_while_a_model_is_broken(repo):
    (repo / "linear" / "1" / "model.pkl").write_bytes(b"\x80\x04broken")
    response = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo)}).test_client().get("/health/ready")
    assert response.status_code == 503 and response.mimetype == "application/json"
    models = {m["name"]: m for m in response.get_json()["models"]}
    assert models["linear"]["status"] == "failed" and "model.pkl" in models["linear"]["versions"][0]["error"]
    assert models["iris"]["status"] == "ready"


def test_version_ready(client):
    assert client.get("/v1/models/iris/versions/1/ready").get_json() == {"ready": True}


def test_model_listing_and_metadata(client):
    models = client.get("/v1/models").get_json()["models"]
    assert models[0] == {"name": "iris", "task": "classification", "versions": ["1", "2"],
                         "default_version": "2", "status": "ready"}
    meta = client.get("/v1/models/iris").get_json()
    assert meta["version"] == "2" and meta["versions"] == ["1", "2"]
    assert [f["name"] for f in meta["features"]][0] == "sepal_length"
    assert client.get("/v1/models/iris/versions/1").get_json()["version"] == "1"


def copy_in_a_broken_model(repo, name: str = "leak", version: int = 1) -> None:
    """A version (of a new model) that cannot be read as a model."""
    (repo / name / str(version)).mkdir(parents=True)
    (repo / name / str(version) / "model.pkl").write_bytes(b"\x80\x04broken")


def test_a_broken_model_copied_in_at_run_time_is_failed_everywhere_but_leaves_the_server_ready(repo, live_app,
                                                                                               apply_changes, setosa):
    app = live_app(repo)
    client = app.test_client()
    copy_in_a_broken_model(repo)
    apply_changes(app)
    for path in ("/health/ready", "/v2/health/ready"):
        assert client.get(path).status_code == 200, path
    models = {m["name"]: m for m in client.get("/health/ready").get_json()["models"]}
    assert models["leak"]["status"] == "failed" and "model.pkl" in models["leak"]["versions"][0]["error"]
    assert {m["name"]: m["status"] for m in client.get("/v1/models").get_json()["models"]}["leak"] == "failed"
    [leak] = [m for m in client.get("/v1/repository").get_json()["models"] if m["name"] == "leak"]
    assert leak["versions"][0]["state"] == "failed"
    assert client.post("/v1/models/leak/predict", json={"x_0": 1}).status_code == 503
    assert client.post("/v1/models/iris/predict", json=setosa).status_code == 200
    # Once it loads, it counts like every model that serves.
    shutil.copy(repo / "linear" / "1" / "model.pkl", repo / "leak" / "1" / "model.pkl")
    apply_changes(app)
    assert client.post("/v1/models/leak/predict", json={"x_0": 1, "x_1": 2, "x_2": 3}).status_code == 200
    shutil.rmtree(repo / "leak" / "1")
    copy_in_a_broken_model(repo, "leak", 2)
    apply_changes(app)
    assert client.get("/health/ready").status_code == 503, "a model that was serving and serves no more"


def test_at_start_every_model_must_load(repo, live_app):
    copy_in_a_broken_model(repo)
    response = live_app(repo).test_client().get("/health/ready")
    assert response.status_code == 503
    assert {m["name"]: m["status"] for m in response.get_json()["models"]}["leak"] == "failed"


def test_a_server_that_starts_unready_becomes_ready_once_the_broken_model_is_fixed_or_removed(repo, live_app,
                                                                                              apply_changes):
    copy_in_a_broken_model(repo)
    app = live_app(repo)
    client = app.test_client()
    assert client.get("/health/ready").status_code == 503
    shutil.rmtree(repo / "leak")
    apply_changes(app)
    assert client.get("/health/ready").status_code == 200
    copy_in_a_broken_model(repo)
    apply_changes(app)
    assert client.get("/health/ready").status_code == 200, "after the start, a new broken model is not a reason"


def test_a_process_joining_the_running_server_judges_readiness_like_its_neighbours(repo, tmp_path, live_app,
                                                                                   apply_changes):
    state = tmp_path / "state"
    state.mkdir()
    running = live_app(repo, STATE_DIR=str(state))
    copy_in_a_broken_model(repo)
    apply_changes(running)
    assert running.test_client().get("/health/ready").status_code == 200
    joined = live_app(repo, STATE_DIR=str(state))  # a daemon process recycled, or one more started
    ready = joined.test_client().get("/health/ready")
    assert ready.status_code == 200
    assert {m["name"]: m["status"] for m in ready.get_json()["models"]}["leak"] == "failed"
    # A server of its own (a new replica) applies the start-up rule.
    assert live_app(repo).test_client().get("/health/ready").status_code == 503
