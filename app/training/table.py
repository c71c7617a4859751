"""The training table: read from a CSV file, its features described for model.json, and split
into the feature columns and the target, then into training and test rows.

Every problem with the table raises :class:`TrainingError` with a one-line message that says how
to fix it; what is only worth a note (a column ignored, rows without a target) goes to ``progress``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from app.storage.publish import sha256_of
from app.training.errors import TrainingError, one_line
from app.training.pipelines import native

MIN_ROWS = 10
#: Request keys that cannot double as feature names: "id" is echoed, "instances" marks a batch.
RESERVED_NAMES = ("id", "instances")
#: Where training tells what it does, one line at a time.
Progress = Callable[[str], None]


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
        raise TrainingError(f"Cannot read {path} as CSV: {one_line(exc)}") from None
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


def features_and_target(
    frame: pd.DataFrame, target: str, drop: Sequence[str], progress: Progress
) -> tuple[pd.DataFrame, pd.Series]:
    """Split the table into feature columns and the target, dropping what cannot be a feature."""
    frame = frame.rename(columns=str)  # feature names must be strings for feature_names_in_
    columns = list(frame.columns)
    if target not in columns:
        separator = next((sep for sep in ";\t|" if len(columns) == 1 and sep in columns[0]), None)
        hint = f"; the file seems separated by {separator!r}: save it with commas" if separator else ""
        raise TrainingError(
            f"No column '{target}' in the data; its columns are: "
            f"{', '.join(columns)}. Pass one of them to --target{hint}"
        )
    unknown = [c for c in drop if c not in columns]
    if unknown:
        raise TrainingError(f"Cannot drop {', '.join(unknown)}: not in the data ({', '.join(columns)})")
    y = frame[target]
    if y.isna().any():
        progress(f"Ignoring {int(y.isna().sum())} rows without a value for '{target}'")
        y = y.dropna()
        if pd.api.types.is_float_dtype(y) and (y % 1 == 0).all():
            y = y.astype("int64")  # whole-number labels were read as float only because of the gaps
    features = []
    for column in columns:
        if column == target or column in drop:
            continue
        if column in RESERVED_NAMES or column.startswith("Unnamed: ") or frame[column].isna().all():
            why = "it is empty" if frame[column].isna().all() else "the name is reserved or unnamed"
            progress(f"Ignoring column '{column}': {why} (use --drop to silence this)")
            continue
        features.append(column)
    if not features:
        raise TrainingError(
            f"The data has no feature columns besides the target '{target}'; " "add at least one column to learn from"
        )
    if len(y) < MIN_ROWS:
        raise TrainingError(f"Only {len(y)} rows have a target value; training needs at least {MIN_ROWS}")
    if y.nunique() < 2:
        raise TrainingError(
            f"Target '{target}' has the single value {native(y.iloc[0])!r} in every "
            "row; a model needs at least two different values to learn from"
        )
    return frame.loc[y.index, features], y


def prepare_features(X: pd.DataFrame, features: list[dict[str, Any]]) -> pd.DataFrame:
    """Give category columns strings and boolean columns bools, as requests will send them."""
    X = X.copy()
    for feature in features:
        values = X[feature["name"]]
        if feature["type"] == "string":
            X[feature["name"]] = values.where(values.isna(), values.astype(str)).astype(object)
        elif feature["type"] == "boolean":
            X[feature["name"]] = values.fillna(feature["example"]).astype(bool)
    return X


def split_rows(
    X: pd.DataFrame, y: pd.Series, task: str, test_size: float, seed: int, progress: Progress
) -> tuple[Any, Any, Any, Any]:
    """Hold out the test split; stratified for classifiers when every class can appear in both parts."""
    n_test = math.ceil(test_size * len(y))
    if n_test < 2 or len(y) - n_test < 5:
        raise TrainingError(
            f"--test-size {test_size} splits {len(y)} rows into {len(y) - n_test} for "
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
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=stratify)
    if task == "classification" and y_train.nunique() < 2:
        raise TrainingError("The training split holds a single class; add rows of the other classes")
    return X_train, X_test, y_train, y_test
