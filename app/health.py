"""Liveness and readiness, kept apart from inference so probes never load the model path."""
from __future__ import annotations

from flask import Blueprint, jsonify

from .registry import get_registry

bp = Blueprint("health", __name__, url_prefix="/health")


@bp.get("/live")
def live():
    """200 while the process can answer."""
    return jsonify({"status": "live"})


@bp.get("/ready")
def ready():
    """200 when every model version loaded, 503 otherwise; names every model and its status."""
    registry = get_registry()
    models = []
    for model in registry.models():
        versions = []
        for number in sorted(model.versions):
            entry = model.versions[number]
            item = {"version": str(number), "status": entry.status}
            if entry.error:
                item["error"] = entry.error
            versions.append(item)
        models.append({"name": model.name, "status": model.status, "versions": versions})
    ok = registry.all_ready()
    response = jsonify({"status": "ready" if ok else "not ready", "models": models})
    response.status_code = 200 if ok else 503
    return response
