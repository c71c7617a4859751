"""Keeping the registry in step with the repository while the server runs.

A background thread of every process polls the repository (``REPOSITORY_POLL_SECONDS``, 5 by
default; 0 turns polling off) and compares what it finds with what is served:

- a new version directory, or one whose files changed, is loaded in the background once its
  files are stable: the same names, sizes and modification times at two scans ``settle``
  seconds apart, none of them modified in the last ``settle`` seconds. The old copy serves
  until the new one passed every check; a version that fails keeps the old copy serving;
- a version directory that is gone is unloaded (requests already using it finish with it);
- a changed ``serving.json`` is applied, or refused and reported while the last good one stays.

After every scan the registry settles (each serving model's last good default, and whether
the start-up rule of readiness is over) and the watcher records that in the server's state
folder, where a process that starts later takes it over before its first scan.

``POST /v1/repository/reload`` wakes the thread at once, and through ``app.core.fleet`` the
threads of the other processes.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Any

from app.core.fleet import Fleet
from app.core.registry import ModelRegistry
from app.storage.errors import LoadError
from app.storage.scan import ModelFiles, VersionFiles
from app.storage.serving import SERVING_FILE, ServingConfig, ServingFileError, parse_serving

log = logging.getLogger(__name__)

#: Seconds between the watcher thread's checks for a rescan request (a stat of one file).
TICK_SECONDS = 0.5


def read_serving(registry: ModelRegistry, name: str, last_good: ServingConfig) -> tuple[ServingConfig, str | None]:
    """A model's serving config, or the last good one and the reason when its file cannot be used."""
    where = f"{name}/{SERVING_FILE}"
    try:
        text = registry.repository.read_serving(name)
        return (ServingConfig() if text is None else parse_serving(text, where)), None
    except (OSError, LoadError, ServingFileError) as exc:
        detail = (
            str(exc)
            if not isinstance(exc, OSError)
            else f"{where} cannot be read ({exc.strerror or type(exc).__name__}); fix its permissions"
        )
        kept = "the last good one stays in force" if last_good != ServingConfig() else "none is in force"
        log.error("Model %s: refusing its serving file, %s: %s", name, kept, detail)
        return last_good, detail


