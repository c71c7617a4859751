"""Write the known-correct answers the integration suite checks predictions against.

    .venv/bin/python integration/make_expected.py      # rewrites integration/expected/*.json

The answers come from scikit-learn's bundled data sets, never from the server or from ``app``:

* iris and breast_cancer: rows whose true label is in the data set and that any sane model
  classifies correctly. A row is kept only when three different models (logistic regression,
  random forest, k-nearest neighbours), each predicting it out of fold in 5-fold
  cross-validation, give its true label at least 0.9 probability; of those, the rows nearest
  their own class centre relative to the nearest other centre are stored.
* diabetes (regression): every ninth row with its true target. A prediction cannot match it
  exactly, so the suite asserts quality over all stored rows (R² and mean absolute error)
  with bounds set well below what a plain ridge regression reaches on them.

The output is deterministic; rerun it only when the data sets or the selection change.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn import datasets
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

OUT = Path(__file__).resolve().parent / "expected"
SEED = 0
#: Rows stored per class of a classifier, and every how many rows a diabetes row is stored.
PER_CLASS = {"iris": 5, "breast_cancer": 8}
DIABETES_STEP = 9
#: Out-of-fold probability of the true label every reference model must reach.
MIN_PROBABILITY = 0.9


def snake(name: str) -> str:
    """The demo models' feature name: ``mean radius`` -> ``mean_radius``, ``sepal length (cm)`` -> ``sepal_length``."""
    return "_".join(name.replace("(cm)", "").split())


def json_number(value: float) -> int | float:
    """Whole numbers as JSON integers (valid for both ``integer`` and ``number`` features)."""
    value = float(value)
    return int(value) if value.is_integer() else value


def clear_rows(X: pd.DataFrame, labels: np.ndarray, per_class: int) -> list[int]:
    """Indices of rows every reference model gets right with confidence, most central first."""
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    models = [
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)),
        RandomForestClassifier(n_estimators=200, random_state=SEED),
        make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=7)),
    ]
    classes = np.unique(labels)
    confident = np.ones(len(labels), dtype=bool)
    for model in models:
        proba = cross_val_predict(model, X, labels, cv=folds, method="predict_proba")
        true_column = np.searchsorted(classes, labels)
        confident &= proba[np.arange(len(labels)), true_column] >= MIN_PROBABILITY
    z = (X - X.mean()) / X.std()
    centres = {c: z[labels == c].mean() for c in classes}
    chosen: list[int] = []
    for c in classes:
        own = np.linalg.norm(z - centres[c], axis=1)
        other = np.min([np.linalg.norm(z - centres[o], axis=1) for o in classes if o != c], axis=0)
        ratio = pd.Series(own / other)
        candidates = ratio[(labels == c) & confident].sort_values()
        if len(candidates) < per_class:
            raise SystemExit(f"only {len(candidates)} clear rows of class {c}; lower PER_CLASS")
        chosen += sorted(int(i) for i in candidates.index[:per_class])
    return chosen


def classifier(name: str, bunch: Any) -> dict[str, Any]:
    X = bunch.data.rename(columns=snake)
    labels = np.asarray(bunch.target_names)[bunch.target]
    rows = clear_rows(X, labels, PER_CLASS[name])
    return {
        "model": name,
        "task": "classification",
        "source": f"sklearn.datasets.load_{name}",
        "scikit_learn_version": sklearn.__version__,
        "selection": f"{PER_CLASS[name]} rows per class that logistic regression, random forest and "
                     f"k-NN all give their true label >= {MIN_PROBABILITY} probability out of fold",
        "features": list(X.columns),
        "classes": sorted(str(c) for c in bunch.target_names),
        "instances": [{"row": i, "features": {k: json_number(v) for k, v in X.iloc[i].items()},
                       "label": str(labels[i])} for i in rows],
    }


def diabetes() -> dict[str, Any]:
    bunch = datasets.load_diabetes(as_frame=True, scaled=False)
    X, y = bunch.data, bunch.target
    rows = list(range(0, len(y), DIABETES_STEP))
    # What a plain ridge regression reaches on the stored rows, to show the bounds are loose.
    reference = make_pipeline(StandardScaler(), Ridge()).fit(X, y).predict(X.iloc[rows])
    r2, mae = r2_score(y.iloc[rows], reference), mean_absolute_error(y.iloc[rows], reference)
    print(f"diabetes: reference ridge on the {len(rows)} stored rows: r2 {r2:.3f}, mae {mae:.1f}")
    return {
        "model": "diabetes",
        "task": "regression",
        "source": "sklearn.datasets.load_diabetes(scaled=False)",
        "scikit_learn_version": sklearn.__version__,
        "selection": f"every {DIABETES_STEP}th row with its true target",
        "features": [str(c) for c in X.columns],
        "target": "progression",
        "reference_ridge": {"r2": round(float(r2), 4), "mae": round(float(mae), 2)},
        "checks": {"min_r2": 0.3, "max_mae": 60.0},
        "instances": [{"row": i, "features": {k: json_number(v) for k, v in X.iloc[i].items()},
                       "target": json_number(y.iloc[i])} for i in rows],
    }


def main() -> None:
    OUT.mkdir(exist_ok=True)
    documents = [classifier("iris", datasets.load_iris(as_frame=True)),
                 classifier("breast_cancer", datasets.load_breast_cancer(as_frame=True)),
                 diabetes()]
    for document in documents:
        path = OUT / f"{document['model']}.json"
        path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {path} ({len(document['instances'])} instances)")


if __name__ == "__main__":
    main()
