"""The files the server's processes write their Prometheus samples to, and retiring a process that ended.

With several processes (``PROMETHEUS_MULTIPROC_DIR``, set by ``app.core.fleet``) each writes its samples
to files of its own, named after its pid. A process that ended is retired from them: when it
ends, when a neighbour finds it dead in the state folder, or at the next scrape if it was
killed. Its live gauges are dropped (``mark_process_dead``: the ``live*`` modes count live
processes only) and its counters and histograms are added to ``<kind>_ended.db``, which holds
the counts of every process that ended. So no count is lost, and a scrape reads the files of
the live processes plus one per kind, however often processes were replaced.

prometheus_client is imported inside the functions: it picks its multi-process mode when first
imported, which must come after ``app.core.fleet.join_server`` has set the folder, and the fleet
imports this module before that.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)
#: The counts of every ended process are kept in ``<kind>_ended.db``, read like any process's file.
_ENDED = "ended"
_FOLDED_KINDS = ("counter", "histogram", "summary")
#: Locked while samples are folded or read, so a scrape never sees a count twice or not at all.
_SAMPLES_LOCK = ".lock"


def alive(pid: int) -> bool:
    """Whether a process of this pid exists (a dead one's entries and samples can go)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def _samples() -> Path | None:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(folder) if folder else None


def _lock_samples(samples: Path) -> int:
    """Take the samples folder's lock; closing the returned descriptor lets go of it."""
    lock = os.open(samples / _SAMPLES_LOCK, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
    except OSError:
        os.close(lock)
        raise
    return lock


@contextmanager
def live_samples() -> Iterator[None]:
    """Hold the samples folder for one read by /metrics, after retiring every process that ended.

    A process killed outright never retires itself; this is where its gauges stop counting.
    """
    samples = _samples()
    lock = None
    if samples is not None:
        try:
            lock = _lock_samples(samples)
            for pid in _ended_processes(samples):
                _fold(samples, pid)
        except OSError as exc:
            log.warning("Cannot retire the samples of ended processes in %s (%s); reading it as it is", samples, exc)
    try:
        yield
    finally:
        if lock is not None:
            os.close(lock)


def retire(pid: int) -> None:
    """Retire the samples of a process of this server that ended (no-op without a samples folder)."""
    samples = _samples()
    if samples is None:
        return
    try:
        lock = _lock_samples(samples)
        try:
            _fold(samples, pid)
        finally:
            os.close(lock)
    except OSError as exc:
        log.warning("Cannot retire the samples of process %s in %s (%s)", pid, samples, exc)


def _ended_processes(samples: Path) -> set[int]:
    """The processes with sample files in the folder that are no longer alive."""
    pids = set()
    for name in os.listdir(samples):
        number = name.removesuffix(".db").rpartition("_")[2]
        if name.endswith(".db") and number.isdigit():
            pids.add(int(number))
    return {pid for pid in pids if pid != os.getpid() and not alive(pid)}


def _fold(samples: Path, pid: int) -> None:
    """Drop a process's live gauges and add its counts to those of the processes that ended before it.

    Call it holding the samples lock. Counters and histograms are sums, so folding keeps every
    total the same; the folded file replaces the old one in one rename before the process's own
    file goes, and no scrape reads in between (the lock).
    """
    from prometheus_client.mmap_dict import MmapedDict
    from prometheus_client.multiprocess import mark_process_dead

    mark_process_dead(pid, str(samples))
    for kind in _FOLDED_KINDS:
        own = samples / f"{kind}_{pid}.db"
        if not own.exists():
            continue
        ended = samples / f"{kind}_{_ENDED}.db"
        totals: dict[str, float] = {}
        for path in (ended, own):
            if not path.exists():
                continue
            try:
                values = MmapedDict.read_all_values_from_file(str(path))
            except Exception as exc:  # noqa: BLE001 - a file no scrape could read either
                log.warning("Dropping %s: it cannot be read (%s)", path, exc)
                path.unlink(missing_ok=True)
                continue
            for key, value, _, _ in values:
                totals[key] = totals.get(key, 0.0) + value
        if not own.exists():
            continue
        temporary = samples / f".{kind}_{_ENDED}.tmp"  # not *.db: no scrape reads it
        temporary.unlink(missing_ok=True)
        folded = MmapedDict(str(temporary))
        try:
            for key, total in totals.items():
                folded.write_value(key, total, 0.0)
        finally:
            folded.close()
        os.replace(temporary, ended)
        own.unlink()
