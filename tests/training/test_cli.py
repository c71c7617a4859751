"""The CLI: one-line errors that leave nothing behind, the models table, and the demo models."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app import create_app
from app.core.registry import ModelRegistry
from app.core.watcher import load_all
from app.training import demo


@pytest.fixture
def data_files(tmp_path: Path, shop_frame, write_csv) -> dict[str, Path]:
    """Bad and good CSV files by name; "nope" does not exist and "folder" is a directory."""
    shop = shop_frame()
    files = {
        "shop": write_csv(tmp_path / "shop.csv", shop),
        "one_class": write_csv(tmp_path / "one.csv", shop.assign(bought="yes")),
        "few_rows": write_csv(tmp_path / "few.csv", shop.head(6)),
        "target_only": write_csv(tmp_path / "target.csv", shop[["bought"]]),
        "decimals": write_csv(tmp_path / "decimals.csv", shop.assign(bought=shop["size"].fillna(1) + 0.5)),
        "nope": tmp_path / "nope.csv",
        "folder": tmp_path,
    }
    files["empty"] = tmp_path / "empty.csv"
    files["empty"].write_text("")
    files["header_only"] = tmp_path / "header.csv"
    files["header_only"].write_text("colour,size,bought\n")
    files["binary"] = tmp_path / "binary.csv"
    files["binary"].write_bytes(b"\xff\xfe\x00\x81 not text \x00\x9c\n" * 20)
    return files


#: Each bad input: the data file, the other train arguments, and a phrase the error must contain.
BAD_INPUTS = {
    "missing file": ("nope", ["--target", "y"], "does not exist"),
    "directory": ("folder", ["--target", "y"], "is not a file"),
    "empty file": ("empty", ["--target", "y"], "is empty"),
    "header only": ("header_only", ["--target", "bought"], "no data rows"),
    "not text": ("binary", ["--target", "y"], "UTF-8"),
    "missing target": ("shop", ["--target", "price"], "its columns are: colour, size, visits, member, bought"),
    "single class": ("one_class", ["--target", "bought"], "single value 'yes'"),
    "text target for regression": ("shop", ["--target", "bought", "--task", "regression"], "non-numeric"),
    "continuous target for classification": ("decimals", ["--target", "bought", "--task", "classification"],
                                             "continuous"),
    "too few rows": ("few_rows", ["--target", "bought"], "at least 10"),
    "no features": ("target_only", ["--target", "bought"], "no feature columns"),
    "estimator for another task": ("shop", ["--target", "bought", "--estimator", "ridge", "--task",
                                            "classification"], "does not do classification"),
    "unknown estimator": ("shop", ["--target", "bought", "--estimator", "svm"], "'svm' is not one of"),
    "split too small": ("shop", ["--target", "bought", "--test-size", "0.01"], "--test-size"),
    "test size out of range": ("shop", ["--target", "bought", "--test-size", "1.5"], "0<x<1"),
    "drop unknown column": ("shop", ["--target", "bought", "--drop", "nope"], "Cannot drop nope"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_ends_in_one_error_line_and_writes_nothing(case, cli, model_repo, data_files):
    data, args, phrase = BAD_INPUTS[case]
    path = data_files[data]
    (model_repo / "shop").mkdir(parents=True)
    result = cli("train", "shop", "--data", str(path), *args)
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit)  # handled, not a crash
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and phrase in errors[0], result.output
    assert list((model_repo / "shop").iterdir()) == []


def test_invalid_model_name_is_refused_before_reading_the_data(cli, model_repo, shop_csv):
    result = cli("train", "Bad Name!", "--data", str(shop_csv), "--target", "bought")
    assert result.exit_code == 2
    assert "not a valid model name" in result.output
    assert not model_repo.exists()


def test_models_lists_every_version_with_status_and_metrics(cli, model_repo, shop_csv, house_csv):
    assert cli("train", "shop", "--data", str(shop_csv), "--target", "bought").exit_code == 0
    assert cli("train", "shop", "--data", str(shop_csv), "--target", "bought").exit_code == 0
    assert cli("train", "house", "--data", str(house_csv), "--target", "price").exit_code == 0
    (model_repo / "shop" / "3").mkdir()
    (model_repo / "shop" / "3" / "model.joblib").write_bytes(b"not a model")

    result = cli("models")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["MODEL", "VERSION", "TASK", "ESTIMATOR", "STATUS", "METRICS"]
    house = next(line for line in lines if line.startswith("house"))
    assert house.split()[:5] == ["house", "1*", "regression", "Ridge", "loaded"]
    assert "r2 " in house and "mae " in house
    shop = [line.split(maxsplit=5) for line in lines if line.startswith("shop")]
    # The default (*) is the highest version that loaded, not the broken version 3.
    assert [row[1] for row in shop] == ["1", "2*", "3"]
    assert shop[0][4] == "loaded" and shop[0][5].startswith("accuracy ")
    assert "failed" in shop[2] and "error: cannot read model.joblib" in shop[2][-1]
    # The table is aligned: each column starts where its heading does.
    for line in lines[1:4]:
        assert line[lines[0].index("VERSION"):].split()[0] in ("1", "1*", "2*")
        assert line[lines[0].index("STATUS"):].split()[0] == "loaded"


def test_models_on_an_empty_repository_says_how_to_add_one(cli):
    result = cli("models")
    assert result.exit_code == 0
    assert "No models in" in result.output
    assert "flask --app app train-demo" in result.output and "train NAME --data" in result.output


@pytest.fixture(scope="session")
def demo_repo(tmp_path_factory) -> Path:
    """The demo models, trained once for the whole session (takes a few seconds)."""
    root = tmp_path_factory.mktemp("demo") / "models"
    app = create_app({"TESTING": True, "MODEL_REPOSITORY": str(root)})
    result = app.test_cli_runner().invoke(args=["train-demo"])
    assert result.exit_code == 0, result.output
    return root


def test_train_demo_writes_the_three_models_with_their_names_and_labels(demo_repo, read_json):
    iris = read_json(demo_repo / "iris" / "1" / "model.json")
    assert [f["name"] for f in iris["features"]] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert iris["target"] == {"name": "species", "classes": ["setosa", "versicolor", "virginica"]}
    assert iris["estimator"] == "LogisticRegression" and iris["metrics"]["accuracy"] > 0.9
    assert iris["features"][0]["description"] == "Sepal length in cm; 4.3 to 7.9 in training data"

    cancer = read_json(demo_repo / "breast_cancer" / "1" / "model.json")
    names = [f["name"] for f in cancer["features"]]
    assert len(names) == 30 and names[0] == "mean_radius" and names[-1] == "worst_fractal_dimension"
    assert cancer["target"]["classes"] == ["benign", "malignant"]
    assert cancer["estimator"] == "RandomForestClassifier" and cancer["metrics"]["f1"] > 0.9
    assert cancer["feature_importance_method"] == "impurity_decrease"

    diabetes = read_json(demo_repo / "diabetes" / "1" / "model.json")
    assert [f["name"] for f in diabetes["features"]] == ["age", "sex", "bmi", "bp"] + [f"s{i}" for i in range(1, 7)]
    assert diabetes["target"]["name"] == "progression" and diabetes["task"] == "regression"
    assert diabetes["features"][0]["type"] == "integer"
    assert diabetes["training_data"]["file"] == "sklearn.datasets.load_diabetes(scaled=False)"
    for meta in (iris, cancer, diabetes):
        assert meta["training_data"]["seed"] == demo.DEMO_SEED
        assert all((demo_repo / meta["name"] / "1" / f).is_file() for f in meta["plots"].values())


def test_demo_models_give_the_documented_predictions(demo_repo):
    registry = ModelRegistry(demo_repo)
    load_all(registry)
    iris = registry.get("iris").ready_runtime()
    rows = {"sepal_length": [5.1, 6.7], "sepal_width": [3.5, 3.0], "petal_length": [1.4, 5.2],
            "petal_width": [0.2, 2.3]}
    labels, probabilities = iris.predict(rows, True)
    assert labels == ["setosa", "virginica"]
    assert probabilities[0]["setosa"] == pytest.approx(0.9808, abs=1e-3)
    assert probabilities[1]["virginica"] == pytest.approx(0.9565, abs=1e-3)

    cancer_demo, diabetes_demo = demo.load_demo("breast_cancer"), demo.load_demo("diabetes")
    first = cancer_demo.frame.drop(columns="diagnosis").head(1)
    cancer = registry.get("breast_cancer").ready_runtime()
    labels, probabilities = cancer.predict({c: first[c].tolist() for c in first}, True)
    assert labels == ["malignant"] and probabilities[0]["malignant"] == pytest.approx(0.95)

    first = diabetes_demo.frame.drop(columns="progression").head(1)
    assert first.iloc[0].tolist()[:4] == [59, 2, 32.1, 101]
    predicted = registry.get("diabetes").ready_runtime().predict({c: first[c].tolist() for c in first}, False)[0]
    assert predicted == [pytest.approx(209.9008, abs=1e-3)]


def test_train_demo_skips_existing_models_unless_forced(demo_repo, tmp_path, monkeypatch, read_json):
    root = tmp_path / "models"
    shutil.copytree(demo_repo, root)
    app = create_app({"TESTING": True, "MODEL_REPOSITORY": str(root)})
    skipped = app.test_cli_runner().invoke(args=["train-demo"])
    assert skipped.exit_code == 0
    assert skipped.stdout.count("Skipping") == 3 and "--force" in skipped.stdout
    assert not (root / "iris" / "2").exists()

    monkeypatch.setattr(demo, "DEMOS", {"iris": demo.DEMOS["iris"]})  # keep the forced run short
    forced = app.test_cli_runner().invoke(args=["train-demo", "--force"])
    assert forced.exit_code == 0, forced.output
    assert "Trained iris version 2" in forced.stdout
    first, second = (read_json(root / "iris" / v / "model.json") for v in ("1", "2"))
    assert first["metrics"] == second["metrics"] and first["sha256"] == second["sha256"]


def test_estimator_choices_are_the_estimators_training_knows():
    from app.training.cli import ESTIMATOR_NAMES
    from app.training.pipelines import ESTIMATORS

    assert tuple(ESTIMATORS) == ESTIMATOR_NAMES
