"""What the server's processes know of each other: which versions each has loaded, and reload requests.

mod_wsgi runs several processes, each with its own copy of the models. Each writes what it
serves to a small file in a shared folder (``STATE_DIR``; the start script puts it in the
server root, a tmpfs) whenever that changes, so any process can answer how many processes
have a version loaded. ``POST /v1/repository/reload`` touches one more file there, which the
watcher of every process checks twice a second. Without a shared folder the process only
knows itself.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: The file whose every replacement asks every process for a rescan.
RELOAD_FILE = "reload"
_PREFIX = "process-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


class Fleet:
    """This process's entry in the shared folder, and the others' entries."""

    def __init__(self, directory: str | Path | None) -> None:
        self.directory = Path(directory) if directory else None
        self.pid = os.getpid()
        self.id = f"{self.pid}-{secrets.token_hex(4)}"
        self.own: dict[str, Any] = {"pid": self.pid, "id": self.id, "settled": None, "versions": {}}
        self._reload_seen = self._reload_stamp()
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
        self.own = {"pid": self.pid, "id": self.id, "updated": time.time(), "settled": settled,
                    "versions": versions}
        if self.directory is None:
            return
        try:
            _write_atomically(self._path, json.dumps(self.own).encode())
        except OSError as exc:
            log.warning("Cannot record this process's models in %s (%s); GET /v1/repository counts this "
                        "process only where it answers. Check MODELHOST_STATE_DIR.", self.directory, exc)

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
            if not _alive(pid):
                _remove(path)
                continue
            found[str(entry.get("id"))] = entry
        return list(found.values())

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
    try:
        path.unlink()
    except OSError:
        pass
