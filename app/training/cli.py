"""Command-line interface: ``flask train``, ``flask train-demo`` and ``flask models``.

The commands only parse options and print; training lives in :mod:`app.training.train`, so every
input problem arrives here as a ``TrainingError`` and leaves as a one-line ``Error: ...``.
Training and the demo data are imported when a command runs, not when the commands are
registered: the server builds the same application and never loads the training stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from app.extensions import get_registry
from app.storage.layout import NAME_PATTERN
from app.storage.publish import next_version
from app.training.errors import TrainingError

if TYPE_CHECKING:
    from app.training import train as training

#: The names of app.training.pipelines.ESTIMATORS, for --estimator (tests/training/test_cli.py checks they agree).
ESTIMATOR_NAMES = ("logistic_regression", "random_forest", "gradient_boosting", "linear_regression", "ridge")

_TRAIN_HELP = """Train a model NAME from a CSV file and write it as the model's next version.

\b
Feature types are read from the columns: numbers become "number" ("integer" for
whole-number columns), True/False columns "boolean", anything else a "string"
category, one-hot encoded inside the saved pipeline so requests send raw values.
Missing values are filled in (median or most frequent value).

\b
Task and estimator, when not given:
  - linear_regression and ridge do regression; logistic_regression classification;
  - random_forest and gradient_boosting follow the target (below);
  - a target of text, booleans, or whole numbers with at most 20 distinct values
    means classification with logistic_regression, any other numbers mean
    regression with ridge.

\b
A --test-size share of the rows (stratified by class when possible) is held out; the
model is fitted on the rest, and the metrics in model.json describe that exact model
on the held-out rows. Columns named "id" or "instances" are not used as features.
Example: flask --app app train churn --data churn.csv --target churned
"""


def _check_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not NAME_PATTERN.fullmatch(value):
        raise click.BadParameter(
            f"'{value}' is not a valid model name: use 1-64 lower-case letters, "
            "digits, '-' or '_', starting with a letter or digit (e.g. 'churn-v2')"
        )
    return value


def _progress(message: str) -> None:
    # Progress goes to stderr so stdout carries only the result, for scripts.
    click.echo(message, err=True)


def _repository() -> Path:
    return Path(current_app.config["MODEL_REPOSITORY"])


def _summary(result: training.TrainingResult) -> str:
    meta = result.metadata
    scores = ", ".join(f"{k} {v:.4g}" for k, v in meta["metrics"].items() if v is not None)
    return f"Trained {result.name} version {result.version} ({meta['estimator']}, {meta['task']}): {scores}"


@click.command("train", help=_TRAIN_HELP)
@with_appcontext
@click.argument("name", callback=_check_name)
@click.option("--data", required=True, metavar="FILE.csv", help="CSV file with a header row.")
@click.option("--target", required=True, metavar="COLUMN", help="Column to predict.")
@click.option("--estimator", type=click.Choice(ESTIMATOR_NAMES), help="Default: see above.")
@click.option("--task", type=click.Choice(["classification", "regression"]), help="Default: see above.")
@click.option(
    "--test-size",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.2,
    show_default=True,
    help="Share of rows held out for the metrics.",
)
@click.option("--seed", type=int, default=42, show_default=True, help="Seed of the split and the estimator.")
@click.option("--drop", multiple=True, metavar="COLUMN", help="Column to leave out; repeatable.")
def train_command(
    name: str,
    data: str,
    target: str,
    estimator: str | None,
    task: str | None,
    test_size: float,
    seed: int,
    drop: tuple[str, ...],
) -> None:
    """Train a model from a CSV file (help text above)."""
    from app.training import train as training
    from app.training.table import read_table

    options = training.TrainingOptions(target, estimator, task, test_size, seed, drop)
    try:
        _progress(f"Reading {data} ...")
        frame, source = read_table(data)
        _progress(f"Read {len(frame)} rows, {frame.shape[1]} columns")
        result = training.train(_repository(), name, frame, options, source, _progress)
    except TrainingError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(_summary(result))


@click.command("train-demo")
@with_appcontext
@click.option("--force", is_flag=True, help="Add a new version even to a demo model that has one.")
def train_demo_command(force: bool) -> None:
    """Train the demo models iris, breast_cancer and diabetes from data bundled with scikit-learn."""
    from app.training import demo
    from app.training import train as training

    repository = _repository()
    for name in demo.DEMOS:
        latest = next_version(repository / name) - 1
        if latest and not force:
            click.echo(f"Skipping {name}: version {latest} exists (--force adds a new version)")
            continue
        _progress(f"Training {name} ...")
        spec = demo.load_demo(name)
        options = training.TrainingOptions(
            spec.target, spec.estimator, spec.task, seed=demo.DEMO_SEED, descriptions=spec.descriptions
        )
        try:
            result = training.train(repository, name, spec.frame, options, spec.source_info(), _progress)
        except TrainingError as exc:
            raise click.ClickException(f"{name}: {exc}") from None
        click.echo(_summary(result))


@click.command("models")
@with_appcontext
def models_command() -> None:
    """List the models in the repository: versions, task, status and held-out metrics."""
    models = get_registry().models()
    if not models:
        root = _repository()
        click.echo(
            f"No models in {root}. Train one with `flask --app app train NAME --data FILE.csv "
            f"--target COLUMN`, the demos with `flask --app app train-demo`, or copy a "
            f"model.joblib into {root}/NAME/1/."
        )
        return
    rows = [("MODEL", "VERSION", "TASK", "ESTIMATOR", "STATUS", "METRICS")]
    for model in models:
        for number in sorted(model.versions):
            entry = model.versions[number]
            meta = entry.metadata
            version = f"{number}*" if number == model.default_version else str(number)
            rows.append(
                (
                    model.name,
                    version,
                    meta.get("task") or "-",
                    meta.get("estimator") or "-",
                    entry.status,
                    f"error: {entry.error}" if entry.error else _metrics(meta),
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
    click.echo("* default version")


def _metrics(meta: dict[str, Any]) -> str:
    metrics = meta.get("metrics") or {}
    return ", ".join(f"{k} {v:.3g}" for k, v in metrics.items() if isinstance(v, (int, float))) or "-"


def init_app(app: Flask) -> None:
    """Register the CLI commands."""
    for command in (train_command, train_demo_command, models_command):
        app.cli.add_command(command)
