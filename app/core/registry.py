"""The models this process serves: every model, its versions, and which of them answer.

The layout and the files are ``app.storage.repository``'s business; ``app.core.watcher`` keeps this in step
with the repository while the server runs. Requests read one immutable snapshot (a dict of
:class:`Model`), which a change replaces whole, so a request sees either the old or the new
set of versions, never a version half loaded. A version is checked before it joins (sha256,
loading, its schema and one trial prediction); one that fails any check is recorded as failed
with the reason and never stops the others from serving.

At the end of every scan the watcher settles the registry: the default of each model that
serves is remembered as its last good one (``app.core.readiness``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

from app.core.errors import SEE_MODELS, SEE_REPOSITORY, ModelNotFound, ModelNotReady
from app.core.loading import open_version
from app.core.readiness import Readiness
from app.core.telemetry import LOAD_SECONDS, LOADED, LOADS
from app.core.versions import Model, ModelVersion, Unloaded
from app.storage.errors import LoadError
from app.storage.layout import VERSION_PATTERN
from app.storage.repository import Repository
from app.storage.scan import Fingerprint
from app.storage.serving import ServingConfig

log = logging.getLogger(__name__)


class ModelRegistry:
    """Every model this process serves; read lock-free by requests, changed by one writer at a time."""

    #: Unloaded versions remembered for the repository listing (the oldest are forgotten first).
    MAX_UNLOADED = 100

    def __init__(self, root: Path, trusted_types: list[str] | None = None) -> None:
        self.root = Path(root)
        self.repository = Repository(self.root)
        self.trusted_types = list(trusted_types or [])
        self._models: dict[str, Model] = {}
        self._lock = threading.RLock()
        #: Bumped by every change, so caches (the API document) know when to rebuild.
        self.generation = 0
        #: Versions being loaded now: (name, version) -> when loading started (seconds since the epoch).
        self.loading: dict[tuple[str, int], float] = {}
        self.unloaded: dict[tuple[str, int], Unloaded] = {}
        #: Each model's serving config and, when its file was refused, why (kept for models not loaded yet).
        self._configs: dict[str, tuple[ServingConfig, str | None]] = {}
        self._listeners: list[Callable[[], None]] = []
        self._readiness = Readiness()
        #: The default each model's last log line named.
        self._announced: dict[str, int] = {}

    # --- reading (requests) -------------------------------------------------------------------

    def models(self) -> list[Model]:
        """Every model, sorted by name."""
        models = self._models
        return [models[name] for name in sorted(models)]

    def find(self, name: str) -> Model | None:
        """The named model, or None."""
        return self._models.get(name)

    def model(self, name: str) -> Model:
        """The named model, or ModelNotFound."""
        try:
            return self._models[name]
        except KeyError:
            shown = name if len(name) <= 64 else name[:64] + "..."
            raise ModelNotFound(f"No model named '{shown}'.", see=SEE_MODELS) from None

    def get(self, name: str, version: int | str | None = None) -> ModelVersion:
        """One version of a model (the default when ``version`` is None), or ModelNotFound."""
        model = self.model(name)
        if version is None:
            return model.versions[model.default_version]
        text = str(version)
        number = int(text) if VERSION_PATTERN.fullmatch(text) else None
        entry = None if number is None else model.versions.get(number)
        if entry is None:
            if (name, number) in self.loading:
                raise ModelNotReady(
                    f"Model '{name}' version {number} is loading; it answers within seconds.",
                    see=SEE_REPOSITORY,
                    retry_after=1,
                )
            if len(text) > 20:
                text = text[:20] + "..."
            known = ", ".join(str(v) for v in model.versions)
            raise ModelNotFound(f"Model '{name}' has no version '{text}'; its versions are {known}.")
        return entry

    def route(self, name: str) -> ModelVersion:
        """The version that answers this request on the model's default route (the canary takes its share)."""
        model = self.model(name)
        return model.versions[model.routing.choose()]

    def labelled(self, name: str, label: str) -> ModelVersion:
        """The version a label of the model's serving file names, or ModelNotFound / ModelNotReady."""
        model = self.model(name)
        number = model.routing.labels.get(label)
        if number is None:
            shown = label if len(label) <= 64 else label[:64] + "..."
            known = ", ".join(sorted(model.routing.labels)) or "none (its serving.json names none)"
            raise ModelNotFound(f"Model '{name}' has no label '{shown}'; its labels are {known}.")
        entry = model.versions.get(number)
        if entry is None:
            raise ModelNotReady(
                f"Label '{label}' of model '{name}' names version {number}, which is not loaded. "
                "Copy that version into the repository or change the label in serving.json."
            )
        return entry

    def plot_file(self, entry: ModelVersion, kind: str) -> BinaryIO:
        """The PNG of one of the version's plots, opened, or ModelNotFound when model.json names none.

        Only a file of the version directory that resolves inside the repository is served: a
        link to anywhere else is refused like a missing file (and logged for the operator). The
        file is opened once and checked on its descriptor, so the one sent is the one checked.
        """
        plot = self.repository.open_plot(entry.path, (entry.metadata.get("plots") or {}).get(kind))
        if plot is None:
            raise ModelNotFound(
                f"Model '{entry.name}' version {entry.version} has no plot '{kind}'; "
                "its model card lists the plots it has."
            )
        return plot

    def all_ready(self) -> bool:
        """True when every version of every model loaded."""
        return all(v.status == "loaded" for m in self._models.values() for v in m.versions.values())

    def serving(self) -> bool:
        """The readiness of this process (README): every model that has served still answers."""
        return self._readiness.serving(self._models)

    @property
    def started(self) -> bool:
        """Whether the start-up rule of readiness is over: every model served at the end of a scan."""
        return self._readiness.started

    # --- changing (the watcher, start-up) -----------------------------------------------------

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Have ``listener`` called after every change (from the thread that made it)."""
        self._listeners.append(listener)

    def load_version(self, name: str, version: int, path: Path, fingerprint: Fingerprint = ()) -> ModelVersion:
        """Check and load one version directory; the entry says ``failed`` and why when any check fails."""
        entry = ModelVersion(name, version, path, fingerprint=fingerprint)
        started, wall = time.perf_counter(), time.time()
        try:
            entry.runtime = open_version(self.repository, path, name, version, self.trusted_types)
            entry.runtime.trial()
        except Exception as exc:  # noqa: BLE001 - whatever breaks one version must not stop the others
            entry.runtime = None
            expected = isinstance(exc, LoadError)
            entry.error = self.repository.public(
                str(exc) if expected else f"loading failed unexpectedly ({type(exc).__name__}: {exc})"
            )
            log.error("Model %s version %s failed to load: %s", name, version, exc, exc_info=not expected)
            try:
                entry.recorded = self.repository.read_metadata(path) or {}
            except Exception:  # noqa: BLE001 - the error above already says what is wrong
                entry.recorded = {}
        else:
            entry.recorded = entry.runtime.metadata
        entry.loaded_at, entry.load_seconds = wall, time.perf_counter() - started
        LOADS.labels(name, str(version), entry.status).inc()
        LOAD_SECONDS.labels(name, str(version)).observe(entry.load_seconds)
        if entry.runtime is not None:
            log.info(
                "Loaded model %s version %s (%s, %d features) in %.0f ms",
                name,
                version,
                entry.runtime.metadata["task"],
                len(entry.runtime.schema.names),
                entry.load_seconds * 1000,
            )
        return entry

    def adopt(self, last_good: dict[str, int], started: bool) -> None:
        """Take over what the server knows when this process joins it (``app.core.fleet``), before the first scan."""
        with self._lock:
            self._readiness.adopt(last_good, started)

    def publish(self, model: Model) -> None:
        """Make a model (new, or with changed versions or routing) the one requests see.

        Its routing falls back on its last good default, not on whatever an earlier step of the
        same scan published: the versions of a model that appears (at start or later) are added
        one at a time, and the first of them must not become the default a pinned one falls back on.
        """
        with self._lock:
            previous = self._readiness.last_good.get(model.name)
            model = Model.build(model.name, model.versions, model.serving, model.serving_error, previous=previous)
            for number in model.versions:
                self.unloaded.pop((model.name, number), None)
            self._models = {**self._models, model.name: model}
            self._changed()
        for number, entry in model.versions.items():
            LOADED.labels(model.name, str(number)).set(1 if entry.runtime is not None else 0)

    def settle(self) -> dict[str, int | None]:
        """End of a scan: remember the default of each model that serves; return what changed (None: forgotten).

        The first scan after which every model serves ends the start-up rule of readiness.
        """
        with self._lock:
            models = self._models
            changed = self._readiness.settle(models)
            for name in [name for name in self._announced if name not in models]:
                del self._announced[name]
            for name, model in models.items():
                if self._announced.get(name) != model.default_version:
                    self._announced[name] = model.default_version
                    log.info("Model %s: version %s is the default", name, model.default_version)
        return changed

    def install(self, entry: ModelVersion) -> None:
        """Add a version, or replace one whose files changed; a failed reload keeps the loaded copy serving."""
        with self._lock:
            model = self._models.get(entry.name)
            old = model.versions.get(entry.version) if model is not None else None
            if entry.runtime is None and old is not None and old.runtime is not None:
                log.error(
                    "Model %s version %s: the changed files failed to load; the copy loaded before keeps "
                    "serving. Fix or restore the files.",
                    entry.name,
                    entry.version,
                )
                entry = replace(old, fingerprint=entry.fingerprint, reload_error=entry.error)
            if model is None:
                config, error = self._configs.get(entry.name, (ServingConfig(), None))
                self.publish(Model.build(entry.name, {entry.version: entry}, config, error))
            else:
                self.publish(replace(model, versions={**model.versions, entry.version: entry}))

    def serving_config(self, name: str) -> ServingConfig:
        """The serving config in force for a model (the empty one when it has none)."""
        return self._configs.get(name, (ServingConfig(), None))[0]

    def set_serving(self, name: str, config: ServingConfig, error: str | None) -> None:
        """Apply a model's serving file (or, with ``error``, record why it was refused and keep the last good one)."""
        with self._lock:
            self._configs[name] = (config, error)
            model = self._models.get(name)
            if model is not None and (model.serving != config or model.serving_error != error):
                self.publish(replace(model, serving=config, serving_error=error))

    def forget_serving(self, name: str) -> None:
        """Drop the serving config of a model whose directory is gone."""
        with self._lock:
            self._configs.pop(name, None)

    def unload(self, name: str, version: int, reason: str) -> None:
        """Stop serving a version; requests already using it finish with it, later ones get 404."""
        with self._lock:
            model = self._models.get(name)
            if model is None or version not in model.versions:
                return
            versions = {n: e for n, e in model.versions.items() if n != version}
            self._remember(name, version, reason)
            if versions:
                self.publish(replace(model, versions=versions))
            else:
                self._models = {n: m for n, m in self._models.items() if n != name}
                self._readiness.removed(name)
                self._changed()
                log.info("Model %s removed: it has no versions left", name)
        LOADED.labels(name, str(version)).set(0)
        LOADS.labels(name, str(version), "unloaded").inc()
        log.info("Unloaded model %s version %s (%s)", name, version, reason)

    def _remember(self, name: str, version: int, reason: str) -> None:
        self.unloaded[(name, version)] = Unloaded(name, version, time.time(), reason)
        while len(self.unloaded) > self.MAX_UNLOADED:
            self.unloaded.pop(next(iter(self.unloaded)))

    def _changed(self) -> None:
        self.generation += 1
        for listener in self._listeners:
            try:
                listener()
            except Exception:  # noqa: BLE001 - a listener's failure must not undo the change
                log.exception("A listener of the model registry failed")
