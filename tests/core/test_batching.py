"""The batcher: merging and splitting, a lone request running at once, failures kept apart."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from app.core.batching import Batcher, BatchSettings, parse_settings


class Recorder:
    """A predictor whose answer for a row is 10 x its first value; it can hold its first call."""

    def __init__(self, hold_first: bool = False, poison: float | None = None) -> None:
        self.calls: list[list[float]] = []
        self.threads: list[int] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()
        self.poison = poison

    def stack(self, matrices):
        return np.concatenate(matrices)

    def predict_arrays(self, matrix, probabilities):
        self.calls.append(matrix[:, 0].tolist())
        self.threads.append(threading.get_ident())
        self.entered.set()
        self.release.wait(5)
        if self.poison is not None and self.poison in matrix[:, 0]:
            raise ValueError(f"cannot predict {self.poison}")
        probs = np.column_stack([matrix[:, 0], 1 - matrix[:, 0]]) if probabilities else None
        return matrix[:, 0] * 10, probs


def rows(*firsts: float) -> np.ndarray:
    return np.array([[f, 0.0] for f in firsts])


def submit_while_busy(batcher: Batcher, recorder: Recorder, requests: list[np.ndarray],
                      probabilities: list[bool] | None = None) -> list:
    """Hold a first call, queue ``requests`` behind it, release, and collect each outcome in order."""
    outcomes: list = [None] * len(requests)
    first = threading.Thread(target=batcher.predict, args=(rows(-1.0), 1, False))
    first.start()
    assert recorder.entered.wait(5)

    def call(i: int) -> None:
        try:
            outcomes[i] = batcher.predict(requests[i], len(requests[i]), (probabilities or [False] * 99)[i])
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            outcomes[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while len(batcher._queue) < len(requests) and time.monotonic() < deadline:
        time.sleep(0.001)
    recorder.release.set()
    for thread in threads + [first]:
        thread.join(5)
    return outcomes


def test_a_lone_request_runs_at_once_in_its_own_thread():
    recorder = Recorder()
    batcher = Batcher(recorder, BatchSettings(max_wait_us=1_000_000))
    result = batcher.predict(rows(1.0, 2.0), 2, False)
    assert result.predictions.tolist() == [10.0, 20.0] and result.probabilities is None
    assert recorder.threads == [threading.get_ident()]
    assert result.queue_seconds < 0.5, "a request with nobody else waiting must not wait for others"


def test_requests_queued_behind_a_call_are_merged_into_one_call_and_split_back():
    recorder = Recorder(hold_first=True)
    requests = [rows(1.0), rows(2.0, 3.0), rows(4.0), rows(5.0, 6.0, 7.0)]
    outcomes = submit_while_busy(Batcher(recorder, BatchSettings()), recorder, requests,
                                 probabilities=[False, True, False, True])
    assert len(recorder.calls) == 2, recorder.calls
    assert sorted(recorder.calls[1]) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    for request, outcome in zip(requests, outcomes, strict=True):
        assert outcome.predictions.tolist() == (request[:, 0] * 10).tolist()
    assert outcomes[0].probabilities is None and outcomes[2].probabilities is None
    assert outcomes[1].probabilities[:, 0].tolist() == [2.0, 3.0]
    assert outcomes[3].probabilities[:, 0].tolist() == [5.0, 6.0, 7.0]
    assert all(o.queue_seconds > 0 for o in outcomes)


def test_max_rows_caps_a_merged_call():
    recorder = Recorder(hold_first=True)
    requests = [rows(float(i), float(i)) for i in range(1, 6)]  # 5 requests of 2 rows
    outcomes = submit_while_busy(Batcher(recorder, BatchSettings(max_rows=4)), recorder, requests)
    assert [len(c) for c in recorder.calls[1:]] == [4, 4, 2]
    assert all(o.predictions.tolist() == [10.0 * (i + 1)] * 2 for i, o in enumerate(outcomes))


def test_a_request_larger_than_max_rows_still_runs_alone():
    recorder = Recorder()
    result = Batcher(recorder, BatchSettings(max_rows=2)).predict(rows(1, 2, 3), 3, False)
    assert result.predictions.tolist() == [10, 20, 30]


def test_one_bad_request_fails_alone_and_the_others_in_its_batch_succeed():
    recorder = Recorder(hold_first=True, poison=13.0)
    requests = [rows(1.0), rows(13.0), rows(2.0, 3.0)]
    outcomes = submit_while_busy(Batcher(recorder, BatchSettings()), recorder, requests)
    assert isinstance(outcomes[1], ValueError) and "13.0" in str(outcomes[1])
    assert outcomes[0].predictions.tolist() == [10.0]
    assert outcomes[2].predictions.tolist() == [20.0, 30.0]
    # the merged call failed, then each request was retried on its own
    assert sorted(recorder.calls[1]) == [1.0, 2.0, 3.0, 13.0] and len(recorder.calls) == 5


def test_disabled_batching_never_merges():
    recorder = Recorder(hold_first=True)
    batcher = Batcher(recorder, BatchSettings(enabled=False))
    recorder.release.set()
    threads = [threading.Thread(target=batcher.predict, args=(rows(float(i)), 1, False)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(recorder.calls) == 8 and all(len(c) == 1 for c in recorder.calls)


def test_a_gathering_wait_under_load_collects_late_arrivals():
    recorder = Recorder(hold_first=True)
    batcher = Batcher(recorder, BatchSettings(max_wait_us=300_000, max_rows=3))
    first = threading.Thread(target=batcher.predict, args=(rows(-1.0), 1, False))
    first.start()
    assert recorder.entered.wait(5)
    queued = threading.Thread(target=batcher.predict, args=(rows(1.0), 1, False))
    queued.start()
    while not batcher._queue:
        time.sleep(0.001)
    recorder.release.set()  # the queued request now leads, and waits for up to two more rows
    time.sleep(0.05)
    late = [threading.Thread(target=batcher.predict, args=(rows(float(i)), 1, False)) for i in (2, 3)]
    for thread in late:
        thread.start()
    for thread in [first, queued, *late]:
        thread.join(5)
    assert sorted(recorder.calls[1]) == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("values, message", [
    ({"max_rows": 0}, "max_rows"), ({"max_rows": "8"}, "max_rows"), ({"enabled": "yes"}, "enabled"),
    ({"max_wait_us": -1}, "max_wait_us"), ({"max_wait_us": 2_000_000}, "max_wait_us"),
    ({"max_row": 8}, "unknown batching setting"), ([1], "must be an object"),
])
def test_bad_settings_say_which_key_is_wrong(values, message):
    with pytest.raises(ValueError, match=message):
        parse_settings(values, BatchSettings())


def test_settings_override_only_the_keys_given():
    assert parse_settings({"max_rows": 64}, BatchSettings(enabled=False, max_wait_us=50)) == \
        BatchSettings(enabled=False, max_rows=64, max_wait_us=50)
