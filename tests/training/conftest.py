"""Fixtures of the training and CLI tests: a fresh repository, small tables and CSV files, a CLI invoker.

The ``app`` fixture of tests/conftest.py serves a pre-filled repository; these tests train into
an empty one (``model_repo``). The table and file helpers below reach the tests as fixtures.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import Result

from app import create_app


def shop_frame(rows: int = 80) -> pd.DataFrame:
    """A classification table with numbers, whole numbers, categories, booleans, and gaps in three."""
    rng = np.random.default_rng(7)
    colour = rng.choice(["red", "green", "blue"], size=rows)
    size = rng.normal(10, 3, size=rows).round(2)
    visits = rng.integers(0, 20, size=rows)
    member = rng.choice([True, False], size=rows)
    # The label depends on the colour and the size, so the model has something to learn.
    bought = np.where((colour == "red") | (size > 12), "yes", "no")
    frame = pd.DataFrame({"colour": colour, "size": size, "visits": visits, "member": member,
                          "bought": bought})
    frame.loc[3, "size"] = np.nan  # gaps the pipeline must fill in
    frame.loc[5, "colour"] = None
    frame["member"] = frame["member"].astype(object)
    frame.loc[7, "member"] = None
    return frame


def house_frame(rows: int = 60) -> pd.DataFrame:
    """A regression table: price from area and district."""
    rng = np.random.default_rng(3)
    area = rng.uniform(40, 160, size=rows).round(1)
    district = rng.choice(["north", "south"], size=rows)
    price = 2000 * area + np.where(district == "north", 50_000, 0) + rng.normal(0, 5000, size=rows)
    return pd.DataFrame({"area": area, "district": district, "price": price.round(0)})


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    """Save a frame as CSV without the index, as users export their data."""
    frame.to_csv(path, index=False)
    return path


def read_json(path: Path) -> dict:
    """A JSON file (model.json) as a dict."""
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(name="shop_frame", scope="session")
def shop_frame_fixture() -> Callable[..., pd.DataFrame]:
    """:func:`shop_frame`: the classification table, made anew at each call."""
    return shop_frame


@pytest.fixture(name="house_frame", scope="session")
def house_frame_fixture() -> Callable[..., pd.DataFrame]:
    """:func:`house_frame`: the regression table, made anew at each call."""
    return house_frame


@pytest.fixture(name="write_csv", scope="session")
def write_csv_fixture() -> Callable[[Path, pd.DataFrame], Path]:
    """:func:`write_csv`: save a table as a CSV file."""
    return write_csv


@pytest.fixture(name="read_json", scope="session")
def read_json_fixture() -> Callable[[Path], dict]:
    """:func:`read_json`: read a JSON file."""
    return read_json


@pytest.fixture
def model_repo(tmp_path: Path) -> Path:
    """An empty model repository in tmp_path (created on demand by training)."""
    return tmp_path / "models"


@pytest.fixture
def cli(model_repo: Path) -> Callable[..., Result]:
    """Run a flask CLI command against a fresh app, so ``models`` sees what training wrote."""
    def invoke(*args: str) -> Result:
        app = create_app({"TESTING": True, "MODEL_REPOSITORY": str(model_repo)})
        return app.test_cli_runner().invoke(args=list(args))
    return invoke


@pytest.fixture
def shop_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "shop.csv", shop_frame())


@pytest.fixture
def house_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "house.csv", house_frame())
