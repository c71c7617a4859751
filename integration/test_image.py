"""The two images: the serving image's size and contents, and training inside a container.

``MODELHOST_IMAGE`` (default ``modelhost:latest``) is the serving image; it leaves out the
training extras (matplotlib), pip and the libraries' test suites, and keeps pandas for models
fitted on a DataFrame. ``MODELHOST_TRAIN_IMAGE`` (default: the serving image's name with
``-train``, as ``make docker-build-train`` tags it) adds the extras for ``flask train``. Both are
built by ``make integration``. Skipped like the other container tests (containers.py).
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import requests
from containers import IMAGE, Container, docker, needs_containers
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

pytestmark = needs_containers

TRAIN_IMAGE = os.environ.get("MODELHOST_TRAIN_IMAGE", f"{IMAGE}-train")
#: docker images' MB (10^6 bytes), the size a registry and `docker images` show.
MAX_IMAGE_MB = 450
#: The container's user, who must be able to write a model repository mounted for training.
CONTAINER_UID = 10001


def python_in(image: str, code: str) -> str:
    """Run python3 (the image's virtualenv) in a fresh container of ``image``; its stdout."""
    return docker("run", "--rm", image, "python3", "-c", code).stdout.strip()


def test_the_serving_image_is_at_most_450_mb() -> None:
    size = int(docker("image", "inspect", "-f", "{{.Size}}", IMAGE).stdout.strip())
    assert size / 1e6 <= MAX_IMAGE_MB, f"{IMAGE} is {size / 1e6:.0f} MB"


def test_the_serving_image_has_no_training_extras_pip_or_test_suites() -> None:
    found = python_in(IMAGE, "import importlib.util as u; print(sorted(m for m in ('matplotlib', 'pip', "
                             "'setuptools', 'sklearn.tests', 'scipy.linalg.tests', 'pandas.tests') if u.find_spec(m)))")
    assert found == "[]"
    # What serving needs is all there.
    assert python_in(IMAGE, "import sklearn, scipy, pandas, skops, flasgger; print('ok')") == "ok"


def test_a_model_fitted_on_a_dataframe_is_served(start_container, tmp_path: Path) -> None:
    # Columns selected by name, one of them text: the server hands this pipeline a DataFrame.
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"plan": rng.choice(["basic", "plus", "pro"], 200), "visits": rng.integers(0, 30, 200)})
    churned = (frame["plan"] == "basic") & (frame["visits"] < 10)
    pipeline = Pipeline([
        ("columns", ColumnTransformer([("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
                                       ("visits", StandardScaler(), ["visits"])])),
        ("model", LogisticRegression()),
    ]).fit(frame, churned)
    version = tmp_path / "models" / "churn" / "1"
    version.mkdir(parents=True)
    joblib.dump(pipeline, version / "model.joblib")
    for path in [tmp_path / "models", version.parent, version]:
        path.chmod(0o755)
    (version / "model.joblib").chmod(0o644)

    container = start_container("--volume", f"{tmp_path / 'models'}:/models:ro")
    container.wait("/health/ready")
    rows = [{"plan": "basic", "visits": 2}, {"plan": "pro", "visits": 25}]
    response = requests.post(container.url + "/v1/models/churn/predict", json={"instances": rows}, timeout=10)
    assert response.status_code == 200, response.text
    expected = pipeline.predict(pd.DataFrame(rows)).tolist()
    assert response.json()["predictions"] == expected == [True, False]


@pytest.fixture
def training_folders(tmp_path: Path) -> tuple[Path, Path]:
    """A CSV file to train from (read-only mount) and an empty model repository the container can write."""
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    rng = np.random.default_rng(3)
    with (data / "shop.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["visits", "member", "region", "bought"])
        for _ in range(120):
            visits, member, region = int(rng.integers(0, 20)), bool(rng.random() < 0.5), str(rng.choice(["n", "s"]))
            writer.writerow([visits, member, region, visits > 8 or member])
    (data / "shop.csv").chmod(0o644)
    models = tmp_path / "models"
    models.mkdir()
    if os.geteuid() == 0:
        os.chown(models, CONTAINER_UID, CONTAINER_UID)
    else:
        models.chmod(0o777)
    return data, models


def train_in(image: str, data: Path, models: Path) -> str:
    """`flask train` in a container of ``image``; its combined output."""
    result = docker("run", "--rm", "--volume", f"{data}:/data:ro", "--volume", f"{models}:/models", image,
                    "flask", "--app", "app", "train", "shop", "--data", "/data/shop.csv", "--target", "bought",
                    timeout=300)
    return result.stdout + result.stderr


def test_the_train_image_trains_a_model_with_plots_that_the_serving_image_serves(
        start_container, training_folders: tuple[Path, Path]) -> None:
    data, models = training_folders
    output = train_in(TRAIN_IMAGE, data, models)
    assert "Trained shop version 1" in output, output
    version = models / "shop" / "1"
    assert {p.name for p in version.glob("*.png")} == {"confusion_matrix.png", "feature_importance.png"}

    container: Container = start_container("--volume", f"{models}:/models:ro")
    container.wait("/health/ready")
    response = requests.post(container.url + "/v1/models/shop/predict",
                             json={"visits": 15, "member": False, "region": "n"}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["prediction"] is True
    card = requests.get(container.url + "/ui/models/shop/versions/1/plots/confusion_matrix.png", timeout=10)
    assert card.status_code == 200 and card.content.startswith(b"\x89PNG")


def test_flask_train_in_the_serving_image_trains_without_plots_and_names_the_train_image(
        training_folders: tuple[Path, Path]) -> None:
    data, models = training_folders
    output = train_in(IMAGE, data, models)
    assert "Trained shop version 1" in output, output
    assert "matplotlib is not installed" in output and "modelhost:latest-train" in output
    assert not list((models / "shop" / "1").glob("*.png"))
