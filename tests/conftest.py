"""Fixtures: an application over a model repository of tiny real estimators in tmp_path.

The example rows and the helpers below reach the test modules as fixtures (``setosa``,
``write_version``, ``live_app``...), not as imports: no test module imports another.
"""
from __future__ import annotations

import json
import pickle
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from app import create_app
from app.storage.publish import sha256_of

IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
#: Seconds the watcher of live_app() wants files unchanged before it loads them.
SETTLE = 0.05


def problem(response, status: int, *fragments: str) -> dict:
    """The problem document of a response with this status, whose detail holds every fragment."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    for fragment in fragments:
        assert fragment in body["detail"], body["detail"]
    return body


def setosa_row() -> dict:
    """An iris row of the setosa class, by feature name, as a new dict at each call."""
    return {"sepal_length": 5.0, "sepal_width": 3.4, "petal_length": 1.5, "petal_width": 0.2}


def iris_like() -> tuple[pd.DataFrame, np.ndarray]:
    """Twenty rows around each iris class's centre, and their labels."""
    rng = np.random.default_rng(0)
    centers = {"setosa": [5.0, 3.4, 1.5, 0.2], "versicolor": [5.9, 2.8, 4.3, 1.3], "virginica": [6.6, 3.0, 5.5, 2.0]}
    rows, labels = [], []
    for label, center in centers.items():
        rows.append(rng.normal(center, 0.15, size=(20, 4)))
        labels += [label] * 20
    return pd.DataFrame(np.vstack(rows), columns=IRIS_FEATURES), np.array(labels)


def write_version(repo: Path, name: str, version: int, estimator, metadata: dict | None = None,
                  artifact: str = "model.joblib") -> Path:
    """Save an estimator (and optional model.json) as <repo>/<name>/<version>/."""
    directory = repo / name / str(version)
    directory.mkdir(parents=True)
    path = directory / artifact
    if artifact.endswith(".pkl"):
        path.write_bytes(pickle.dumps(estimator))
    elif artifact.endswith(".skops"):
        import skops.io as sio

        sio.dump(estimator, path)
    else:
        joblib.dump(estimator, path)
    if metadata is not None:
        metadata = {**metadata, "artifact": artifact, "sha256": sha256_of(path)}
        (directory / "model.json").write_text(json.dumps(metadata))
    return directory


def iris_metadata() -> dict:
    features = [{"name": n, "type": "number", "minimum": 0.0, "maximum": 8.0} for n in IRIS_FEATURES]
    return {"name": "iris", "version": 1, "task": "classification", "framework": "scikit-learn",
            "framework_version": "test", "features": features,
            "target": {"name": "species", "classes": ["setosa", "versicolor", "virginica"]},
            "metrics": {"accuracy": 1.0}, "created_at": "2026-01-01T00:00:00Z"}


@pytest.fixture(scope="session")
def estimators() -> dict:
    """Tiny real estimators, fitted once per test session."""
    X, y = iris_like()
    rng = np.random.default_rng(1)
    Xr = rng.normal(size=(40, 3))
    frame = pd.DataFrame({"colour": ["red", "blue", "green", "red"] * 10, "size": np.arange(40, dtype=float)})
    pipe = Pipeline([("prep", ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["colour"])],
                                                remainder="passthrough")),
                     ("clf", LogisticRegression(max_iter=500))])
    return {
        "iris1": LogisticRegression(max_iter=500).fit(X, y),
        "iris2": LogisticRegression(max_iter=500, C=0.5).fit(X, y),
        "linear": LinearRegression().fit(Xr, Xr @ [1.0, 2.0, -1.0] + 0.5),
        "shop": pipe.fit(frame, frame["size"] > 20),
    }


@pytest.fixture
def repo(tmp_path: Path, estimators: dict) -> Path:
    """A repository with iris (two versions, model.json), a dropped-in regressor and a categorical pipeline."""
    root = tmp_path / "models"
    write_version(root, "iris", 1, estimators["iris1"], iris_metadata())
    write_version(root, "iris", 2, estimators["iris2"], {**iris_metadata(), "version": 2})
    write_version(root, "linear", 1, estimators["linear"], artifact="model.pkl")
    write_version(root, "shop", 1, estimators["shop"])
    return root


@pytest.fixture
def app(repo: Path):
    return create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo)})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def live_app(repo: Path, **config):
    """An application whose watcher the test drives (no polling), with a short settle time."""
    from app.extensions import get_watcher

    app = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "REPOSITORY_POLL_SECONDS": 0, **config})
    get_watcher(app).settle_seconds = SETTLE
    return app


def apply_changes(app) -> None:
    """Scan, let the files age past the settle time, and scan again: every stable change is applied."""
    from app.extensions import get_watcher

    watcher = get_watcher(app)
    watcher.scan()
    time.sleep(SETTLE * 1.5)
    assert watcher.scan() is False, "changes still pending after the settle time"


def default_version(client, name: str = "iris") -> str:
    """The version that answers the model's default predict route."""
    response = client.post(f"/v1/models/{name}/predict", json=setosa_row())
    assert response.status_code == 200, response.get_json()
    return response.get_json()["version"]


@pytest.fixture
def setosa() -> dict:
    """:func:`setosa_row`: an iris row of the setosa class, by feature name."""
    return setosa_row()


@pytest.fixture
def iris_features() -> list[str]:
    """The feature names of every iris version of ``repo``, in their order (a copy of IRIS_FEATURES)."""
    return list(IRIS_FEATURES)


@pytest.fixture(name="problem", scope="session")
def problem_fixture():
    """:func:`problem`: the problem document of a response, checked for its status and fragments."""
    return problem


@pytest.fixture(name="iris_like", scope="session")
def iris_like_fixture():
    """:func:`iris_like`: iris-like features and labels, to fit estimators of one's own."""
    return iris_like


@pytest.fixture(name="write_version", scope="session")
def write_version_fixture():
    """:func:`write_version`: save an estimator as a version directory of a repository."""
    return write_version


@pytest.fixture(name="iris_metadata", scope="session")
def iris_metadata_fixture():
    """:func:`iris_metadata`: the model.json of the iris versions, as a new dict at each call."""
    return iris_metadata


@pytest.fixture(name="live_app", scope="session")
def live_app_fixture():
    """:func:`live_app`: an application whose watcher the test drives."""
    return live_app


@pytest.fixture(name="apply_changes", scope="session")
def apply_changes_fixture():
    """:func:`apply_changes`: let a live application's watcher apply every stable change."""
    return apply_changes


@pytest.fixture(name="default_version", scope="session")
def default_version_fixture():
    """:func:`default_version`: the version that answers a model's default predict route."""
    return default_version
