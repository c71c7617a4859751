"""Adaptive batching: concurrent predictions for one model version merged into one call.

A scikit-learn ``predict`` costs nearly as much for one row as for dozens (a 100-tree forest:
about 3 ms either way), so requests that arrive while a call is running wait and then run
together as the next call. There is no batching thread: the request that finds the model
idle runs its own rows at once (no added latency when nobody else is waiting); requests that
arrive meanwhile queue. When a call ends, its requests get their own rows back and the
oldest queued request leads the next call with everything that queued, up to ``max_rows``.

Results are the estimator's own for each row: the merged matrix is split back by row count.
If the merged call raises, every request in it is retried alone, so one request that the
estimator rejects cannot fail the others.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

Arrays = tuple[np.ndarray, "np.ndarray | None"]


@dataclass(frozen=True)
class BatchSettings:
    """How one model version batches: on or off, rows per call, and an optional gathering wait."""

    enabled: bool = True
    #: Most rows merged into one call; a single larger request still runs, alone.
    max_rows: int = 256
    #: Microseconds a call that starts under load (behind another call) may wait for more
    #: requests to join it (0: none). A request that finds the model idle never waits.
    max_wait_us: int = 1000


_KEYS = ("enabled", "max_rows", "max_wait_us")


def parse_settings(values: Mapping[str, Any], base: BatchSettings) -> BatchSettings:
    """``base`` with the keys of ``{"enabled": bool, "max_rows": int, "max_wait_us": int}`` applied.

    ValueError says which key is wrong and what it takes.
    """
    if not isinstance(values, Mapping):
        raise ValueError(
            'batching settings must be an object such as {"enabled": true, "max_rows": 256, '
            f'"max_wait_us": 0}}, got {values!r}'
        )
    unknown = sorted(set(values) - set(_KEYS))
    if unknown:
        raise ValueError(
            f"unknown batching setting(s) {', '.join(map(repr, unknown))}; " f"the settings are {', '.join(_KEYS)}"
        )
    enabled = values.get("enabled", base.enabled)
    if not isinstance(enabled, bool):
        raise ValueError(f"batching 'enabled' must be true or false, got {enabled!r}")
    max_rows = values.get("max_rows", base.max_rows)
    if type(max_rows) is not int or max_rows < 1:
        raise ValueError(f"batching 'max_rows' must be a whole number of at least 1, got {max_rows!r}")
    max_wait = values.get("max_wait_us", base.max_wait_us)
    if type(max_wait) is not int or not 0 <= max_wait <= 1_000_000:
        raise ValueError(
            f"batching 'max_wait_us' must be a whole number of microseconds from 0 to " f"1000000, got {max_wait!r}"
        )
    return BatchSettings(enabled, max_rows, max_wait)


class Predictor(Protocol):
    """What the batcher needs of a runtime: predict a matrix, and stack matrices into one."""

    def predict_arrays(self, matrix: Any, probabilities: bool) -> Arrays: ...

    def stack(self, matrices: list[Any]) -> Any: ...


class _Job:
    """One request's rows, and once run, its own slice of the results or its own error."""

    __slots__ = (
        "matrix",
        "rows",
        "probabilities",
        "queued_at",
        "waited",
        "wake",
        "lead",
        "predictions",
        "probs",
        "error",
    )

    def __init__(self, matrix: Any, rows: int, probabilities: bool) -> None:
        self.matrix, self.rows, self.probabilities = matrix, rows, probabilities
        self.queued_at = time.perf_counter()
        self.waited = 0.0
        self.wake: threading.Event | None = None
        self.lead = False  # set when a finishing call hands the next call to this request
        self.predictions: np.ndarray | None = None
        self.probs: np.ndarray | None = None
        self.error: BaseException | None = None

    def wake_up(self) -> None:
        """Let the request waiting for this job go on (a queued job waits on its ``wake``)."""
        if self.wake is not None:
            self.wake.set()


