"""The estimators training offers, the task it chooses, and the pipeline it fits around the estimator.

Each feature type of ``app.core.features`` gets its preprocessing: numbers are imputed (and
scaled for linear models), categories and booleans one-hot encoded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from app.core import features as feature_types
from app.training.errors import TrainingError

#: Estimator name -> task -> factory taking the seed.
ESTIMATORS: dict[str, dict[str, Callable[[int], Any]]] = {
    "logistic_regression": {"classification": lambda seed: LogisticRegression(max_iter=2000)},
    "random_forest": {
        "classification": lambda seed: RandomForestClassifier(random_state=seed),
        "regression": lambda seed: RandomForestRegressor(random_state=seed),
    },
    # The histogram variant fits large tables in seconds where the classic one takes minutes.
    "gradient_boosting": {
        "classification": lambda seed: HistGradientBoostingClassifier(random_state=seed),
        "regression": lambda seed: HistGradientBoostingRegressor(random_state=seed),
    },
    "linear_regression": {"regression": lambda seed: LinearRegression()},
    "ridge": {"regression": lambda seed: Ridge()},
}
#: Linear models weigh features by scale, so their numeric inputs are standardised; trees do not care.
_SCALED = {"logistic_regression", "linear_regression", "ridge"}


def choose_task(target: pd.Series, estimator: str | None, task: str | None) -> tuple[str, str]:
    """Resolve (task, estimator) from the options and the target column; see ``flask train --help``."""
    if estimator is not None and estimator not in ESTIMATORS:
        raise TrainingError(f"Unknown estimator '{estimator}'; use one of: {', '.join(ESTIMATORS)}")
    numeric = pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target)
    looks_categorical = not numeric or (pd.api.types.is_integer_dtype(target) and target.nunique() <= 20)
    if task is None:
        tasks = list(ESTIMATORS[estimator]) if estimator else ["classification", "regression"]
        task = next(iter(tasks)) if len(tasks) == 1 else ("classification" if looks_categorical else "regression")
    if estimator is None:
        estimator = "logistic_regression" if task == "classification" else "ridge"
    if task not in ESTIMATORS[estimator]:
        fitting = [name for name, tasks in ESTIMATORS.items() if task in tasks]
        raise TrainingError(
            f"--estimator {estimator} does not do {task}; for {task} use one of: " f"{', '.join(fitting)}"
        )
    if task == "classification" and pd.api.types.is_float_dtype(target) and (target % 1 != 0).any():
        raise TrainingError(
            f"Target '{target.name}' holds continuous numbers such as "
            f"{native(target[target % 1 != 0].iloc[0])!r}; use --task regression or a "
            "target of labels"
        )
    if task == "regression" and not numeric:
        sample = target.dropna().iloc[0]
        raise TrainingError(
            f"Target '{target.name}' holds non-numeric values such as {sample!r}, so it "
            "cannot be a regression target; use --task classification or a numeric --target"
        )
    return task, estimator


def build_pipeline(features: list[dict[str, Any]], estimator: str, task: str, seed: int) -> Pipeline:
    """Imputation, scaling or one-hot encoding by feature type, then the estimator."""
    # Columns by position, and the pipeline fitted on an array (see as_matrix): at predict time
    # the server hands it an array too, skipping pandas and scikit-learn's per-call column-name
    # checks, which cost more than the model itself (about 4 ms against 1.5 ms for iris).
    columns = {
        kind: [i for i, f in enumerate(features) if _part(f) == kind] for kind in ("numeric", "categorical", "boolean")
    }
    numeric_steps: list[Any] = [SimpleImputer(strategy="median", keep_empty_features=True)]
    if estimator in _SCALED:
        numeric_steps.append(StandardScaler())
    # Unknown categories at predict time encode as all zeros instead of failing the request.
    encode = make_pipeline(
        SimpleImputer(strategy="most_frequent", keep_empty_features=True), OneHotEncoder(handle_unknown="ignore")
    )
    # SimpleImputer rejects bool columns; their gaps are filled by _prepare before fitting.
    steps = {
        "numeric": make_pipeline(*numeric_steps),
        "categorical": encode,
        "boolean": OneHotEncoder(handle_unknown="ignore"),
    }
    parts = [(kind, steps[kind], names) for kind, names in columns.items() if names]
    # Histogram gradient boosting refuses sparse input, so its one-hot columns are made dense.
    dense = estimator == "gradient_boosting"
    preprocess = ColumnTransformer(parts, sparse_threshold=0 if dense else 0.3)
    return Pipeline([("preprocess", preprocess), ("model", ESTIMATORS[estimator][task](seed))])


def _part(feature: dict[str, Any]) -> str:
    """The preprocessing a feature gets: numbers, categories (text) or booleans."""
    kind = feature_types.type_of(feature)
    return "numeric" if kind.numeric else "boolean" if kind.name == "boolean" else "categorical"


def as_matrix(X: pd.DataFrame) -> np.ndarray:
    """The array a trained pipeline takes: floats when every feature is numeric, else objects.

    This is what the server's runtime builds from a request, so training and serving agree.
    """
    numeric = all(pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c]) for c in X)
    return X.to_numpy(dtype=np.float64 if numeric else object)


def native(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (for messages and model.json)."""
    return value.item() if isinstance(value, np.generic) else value
