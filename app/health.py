"""Liveness and readiness, kept apart from inference so probes never load the model path."""
from __future__ import annotations

from flask import Blueprint, jsonify

from .registry import get_registry

bp = Blueprint("health", __name__, url_prefix="/health")


@bp.get("/live")
def live():
    """Liveness: 200 while the process can answer.
    ---
    tags: [health]
    operationId: live
    security: []
    responses:
      200:
        description: The process answers.
        content:
          application/json:
            schema:
              type: object
              required: [status]
              properties:
                status: {type: string, enum: [live]}
      500: {$ref: "#/components/responses/500"}
    """
    return jsonify({"status": "live"})


@bp.get("/ready")
def ready():
    """Readiness: 200 when every model version loaded, 503 otherwise; names every model and its status.
    ---
    tags: [health]
    operationId: ready
    security: []
    responses:
      200:
        description: Every model version loaded.
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Health"}
      500: {$ref: "#/components/responses/500"}
      503:
        description: Some model version failed to load; the body names it and says why.
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Health"}
    """
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
