"""The live model repository over HTTP: every version's state, and a rescan on request.

``GET /v1/repository`` needs what every /v1 path needs (the API token, when one is set);
``POST /v1/repository/reload`` needs the admin token, and is refused (403) while none is set.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify

from app.core.registry import ModelRegistry
from app.core.versions import Model
from app.core.watcher import Watcher
from app.extensions import get_registry, get_watcher
from app.http.auth import require_admin
from app.storage.serving import labels_json

bp = Blueprint("repository", __name__, url_prefix="/repository")
#: Seconds a reload request waits for this process's rescan (loads included) before answering 202.
RELOAD_WAIT_SECONDS = 30.0


def _time(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _counts(processes: list[dict[str, Any]], name: str, version: str) -> dict[str, int]:
    counts = {"loaded": 0, "failed": 0, "loading": 0}
    for process in processes:
        state = process.get("versions", {}).get(name, {}).get(version)
        if state in counts:
            counts[state] += 1
    return counts


def _model_state(
    model: Model | None, name: str, registry: ModelRegistry, watcher: Watcher, processes: list[dict[str, Any]]
) -> dict[str, Any]:
    """One model's entry: its routing in force, its serving file and each version's state."""
    versions: dict[int, dict[str, Any]] = {}
    for (model_name, number), gone in list(registry.unloaded.items()):
        if model_name == name:
            versions[number] = {
                "version": str(number),
                "state": "unloaded",
                "unloaded_at": _time(gone.at),
                "reason": gone.reason,
            }
    for (model_name, number), started in list(registry.loading.items()):
        if model_name == name:
            versions[number] = {"version": str(number), "state": "loading", "loading_since": _time(started)}
    for number, entry in model.versions.items() if model is not None else ():
        item: dict[str, Any] = {
            "version": str(number),
            "state": entry.status,
            "error": entry.error,
            "loaded_at": _time(entry.loaded_at),
            "load_seconds": None if entry.load_seconds is None else round(entry.load_seconds, 4),
            "sha256": entry.recorded.get("sha256"),
        }
        if entry.reload_error:
            item["reload_error"] = entry.reload_error
        if (name, number) in registry.loading:
            item["reloading"] = True
        versions[number] = item
    for number, item in versions.items():
        item["processes"] = _counts(processes, name, str(number))
    config, error = registry.serving_config(name), model.serving_error if model is not None else None
    body: dict[str, Any] = {
        "name": name,
        "default_version": None if model is None else str(model.default_version),
        "serving_file": {"present": watcher.has_serving_file(name), "error": error, "requested": config.as_json()},
        "labels": {} if model is None else labels_json(model.routing.labels),
        "canary": None if model is None or model.routing.canary is None else model.routing.canary.as_json(),
        "versions": [versions[n] for n in sorted(versions)],
    }
    return body


def repository_state() -> dict[str, Any]:
    """The whole repository as this process serves it, with how many processes have each version."""
    registry, watcher = get_registry(), get_watcher()
    processes = watcher.fleet.processes()
    served = {model.name: model for model in registry.models()}
    names = set(served) | {name for name, _ in list(registry.unloaded)} | {name for name, _ in list(registry.loading)}
    return {
        "repository_poll_seconds": watcher.poll_seconds,
        "last_scan": _time(watcher.last_scan),
        "processes": len(processes),
        "models": [_model_state(served.get(name), name, registry, watcher, processes) for name in sorted(names)],
    }


@bp.get("")
def state() -> Response:
    """Every model and version with its state, the routing in force, and how many processes have it.
    ---
    tags: [repository]
    operationId: repository_state
    responses:
      200:
        description: >-
          Every model and version this process knows, with its state (`loading`, `loaded`,
          `failed`, `unloaded`), the reason of a failure, when it loaded and how long that took,
          and per version how many of the server's processes have it in each state: a rollout
          has finished when every version's `loaded` count equals `processes`.
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Repository"}
      401: {$ref: "#/components/responses/401"}
      500: {$ref: "#/components/responses/500"}
    """
    return jsonify(repository_state())


@bp.post("/reload")
def reload() -> Response:
    """Rescan the repository now in every process, instead of at the next poll (admin token).

    The answer comes when this process's rescan has finished, loads included (200), or after
    30 s with the state so far (202); the other processes rescan within half a second.
    ---
    tags: [repository]
    operationId: repository_reload
    security: [{adminToken: []}]
    responses:
      200:
        description: The rescan finished; the body is the repository's state after it.
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Repository"}
      202:
        description: The rescan is still loading versions; the body is the state so far.
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Repository"}
      401: {$ref: "#/components/responses/401"}
      403: {$ref: "#/components/responses/403"}
      500: {$ref: "#/components/responses/500"}
    """
    require_admin()
    done = get_watcher().rescan(RELOAD_WAIT_SECONDS)
    response = jsonify(repository_state())
    response.status_code = 200 if done else 202
    return response
