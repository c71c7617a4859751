"""What the registry holds: a model version (loaded or failed) and a model with its routing.

Plain data, free of Flask: ``app.core.registry`` makes and replaces them, everything else reads
them. A :class:`Model` is immutable; a change to its versions or routing is a new one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.errors import SEE_READINESS, ModelNotReady
from app.core.routing import Routing, route
from app.core.runtime import Runtime
from app.storage.scan import Fingerprint
from app.storage.serving import ServingConfig, labels_json

#: The config of a model without a serving file: nothing pinned, no labels, no canary.
NO_SERVING = ServingConfig()


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
    #: The files this copy was loaded from (or failed to load from), as the watcher saw them.
    fingerprint: Fingerprint = ()
    #: When loading finished (seconds since the epoch) and how long it took.
    loaded_at: float | None = None
    load_seconds: float | None = None
    #: The changed files of this version failed to load; this (older) copy keeps serving.
    reload_error: str | None = None
    #: The inference service's batcher for this copy, made on first use; it goes when the copy goes.
    batcher: Any = None

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
                f"Model '{self.name}' version {self.version} failed to load: {self.error}.", see=SEE_READINESS
            )
        return self.runtime


@dataclass(frozen=True)
class Model:
    """A named model, its versions, and the routing in force (``app.core.routing``)."""

    name: str
    versions: dict[int, ModelVersion]
    routing: Routing
    serving: ServingConfig = NO_SERVING
    #: Why the model's serving file was refused (the last good one stays in force).
    serving_error: str | None = None

    @classmethod
    def build(
        cls,
        name: str,
        versions: dict[int, ModelVersion],
        serving: ServingConfig = NO_SERVING,
        serving_error: str | None = None,
        previous: int | None = None,
    ) -> Model:
        """The model with its routing resolved; ``previous`` is the default in force before this change."""
        ordered = dict(sorted(versions.items()))
        loaded = [number for number, entry in ordered.items() if entry.runtime is not None]
        return cls(name, ordered, route(serving, list(ordered), loaded, previous), serving, serving_error)

    @property
    def default_version(self) -> int:
        """The version requests without one use: pinned by serving.json, else the highest that loaded."""
        return self.routing.default

    @property
    def serves(self) -> bool:
        """Whether the default route can answer (its version loaded)."""
        return self.versions[self.default_version].runtime is not None

    @property
    def status(self) -> str:
        """``ready`` when every version loaded, ``degraded`` when some did, else ``failed``."""
        loaded = [v.status == "loaded" for v in self.versions.values()]
        return "ready" if all(loaded) else "degraded" if any(loaded) else "failed"

    def summary(self) -> dict[str, Any]:
        """The entry ``GET /v1/models`` lists."""
        default = self.versions[self.default_version]
        summary = {
            "name": self.name,
            "task": default.metadata.get("task"),
            "versions": [str(v) for v in self.versions],
            "default_version": str(self.default_version),
            "status": self.status,
        }
        if self.routing.labels:
            summary["labels"] = labels_json(self.routing.labels)
        if self.routing.canary is not None:
            summary["canary"] = self.routing.canary.as_json()
        return summary


@dataclass
class Unloaded:
    """A version that was served and is gone: shown by ``GET /v1/repository`` until it comes back."""

    name: str
    version: int
    at: float
    reason: str
