"""Loading the repository: drop-ins, every artifact format, and broken files beside good ones."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from app.errors import ModelNotFound
from app.registry import ModelRegistry
from tests.conftest import write_version


def load(root, trusted=None) -> ModelRegistry:
    registry = ModelRegistry(root, trusted)
    registry.load()
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


def test_skops_artifact_loads_when_its_types_are_trusted(tmp_path, estimators):
    write_version(tmp_path, "sk", 1, estimators["iris1"], artifact="model.skops")
    entry = load(tmp_path).get("sk")
    assert entry.status == "loaded", entry.error
    row = {"sepal_length": [5.0], "sepal_width": [3.4], "petal_length": [1.5], "petal_width": [0.2]}
    assert entry.ready_runtime().predict(row, False)[0] == ["setosa"]


def test_skops_with_untrusted_types_is_refused_with_a_clear_log_line(tmp_path, caplog):
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    pipe = make_pipeline(FunctionTransformer(double), LinearRegression()).fit([[1.0], [2.0], [3.0]], [1, 2, 3])
    write_version(tmp_path, "risky", 1, pipe, artifact="model.skops")
    with caplog.at_level(logging.ERROR, logger="app.registry"):
        registry = load(tmp_path)
    entry = registry.get("risky")
    assert entry.status == "failed" and "SKOPS_TRUSTED_TYPES" in entry.error
    assert "tests.test_registry.double" in caplog.text
    trusted = load(tmp_path, trusted=["tests.test_registry.double"]).get("risky")
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


def test_artifact_linked_from_outside_the_repository_is_refused(tmp_path, estimators):
    outside = write_version(tmp_path / "elsewhere", "x", 1, estimators["linear"])
    root = tmp_path / "models"
    (root / "linked" / "1").mkdir(parents=True)
    (root / "linked" / "1" / "model.joblib").symlink_to(outside / "model.joblib")
    entry = load(root).get("linked")
    assert entry.status == "failed" and "outside the model repository" in entry.error


def test_invalid_names_and_versions_are_skipped(tmp_path, estimators):
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
