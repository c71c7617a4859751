"""Training: what a version directory holds, that it serves raw values, and how tasks are chosen."""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from app.core.registry import ModelRegistry
from app.core.watcher import load_all
from app.storage import publish
from app.storage.publish import PublishError, sha256_of, write_version
from app.training import train as training
from app.training.pipelines import as_matrix, choose_task

MODEL_JSON_KEYS = {"name", "version", "task", "framework", "framework_version", "estimator", "artifact",
                   "sha256", "features", "target", "metrics", "created_at", "training_data", "plots",
                   "params", "feature_importance", "feature_importance_method"}


def quiet(message: str) -> None:
    """A progress callback that prints nothing."""


def test_train_writes_a_complete_version_and_the_next_one(cli, model_repo, shop_csv, read_json, shop_frame):
    result = cli("train", "shop", "--data", str(shop_csv), "--target", "bought")
    assert result.exit_code == 0, result.output
    assert "Trained shop version 1 (LogisticRegression, classification)" in result.stdout
    assert "Fitting LogisticRegression" in result.stderr  # progress is shown while it runs

    version_dir = model_repo / "shop" / "1"
    meta = read_json(version_dir / "model.json")
    assert set(meta) >= MODEL_JSON_KEYS
    assert (meta["name"], meta["version"], meta["task"]) == ("shop", 1, "classification")
    assert meta["framework"] == "scikit-learn" and meta["estimator"] == "LogisticRegression"
    assert meta["artifact"] == "model.joblib"
    assert meta["sha256"] == sha256_of(version_dir / "model.joblib")
    assert meta["created_at"].endswith("Z")

    features = {f["name"]: f for f in meta["features"]}
    assert [f["name"] for f in meta["features"]] == ["colour", "size", "visits", "member"]
    assert features["colour"]["type"] == "string"
    assert features["colour"]["enum"] == ["blue", "green", "red"]
    assert features["colour"]["example"] in ("blue", "green", "red")
    assert features["size"]["type"] == "number"
    frame = shop_frame()
    assert features["size"]["minimum"] == pytest.approx(pd.to_numeric(frame["size"]).min())
    assert features["size"]["maximum"] == pytest.approx(pd.to_numeric(frame["size"]).max())
    assert "missing" in features["size"]["description"]
    assert features["visits"]["type"] == "integer" and isinstance(features["visits"]["example"], int)
    assert features["member"]["type"] == "boolean" and isinstance(features["member"]["example"], bool)

    assert meta["target"] == {"name": "bought", "classes": ["no", "yes"]}
    assert set(meta["metrics"]) == {"accuracy", "f1_macro", "f1"}
    assert all(0 <= v <= 1 for v in meta["metrics"].values())
    assert meta["metrics"]["accuracy"] > 0.7
    assert meta["training_data"]["file"] == "shop.csv"
    assert meta["training_data"]["sha256"] == sha256_of(shop_csv)
    assert (meta["training_data"]["rows"], meta["training_data"]["columns"]) == (80, 5)
    assert (meta["training_data"]["test_size"], meta["training_data"]["seed"]) == (0.2, 42)
    assert meta["params"]["max_iter"] == 2000
    assert meta["feature_importance_method"] == "coefficient_size"
    assert {e["feature"] for e in meta["feature_importance"]} == set(features)
    assert meta["plots"] == {"confusion_matrix": "confusion_matrix.png",
                             "feature_importance": "feature_importance.png"}
    for file_name in meta["plots"].values():
        assert (version_dir / file_name).read_bytes().startswith(b"\x89PNG")

    again = cli("train", "shop", "--data", str(shop_csv), "--target", "bought", "--seed", "1")
    assert again.exit_code == 0, again.output
    assert read_json(model_repo / "shop" / "2" / "model.json")["version"] == 2
    assert sorted(p.name for p in (model_repo / "shop").iterdir()) == ["1", "2"]  # no staging left


def test_trained_model_serves_raw_categories_through_the_registry(cli, model_repo, shop_csv):
    assert cli("train", "shop", "--data", str(shop_csv), "--target", "bought").exit_code == 0
    registry = ModelRegistry(model_repo)
    load_all(registry)
    entry = registry.get("shop")
    assert entry.status == "loaded", entry.error
    columns = {"colour": ["red", "blue", "purple"], "size": [9.0, 20.5, 10.0], "visits": [3, 4, 5],
               "member": [True, False, True]}
    predictions, probabilities = entry.ready_runtime().predict(columns, probabilities=True)
    assert predictions[:2] == ["yes", "yes"]  # red, then a large size
    assert predictions[2] in ("yes", "no")  # an unseen colour is encoded as "none of the known"
    assert all(set(p) == {"no", "yes"} and sum(p.values()) == pytest.approx(1) for p in probabilities)


