"""The predict bodies of `make bench`, written to files that wrk sends, with the rows they hold."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import make_models
import numpy as np

from harness.paths import BODIES_DIR


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: rows is an array
class Body:
    """A predict body written to a file (wrk reads it from there), with its rows."""

    name: str
    rows: np.ndarray
    path: Path

    @property
    def json(self) -> bytes:
        return self.path.read_bytes()


def write_body(name: str, rows: np.ndarray) -> Body:
    """``{"instances": rows}`` in BODIES_DIR/<name>.json."""
    path = BODIES_DIR / f"{name}.json"
    path.write_text(json.dumps({"instances": rows.tolist()}))
    return Body(name, rows, path)


def make_bodies() -> tuple[Body, Body, Body]:
    """The one-row and the 1000-row workload bodies, and the verification body.

    The 1000 rows are the iris rows in order, repeated. The verification body is the 150 iris
    rows plus each of them moved by seeded noise (rounded to 2 decimals), which puts rows near
    the decision boundaries.
    """
    BODIES_DIR.mkdir(parents=True, exist_ok=True)
    iris, _ = make_models.iris_data()
    noise = np.random.default_rng(0).normal(0.0, 0.3, iris.shape)
    one_row = write_body("1-row", np.array([[5.1, 3.5, 1.4, 0.2]]))
    batch = write_body("1000-rows", np.resize(iris, (1000, iris.shape[1])))
    verify = write_body("verify-300-rows", np.vstack([iris, np.round(iris + noise, 2)]))
    return one_row, batch, verify
