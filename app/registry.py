"""The model repository: every model, its versions, and which of them loaded.

The layout and the files are ``app.repository``'s business. Everything is loaded once, when
the application starts; one broken version, whatever is wrong with it, is recorded as failed
and never stops the others from serving.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from .errors import ModelNotFound, ModelNotReady
from .repository import METADATA_FILE, NAME_PATTERN, VERSION_PATTERN, LoadError, Repository
from .runtime import Runtime, open_version

__all__ = ["NAME_PATTERN", "VERSION_PATTERN", "Model", "ModelRegistry", "ModelVersion", "get_registry"]

log = logging.getLogger(__name__)


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
    """A named model and its versions; the highest version that loaded is the default."""

    name: str
    versions: dict[int, ModelVersion] = field(default_factory=dict)

    @property
    def default_version(self) -> int:
        """The highest version that loaded; the highest of all when none did (it answers 503)."""
        loaded = [number for number, entry in self.versions.items() if entry.runtime is not None]
        return max(loaded or self.versions)

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
        self.repository = Repository(self.root)
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
                try:
                    model = self._scan_model(model_dir)
                except OSError as exc:  # e.g. a folder the server may not list: the others still load
                    log.error("Skipping %s: cannot read it (%s); fix its permissions", model_dir, exc)
                    continue
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
            if self.repository.find_artifact(version_dir) is None and not (version_dir / METADATA_FILE).exists():
                continue  # an empty directory, e.g. a version being copied in
            model.versions[int(version_dir.name)] = self._load_version(model.name, int(version_dir.name),
                                                                        version_dir)
        return model if model.versions else None

    def _load_version(self, name: str, version: int, path: Path) -> ModelVersion:
        entry = ModelVersion(name, version, path)
        started = time.perf_counter()
        try:
            entry.runtime = open_version(self.repository, path, name, version, self.trusted_types)
        except Exception as exc:  # noqa: BLE001 - whatever breaks one version must not stop the others
            expected = isinstance(exc, LoadError)
            entry.error = self._public(str(exc) if expected else
                                       f"loading failed unexpectedly ({type(exc).__name__}: {exc})")
            log.error("Model %s version %s failed to load: %s", name, version, exc, exc_info=not expected)
            try:
                entry.recorded = self.repository.read_metadata(path) or {}
            except Exception:  # noqa: BLE001 - the error above already says what is wrong
                entry.recorded = {}
        else:
            entry.recorded = entry.runtime.metadata
            log.info("Loaded model %s version %s (%s, %d features) in %.0f ms", name, version,
                     entry.runtime.metadata["task"], len(entry.runtime.schema.names),
                     (time.perf_counter() - started) * 1000)
        return entry

    def _public(self, message: str) -> str:
        """A load error as clients see it: no absolute path of the server's file system in it.

        Messages of this package name paths relative to the repository already; a library's own
        exception text may still carry the absolute path of the file it could not read.
        """
        for root in {str(self.root.resolve()), str(self.root)}:
            message = message.replace(root + "/", "").replace(root, "the model repository")
        return message

    def models(self) -> list[Model]:
        """Every model, sorted by name."""
        return [self._models[name] for name in sorted(self._models)]

    def model(self, name: str) -> Model:
        """The named model, or ModelNotFound."""
        try:
            return self._models[name]
        except KeyError:
            shown = name if len(name) <= 64 else name[:64] + "..."
            raise ModelNotFound(f"No model named '{shown}'. GET /v1/models lists the models served.") from None

    def get(self, name: str, version: int | str | None = None) -> ModelVersion:
        """One version of a model (the default when ``version`` is None), or ModelNotFound."""
        model = self.model(name)
        if version is None:
            return model.versions[model.default_version]
        text = str(version)
        number = int(text) if VERSION_PATTERN.fullmatch(text) else None
        if number not in model.versions:
            if len(text) > 20:
                text = text[:20] + "..."
            known = ", ".join(str(v) for v in sorted(model.versions))
            raise ModelNotFound(f"Model '{name}' has no version '{text}'; its versions are {known}.")
        return model.versions[number]

    def plot_file(self, entry: ModelVersion, kind: str) -> Path:
        """The PNG of one of the version's plots, or ModelNotFound when model.json names none.

        Only a file of the version directory that resolves inside the repository is served: a
        link to anywhere else is refused like a missing file (and logged for the operator).
        """
        filename = (entry.metadata.get("plots") or {}).get(kind)
        missing = ModelNotFound(f"Model '{entry.name}' version {entry.version} has no plot '{kind}'; "
                                "its model card lists the plots it has.")
        if not isinstance(filename, str) or not filename.endswith(".png") or "/" in filename or "\\" in filename:
            raise missing
        try:
            path = self.repository.inside(entry.path / filename)
        except LoadError as exc:
            log.warning("Not serving plot %s of model %s version %s: %s", kind, entry.name, entry.version, exc)
            raise missing from None
        if not path.is_file():
            raise missing
        return path

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
