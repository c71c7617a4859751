"""The demo data sets: iris, breast_cancer and diabetes, as they ship inside scikit-learn.

Each demo is a DataFrame shaped like the CSV a user would train from (snake_case columns,
class labels as words, whole-number columns as integers), plus the options and per-feature
descriptions ``flask train-demo`` passes to the same training code as ``flask train``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sklearn import datasets

#: The fixed seed of every demo model, so their predictions are the same on every run.
DEMO_SEED = 42

_DIABETES = {
    "age": "Age in years",
    "sex": "Sex, coded 1 or 2",
    "bmi": "Body mass index",
    "bp": "Average blood pressure",
    "s1": "Total serum cholesterol (tc)",
    "s2": "Low-density lipoproteins (ldl)",
    "s3": "High-density lipoproteins (hdl)",
    "s4": "Total cholesterol / HDL (tch)",
    "s5": "Log of serum triglycerides level (ltg), possibly",
    "s6": "Blood sugar level (glu)",
}


@dataclass(frozen=True)
class Demo:
    """One demo model: its data, target, estimator and feature descriptions."""

    name: str
    frame: pd.DataFrame
    target: str
    estimator: str
    task: str
    source: str
    descriptions: dict[str, str] = field(default_factory=dict)

    def source_info(self) -> dict[str, Any]:
        """The ``training_data`` file and checksum, of the frame as the CSV it would be."""
        text = self.frame.to_csv(index=False).encode("utf-8")
        return {"file": self.source, "sha256": hashlib.sha256(text).hexdigest()}


def _snake(name: str) -> str:
    return "_".join(name.replace("(cm)", "").split())


def _as_csv_types(frame: pd.DataFrame) -> pd.DataFrame:
    # Whole-number float columns become integers, as pandas would read them from a CSV file,
    # so a demo and the same data trained with `flask train` get identical feature types.
    for column in frame.columns:
        values = frame[column]
        if values.dtype.kind == "f" and values.notna().all() and (values % 1 == 0).all():
            frame[column] = values.astype("int64")
    return frame


def _iris() -> Demo:
    bunch = datasets.load_iris(as_frame=True)
    frame = bunch.data.rename(columns=_snake)
    frame["species"] = bunch.target_names[bunch.target].tolist()
    descriptions = {_snake(c): c.split(" (")[0].capitalize() + " in cm" for c in bunch.feature_names}
    return Demo(
        "iris", frame, "species", "logistic_regression", "classification", "sklearn.datasets.load_iris", descriptions
    )


def _breast_cancer() -> Demo:
    bunch = datasets.load_breast_cancer(as_frame=True)
    frame = bunch.data.rename(columns=_snake)
    frame["diagnosis"] = bunch.target_names[bunch.target].tolist()
    descriptions = {}
    for column in bunch.feature_names:
        words = column.split()
        if words[0] in ("mean", "worst"):
            measure, kind = (
                " ".join(words[1:]),
                ("mean" if words[0] == "mean" else "worst (mean of the three largest values)"),
            )
        else:
            measure, kind = " ".join(words[:-1]), "standard error"
        descriptions[_snake(column)] = f"{measure.capitalize()} of the cell nuclei in the image, {kind}"
    return Demo(
        "breast_cancer",
        frame,
        "diagnosis",
        "random_forest",
        "classification",
        "sklearn.datasets.load_breast_cancer",
        descriptions,
    )


def _diabetes() -> Demo:
    # Unscaled values (age in years, body mass index) make example requests people can read.
    bunch = datasets.load_diabetes(as_frame=True, scaled=False)
    frame = _as_csv_types(bunch.frame.rename(columns={"target": "progression"}))
    return Demo(
        "diabetes",
        frame,
        "progression",
        "ridge",
        "regression",
        "sklearn.datasets.load_diabetes(scaled=False)",
        dict(_DIABETES),
    )


#: Every demo, in the order ``flask train-demo`` trains them.
DEMOS: dict[str, Callable[[], Demo]] = {
    "iris": _iris,
    "breast_cancer": _breast_cancer,
    "diabetes": _diabetes,
}


def load_demo(name: str) -> Demo:
    """The named demo with its data loaded from the copy bundled with scikit-learn."""
    return DEMOS[name]()