class Watcher:
    """Scans the repository and applies what changed to the registry, one scan at a time."""

    def __init__(
        self, registry: ModelRegistry, poll_seconds: float, fleet: Fleet | None = None, settle_seconds: float = 1.0
    ) -> None:
        self.registry = registry
        self.poll_seconds = poll_seconds
        self.settle_seconds = settle_seconds
        self.fleet = fleet or Fleet(None)
        #: Changed files not applied yet: key -> (fingerprint, when first seen with it).
        self._seen: dict[tuple[str, ...], tuple[Any, float]] = {}
        #: The serving file each model's config was last read from.
        self._serving: dict[str, tuple[int, int, int] | None] = {}
        self._scan_lock = threading.Lock()
        self._state = threading.Condition()
        self._wake = threading.Event()
        self._completed = 0
        self._scanning = False
        self.pending = False
        #: When the last scan finished, and when the last one that left nothing pending started.
        self.last_scan: float | None = None
        self.settled: float | None = None
        registry.subscribe(self._publish)

    # --- one scan -----------------------------------------------------------------------------

    def scan(self) -> bool:
        """Apply every stable change; True when some changes are not stable yet (scan again in ``settle_seconds``)."""
        with self._scan_lock:
            with self._state:
                self._scanning = True
            started, pending = time.time(), False
            try:
                pending = self._scan()
                self._settle()
            finally:
                with self._state:
                    self._scanning, self.pending = False, pending
                    self._completed += 1
                    self.last_scan = time.time()
                    if not pending:
                        self.settled = started
                    self._state.notify_all()
            self._publish()
            return pending

    def _scan(self) -> bool:
        scan = self.registry.repository.scan()
        if not scan.complete:
            return False
        now, wall = time.monotonic(), time.time()
        seen_now: set[tuple[str, ...]] = set()
        waiting: set[str] = set()
        pending = False
        for files in scan.models.values():
            pending |= self._apply_serving(files, now, wall, seen_now)
            for number, version in files.versions.items():
                if self._apply_version(files.name, number, version, now, wall, seen_now):
                    pending = True
                    waiting.add(files.name)
        for model in self.registry.models():
            found = scan.models.get(model.name)
            # A model whose new files are still being copied keeps what it has until they load:
            # replacing its only version by a new one leaves no moment without a version to serve.
            if model.name in scan.unreadable or model.name in waiting:
                continue
            for number in list(model.versions):
                if found is None or number not in found.versions:
                    self.registry.unload(model.name, number, "its directory was removed from the repository")
        for name in sorted(set(self._serving) - set(scan.models) - scan.unreadable):
            self._serving.pop(name)
            self.registry.forget_serving(name)
        self._seen = {key: value for key, value in self._seen.items() if key in seen_now}
        return pending

    def _settle(self) -> None:
        """Have the registry settle, and keep the server's memory of it in step."""
        self.fleet.record_defaults(self.registry.settle())
        if self.registry.started:
            self.fleet.record_started()

    def _stable(
        self,
        key: tuple[str, ...],
        fingerprint: Any,
        newest: float,
        now: float,
        wall: float,
        seen_now: set[tuple[str, ...]],
    ) -> bool:
        """Whether changed files have stayed the same for ``settle_seconds`` (and nothing was written meanwhile)."""
        seen_now.add(key)
        first = self._seen.get(key)
        if first is None or first[0] != fingerprint:
            self._seen[key] = first = (fingerprint, now)
        return now - first[1] >= self.settle_seconds and wall - newest >= self.settle_seconds

    def _apply_version(
        self, name: str, number: int, files: VersionFiles, now: float, wall: float, seen_now: set[tuple[str, ...]]
    ) -> bool:
        model = self.registry.find(name)
        entry = model.versions.get(number) if model is not None else None
        if entry is not None and entry.fingerprint == files.fingerprint:
            return False
        if not self._stable(("version", name, str(number)), files.fingerprint, files.newest, now, wall, seen_now):
            return True
        if self.last_scan is not None:  # not the start-up load
            what = "new" if entry is None else "changed"
            log.info("Model %s version %s: %s files are stable; loading them in the background", name, number, what)
        key = (name, number)
        self.registry.loading[key] = time.time()
        self._publish()
        try:
            loaded = self.registry.load_version(name, number, files.path, files.fingerprint)
            self.registry.install(loaded)
        finally:
            self.registry.loading.pop(key, None)
            self._publish()
        return False

    def _apply_serving(self, files: ModelFiles, now: float, wall: float, seen_now: set[tuple[str, ...]]) -> bool:
        before = self._serving.get(files.name)
        if files.serving == before and files.name in self._serving:
            return False
        if files.serving is not None and not self._stable(
            ("serving", files.name), files.serving, files.serving[1] / 1e9, now, wall, seen_now
        ):
            return True
        self._serving[files.name] = files.serving
        config, error = read_serving(self.registry, files.name, self.registry.serving_config(files.name))
        if error is None and (files.serving is not None or before is not None):
            log.info("Model %s: serving file %s", files.name, "applied" if files.serving is not None else "removed")
        self.registry.set_serving(files.name, config, error)
        return False

    def has_serving_file(self, name: str) -> bool:
        """Whether the model had a serving file at the last scan."""
        return self._serving.get(name) is not None

    # --- the thread ---------------------------------------------------------------------------

    def start(self) -> None:
        """Run the watcher in a daemon thread; it ends by itself when the watcher is no longer used."""
        thread = threading.Thread(target=_run, args=(weakref.ref(self),), name="modelhost-watcher", daemon=True)
        thread.start()

    def rescan(self, timeout: float) -> bool:
        """Ask this process and, through the fleet, every other for a scan now; wait until all have applied it.

        True when, within ``timeout`` seconds, every live process has finished a scan that started
        after the request and left nothing pending (loads included).
        """
        deadline = time.monotonic() + timeout
        asked = time.time()
        self.fleet.ask_reload()
        with self._state:
            wanted = self._completed + 1 + (1 if self._scanning else 0)
            self._wake.set()
            if not self._state.wait_for(lambda: self._completed >= wanted and not self.pending, timeout):
                return False
        while True:
            waiting = [p for p in self.fleet.processes() if (p.get("settled") or 0) < asked]
            if not waiting:
                return True
            if time.monotonic() >= deadline:
                log.warning(
                    "A reload request waited %.0f s for processes %s to finish their rescan; they are still " "loading",
                    timeout,
                    ", ".join(str(p.get("pid")) for p in waiting),
                )
                return False
            time.sleep(0.05)

    def _due(self, now: float, next_poll: float, next_settle: float) -> bool:
        if self._wake.is_set() or self.fleet.reload_asked():
            self._wake.clear()
            return True
        return (self.poll_seconds > 0 and now >= next_poll) or (self.pending and now >= next_settle)

    def _publish(self) -> None:
        """Tell the other processes which versions this one has, in which state."""
        versions: dict[str, dict[str, str]] = {}
        for model in self.registry.models():
            versions[model.name] = {str(n): entry.status for n, entry in model.versions.items()}
        for name, number in list(self.registry.loading):
            versions.setdefault(name, {}).setdefault(str(number), "loading")
        self.fleet.publish(versions, self.settled)


def _run(ref: weakref.ref[Watcher]) -> None:
    """The watcher thread: holds the watcher only while it works, so an application that is gone ends it."""
    watcher = ref()
    if watcher is None:
        return
    wake = watcher._wake
    next_poll = time.monotonic() + watcher.poll_seconds
    next_settle = 0.0
    del watcher
    while True:
        wake.wait(TICK_SECONDS)
        watcher = ref()
        if watcher is None:
            return
        now = time.monotonic()
        try:
            if watcher._due(now, next_poll, next_settle):
                watcher.scan()
                next_poll = time.monotonic() + watcher.poll_seconds
                next_settle = time.monotonic() + watcher.settle_seconds
        except Exception:  # noqa: BLE001 - the watcher must outlive any one bad scan
            log.exception("Scanning the model repository failed; the next poll tries again")
        del watcher


def load_all(registry: ModelRegistry) -> None:
    """Scan the repository and load every version now (the CLI, tests); failures are recorded, not raised."""
    Watcher(registry, 0, settle_seconds=0).scan()


def watch(registry: ModelRegistry, poll_seconds: float, state_dir: str | None) -> Watcher:
    """Load the repository into the registry, then watch it (a reload request works without polling too)."""
    fleet = Fleet(state_dir)
    # A process joining a running server routes and judges readiness as the server does already.
    registry.adopt(fleet.defaults(), fleet.started())
    watcher = Watcher(registry, poll_seconds, fleet)
    settle, watcher.settle_seconds = watcher.settle_seconds, 0.0
    watcher.scan()  # at start-up every version present is loaded at once: nothing is being copied yet
    watcher.settle_seconds = settle
    watcher.start()
    return watcher