def test_trained_pipeline_takes_the_array_the_server_builds(cli, model_repo, shop_csv):
    """No column names inside the artifact: requests skip pandas and the per-call name checks."""
    assert cli("train", "shop", "--data", str(shop_csv), "--target", "bought").exit_code == 0
    registry = ModelRegistry(model_repo)
    load_all(registry)
    runtime = registry.get("shop").ready_runtime()
    assert getattr(runtime.estimator, "feature_names_in_", None) is None
    frame = pd.read_csv(shop_csv).drop(columns="bought").head(20)
    columns = {name: frame[name].tolist() for name in runtime.schema.names}
    served, _ = runtime.predict(columns, probabilities=False)
    assert served == runtime.estimator.predict(as_matrix(frame[runtime.schema.names])).tolist()


def test_regression_reports_r2_mae_rmse_and_plots_predicted_vs_actual(cli, model_repo, house_csv, read_json,
                                                                      house_frame):
    result = cli("train", "house", "--data", str(house_csv), "--target", "price")
    assert result.exit_code == 0, result.output
    meta = read_json(model_repo / "house" / "1" / "model.json")
    assert (meta["task"], meta["estimator"]) == ("regression", "Ridge")
    assert set(meta["metrics"]) == {"r2", "mae", "rmse"}
    assert meta["metrics"]["r2"] > 0.9 and meta["metrics"]["mae"] > 0
    prices = house_frame()["price"]
    assert meta["target"] == {"name": "price", "minimum": prices.min(), "maximum": prices.max()}
    assert set(meta["plots"]) == {"predicted_vs_actual", "feature_importance"}
    assert (model_repo / "house" / "1" / "predicted_vs_actual.png").is_file()
    assert meta["feature_importance"][0]["feature"] == "area"


def test_training_without_matplotlib_saves_the_model_without_plots_and_says_how_to_get_them(
        cli, model_repo, house_csv, monkeypatch, read_json):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what the serving image has: no matplotlib
    result = cli("train", "house", "--data", str(house_csv), "--target", "price")
    assert result.exit_code == 0, result.output
    assert "matplotlib is not installed" in result.output and "requirements-train.txt" in result.output
    version = model_repo / "house" / "1"
    meta = read_json(version / "model.json")
    assert meta["plots"] == {} and not list(version.glob("*.png"))
    assert meta["metrics"]["r2"] > 0.9 and meta["feature_importance"][0]["feature"] == "area"


def test_gradient_boosting_falls_back_to_permutation_importance(tmp_path, house_frame):
    options = training.TrainingOptions("price", estimator="gradient_boosting")
    result = training.train(tmp_path, "house", house_frame(), options, {"file": "x"}, quiet)
    meta = result.metadata
    assert (meta["task"], meta["estimator"]) == ("regression", "HistGradientBoostingRegressor")
    assert meta["feature_importance_method"] == "permutation"
    assert [e["feature"] for e in meta["feature_importance"]][0] == "area"


@pytest.mark.parametrize("values, estimator, task, expected", [
    (["a", "b"] * 10, None, None, ("classification", "logistic_regression")),
    ([0, 1, 2] * 10, None, None, ("classification", "logistic_regression")),
    ([True, False] * 10, None, None, ("classification", "logistic_regression")),
    (list(range(30)), None, None, ("regression", "ridge")),
    ([0.5, 1.5] * 10, None, None, ("regression", "ridge")),
    ([0.5, 1.5] * 10, "random_forest", None, ("regression", "random_forest")),
    ([0, 1] * 10, "random_forest", None, ("classification", "random_forest")),
    ([0, 1] * 10, "gradient_boosting", "regression", ("regression", "gradient_boosting")),
    ([0, 1] * 10, "linear_regression", None, ("regression", "linear_regression")),
    (list(range(30)), "logistic_regression", None, ("classification", "logistic_regression")),
    (list(range(30)), None, "classification", ("classification", "logistic_regression")),
])
def test_task_and_estimator_follow_the_options_then_the_target(values, estimator, task, expected):
    assert choose_task(pd.Series(values, name="y"), estimator, task) == expected


@pytest.mark.parametrize("values, estimator, task, message", [
    ([0, 1] * 10, "ridge", "classification", "does not do classification"),
    (["a", "b"] * 10, None, "regression", "non-numeric"),
    ([0.5, 1.5] * 10, None, "classification", "continuous"),
    ([0, 1] * 10, "svm", None, "Unknown estimator"),
])
def test_impossible_task_estimator_combinations_are_refused(values, estimator, task, message):
    with pytest.raises(training.TrainingError, match=message):
        choose_task(pd.Series(values, name="y"), estimator, task)


def test_id_and_index_columns_are_not_features(tmp_path, house_frame):
    frame = house_frame().reset_index().rename(columns={"index": "id"})
    frame.insert(0, "Unnamed: 0", range(len(frame)))
    notes: list[str] = []
    result = training.train(tmp_path, "house", frame, training.TrainingOptions("price"), {}, notes.append)
    assert [f["name"] for f in result.metadata["features"]] == ["area", "district"]
    assert any("Ignoring column 'id'" in note for note in notes)


