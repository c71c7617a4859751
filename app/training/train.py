"""Training a scikit-learn pipeline from a table and writing it as the model's next version.

No Flask here: ``flask train`` and ``flask train-demo`` both call :func:`train`, so a demo model
and a model trained from a CSV file go through the same code. Every problem with the input
raises :class:`TrainingError` with a one-line message that says how to fix it.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn import metrics as skm
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from app.storage.publish import TRAINED_ARTIFACT, PublishError, remove_stale_staging, sha256_of, write_version
from app.storage.repository import NAME_PATTERN
from app.training import plots
from app.training.errors import TrainingError
from app.training.pipelines import as_matrix, build_pipeline, choose_task, native

MIN_ROWS = 10
#: Request keys that cannot double as feature names: "id" is echoed, "instances" marks a batch.
RESERVED_NAMES = ("id", "instances")
Progress = Callable[[str], None]


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


def read_table(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a CSV file with a header row; returns the frame and its ``training_data`` source."""
    path = Path(path)
    hint = "pass a CSV file with a header row and at least 10 data rows to --data"
    if not path.exists():
        raise TrainingError(f"Data file {path} does not exist; {hint}")
    if not path.is_file():
        raise TrainingError(f"{path} is not a file; {hint}")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise TrainingError(f"{path} is empty; {hint}") from None
    except UnicodeDecodeError:
        raise TrainingError(f"{path} is not UTF-8 text; save it as UTF-8 CSV") from None
    except (OSError, pd.errors.ParserError, ValueError) as exc:
        raise TrainingError(f"Cannot read {path} as CSV: {_one_line(exc)}") from None
    if frame.empty:
        raise TrainingError(f"{path} has a header but no data rows; {hint}")
    return frame, {"file": path.name, "sha256": sha256_of(path)}


def infer_type(values: pd.Series) -> str:
    """The API feature type of a column: integer, number, boolean or string."""
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_numeric_dtype(values):
        return "integer" if pd.api.types.is_integer_dtype(values) else "number"
    present = values.dropna()
    # A boolean column with gaps is read as object dtype holding True, False and NaN.
    if len(present) and all(isinstance(v, (bool, np.bool_)) for v in present):
        return "boolean"
    return "string"


