"""The model repository: every model, its versions, and which of them loaded.

Layout: ``<repository>/<name>/<version>/model.{joblib,pkl,skops}`` plus optional
``model.json``. Everything is loaded once, when the application starts; one broken version
is recorded as failed and never stops the others from serving.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from .errors import ModelNotFound, ModelNotReady
from .runtime import LoadError, Runtime, find_artifact, open_version, read_metadata

log = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
VERSION_PATTERN = re.compile(r"[1-9][0-9]{0,8}")


@dataclass
class ModelVersion:
    """One version directory and, once loaded, the runtime that predicts with it."""

    name: str
    version: int
    path: Path
    runtime: Runtime | None = None
    error: str | None = None
    #: model.json, or the metadata inferred from the estimator; read once, when loading.
    recorded: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "loaded" if self.runtime is not None else "failed"

    @property
    def metadata(self) -> dict[str, Any]:
        """What ``model.json`` says (or what was inferred), with the load status."""
        meta = {**self.recorded, "name": self.name, "version": str(self.version), "status": self.status}
        if self.error:
            meta["error"] = self.error
        return meta

    def ready_runtime(self) -> Runtime:
        """The runtime, or ModelNotReady saying why this version cannot predict."""
        if self.runtime is None:
            raise ModelNotReady(
                f"Model '{self.name}' version {self.version} failed to load: {self.error}. "
                "GET /health/ready shows every model's status."
            )
        return self.runtime


@dataclass
class Model:
    """A named model and its versions; the highest version number is the default."""

    name: str
    versions: dict[int, ModelVersion] = field(default_factory=dict)

    @property
    def default_version(self) -> int:
        return max(self.versions)

    @property
    def status(self) -> str:
        """``ready`` when every version loaded, ``degraded`` when some did, else ``failed``."""
        loaded = [v.status == "loaded" for v in self.versions.values()]
        return "ready" if all(loaded) else "degraded" if any(loaded) else "failed"

    def summary(self) -> dict[str, Any]:
        """The entry ``GET /v1/models`` lists."""
        default = self.versions[self.default_version]
        return {
            "name": self.name,
            "task": default.metadata.get("task"),
            "versions": [str(v) for v in sorted(self.versions)],
            "default_version": str(self.default_version),
            "status": self.status,
        }


class ModelRegistry:
    """Every model in the repository, loaded at start-up and read-only afterwards."""

    def __init__(self, root: Path, trusted_types: list[str] | None = None) -> None:
        self.root = Path(root)
        self.trusted_types = list(trusted_types or [])
        self._models: dict[str, Model] = {}

    def load(self) -> None:
        """Scan the repository and load every version; failures are recorded, not raised."""
        models: dict[str, Model] = {}
        if not self.root.is_dir():
            log.warning("Model repository %s does not exist; no models will be served. "
                        "Create it or set MODELHOST_MODEL_REPOSITORY.", self.root)
        else:
            for model_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
                model = self._scan_model(model_dir)
                if model is not None:
                    models[model.name] = model
        self._models = models

    def _scan_model(self, model_dir: Path) -> Model | None:
        if not NAME_PATTERN.fullmatch(model_dir.name):
            log.warning("Skipping %s: model names are lower-case letters, digits, '-' and '_' "
                        "(at most 64, starting with a letter or digit)", model_dir)
            return None
        model = Model(model_dir.name)
        for version_dir in sorted(p for p in model_dir.iterdir() if p.is_dir()):
            if version_dir.name.startswith("."):
                continue  # work in progress, e.g. a version `flask train` is still writing
            if not VERSION_PATTERN.fullmatch(version_dir.name):
                log.warning("Skipping %s: version directories are positive integers", version_dir)
                continue
            if find_artifact(version_dir) is None and not (version_dir / "model.json").exists():
                continue  # an empty directory, e.g. a version being copied in
            model.versions[int(version_dir.name)] = self._load_version(model.name, int(version_dir.name),
                                                                        version_dir)
        return model if model.versions else None

    def _load_version(self, name: str, version: int, path: Path) -> ModelVersion:
        entry = ModelVersion(name, version, path)
        started = time.perf_counter()
        try:
            self._check_inside_repository(path)
            entry.runtime = open_version(path, name, version, self.trusted_types)
        except LoadError as exc:
            entry.error = str(exc)
            log.error("Model %s version %s failed to load: %s", name, version, exc)
            try:
                entry.recorded = read_metadata(path) or {}
            except LoadError:
                pass  # the error above already says what is wrong
        else:
            entry.recorded = entry.runtime.metadata
            log.info("Loaded model %s version %s (%s, %d features) in %.0f ms", name, version,
                     entry.runtime.metadata["task"], len(entry.runtime.schema.names),
                     (time.perf_counter() - started) * 1000)
        return entry

    def _check_inside_repository(self, path: Path) -> None:
        # A symlink out of the repository would let files from elsewhere be unpickled.
        root = self.root.resolve()
        artifact = find_artifact(path)
        for candidate in (path, artifact):
            if candidate is not None and root not in candidate.resolve().parents:
                raise LoadError(f"{candidate} resolves outside the model repository {root}; "
                                "copy the file into the repository instead of linking it")

    def models(self) -> list[Model]:
        """Every model, sorted by name."""
        return [self._models[name] for name in sorted(self._models)]

    def model(self, name: str) -> Model:
        """The named model, or ModelNotFound."""
        try:
            return self._models[name]
        except KeyError:
            raise ModelNotFound(f"No model named '{name}'. GET /v1/models lists the models served.") from None

    def get(self, name: str, version: int | str | None = None) -> ModelVersion:
        """One version of a model (the default when ``version`` is None), or ModelNotFound."""
        model = self.model(name)
        if version is None:
            return model.versions[model.default_version]
        number = int(version) if str(version).isdigit() else None
        if number not in model.versions:
            known = ", ".join(str(v) for v in sorted(model.versions))
            raise ModelNotFound(f"Model '{name}' has no version '{version}'; its versions are {known}.")
        return model.versions[number]

    def all_ready(self) -> bool:
        """True when every version of every model loaded."""
        return all(v.status == "loaded" for m in self._models.values() for v in m.versions.values())


def init_app(app: Flask) -> None:
    """Load the configured repository once, when the application is created."""
    registry = ModelRegistry(Path(app.config["MODEL_REPOSITORY"]), app.config["SKOPS_TRUSTED_TYPES"])
    registry.load()
    app.extensions["modelhost.registry"] = registry


def get_registry(app: Flask | None = None) -> ModelRegistry:
    """The registry of the given application, by default the current one."""
    return (app or current_app).extensions["modelhost.registry"]
