"""Liveness, readiness and per-version readiness."""
from __future__ import annotations

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
