"""GET /v1/repository and POST /v1/repository/reload: state, process counts, admin token, every process."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from app.extensions import get_watcher

ADMIN = {"Authorization": "Bearer admin-secret"}


def iris_state(client, headers=None) -> dict:
    body = client.get("/v1/repository", headers=headers or {}).get_json()
    return next(m for m in body["models"] if m["name"] == "iris")


def test_the_listing_names_every_version_with_its_state_timing_and_routing(repo, live_app):
    (repo / "iris" / "serving.json").write_text(json.dumps({"labels": {"stable": 1},
                                                            "canary": {"version": 1, "percent": 5}}))
    client = live_app(repo).test_client()
    body = client.get("/v1/repository").get_json()
    assert body["repository_poll_seconds"] == 0 and body["processes"] == 1 and body["last_scan"].endswith("Z")
    assert [m["name"] for m in body["models"]] == ["iris", "linear", "shop"]
    iris = body["models"][0]
    assert iris["default_version"] == "2" and iris["labels"] == {"stable": "1"}
    assert iris["canary"] == {"version": "1", "percent": 5.0}
    assert iris["serving_file"]["present"] is True and iris["serving_file"]["error"] is None
    one = iris["versions"][0]
    assert (one["version"], one["state"], one["error"]) == ("1", "loaded", None)
    assert one["loaded_at"].endswith("Z") and 0 < one["load_seconds"] < 60 and len(one["sha256"]) == 64
    assert one["processes"] == {"loaded": 1, "failed": 0, "loading": 0}


def test_reload_needs_the_admin_token_and_is_refused_without_one_configured(repo, live_app, setosa):
    off = live_app(repo).test_client()
    refused = off.post("/v1/repository/reload", headers=ADMIN)
    assert refused.status_code == 403 and "MODELHOST_ADMIN_TOKEN" in refused.get_json()["detail"]
    on = live_app(repo, ADMIN_TOKEN="admin-secret", API_TOKEN="api-secret").test_client()
    missing = on.post("/v1/repository/reload")
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert on.post("/v1/repository/reload", headers={"Authorization": "Bearer wrong"}).status_code == 401
    api_token = on.post("/v1/repository/reload", headers={"Authorization": "Bearer api-secret"})
    assert api_token.status_code == 403 and "admin token" in api_token.get_json()["detail"]
    assert on.post("/v1/repository/reload", headers=ADMIN).status_code == 200
    # The admin token reads everything the API token reads; the listing needs one of them.
    assert on.get("/v1/repository").status_code == 401
    assert on.get("/v1/repository", headers=ADMIN).status_code == 200
    assert on.post("/v1/models/iris/predict", json=setosa, headers=ADMIN).status_code == 200
    assert on.get("/v1/repository", headers={"Authorization": "Bearer api-secret"}).status_code == 200


def test_reload_loads_what_was_copied_in_without_waiting_for_a_poll(repo, estimators, live_app, write_version,
                                                                    default_version, iris_metadata):
    app = live_app(repo, ADMIN_TOKEN="admin-secret")
    client = app.test_client()
    write_version(repo, "iris", 3, estimators["iris1"], {**iris_metadata(), "version": 3})
    started = time.monotonic()
    answer = client.post("/v1/repository/reload", headers=ADMIN)
    assert answer.status_code == 200
    assert time.monotonic() - started < 10
    [three] = [v for m in answer.get_json()["models"] if m["name"] == "iris" for v in m["versions"]
               if v["version"] == "3"]
    assert three["state"] == "loaded" and three["processes"]["loaded"] == 1
    assert default_version(client) == "3"


def test_every_process_counts_and_a_reload_reaches_them_all(repo, estimators, tmp_path, live_app, write_version,
                                                            default_version, iris_metadata):
    state = tmp_path / "state"
    state.mkdir()
    first = live_app(repo, STATE_DIR=str(state), ADMIN_TOKEN="admin-secret")
    second = live_app(repo, STATE_DIR=str(state), ADMIN_TOKEN="admin-secret")  # another process's copy
    assert iris_state(first.test_client())["versions"][1]["processes"] == {"loaded": 2, "failed": 0, "loading": 0}
    assert first.test_client().get("/v1/repository").get_json()["processes"] == 2
    write_version(repo, "iris", 3, estimators["iris1"], {**iris_metadata(), "version": 3})
    answer = first.test_client().post("/v1/repository/reload", headers=ADMIN)
    # The answer comes once every process applied the rescan: the second application's watcher
    # thread (it does not poll) picked the request up on its own.
    assert answer.status_code == 200
    [three] = [v for m in answer.get_json()["models"] if m["name"] == "iris" for v in m["versions"]
               if v["version"] == "3"]
    assert three["processes"] == {"loaded": 2, "failed": 0, "loading": 0}
    assert default_version(second.test_client()) == "3"


def test_a_process_that_died_is_not_counted(repo, tmp_path, live_app):
    state = tmp_path / "state"
    state.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = state / f"process-{dead.stdout.strip()}-0000.json"
    stale.write_text(json.dumps({"pid": int(dead.stdout), "id": "x", "versions": {"iris": {"2": "loaded"}}}))
    client = live_app(repo, STATE_DIR=str(state)).test_client()
    assert client.get("/v1/repository").get_json()["processes"] == 1
    assert not stale.exists()


def test_a_new_process_serves_the_current_state_not_the_start_up_state(repo, estimators, live_app, write_version,
                                                                       default_version, iris_metadata):
    app = live_app(repo)
    write_version(repo, "iris", 3, estimators["iris1"], {**iris_metadata(), "version": 3})
    (repo / "iris" / "serving.json").write_text('{"default": 1}')
    restarted = live_app(repo)  # e.g. a daemon process replaced after MAXIMUM_REQUESTS
    assert default_version(restarted.test_client()) == "1"
    assert "3" in restarted.test_client().get("/v1/models/iris").get_json()["versions"]
    assert default_version(app.test_client()) == "2"  # the old one has not scanned yet


def test_a_version_being_loaded_is_listed_and_answers_503_with_retry_after(repo, live_app, setosa):
    app = live_app(repo)
    registry = app.extensions["modelhost.registry"]
    registry.loading[("iris", 3)] = time.time()
    client = app.test_client()
    answer = client.post("/v1/models/iris/versions/3/predict", json=setosa)
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
    assert "loading" in answer.get_json()["detail"]
    assert iris_state(client)["versions"][-1]["state"] == "loading"


@pytest.mark.parametrize("value", ["-1", "soon", "nan", "1e9"])
def test_the_poll_interval_is_checked_at_start(repo, value, monkeypatch):
    from app import create_app

    monkeypatch.setenv("MODELHOST_REPOSITORY_POLL_SECONDS", value)
    monkeypatch.setenv("MODELHOST_MODEL_REPOSITORY", str(repo))
    with pytest.raises(ValueError, match="REPOSITORY_POLL_SECONDS must be a number of seconds"):
        create_app()


def test_the_watcher_thread_polls_on_its_own(repo, estimators, live_app, write_version, default_version, iris_metadata):
    app = live_app(repo, REPOSITORY_POLL_SECONDS=0.1)
    get_watcher(app).settle_seconds = 0.1
    write_version(repo, "iris", 3, estimators["iris1"], {**iris_metadata(), "version": 3})
    deadline = time.monotonic() + 10
    while default_version(app.test_client()) != "3":
        assert time.monotonic() < deadline, "the watcher thread did not pick the new version up"
        time.sleep(0.05)
