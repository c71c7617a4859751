"""The model repository on disk: where each version lives, and reading its files safely.

The layout is :mod:`app.storage.layout`'s, and :mod:`app.storage.scan` finds what is in it.
Every file is read only when it resolves inside the repository (a link out of it is refused),
through one open that is checked on its descriptor (a regular file; the artifact itself not a link)
and never past its size cap. ``model.json`` is checked against a JSON Schema before anything
uses it, and every message names paths relative to the repository root, so answers never show
where the server keeps its files (``without_server_paths`` cleans a library's exception text).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
from pathlib import Path
from typing import Any, BinaryIO

from app.storage.errors import LoadError, without_server_paths
from app.storage.layout import ARTIFACTS, METADATA_FILE
from app.storage.metadata import metadata_problems
from app.storage.scan import Scan, Scanner
from app.storage.serving import MAX_SERVING_BYTES, SERVING_FILE

log = logging.getLogger(__name__)

#: Largest model.json read; the ones training writes are a few kilobytes.
MAX_METADATA_BYTES = 4 * 1024 * 1024
#: How every repository file is opened: read-only, never through a link as its last step, without
#: waiting on a FIFO put where a file should be, and not inherited by processes the server starts.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _amount(size: int) -> str:
    return f"{size >> 20} MiB" if size >= 1 << 20 else f"{size >> 10} KiB"


def _read_at_most(fh: BinaryIO, limit: int) -> bytes:
    """Up to ``limit`` bytes: one allocation and usually one system call for a file of that size."""
    chunks = []
    while limit > 0:
        chunk = fh.read(limit)
        if not chunk:
            break
        chunks.append(chunk)
        limit -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class Repository:
    """The folder of models: where each version lives and how its files are read."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._resolved = self.root.resolve()
        self._scanner = Scanner(self.root)

    def relative(self, path: Path) -> str:
        """A path as the repository shows it to clients: relative to the root."""
        try:
            return str(Path(path).relative_to(self.root))
        except ValueError:
            return Path(path).name

    def public(self, message: str) -> str:
        """A load error as clients see it: no absolute path of the server's file system in it.

        Messages of this package name paths relative to the repository already; a library's own
        exception text may still carry the absolute path of the file it could not read.
        """
        for root in {str(self.root.resolve()), str(self.root)}:
            message = message.replace(root + "/", "").replace(root, "the model repository")
        return without_server_paths(message)

    def inside(self, path: Path) -> Path:
        """The resolved path, or LoadError when it (or a link on the way) leads out of the repository."""
        resolved = Path(path).resolve()
        if self._resolved not in resolved.parents:
            raise LoadError(
                f"{self.relative(path)} resolves outside the model repository; copy the file "
                "into the repository instead of linking it"
            )
        return resolved

    def find_artifact(self, directory: Path) -> Path | None:
        """The version directory's artifact file, or None when it has none."""
        for name in ARTIFACTS:
            candidate = directory / name
            if candidate.is_file():
                return candidate
        return None

    def scan(self) -> Scan:
        """Every model and version directory, with the fingerprint of each version's files."""
        return self._scanner.scan()

    def open_file(self, path: Path, follow_link: bool = True) -> BinaryIO:
        """``path`` opened once for reading, checked on the opened descriptor: a regular file inside the repository.

        A link out of the repository is refused (``inside``). The folders of the resolved path are
        then opened one at a time from the root and the file last, none of them through a link, so
        the file read is the one checked even when files are swapped meanwhile. With
        ``follow_link`` False the file itself may not be a link, even to a file inside the repository.
        """
        where = self.relative(path)
        resolved = self.inside(path)
        if not follow_link:
            resolved = self.inside(Path(path).parent) / Path(path).name
        folders = resolved.parent.relative_to(self._resolved).parts
        folder = -1
        try:
            folder = os.open(self._resolved, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            for name in folders:
                parent, folder = folder, -1
                try:
                    folder = os.open(name, _FOLDER_FLAGS, dir_fd=parent)
                finally:
                    os.close(parent)
            descriptor = os.open(resolved.name, _FILE_FLAGS, dir_fd=folder)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EMLINK) and not follow_link and os.path.islink(path):
                raise LoadError(
                    f"{where} is a symbolic link; copy the file itself into the version "
                    "directory instead of linking it"
                ) from None
            raise LoadError(
                f"{where} cannot be opened ({exc.strerror or type(exc).__name__}); check that it "
                "is a file the server's user may read, and not a link"
            ) from None
        finally:
            if folder >= 0:
                os.close(folder)
        opened = os.fdopen(descriptor, "rb", buffering=0)
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            opened.close()
            raise LoadError(f"{where} is not a regular file; put the file itself there")
        return opened

    def read_file(self, path: Path, limit: int, advice: str) -> bytes:
        """A small file read whole from one open; over ``limit`` bytes it is refused, never read past the limit."""
        where = self.relative(path)
        with self.open_file(path) as fh:
            size = os.fstat(fh.fileno()).st_size
            try:
                data = b"" if size > limit else _read_at_most(fh, limit + 1)
            except OSError as exc:
                raise LoadError(f"{where} cannot be read ({exc.strerror or type(exc).__name__})") from None
        if size > limit or len(data) > limit:
            grown = "it grew past that while it was read" if size <= limit else f"it has {size:,} bytes"
            raise LoadError(f"{where} is larger than {_amount(limit)} ({grown}); {advice}")
        return data

    def read_artifact(self, path: Path) -> bytes:
        """An artifact's bytes from one open, the file not a link: what is hashed is what is loaded."""
        where = self.relative(path)
        with self.open_file(path, follow_link=False) as fh:
            size = os.fstat(fh.fileno()).st_size
            try:
                data = _read_at_most(fh, size + 1)
            except OSError as exc:
                raise LoadError(f"{where} cannot be read ({exc.strerror or type(exc).__name__})") from None
        if len(data) != size:
            raise LoadError(
                f"{where} changed while it was read (it was still being written); "
                "it is loaded again at the next scan of the repository"
            )
        return data

    def read_serving(self, name: str) -> bytes | None:
        """The raw serving file of a model, or None when it has none; it must resolve inside the repository."""
        path = self.root / name / SERVING_FILE
        if not path.is_file():
            return None
        return self.read_file(
            path,
            MAX_SERVING_BYTES,
            "a serving file holds a few keys only: keep just "
            "'default', 'labels' and 'canary' in it, or delete it to serve the highest version",
        )

    def read_metadata(self, directory: Path) -> dict[str, Any] | None:
        """The checked ``model.json`` of a version directory, or None when it is absent."""
        path = directory / METADATA_FILE
        if not path.is_file():
            return None
        where = self.relative(path)
        raw = self.read_file(
            path,
            MAX_METADATA_BYTES,
            "it should hold metadata only: remove what modelhost "
            "does not read from it, or delete it to infer the metadata from the estimator",
        )
        try:
            data = json.loads(raw.decode("utf-8"))
        except ValueError as exc:  # UnicodeDecodeError included
            raise LoadError(f"{where} is not valid JSON ({type(exc).__name__}: {exc}); fix or delete it") from None
        problems = metadata_problems(data)
        if problems:
            raise LoadError(
                f"{where} does not have the shape modelhost reads: "
                + "; ".join(problems)
                + ". Fix the file (flask train writes a valid one) or delete it to infer the metadata "
                "from the estimator"
            )
        return data

    def open_plot(self, directory: Path, filename: Any) -> BinaryIO | None:
        """A version's PNG plot named by its model.json, opened; None when there is no such file to serve.

        Only a plain file name ending in .png that resolves inside the repository is opened: a link
        to anywhere else is refused like a missing file (and logged for the operator). The file is
        opened once and checked on its descriptor, so the one sent is the one checked.
        """
        if not isinstance(filename, str) or not filename.endswith(".png") or "/" in filename or "\\" in filename:
            return None
        path = directory / filename
        if not path.exists():
            return None
        try:
            return self.open_file(path)
        except LoadError as exc:
            log.warning("Not serving the plot %s: %s", self.relative(path), exc)
            return None
