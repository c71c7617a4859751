"""Write the benchmark's model repository: two models dropped in as modelhost users drop them in.

    .venv/bin/python bench/make_models.py [--out build/bench/models]

writes ``iris_lr/1/model.joblib`` (LogisticRegression) and ``iris_rf/1/model.joblib``
(RandomForestClassifier, 100 trees), both fitted on scikit-learn's iris data as a plain numpy
array: no feature names and no ``model.json``, so modelhost infers the features x_0 ... x_3 and
the classes 0, 1, 2. Training is deterministic (fixed seeds), so every run serves the same models.

Apache reads the files as another user (uid 10001 in the container, www-data on a host started
as root), so the whole tree is made world-readable (``chmod -R a+rX``).
"""
from __future__ import annotations

import argparse
import os
import stat
from collections.abc import Callable
from pathlib import Path

import joblib
import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "build" / "bench" / "models"
VERSION = "1"
ARTIFACT = "model.joblib"

# Model name -> a factory of the unfitted estimator.
ESTIMATORS: dict[str, Callable[[], ClassifierMixin]] = {
    "iris_lr": lambda: LogisticRegression(max_iter=1000),
    "iris_rf": lambda: RandomForestClassifier(n_estimators=100, random_state=0),
}
MODEL_NAMES = tuple(ESTIMATORS)


def iris_data() -> tuple[np.ndarray, np.ndarray]:
    """Iris features (150 x 4 floats) and targets (0, 1, 2) as numpy arrays."""
    data = load_iris()
    return np.asarray(data.data, dtype=float), np.asarray(data.target)


def artifact_path(out: Path, name: str) -> Path:
    """Where the model ``name`` lives in the repository ``out``."""
    return out / name / VERSION / ARTIFACT


def make_world_readable(root: Path) -> None:
    """``chmod -R a+rX root``: read for everyone on files, read and traverse on folders."""
    paths = [root, *root.rglob("*")]
    for path in paths:
        mode = path.stat().st_mode
        extra = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
        if path.is_dir():
            extra |= stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
        os.chmod(path, stat.S_IMODE(mode) | extra)


def write_models(out: Path = DEFAULT_OUT) -> dict[str, Path]:
    """Fit every benchmark model and write it to ``out``; returns name -> artifact path."""
    X, y = iris_data()
    written: dict[str, Path] = {}
    for name, factory in ESTIMATORS.items():
        path = artifact_path(out, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(factory().fit(X, y), path)
        written[name] = path
    make_world_readable(out)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="model repository to write (default: %(default)s)")
    args = parser.parse_args()
    for name, path in write_models(args.out.resolve()).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
