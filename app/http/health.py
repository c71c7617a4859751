"""Liveness and readiness, kept apart from inference so probes never load the model path."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from app import urls
from app.extensions import get_registry

bp = Blueprint("health", __name__, url_prefix=urls.HEALTH)


@bp.get("/live")
def live() -> Response:
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
def ready() -> Response:
    """Readiness: 200 while every model that has served still answers, 503 otherwise; names every model and version.

    At start every model must answer: a server started on a broken repository is not ready. Once
    it was ready, a model counts only once it has served: a broken model copied in later is
    listed as `failed` (with the `error`) but must not take an instance that serves every other
    model out of its balancer's rotation. Likewise a failed version of a model whose default
    still answers leaves the model `degraded`, not the server unready. A model that served and
    has no version that answers any more makes the answer 503. Versions still loading are left
    out until they loaded or failed. A process that mod_wsgi starts later judges as its
    neighbours do.
    ---
    tags: [health]
    operationId: ready
    security: []
    responses:
      200:
        description: >-
          Every model that has served answers (some versions, and models copied in that never
          loaded, may have failed; see `models`).
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Health"}
      500: {$ref: "#/components/responses/500"}
      503:
        description: >-
          A model that has served (at start: any model) has no version that answers; the body
          names it and says why.
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Health"}
    """
    registry = get_registry()
    models = []
    for model in registry.models():
        versions = []
        for number, entry in model.versions.items():
            item = {"version": str(number), "status": entry.status}
            if entry.error:
                item["error"] = entry.error
            if entry.reload_error:
                item["reload_error"] = entry.reload_error
            versions.append(item)
        models.append(
            {
                "name": model.name,
                "status": model.status,
                "default_version": str(model.default_version),
                "versions": versions,
            }
        )
    ok = registry.serving()
    response = jsonify({"status": "ready" if ok else "not ready", "models": models})
    response.status_code = 200 if ok else 503
    return response
