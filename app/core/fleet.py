"""What the server's processes know of each other: which versions each has loaded, and reload requests.

mod_wsgi runs several processes, each with its own copy of the models. Each writes what it
serves to a small file in a shared folder (``STATE_DIR``; the start script puts it in the
server root, a tmpfs) whenever that changes, so any process can answer how many processes
have a version loaded. ``POST /v1/repository/reload`` touches one more file there, which the
watcher of every process checks twice a second. Without a shared folder the process only
knows itself.

The folder is also the server's memory, which outlives any one process: each model's last good
default (``default-<name>``, the fallback while a pinned default is not loaded) and whether the
server has started (``started``: every model served once; after that a model that never loaded
does not make the server unready). A process that mod_wsgi starts later, to replace one that
ended, takes both over, so it answers like its neighbours.

A process of a server joins the folder before anything records a metric (``join_server``): the
first process of a server start empties what processes of an earlier start left there, and
where nobody else chose a folder for the Prometheus samples (``PROMETHEUS_MULTIPROC_DIR``, which
the start script sets), they are kept in ``<STATE_DIR>/prometheus``. So a system Apache, where
no start script runs, needs nothing but ``STATE_DIR``.

A process that ends, or that a neighbour finds dead here, has its samples retired
(``app.core.samples.retire``).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import secrets
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any

from app.core.samples import alive, retire

log = logging.getLogger(__name__)

#: The file whose every replacement asks every process for a rescan.
RELOAD_FILE = "reload"
_PREFIX = "process-"
#: Where the processes keep their Prometheus samples when PROMETHEUS_MULTIPROC_DIR is not set.
SAMPLES_DIR = "prometheus"
#: Locked (shared) by every process of the running server, for as long as it lives.
_SERVER_LOCK = ".server.lock"
#: Locked (exclusive) by the one process that is joining, so two starting at once take turns.
_JOIN_LOCK = ".join.lock"
#: The open server lock of this process, once it joined: closing it would let go of the lock.
_joined: list[int] = []
#: A model's last good default: ``default-<name>`` holds the version number.
_DEFAULT_PREFIX = "default-"
#: Present once the server has started (every model served at the end of a scan).
STARTED_FILE = "started"


class Fleet:
    """This process's entry in the shared folder, and the others' entries."""

    def __init__(self, directory: str | Path | None) -> None:
        self.directory = Path(directory) if directory else None
        self.pid = os.getpid()
        self.id = f"{self.pid}-{secrets.token_hex(4)}"
        self.own: dict[str, Any] = {"pid": self.pid, "id": self.id, "settled": None, "versions": {}}
        self._reload_seen = self._reload_stamp()
        self._started_recorded = False
        if self.directory is not None:
            self._path = self.directory / f"{_PREFIX}{self.id}.json"
            # The entry goes with the process (or with this application, in tests): a killed one is
            # recognised by its dead pid instead.
            weakref.finalize(self, _remove, self._path)

    def publish(self, versions: dict[str, dict[str, str]], settled: float | None) -> None:
        """Record which versions this process has and in which state (``{"iris": {"1": "loaded"}}``).

        ``settled`` is when the last scan that left nothing pending started (seconds since the
        epoch): a reload request made before it has been carried out by this process.
        """
        self.own = {"pid": self.pid, "id": self.id, "updated": time.time(), "settled": settled, "versions": versions}
        if self.directory is None:
            return
        try:
            _write_atomically(self._path, json.dumps(self.own).encode())
        except OSError as exc:
            log.warning(
                "Cannot record this process's models in %s (%s); GET /v1/repository counts this "
                "process only where it answers. Check MODELHOST_STATE_DIR.",
                self.directory,
                exc,
            )

    def processes(self) -> list[dict[str, Any]]:
        """Every live process's entry, this one's included; entries of processes that died are removed."""
        if self.directory is None:
            return [self.own]
        found = {self.id: self.own}
        try:
            paths = sorted(self.directory.glob(f"{_PREFIX}*.json"))
        except OSError:
            paths = []
        for path in paths:
            try:
                entry = json.loads(path.read_bytes())
                pid = int(entry["pid"])
            except (OSError, ValueError, KeyError, TypeError):
                continue  # being replaced right now, or not ours
            if entry.get("id") == self.id:
                continue
            if not alive(pid):
                _remove(path)
                _retire(pid)
                continue
            found[str(entry.get("id"))] = entry
        return list(found.values())

    def defaults(self) -> dict[str, int]:
        """The server's last good default of each model (none for the first process of a start)."""
        if self.directory is None:
            return {}
        found = {}
        try:
            paths = list(self.directory.glob(f"{_DEFAULT_PREFIX}*"))
        except OSError:
            paths = []
        for path in paths:
            try:
                found[path.name.removeprefix(_DEFAULT_PREFIX)] = int(path.read_text())
            except (OSError, ValueError):
                continue
        return found

    def record_defaults(self, changed: dict[str, int | None]) -> None:
        """Keep the server's last good defaults in step (None: the model is gone)."""
        if self.directory is None:
            return
        for name, version in changed.items():
            path = self.directory / f"{_DEFAULT_PREFIX}{name}"
            try:
                if version is None:
                    path.unlink(missing_ok=True)
                else:
                    _write_atomically(path, f"{version}\n".encode())
            except OSError as exc:
                log.warning(
                    "Cannot record the default version of model %s in %s (%s); a process started later "
                    "may fall back on another version. Check MODELHOST_STATE_DIR.",
                    name,
                    self.directory,
                    exc,
                )

    def started(self) -> bool:
        """Whether the server has started: some process had every model serving at the end of a scan."""
        return self.directory is not None and (self.directory / STARTED_FILE).exists()

    def record_started(self) -> None:
        """Record that the server has started (once per process)."""
        if self.directory is None or self._started_recorded:
            return
        try:
            (self.directory / STARTED_FILE).touch()
            self._started_recorded = True
        except OSError as exc:
            log.warning(
                "Cannot record in %s that the server started (%s); a process started later judges "
                "readiness by the start-up rule. Check MODELHOST_STATE_DIR.",
                self.directory,
                exc,
            )

    def ask_reload(self) -> None:
        """Ask every process (this one is woken directly) for a rescan."""
        if self.directory is None:
            return
        try:
            _write_atomically(self.directory / RELOAD_FILE, f"{time.time()} {self.id}\n".encode())
        except OSError as exc:
            log.warning("Cannot ask the other processes for a rescan (%s); they rescan at their next poll", exc)
        self._reload_seen = self._reload_stamp()

    def reload_asked(self) -> bool:
        """Whether another process asked for a rescan since the last call."""
        stamp = self._reload_stamp()
        if stamp == self._reload_seen:
            return False
        self._reload_seen = stamp
        return True

    def _reload_stamp(self) -> tuple[int, int] | None:
        if self.directory is None:
            return None
        try:
            stat = (self.directory / RELOAD_FILE).stat()
        except OSError:
            return None
        return stat.st_ino, stat.st_mtime_ns


