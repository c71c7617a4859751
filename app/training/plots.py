"""What training shows about a model: feature importance and the PNG plots model cards display.

Plots are drawn on bare matplotlib ``Figure`` objects with the Agg renderer, never through
pyplot, so no global figure state or GUI backend is involved. matplotlib is imported only when
a plot is drawn, which keeps it out of the server's start-up. It is a training extra
(requirements-train.txt, the modelhost:latest-train image): without it a model is trained and
served as usual, and its card shows no plots.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.inspection import permutation_importance
from sklearn.metrics import confusion_matrix
from sklearn.pipeline import Pipeline

#: Test rows permutation importance looks at; enough for a stable ranking, fast on big tables.
_PERMUTATION_ROWS = 2000
_SIZE, _DPI = (6, 4), 100


def feature_importance(
    pipeline: Pipeline, names: list[str], X_test: np.ndarray, y_test: np.ndarray, seed: int
) -> tuple[list[dict[str, Any]], str]:
    """Importance per original feature, largest first, and how it was measured.

    The method is ``impurity_decrease`` (tree ensembles), ``coefficient_size`` (linear models, on
    standardised inputs) or ``permutation`` (held-out score drop, for everything else).
    """
    model = pipeline.named_steps["model"]
    owners = [names[i] for i in _output_owners(pipeline.named_steps["preprocess"])]
    raw = getattr(model, "feature_importances_", None)
    method = "impurity_decrease"
    if raw is None and getattr(model, "coef_", None) is not None:
        # Inputs are standardised for linear models, so coefficient sizes are comparable.
        coef = np.abs(np.atleast_2d(model.coef_))
        raw, method = coef.mean(axis=0), "coefficient_size"
    if raw is not None and len(raw) == len(owners):
        totals = dict.fromkeys(names, 0.0)
        for owner, value in zip(owners, np.asarray(raw, dtype=float), strict=True):
            totals[owner] += value  # one-hot columns add up to their original feature
        grand = sum(totals.values()) or 1.0
        scores = {name: value / grand for name, value in totals.items()}
    else:
        rows = np.arange(len(X_test))
        if len(rows) > _PERMUTATION_ROWS:
            rows = np.random.default_rng(seed).choice(rows, _PERMUTATION_ROWS, replace=False)
        result = permutation_importance(pipeline, X_test[rows], y_test[rows], n_repeats=5, random_state=seed)
        scores, method = dict(zip(names, result.importances_mean, strict=True)), "permutation"
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    return [{"feature": name, "importance": round(float(value), 6)} for name, value in ranked], method


def _output_owners(preprocess: Any) -> list[int]:
    """The position of the original feature behind each column the preprocessing step outputs."""
    owners: list[int] = []
    for _, transformer, columns in preprocess.transformers_:
        if transformer == "drop" or not len(columns):
            continue
        last = transformer.steps[-1][1] if isinstance(transformer, Pipeline) else transformer
        widths = [len(c) for c in last.categories_] if hasattr(last, "categories_") else [1] * len(columns)
        for column, width in zip(columns, widths, strict=False):
            owners.extend([int(column)] * width)
    return owners


def render(
    directory: Path, task: str, y_true: Any, y_pred: Any, metadata: dict[str, Any], warn: Callable[[str], None]
) -> dict[str, str]:
    """Write the plots for this model into ``directory``; returns plot kind -> file name."""
    if importlib.util.find_spec("matplotlib") is None:
        warn(
            "Warning: matplotlib is not installed, so this version's model card shows no plots; to draw "
            "them, train with the modelhost:latest-train image or pip install -r requirements-train.txt"
        )
        return {}
    drawers: dict[str, Callable[[Any], None]] = {
        "feature_importance": lambda ax: _importance(
            ax, metadata["feature_importance"], metadata["feature_importance_method"]
        ),
    }
    if task == "classification":
        drawers["confusion_matrix"] = lambda ax: _confusion(ax, y_true, y_pred, metadata["target"]["classes"])
    else:
        drawers["predicted_vs_actual"] = lambda ax: _scatter(ax, y_true, y_pred, metadata["target"]["name"])
    written = {}
    for kind, draw in sorted(drawers.items()):
        try:
            figure = _figure()
            draw(figure.subplots())
            figure.tight_layout()
            figure.savefig(directory / f"{kind}.png", dpi=_DPI)
        except Exception as exc:  # noqa: BLE001 - a plot is a nice-to-have: it must not throw away a fitted model
            warn(f"Warning: could not draw {kind}.png ({type(exc).__name__}: {exc}); skipped")
            continue
        written[kind] = f"{kind}.png"
    return written


def _figure() -> Any:
    _ensure_config_dir()
    from matplotlib.figure import Figure

    return Figure(figsize=_SIZE, dpi=_DPI)


def _ensure_config_dir() -> None:
    # matplotlib caches fonts under $HOME; under mod_wsgi or a non-root container HOME may be
    # read-only, so use a private directory in /tmp instead of failing or warning every run.
    if os.environ.get("MPLCONFIGDIR"):
        return
    home = Path(os.path.expanduser("~"))
    if home.is_dir() and os.access(home, os.W_OK):
        return
    path = Path(tempfile.gettempdir()) / f"modelhost-matplotlib-{getattr(os, 'getuid', lambda: 0)()}"
    path.mkdir(mode=0o700, exist_ok=True)
    os.environ["MPLCONFIGDIR"] = str(path)


def _confusion(ax: Any, y_true: Any, y_pred: Any, classes: list[Any]) -> None:
    matrix = confusion_matrix(y_true, y_pred, labels=classes)
    ax.imshow(matrix, cmap="Blues")
    labels = [str(c) for c in classes]
    ax.set_xticks(
        range(len(labels)), labels, rotation=45 if len(labels) > 4 else 0, ha="right" if len(labels) > 4 else "center"
    )
    ax.set_yticks(range(len(labels)), labels)
    threshold = matrix.max() / 2
    for (row, column), count in np.ndenumerate(matrix):
        ax.text(column, row, str(count), ha="center", va="center", color="white" if count > threshold else "black")
    ax.set_xlabel("Predicted")
    ax.set_ylabel("Actual")
    ax.set_title(f"Confusion matrix, {int(matrix.sum())} held-out rows")


def _scatter(ax: Any, y_true: Any, y_pred: Any, target: str) -> None:
    actual, predicted = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    ax.scatter(actual, predicted, s=12, alpha=0.6)
    low, high = min(actual.min(), predicted.min()), max(actual.max(), predicted.max())
    ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1, label="perfect")
    ax.set_xlabel(f"Actual {target}")
    ax.set_ylabel(f"Predicted {target}")
    ax.set_title(f"Predicted vs actual, {len(actual)} held-out rows")
    ax.legend(loc="upper left")


def _importance(ax: Any, importance: list[dict[str, Any]], method: str) -> None:
    top = importance[:15][::-1]  # the longest bar on top
    ax.barh([entry["feature"] for entry in top], [entry["importance"] for entry in top])
    ax.tick_params(axis="y", labelsize=8)
    ax.set_title(f"Feature importance ({method.replace('_', ' ')})")
