"""What a model card shows, read from model.json: training facts, metrics in words, plots, features.

Kept apart from the views in ``ui.py`` so the pages stay thin; nothing here touches the request.
"""

from __future__ import annotations

from typing import Any

from app.core.versions import Model, ModelVersion

#: What each hold-out metric means, for readers who do not know the abbreviations.
METRICS = {
    "accuracy": ("Accuracy", "Share of held-out rows classified correctly."),
    "f1_macro": (
        "F1 (macro)",
        "Balance of precision and recall, averaged over classes so each class counts "
        "the same; low when some class is often missed.",
    ),
    "f1": ("F1", "Balance of precision and recall for the positive class."),
    "r2": (
        "R²",
        "Share of the target's variation the model explains: 1 is perfect, 0 is no better than "
        "always predicting the mean.",
    ),
    "mae": ("Mean absolute error", "Typical size of a miss, in the target's units."),
    "rmse": ("Root mean squared error", "Like the mean absolute error, but large misses weigh more."),
}
#: Metrics where a smaller number is better; all others are better when larger.
LOWER_IS_BETTER = {"mae", "rmse", "mse", "log_loss"}

PLOTS = {
    "confusion_matrix": (
        "Confusion matrix",
        "Held-out rows by true class (rows) and predicted class " "(columns); the diagonal counts correct predictions.",
    ),
    "predicted_vs_actual": (
        "Predicted against actual",
        "Each held-out row as a point; the closer the " "points lie to the diagonal, the better the predictions.",
    ),
    "feature_importance": (
        "Feature importance",
        "How much the model relies on each feature; longer bars " "matter more.",
    ),
}


def describe(model: Model, entry: ModelVersion) -> dict[str, Any]:
    """Everything the card template shows for one version and its siblings."""
    meta = entry.metadata
    versions = [model.versions[v] for v in sorted(model.versions, reverse=True)]
    return {
        "meta": meta,
        "created": when(meta.get("created_at")),
        "metrics": metric_rows(meta.get("metrics") or {}, meta),
        "plots": plot_list(meta),
        "features": feature_rows(meta),
        "comparison": compare(versions),
        "default_version": model.default_version,
        "versions": versions,
    }


def when(timestamp: Any) -> str | None:
    """An ISO 8601 UTC timestamp as '2026-01-01 12:00 UTC'."""
    if not isinstance(timestamp, str) or "T" not in timestamp:
        return timestamp
    day, _, clock = timestamp.partition("T")
    return f"{day} {clock[:5]} UTC" if timestamp.endswith(("Z", "+00:00")) else f"{day} {clock[:5]}"


def metric_rows(metrics: dict[str, Any], meta: dict[str, Any]) -> list[dict[str, Any]]:
    """Each metric with its plain-language name and meaning."""
    rows = []
    for key, value in metrics.items():
        label, meaning = METRICS.get(key, (key, ""))
        if key == "f1":
            classes = (meta.get("target") or {}).get("classes") or []
            meaning += f" (positive class: {classes[-1]})" if len(classes) == 2 else ""
        direction = "lower is better" if key in LOWER_IS_BETTER else "higher is better"
        rows.append({"key": key, "label": label, "value": value, "meaning": meaning, "direction": direction})
    return rows


def plot_list(meta: dict[str, Any]) -> list[dict[str, str]]:
    """The plots model.json names, with a title and how to read each one."""
    plots = []
    for kind, filename in (meta.get("plots") or {}).items():
        if isinstance(filename, str) and filename:
            title, caption = PLOTS.get(kind, (kind.replace("_", " ").capitalize(), ""))
            if kind == "feature_importance" and meta.get("feature_importance_method"):
                caption += f" Method: {meta['feature_importance_method'].replace('_', ' ')}."
            plots.append({"kind": kind, "title": title, "caption": caption})
    return plots


def feature_rows(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """Features with their range or categories and, where known, their importance."""
    importance = {
        i.get("feature"): i.get("importance") for i in meta.get("feature_importance") or [] if isinstance(i, dict)
    }
    rows = []
    for feature in meta.get("features") or []:
        low, high, enum = feature.get("minimum"), feature.get("maximum"), feature.get("enum")
        values = (
            ", ".join(str(v) for v in enum)
            if enum
            else f"{low:g} to {high:g}"
            if low is not None and high is not None
            else ""
        )
        rows.append({**feature, "values": values, "importance": importance.get(feature["name"])})
    return rows


def compare(versions: list[ModelVersion]) -> dict[str, Any]:
    """Versions side by side: one row per version, one column per metric, the best value marked."""
    rows: list[dict[str, Any]] = [
        {"version": v.version, "meta": v.metadata, "created": when(v.metadata.get("created_at"))} for v in versions
    ]
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row["meta"].get("metrics") or {} if k not in keys]
    best = {}
    for key in keys:
        values = [
            r["meta"]["metrics"][key]
            for r in rows
            if isinstance((r["meta"].get("metrics") or {}).get(key), (int, float))
        ]
        if len(values) > 1:
            best[key] = min(values) if key in LOWER_IS_BETTER else max(values)
    return {"rows": rows, "metrics": [(k, METRICS.get(k, (k, ""))[0]) for k in keys], "best": best}
