"""Training a scikit-learn pipeline from a table and writing it as the model's next version.

No Flask here: ``flask train`` and ``flask train-demo`` both call :func:`train`, so a demo model
and a model trained from a CSV file go through the same code. The table is read, described and
split by :mod:`app.training.table`; here the pipeline is fitted, evaluated and written. Every
problem with the input raises :class:`TrainingError` with a one-line message that says how to fix it.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn import metrics as skm
from sklearn.pipeline import Pipeline

from app.storage.layout import NAME_PATTERN
from app.storage.publish import TRAINED_ARTIFACT, PublishError, remove_stale_staging, sha256_of, write_version
from app.training import plots
from app.training.errors import TrainingError, one_line
from app.training.pipelines import as_matrix, build_pipeline, choose_task, native
from app.training.table import Progress, describe_features, features_and_target, prepare_features, split_rows


@dataclass
class TrainingOptions:
    """What to learn and how: target column, estimator, task, test split, seed."""

    target: str
    estimator: str | None = None
    task: str | None = None
    test_size: float = 0.2
    seed: int = 42
    drop: tuple[str, ...] = ()
    descriptions: dict[str, str] = field(default_factory=dict)


@dataclass
class TrainingResult:
    """The version written and the metadata stored with it."""

    name: str
    version: int
    path: Path
    metadata: dict[str, Any]


def train(
    repository: str | Path,
    name: str,
    frame: pd.DataFrame,
    options: TrainingOptions,
    source: dict[str, Any],
    progress: Progress = print,
) -> TrainingResult:
    """Fit, evaluate and write ``<repository>/<name>/<next version>``; nothing is written on error."""
    if not NAME_PATTERN.fullmatch(name):
        raise TrainingError(
            f"Model name '{name}' is not valid: use 1-64 lower-case letters, digits, "
            "'-' or '_', starting with a letter or digit (e.g. 'churn-v2')"
        )
    remove_stale_staging(Path(repository), progress)
    X, y = features_and_target(frame, options.target, options.drop, progress)
    task, estimator = choose_task(y, options.estimator, options.task)
    features = describe_features(X, options.descriptions)
    for feature in features:
        if feature["enum"] and len(feature["enum"]) > max(50, len(y) // 2):
            progress(
                f"Note: '{feature['name']}' has {len(feature['enum'])} distinct values in {len(y)} rows; "
                "if it identifies rows rather than describing them, --drop it"
            )
    X = prepare_features(X, features)
    X_train, X_test, y_train, y_test = split_rows(X, y, task, options.test_size, options.seed, progress)
    pipeline = build_pipeline(features, estimator, task, options.seed)
    model_class = type(pipeline.named_steps["model"]).__name__
    progress(f"Fitting {model_class} ({task}) on {len(X_train)} rows, {X.shape[1]} features ...")
    started = time.perf_counter()
    _fit(pipeline, as_matrix(X_train), y_train, progress)
    progress(f"Fitted in {time.perf_counter() - started:.1f} s; evaluating on {len(X_test)} held-out rows ...")
    predicted = pipeline.predict(as_matrix(X_test))
    scores = evaluate(task, y_test, predicted, pipeline)
    progress("Metrics: " + ", ".join(f"{k} {v:.4g}" for k, v in scores.items() if v is not None))
    importance, method = plots.feature_importance(
        pipeline, list(X.columns), as_matrix(X_test), np.asarray(y_test), options.seed
    )
    metadata = {
        "name": name,
        "version": None,
        "task": task,
        "framework": "scikit-learn",
        "framework_version": sklearn.__version__,
        "estimator": model_class,
        "artifact": TRAINED_ARTIFACT,
        "sha256": None,
        "features": features,
        "target": _target_info(y, task, pipeline),
        "metrics": scores,
        "feature_importance": importance,
        "feature_importance_method": method,
        "plots": {},
        "params": _params(pipeline.named_steps["model"]),
        "training_data": {
            **source,
            "rows": int(len(frame)),
            "columns": int(frame.shape[1]),
            "train_rows": int(len(X_train)),
            "test_rows": int(len(X_test)),
            "test_size": options.test_size,
            "seed": options.seed,
        },
        "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }

    def build(staging: Path) -> None:
        progress("Writing the artifact and plots ...")
        joblib.dump(pipeline, staging / TRAINED_ARTIFACT)
        metadata["sha256"] = sha256_of(staging / TRAINED_ARTIFACT)
        metadata["plots"] = plots.render(staging, task, y_test, predicted, metadata, progress)

    try:
        version, path = write_version(Path(repository) / name, build, metadata)
    except PublishError as exc:
        raise TrainingError(str(exc)) from None
    progress(f"Wrote {name} version {version} to {path}")
    return TrainingResult(name, version, path, metadata)


def evaluate(task: str, y_true: Any, y_pred: Any, pipeline: Pipeline) -> dict[str, float | None]:
    """Held-out metrics: accuracy and F1 for classifiers, R², MAE and RMSE for regressors."""
    if task == "classification":
        scores = {
            "accuracy": skm.accuracy_score(y_true, y_pred),
            "f1_macro": skm.f1_score(y_true, y_pred, average="macro", zero_division=0),
        }
        classes = pipeline.classes_
        if len(classes) == 2:
            # The second class (sorted) is the positive one, e.g. "malignant" over "benign", 1 over 0.
            scores["f1"] = skm.f1_score(y_true, y_pred, pos_label=classes[1], zero_division=0)
    else:
        scores = {
            "r2": skm.r2_score(y_true, y_pred),
            "mae": skm.mean_absolute_error(y_true, y_pred),
            "rmse": skm.root_mean_squared_error(y_true, y_pred),
        }
    # R² of a constant test target is NaN, which JSON cannot hold.
    return {k: round(float(v), 6) if math.isfinite(v) else None for k, v in scores.items()}


def _fit(pipeline: Pipeline, X: np.ndarray, y: pd.Series, progress: Progress) -> None:
    """Fit, reporting warnings (e.g. no convergence) as one-line notes instead of stack excerpts."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pipeline.fit(X, y)
        except ValueError as exc:
            raise TrainingError(f"Fitting failed: {one_line(exc)}") from None
    for message in dict.fromkeys(one_line(w.message) for w in caught):
        progress(f"Warning: {message}")


def _target_info(y: pd.Series, task: str, pipeline: Pipeline) -> dict[str, Any]:
    if task == "classification":
        return {"name": str(y.name), "classes": np.asarray(pipeline.classes_).tolist()}
    return {"name": str(y.name), "minimum": native(y.min()), "maximum": native(y.max())}


def _params(estimator: Any) -> dict[str, Any]:
    """The estimator's hyperparameters that JSON can hold (objects such as callables are left out)."""
    kept = {}
    for key, value in estimator.get_params(deep=False).items():
        value = native(value)
        if value is None or isinstance(value, (bool, int, str)) or (isinstance(value, float) and math.isfinite(value)):
            kept[key] = value
    return kept