@dataclass(frozen=True)
class Result:
    """One request's predictions (and probabilities when asked for) and its time in the queue."""

    predictions: np.ndarray
    probabilities: np.ndarray | None
    queue_seconds: float


class Batcher:
    """Merges concurrent requests for one model version into shared predict calls."""

    def __init__(
        self, predictor: Predictor, settings: BatchSettings, on_call: Callable[[int], None] | None = None
    ) -> None:
        self.predictor = predictor
        self.settings = settings
        self._on_call = on_call or (lambda rows: None)
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._queue: deque[_Job] = deque()
        self._busy = False

    def predict(self, matrix: Any, rows: int, probabilities: bool) -> Result:
        """Predict one request's rows, merged with whatever other requests are waiting."""
        job = _Job(matrix, rows, probabilities)
        if not self.settings.enabled:
            self._run([job])
            return self._result(job)
        with self._lock:
            wake = threading.Event() if self._busy else None
            if wake is None:
                self._busy = True
            else:
                job.wake = wake
                self._queue.append(job)
                self._arrived.notify()
        if wake is not None:
            wake.wait()
            if not job.lead:  # a call that ran this job has filled in its results
                return self._result(job)
        self._lead(job)
        return self._result(job)

    def _lead(self, first: _Job) -> None:
        batch, rows = [first], first.rows
        try:
            with self._lock:
                rows = self._take(batch, rows)
                # Only a call that starts under load gathers: a lone request never waits.
                if self.settings.max_wait_us and first.lead and rows < self.settings.max_rows:
                    deadline = time.perf_counter() + self.settings.max_wait_us / 1e6
                    while rows < self.settings.max_rows and (left := deadline - time.perf_counter()) > 0:
                        self._arrived.wait(left)
                        rows = self._take(batch, rows)
            started = time.perf_counter()
            for job in batch:
                job.waited = started - job.queued_at
            self._run(batch)
        finally:
            for job in batch:
                if job.predictions is None and job.error is None:  # the call itself was interrupted
                    job.error = RuntimeError("the batched predict call was interrupted")
            with self._lock:
                if self._queue:
                    successor = self._queue.popleft()
                    successor.lead = True
                    successor.wake_up()
                else:
                    self._busy = False
            for job in batch[1:]:
                job.wake_up()

    def _take(self, batch: list[_Job], rows: int) -> int:
        """Move queued requests into the batch, oldest first, while they fit in max_rows."""
        queue = self._queue
        while queue and rows + queue[0].rows <= self.settings.max_rows:
            job = queue.popleft()
            batch.append(job)
            rows += job.rows
        return rows

    def _run(self, batch: list[_Job]) -> None:
        if len(batch) > 1:
            try:
                merged = self.predictor.stack([job.matrix for job in batch])
                wanted = any(job.probabilities for job in batch)
                predictions, probs = self.predictor.predict_arrays(merged, wanted)
                self._on_call(len(predictions))
            except Exception:  # noqa: BLE001 - find the request the estimator rejects; the others still succeed
                for job in batch:
                    self._run([job])
                return
            offset = 0
            for job in batch:
                end = offset + job.rows
                job.predictions = predictions[offset:end]
                job.probs = probs[offset:end] if job.probabilities and probs is not None else None
                offset = end
            return
        job = batch[0]
        try:
            job.predictions, job.probs = self.predictor.predict_arrays(job.matrix, job.probabilities)
            self._on_call(job.rows)
        except Exception as exc:  # noqa: BLE001 - raised again in the request's own thread (_result)
            job.error = exc

    @staticmethod
    def _result(job: _Job) -> Result:
        if job.error is not None:
            raise job.error
        if job.predictions is None:  # never: _lead gives each job of an interrupted call an error
            raise RuntimeError("the batched predict call was interrupted")
        return Result(job.predictions, job.probs, job.waited)
