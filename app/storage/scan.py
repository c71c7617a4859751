"""What a poll of the model repository sees: its model and version directories, and the
fingerprint of each version's files, found by listing names and reading file sizes and times only.

The watcher (``app.core.watcher``) compares fingerprints from one scan to the next to learn which
versions are new, changed or gone, and loads a version once its files stop changing.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.storage.layout import ARTIFACTS, METADATA_FILE, NAME_PATTERN, VERSION_PATTERN
from app.storage.serving import SERVING_FILE

# The repository's logger, under which these problems were always logged: log filters name it.
log = logging.getLogger("app.storage.repository")

#: What a directory's files look like to a poll: (name, size, modification time) of each.
Fingerprint = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class VersionFiles:
    """One version directory as a scan saw it."""

    path: Path
    fingerprint: Fingerprint
    #: The latest modification time of its files (seconds since the epoch): recent means still written.
    newest: float


@dataclass
class ModelFiles:
    """One model directory as a scan saw it: its version directories and its serving file."""

    name: str
    versions: dict[int, VersionFiles] = field(default_factory=dict)
    #: The serving file's (size, modification time, inode), or None when there is none.
    serving: tuple[int, int, int] | None = None


@dataclass
class Scan:
    """Everything in the repository at one moment; ``complete`` is False when some of it could not be read."""

    models: dict[str, ModelFiles] = field(default_factory=dict)
    #: Model directories that could not be listed: what was loaded from them is kept, not unloaded.
    unreadable: set[str] = field(default_factory=set)
    #: False when the repository itself is missing or unreadable (a volume not mounted): nothing is unloaded.
    complete: bool = True


class Scanner:
    """Scans one repository, and logs each problem it finds once, not at every poll."""

    def __init__(self, root: Path) -> None:
        self.root = root
        #: Problems a scan found that were logged already.
        self._reported: set[str] = set()

    def _report(self, key: str, level: int, message: str, *args: Any) -> None:
        if key not in self._reported:
            self._reported.add(key)
            log.log(level, message, *args)

    def scan(self) -> Scan:
        """Every model and version directory with the fingerprint of its files; invalid names are skipped.

        Only names are listed and files stat'ed, nothing is read, so a poll costs a few system calls
        per version. Hidden entries (``.training-*`` folders of ``flask train``) are left out, and
        a version directory holding neither an artifact nor ``model.json`` is not a version yet.
        """
        scan = Scan()
        try:
            model_dirs = sorted((entry for entry in os.scandir(self.root) if entry.is_dir()), key=lambda e: e.name)
        except OSError as exc:
            self._report(
                "root",
                logging.WARNING,
                "Model repository %s cannot be read (%s); no models are added "
                "or removed until it can. Create it, fix its permissions or set "
                "MODELHOST_MODEL_REPOSITORY.",
                self.root,
                exc,
            )
            scan.complete = False
            return scan
        if "root" in self._reported:
            self._reported.discard("root")
            log.info("Model repository %s can be read again", self.root)
        for model_dir in model_dirs:
            if not NAME_PATTERN.fullmatch(model_dir.name):
                if not model_dir.name.startswith("."):
                    self._report(
                        model_dir.path,
                        logging.WARNING,
                        "Skipping %s: model names are lower-case letters, "
                        "digits, '-' and '_' (at most 64, starting with a letter or digit)",
                        model_dir.path,
                    )
                continue
            try:
                files = self._scan_model(Path(model_dir.path))
            except OSError as exc:  # e.g. a folder the server may not list: the others still count
                self._report(
                    model_dir.path,
                    logging.ERROR,
                    "Cannot read %s (%s); fix its permissions. What was " "loaded from it keeps serving.",
                    model_dir.path,
                    exc,
                )
                scan.unreadable.add(model_dir.name)
                continue
            if files.versions or files.serving is not None:
                scan.models[files.name] = files
        return scan

    def _scan_model(self, model_dir: Path) -> ModelFiles:
        files = ModelFiles(model_dir.name)
        for entry in sorted(os.scandir(model_dir), key=lambda e: e.name):
            if entry.name == SERVING_FILE and entry.is_file():
                stat = entry.stat()
                files.serving = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
            elif entry.is_dir() and VERSION_PATTERN.fullmatch(entry.name):
                version = self._scan_version(Path(entry.path))
                if version is not None:
                    files.versions[int(entry.name)] = version
            elif entry.is_dir() and not entry.name.startswith("."):
                self._report(
                    entry.path,
                    logging.WARNING,
                    "Skipping %s: version directories are positive " "whole numbers (1-999999999)",
                    entry.path,
                )
        return files

    @staticmethod
    def _scan_version(directory: Path) -> VersionFiles | None:
        stats = []
        for entry in os.scandir(directory):
            if entry.name.startswith(".") or not entry.is_file():
                continue
            stat = entry.stat()
            stats.append((entry.name, stat.st_size, stat.st_mtime_ns))
        names = {name for name, _, _ in stats}
        if METADATA_FILE not in names and not names.intersection(ARTIFACTS):
            return None  # an empty directory, e.g. a version being copied in
        stats.sort()
        return VersionFiles(directory, tuple(stats), max(mtime for _, _, mtime in stats) / 1e9)
