"""The core's services bound to an application: its model registry, repository watcher and dataplane.

Each is made once per application by :func:`init_app` and kept in ``app.extensions``; views,
pages and commands reach them through the getters, which default to the current application.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app

from app.core.batching import BatchSettings
from app.core.codecs.csvfile import CsvLimits
from app.core.dataplane import DataPlane
from app.core.registry import ModelRegistry
from app.core.watcher import Watcher, watch

_REGISTRY, _WATCHER, _DATAPLANE = "modelhost.registry", "modelhost.watcher", "modelhost.dataplane"


def init_app(app: Flask) -> None:
    """Make the registry of the configured repository, load and watch it, and make the dataplane."""
    config = app.config
    registry = ModelRegistry(Path(config["MODEL_REPOSITORY"]), config["SKOPS_TRUSTED_TYPES"])
    app.extensions[_REGISTRY] = registry
    # Versions are loaded (and warmed up by their trial prediction) before the first request.
    app.extensions[_WATCHER] = watch(registry, config["REPOSITORY_POLL_SECONDS"], config["STATE_DIR"])
    app.extensions[_DATAPLANE] = DataPlane(
        registry,
        config["MAX_BATCH_SIZE"],
        BatchSettings(config["BATCHING"], config["BATCH_MAX_ROWS"], config["BATCH_MAX_WAIT_US"]),
        config["BATCHING_MODELS"],
        CsvLimits.from_config(config),
    )


def get_registry(app: Flask | None = None) -> ModelRegistry:
    """The registry of the given application, by default the current one."""
    return (app or current_app).extensions[_REGISTRY]


def get_watcher(app: Flask | None = None) -> Watcher:
    """The watcher of the given application, by default the current one."""
    return (app or current_app).extensions[_WATCHER]


def get_dataplane(app: Flask | None = None) -> DataPlane:
    """The dataplane of the given application, by default the current one."""
    return (app or current_app).extensions[_DATAPLANE]
