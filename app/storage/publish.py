"""Publishing a version into the repository: built aside, then renamed into place whole.

A version is built in a hidden staging directory of its model (``.training-*``, which scans
leave out), synced to disk, given the next free number in its ``model.json`` and renamed into
place in one step, so readers see no version or the whole of it, even after a power loss.
Training (``flask train``) publishes through here; so could any tool that writes versions.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.storage.layout import METADATA_FILE, VERSION_PATTERN

#: The artifact a trained version is written as.
TRAINED_ARTIFACT = "model.joblib"
#: Prefix of the hidden directory a version is built in before it is renamed into place.
STAGING_PREFIX = ".training-"
#: A staging directory nothing was written to for this long was left by a publish that died
#: (kill -9, power loss): no write of a version pauses that long, so it is removed.
STALE_STAGING_SECONDS = 3600


class PublishError(Exception):
    """A version cannot be written; the message says where and why."""


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in blocks so large artifacts do not fill memory."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def next_version(model_dir: Path) -> int:
    """One more than the highest version number in use (1 for a new model)."""
    taken = (
        [int(p.name) for p in model_dir.iterdir() if VERSION_PATTERN.fullmatch(p.name)] if model_dir.is_dir() else []
    )
    return max(taken, default=0) + 1


def remove_stale_staging(repository: Path, progress: Callable[[str], None]) -> None:
    """Remove the staging directories trainings that died left in the repository, saying so."""
    if not repository.is_dir():
        return
    now = time.time()
    for staging in sorted(repository.glob(f"*/{STAGING_PREFIX}*")):
        try:
            idle = now - _last_write(staging)
        except OSError:
            continue  # gone meanwhile: its training finished or another one removed it
        if idle < STALE_STAGING_SECONDS:
            continue  # a training may still be writing there
        try:
            shutil.rmtree(staging)
        except OSError as exc:
            progress(f"Warning: could not remove {staging}, left by a stopped training: {_one_line(exc)}")
            continue
        progress(f"Removed {staging}, left by a training that stopped {idle / 3600:.1f} hours ago")


def _last_write(directory: Path) -> float:
    """The newest modification time of a directory and everything in it."""
    return max([directory.lstat().st_mtime] + [p.lstat().st_mtime for p in directory.rglob("*")])


def _fsync(path: Path) -> None:
    """Have the disk hold a file's data, or a directory's list of entries, before going on."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_version(model_dir: Path, build: Callable[[Path], None], metadata: dict[str, Any]) -> tuple[int, Path]:
    """Build a version in a hidden staging directory, then rename it to the next free number.

    The registry ignores names starting with "." and a rename is atomic, so readers never see
    a half-written version; when two trainings race for a number, the loser takes the next one.
    Every file and the directory are synced to disk before the rename, and the model directory
    after it, so a power loss leaves the old state or the whole version, never an empty one.
    """
    try:
        created = [d for d in (model_dir, *model_dir.parents) if not d.exists()]
        model_dir.mkdir(parents=True, exist_ok=True)
        for directory in created:  # a new model's directory must survive a power loss too
            _fsync(directory.parent)
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=model_dir))
    except OSError as exc:
        raise PublishError(f"Cannot write to {model_dir}: {_one_line(exc)}; check MODEL_REPOSITORY") from None
    try:
        # mkdtemp makes the directory private; the server may run as another user and must read it.
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)
        build(staging)
        for path in sorted(staging.rglob("*")):
            _fsync(path)
        for _ in range(100):
            version = next_version(model_dir)
            metadata["version"] = version
            text = json.dumps(metadata, indent=2, allow_nan=False, ensure_ascii=False)
            (staging / METADATA_FILE).write_text(text + "\n", encoding="utf-8")
            _fsync(staging / METADATA_FILE)
            _fsync(staging)
            try:
                os.rename(staging, model_dir / str(version))
            except OSError:
                if (model_dir / str(version)).exists():
                    continue  # another training took this number first
                raise
            _fsync(model_dir)
            return version, model_dir / str(version)
        raise PublishError(f"No free version number in {model_dir}; remove stale directories there")
    except OSError as exc:
        raise PublishError(f"Cannot write the model to {model_dir}: {_one_line(exc)}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _one_line(exc: Any) -> str:
    return " ".join(str(exc).split())