def describe_features(frame: pd.DataFrame, descriptions: dict[str, str]) -> list[dict[str, Any]]:
    """The ``features`` entries of model.json: type, range or categories, example, description."""
    features = []
    for name in frame.columns:
        values, kind = frame[name], infer_type(frame[name])
        present = values.dropna()
        entry: dict[str, Any] = {
            "name": str(name),
            "type": kind,
            "minimum": None,
            "maximum": None,
            "enum": None,
            "description": None,
            "example": None,
        }
        if kind in ("integer", "number"):
            cast = int if kind == "integer" else float
            entry["minimum"], entry["maximum"] = cast(present.min()), cast(present.max())
            median = float(present.median())
            entry["example"] = int(round(median)) if kind == "integer" else median
            summary = f"{entry['minimum']:g} to {entry['maximum']:g} in training data"
            text = f"{'Whole number' if kind == 'integer' else 'Numeric'}, {summary}"
            own = descriptions.get(name)
            entry["description"] = f"{own}; {summary}" if own else text
        else:
            mode = present.value_counts().index[0]
            entry["example"] = bool(mode) if kind == "boolean" else str(mode)
            if kind == "string":
                entry["enum"] = sorted({str(v) for v in present})
            text = "True or false" if kind == "boolean" else f"Category, one of {len(entry['enum'])} values"
            entry["description"] = descriptions.get(name) or text
        missing = int(values.isna().sum())
        if missing:
            entry["description"] += f"; {missing} missing values filled in for training"
        features.append(entry)
    return features


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
    X, y = _select(frame, options, progress)
    task, estimator = choose_task(y, options.estimator, options.task)
    features = describe_features(X, options.descriptions)
    for feature in features:
        if feature["enum"] and len(feature["enum"]) > max(50, len(y) // 2):
            progress(
                f"Note: '{feature['name']}' has {len(feature['enum'])} distinct values in {len(y)} rows; "
                "if it identifies rows rather than describing them, --drop it"
            )
    X = _prepare(X, features)
    X_train, X_test, y_train, y_test = _split(X, y, task, options, progress)
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


def _select(frame: pd.DataFrame, options: TrainingOptions, progress: Progress) -> tuple[pd.DataFrame, pd.Series]:
    """Split the table into feature columns and the target, dropping what cannot be a feature."""
    frame = frame.rename(columns=str)  # feature names must be strings for feature_names_in_
    columns = list(frame.columns)
    if options.target not in columns:
        separator = next((sep for sep in ";\t|" if len(columns) == 1 and sep in columns[0]), None)
        hint = f"; the file seems separated by {separator!r}: save it with commas" if separator else ""
        raise TrainingError(
            f"No column '{options.target}' in the data; its columns are: "
            f"{', '.join(columns)}. Pass one of them to --target{hint}"
        )
    unknown = [c for c in options.drop if c not in columns]
    if unknown:
        raise TrainingError(f"Cannot drop {', '.join(unknown)}: not in the data ({', '.join(columns)})")
    y = frame[options.target]
    if y.isna().any():
        progress(f"Ignoring {int(y.isna().sum())} rows without a value for '{options.target}'")
        y = y.dropna()
        if pd.api.types.is_float_dtype(y) and (y % 1 == 0).all():
            y = y.astype("int64")  # whole-number labels were read as float only because of the gaps
    features = []
    for column in columns:
        if column == options.target or column in options.drop:
            continue
        if column in RESERVED_NAMES or column.startswith("Unnamed: ") or frame[column].isna().all():
            why = "it is empty" if frame[column].isna().all() else "the name is reserved or unnamed"
            progress(f"Ignoring column '{column}': {why} (use --drop to silence this)")
            continue
        features.append(column)
    if not features:
        raise TrainingError(
            f"The data has no feature columns besides the target '{options.target}'; "
            "add at least one column to learn from"
        )
    if len(y) < MIN_ROWS:
        raise TrainingError(f"Only {len(y)} rows have a target value; training needs at least {MIN_ROWS}")
    if y.nunique() < 2:
        raise TrainingError(
            f"Target '{options.target}' has the single value {native(y.iloc[0])!r} in every "
            "row; a model needs at least two different values to learn from"
        )
    return frame.loc[y.index, features], y


def _prepare(X: pd.DataFrame, features: list[dict[str, Any]]) -> pd.DataFrame:
    """Give category columns strings and boolean columns bools, as requests will send them."""
    X = X.copy()
    for feature in features:
        values = X[feature["name"]]
        if feature["type"] == "string":
            X[feature["name"]] = values.where(values.isna(), values.astype(str)).astype(object)
        elif feature["type"] == "boolean":
            X[feature["name"]] = values.fillna(feature["example"]).astype(bool)
    return X


def _split(
    X: pd.DataFrame, y: pd.Series, task: str, options: TrainingOptions, progress: Progress
) -> tuple[Any, Any, Any, Any]:
    """Hold out the test split; stratified for classifiers when every class can appear in both parts."""
    n_test = math.ceil(options.test_size * len(y))
    if n_test < 2 or len(y) - n_test < 5:
        raise TrainingError(
            f"--test-size {options.test_size} splits {len(y)} rows into {len(y) - n_test} for "
            f"training and {n_test} for testing; use more rows or a test size that leaves "
            "at least 5 and 2"
        )
    counts = y.value_counts()
    stratify = None
    if task == "classification":
        if counts.min() >= 2 and n_test >= len(counts) and len(y) - n_test >= len(counts):
            stratify = y
        else:
            progress("Some classes are too rare to stratify the split; splitting at random")
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=options.test_size, random_state=options.seed, stratify=stratify
    )
    if task == "classification" and y_train.nunique() < 2:
        raise TrainingError("The training split holds a single class; add rows of the other classes")
    return X_train, X_test, y_train, y_test


def _fit(pipeline: Pipeline, X: np.ndarray, y: pd.Series, progress: Progress) -> None:
    """Fit, reporting warnings (e.g. no convergence) as one-line notes instead of stack excerpts."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pipeline.fit(X, y)
        except ValueError as exc:
            raise TrainingError(f"Fitting failed: {_one_line(exc)}") from None
    for message in dict.fromkeys(_one_line(w.message) for w in caught):
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


def _one_line(exc: Any) -> str:
    return " ".join(str(exc).split())
