"""Loading the repository: drop-ins, every artifact format, and broken files beside good ones."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from app.core.errors import ModelNotFound
from app.core.registry import ModelRegistry
from app.core.watcher import load_all


def load(root, trusted=None) -> ModelRegistry:
    registry = ModelRegistry(root, trusted)
    load_all(registry)
    return registry


def test_highest_version_is_default_and_metadata_comes_from_model_json(repo):
    registry = load(repo)
    assert registry.model("iris").default_version == 2
    meta = registry.get("iris", "1").metadata
    assert meta["version"] == "1" and meta["status"] == "loaded"
    assert meta["target"]["classes"] == ["setosa", "versicolor", "virginica"]


def test_drop_in_without_model_json_infers_features_task_and_classes(repo):
    registry = load(repo)
    linear = registry.get("linear").metadata
    assert linear["task"] == "regression" and linear["inferred"] is True
    assert [f["name"] for f in linear["features"]] == ["x_0", "x_1", "x_2"]
    shop = registry.get("shop").metadata
    assert shop["features"] == [{"name": "colour", "type": "string", "enum": ["blue", "green", "red"]},
                                {"name": "size", "type": "number"}]
    assert shop["target"]["classes"] == [False, True]


def double(values):
    """A user function: skops does not trust it unless the operator says so."""
    return np.asarray(values) * 2


def test_skops_artifact_loads_when_its_types_are_trusted(tmp_path, estimators, write_version):
    write_version(tmp_path, "sk", 1, estimators["iris1"], artifact="model.skops")
    entry = load(tmp_path).get("sk")
    assert entry.status == "loaded", entry.error
    row = {"sepal_length": [5.0], "sepal_width": [3.4], "petal_length": [1.5], "petal_width": [0.2]}
    assert entry.ready_runtime().predict(row, False)[0] == ["setosa"]


def test_skops_with_untrusted_types_is_refused_with_a_clear_log_line(tmp_path, caplog, write_version):
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    pipe = make_pipeline(FunctionTransformer(double), LinearRegression()).fit([[1.0], [2.0], [3.0]], [1, 2, 3])
    write_version(tmp_path, "risky", 1, pipe, artifact="model.skops")
    with caplog.at_level(logging.ERROR, logger="app.core.registry"):
        registry = load(tmp_path)
    entry = registry.get("risky")
    assert entry.status == "failed" and "SKOPS_TRUSTED_TYPES" in entry.error
    assert "tests.core.test_registry.double" in caplog.text
    trusted = load(tmp_path, trusted=["tests.core.test_registry.double"]).get("risky")
    assert trusted.status == "loaded", trusted.error
    assert trusted.ready_runtime().predict({"x_0": [4.0]}, False)[0] == [pytest.approx(4.0)]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "sha256"])
def test_broken_artifact_fails_alone(repo, damage):
    artifact = repo / "iris" / "2" / "model.joblib"
    if damage == "truncate":
        artifact.write_bytes(artifact.read_bytes()[:100])
    elif damage == "garbage":
        artifact.write_text("this is not a model")
    else:
        meta = json.loads((repo / "iris" / "2" / "model.json").read_text())
        meta["sha256"] = "0" * 64
        (repo / "iris" / "2" / "model.json").write_text(json.dumps(meta))
    registry = load(repo)
    assert registry.get("iris", 2).status == "failed"
    failed = registry.get("iris", 2).metadata  # model.json still describes the broken version
    assert (failed["task"], failed["version"], failed["status"]) == ("classification", "2", "failed")
    assert failed["error"] == registry.get("iris", 2).error
    assert registry.get("iris", 1).status == "loaded"
    assert registry.get("linear").status == "loaded"
    assert registry.model("iris").status == "degraded"
    assert not registry.all_ready()
    if damage == "sha256":
        assert "sha256" in registry.get("iris", 2).error


def test_artifact_linked_from_outside_the_repository_is_refused(tmp_path, estimators, write_version):
    outside = write_version(tmp_path / "elsewhere", "x", 1, estimators["linear"])
    root = tmp_path / "models"
    (root / "linked" / "1").mkdir(parents=True)
    (root / "linked" / "1" / "model.joblib").symlink_to(outside / "model.joblib")
    entry = load(root).get("linked")
    assert entry.status == "failed" and "outside the model repository" in entry.error


def test_invalid_names_and_versions_are_skipped(tmp_path, estimators, write_version):
    write_version(tmp_path, "Bad Name", 1, estimators["linear"])
    (tmp_path / "good" / "draft").mkdir(parents=True)
    write_version(tmp_path, "good", 3, estimators["linear"])
    registry = load(tmp_path)
    assert [m.name for m in registry.models()] == ["good"]
    assert list(registry.model("good").versions) == [3]


def test_missing_repository_serves_nothing_and_unknown_model_is_not_found(tmp_path):
    registry = load(tmp_path / "absent")
    assert registry.models() == [] and registry.all_ready()
    with pytest.raises(ModelNotFound):
        registry.get("iris")


@pytest.mark.parametrize("features", [
    [{"type": "number"}],                      # a feature without a name
    [1, 2, 3],                                 # features that are not objects
    "sepal_length",                            # not a list at all
    [{"name": "a", "type": "decimal"}],        # an unknown type
    [{"name": "a"}, {"name": "a"}],            # the same name twice
    [{"name": "a", "minimum": "low"}],         # a range that is not a number
])
def test_malformed_model_json_fails_that_version_only(repo, features):
    directory = repo / "iris" / "2"
    meta = json.loads((directory / "model.json").read_text())
    (directory / "model.json").write_text(json.dumps({**meta, "features": features}))
    registry = load(repo)
    failed = registry.get("iris", "2")
    assert failed.status == "failed" and "model.json does not have the shape modelhost reads" in failed.error
    assert "features" in failed.error
    assert registry.get("iris", "1").status == "loaded" and registry.get("shop").status == "loaded"
    assert registry.model("iris").default_version == 1


@pytest.mark.parametrize("text", ["[]", "null", '{"task": "classification"}', '{"features": 3}', "{bad json"])
def test_model_json_of_the_wrong_shape_is_a_load_error_not_a_crash(repo, text):
    (repo / "iris" / "2" / "model.json").write_text(text)
    from app import create_app

    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo)}).test_client()
    ready = client.get("/health/ready")
    assert ready.status_code == 200  # version 1 answers for iris
    assert [m["status"] for m in ready.get_json()["models"] if m["name"] == "iris"] == ["degraded"]
    assert client.get("/v1/models/iris/versions/2").get_json()["status"] == "failed"
    # Pages of the failed version render from what could be read, not from the broken file.
    assert client.get("/ui/models/iris/versions/2/card").status_code == 200
    assert client.post("/v1/models/iris/predict", json=dict.fromkeys(
        ["sepal_length", "sepal_width", "petal_length", "petal_width"], 1.0)).status_code == 200


def test_unexpected_exception_while_loading_fails_that_version_only(repo, monkeypatch, caplog):
    import app.core.registry

    real = app.core.registry.open_version

    def explode(repository, path, name, version, trusted):
        if name == "linear":
            raise MemoryError("out of memory while unpickling")
        return real(repository, path, name, version, trusted)

    monkeypatch.setattr(app.core.registry, "open_version", explode)
    registry = load(repo)
    assert registry.get("linear").status == "failed"
    assert "MemoryError" in registry.get("linear").error
    assert registry.get("iris").status == "loaded"


def test_model_json_linking_outside_the_repository_is_refused(repo, tmp_path):
    outside = tmp_path / "elsewhere.json"
    outside.write_text((repo / "iris" / "2" / "model.json").read_text())
    (repo / "iris" / "2" / "model.json").unlink()
    (repo / "iris" / "2" / "model.json").symlink_to(outside)
    entry = load(repo).get("iris", "2")
    assert entry.status == "failed" and "resolves outside the model repository" in entry.error
    assert entry.recorded == {}


def test_plots_are_served_only_from_inside_the_repository(repo, tmp_path):
    from app import create_app

    secret = tmp_path / "secret.txt"
    secret.write_text("password=hunter2")
    directory = repo / "iris" / "1"
    meta = json.loads((directory / "model.json").read_text())
    meta["plots"] = {"confusion_matrix": "confusion_matrix.png", "leak": "leak.png"}
    (directory / "model.json").write_text(json.dumps(meta))
    (directory / "confusion_matrix.png").write_bytes(b"\x89PNG\r\n\x1a\nimage")
    (directory / "leak.png").symlink_to(secret)
    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo)}).test_client()
    good = client.get("/ui/models/iris/versions/1/plots/confusion_matrix.png")
    assert good.status_code == 200 and good.mimetype == "image/png" and good.data.startswith(b"\x89PNG")
    leak = client.get("/ui/models/iris/versions/1/plots/leak.png")
    assert leak.status_code == 404 and b"hunter2" not in leak.data
    assert client.get("/ui/models/iris/versions/1/plots/missing.png").status_code == 404


def test_public_answers_show_paths_relative_to_the_repository(repo):
    from app import create_app

    (repo / "iris" / "2" / "model.json").write_text("{bad json")
    (repo / "linear" / "1" / "model.pkl").write_bytes(b"not a pickle")
    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo)}).test_client()
    answers = [client.get("/health/ready").get_data(as_text=True),
               client.get("/v1/models/iris/versions/2").get_data(as_text=True),
               client.get("/v1/models/linear").get_data(as_text=True),
               client.post("/v1/models/linear/predict", json={"x_0": 1, "x_1": 2, "x_2": 3}).get_data(as_text=True)]
    for answer in answers:
        assert str(repo) not in answer and str(repo.resolve()) not in answer
    assert "iris/2/model.json is not valid JSON" in answers[1]


@pytest.mark.parametrize("version", ["²", "٣", "1" * 5000, "0", "01", "-1", "1.0"])
def test_versions_that_are_not_plain_positive_numbers_are_404(client, version):
    for path in (f"/v1/models/iris/versions/{version}", f"/v1/models/iris/versions/{version}/ready"):
        answer = client.get(path)
        assert answer.status_code == 404 and answer.mimetype == "application/problem+json", path
        assert len(answer.get_json()["detail"]) < 300
    predict = client.post(f"/v1/models/iris/versions/{version}/predict", json={})
    assert predict.status_code == 404
    page = client.get(f"/ui/models/iris/versions/{version}")
    assert page.status_code == 404 and page.mimetype == "text/html"


def test_a_long_unknown_model_name_is_a_short_404(client):
    answer = client.get("/v1/models/" + "a" * 5000)
    assert answer.status_code == 404 and len(answer.get_json()["detail"]) < 300


def test_a_model_folder_that_cannot_be_listed_does_not_stop_the_others(repo, monkeypatch):
    import os

    real = os.scandir

    def scandir(path):
        if os.path.basename(path) == "linear":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    registry = load(repo)
    assert [m.name for m in registry.models()] == ["iris", "shop"]