def join_server(directory: str | Path | None) -> None:
    """Join this process to the server's shared folder; call it before any metric is recorded.

    Processes of an earlier start of the server may have left their entries, a reload request
    and Prometheus samples behind, which would count as this start's (a recycled pid looks
    alive). The first process of a start, the one that finds no live process holding the
    server lock, removes them, as the container's start script does before Apache starts. Every
    process then holds the lock, shared, until it ends; the kernel lets go of it when a process
    dies, however it dies. A process joins once, whatever applications it builds afterwards.
    """
    if directory is None or _joined:
        return
    directory = Path(directory)
    samples = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        if "prometheus_client" in sys.modules:
            # It chose single-process values when it was imported; a folder now would hide them.
            log.warning(
                "prometheus_client was imported before the application, so /metrics reports this "
                "process only; set PROMETHEUS_MULTIPROC_DIR in the environment instead"
            )
        else:
            samples = directory / SAMPLES_DIR
    try:
        join = os.open(directory / _JOIN_LOCK, os.O_RDONLY | os.O_CREAT, 0o644)
        try:
            fcntl.flock(join, fcntl.LOCK_EX)
            server = os.open(directory / _SERVER_LOCK, os.O_RDONLY | os.O_CREAT, 0o644)
            try:
                fcntl.flock(server, fcntl.LOCK_EX | fcntl.LOCK_NB)
                _clear_earlier_start(directory, samples)
            except BlockingIOError:
                pass  # the server runs: its processes' entries and samples are this start's
            fcntl.flock(server, fcntl.LOCK_SH)
            _joined.append(server)
        finally:
            os.close(join)
        # However the interpreter ends (a recycled daemon process), its samples are retired.
        atexit.register(_retire_self, os.getpid())
        if samples is not None:
            samples.mkdir(exist_ok=True)
            if not os.access(samples, os.W_OK | os.X_OK):
                raise PermissionError(f"{samples} is not writable by this process")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(samples)
    except OSError as exc:
        log.warning(
            "Cannot join the shared folder %s (%s): entries and samples of an earlier start stay, and "
            "/metrics may report this process only. Check MODELHOST_STATE_DIR.",
            directory,
            exc,
        )


def _clear_earlier_start(directory: Path, samples: Path | None) -> None:
    """Remove what processes of an earlier start left: the start script's list, and their samples."""
    leftovers = [
        *directory.glob(f"{_PREFIX}*.json"),
        directory / RELOAD_FILE,
        *directory.glob(".tmp-*"),
        *directory.glob(f"{_DEFAULT_PREFIX}*"),
        directory / STARTED_FILE,
    ]
    if samples is not None:
        leftovers += samples.glob("*.db")
    for path in leftovers:
        _remove(path)


def _retire(pid: int) -> None:
    """Retire the Prometheus samples of a process that ended."""
    retire(pid)


def _retire_self(pid: int) -> None:
    if os.getpid() == pid:  # not in a child that inherited the exit handler
        _retire(pid)


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace a file with one rename, so readers see the old content or the new, never a part."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        _remove(Path(temporary))
        raise


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