def test_a_version_taken_while_building_makes_the_trainer_use_the_next_number(tmp_path, read_json):
    model_dir = tmp_path / "race"

    def build(staging: Path) -> None:
        (staging / "model.joblib").write_text("artifact")
        (model_dir / "1").mkdir()  # another training finishes version 1 meanwhile ...
        (model_dir / "1" / "model.joblib").write_text("theirs")

    metadata: dict = {"name": "race"}
    version, path = write_version(model_dir, build, metadata)
    assert (version, path.name, metadata["version"]) == (2, "2", 2)
    assert (model_dir / "1" / "model.joblib").read_text() == "theirs"
    assert read_json(path / "model.json")["version"] == 2
    assert sorted(p.name for p in model_dir.iterdir()) == ["1", "2"]


def test_a_failure_while_writing_leaves_no_directory_behind(tmp_path):
    model_dir = tmp_path / "broken"

    def build(staging: Path) -> None:
        (staging / "model.joblib").write_text("half")
        raise OSError("No space left on device")

    with pytest.raises(PublishError, match="No space left"):
        write_version(model_dir, build, {})
    assert list(model_dir.iterdir()) == []


def test_training_is_deterministic_for_a_seed(tmp_path, shop_frame):
    options = training.TrainingOptions("bought", estimator="random_forest", seed=5)
    first = training.train(tmp_path, "shop", shop_frame(), options, {}, quiet).metadata
    second = training.train(tmp_path, "shop", shop_frame(), options, {}, quiet).metadata
    assert first["metrics"] == second["metrics"]
    assert first["feature_importance"] == second["feature_importance"]


@pytest.fixture
def disk_events(monkeypatch) -> list[tuple[str, str]]:
    """("fsync", path) and ("rename", source) in the order training does them."""
    import os

    events: list[tuple[str, str]] = []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(descriptor: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{descriptor}")))
        real_fsync(descriptor)

    def rename(source, target) -> None:
        events.append(("rename", str(source)))
        real_rename(source, target)

    monkeypatch.setattr(publish.os, "fsync", fsync)
    monkeypatch.setattr(publish.os, "rename", rename)
    return events


def test_every_file_and_the_version_are_on_disk_before_the_rename_and_the_model_directory_after(tmp_path,
                                                                                               disk_events, shop_frame):
    result = training.train(tmp_path / "models", "shop", shop_frame(), training.TrainingOptions("bought"), {},
                            quiet)
    [rename] = [i for i, (kind, _) in enumerate(disk_events) if kind == "rename"]
    staging = disk_events[rename][1]
    synced_before = {path for kind, path in disk_events[:rename] if kind == "fsync"}
    written = sorted(p.name for p in result.path.iterdir())
    assert {"model.joblib", "model.json", "confusion_matrix.png", "feature_importance.png"} <= set(written)
    assert {f"{staging}/{name}" for name in written} | {staging} <= synced_before
    assert disk_events[rename - 1] == ("fsync", staging), "the directory is synced after its last file"
    assert disk_events[rename + 1:] == [("fsync", str(tmp_path / "models" / "shop"))]
    assert str(tmp_path / "models") in synced_before, "a new model's directory is synced into the repository"


def _stale(path: Path, age_seconds: float) -> Path:
    """Make ``path`` and everything in it look last written ``age_seconds`` ago."""
    import os
    import time

    stamp = time.time() - age_seconds
    for item in [*path.rglob("*"), path]:
        os.utime(item, (stamp, stamp))
    return path


def test_training_removes_staging_folders_a_stopped_training_left_and_says_so(tmp_path, shop_frame):
    repository = tmp_path / "models"
    dead = repository / "shop" / ".training-dead"
    (dead / "plots").mkdir(parents=True)
    (dead / "model.joblib").write_bytes(b"half an artifact")
    _stale(dead, 2 * 3600)
    other_model = repository / "house" / ".training-old"  # a model this training does not touch
    other_model.mkdir(parents=True)
    _stale(other_model, 5 * 3600)
    fresh = repository / "shop" / ".training-fresh"
    fresh.mkdir()
    _stale(fresh, 60)
    writing = repository / "shop" / ".training-writing"  # old folder, but a file still being written
    writing.mkdir()
    (writing / "model.joblib").write_bytes(b"growing")
    _stale(writing, 3 * 3600)
    (writing / "model.joblib").touch()
    notes: list[str] = []
    training.train(repository, "shop", shop_frame(), training.TrainingOptions("bought"), {}, notes.append)
    assert not dead.exists() and not other_model.exists()
    assert fresh.is_dir() and writing.is_dir()
    assert sorted(p.name for p in (repository / "shop").iterdir()) == [".training-fresh", ".training-writing", "1"]
    removed = [note for note in notes if note.startswith("Removed ")]
    assert len(removed) == 2 and any(f"{dead}, left by a training that stopped 2.0 hours ago" in n for n in removed)


def test_the_cli_reports_removed_staging_folders_as_progress(cli, model_repo, shop_csv):
    dead = model_repo / "shop" / ".training-dead"
    dead.mkdir(parents=True)
    _stale(dead, 2 * 3600)
    result = cli("train", "shop", "--data", str(shop_csv), "--target", "bought")
    assert result.exit_code == 0, result.output
    assert f"Removed {dead}, left by a training that stopped" in result.stderr
    assert not dead.exists()
