"""How a bench program talks to its user and ends: one error type, log lines, a clean stop on signals."""
from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable
from types import FrameType


class BenchError(Exception):
    """A failure the user must see as one clear message; the bench stops."""


def logger(program: str) -> Callable[[str], None]:
    """A function that prints a progress line of ``program``, flushed at once (wrk's output follows it)."""

    def log(message: str) -> None:
        print(f"{program}: {message}", flush=True)

    return log


log = logger("bench")


def raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_cleanly(name: str, body: Callable[[contextlib.ExitStack], int]) -> int:
    """Run ``body`` with an ExitStack that stops whatever it started, also on Ctrl-C or SIGTERM.

    Returns body's exit status, 1 on a BenchError (printed), 130 when interrupted.
    """
    stop_signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    for sig in stop_signals[1:]:
        signal.signal(sig, raise_interrupt)
    stack = contextlib.ExitStack()  # stops everything started, in reverse order
    try:
        return body(stack)
    except BenchError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\n{name}: interrupted", file=sys.stderr)
        return 130
    finally:
        for sig in stop_signals:  # a second Ctrl-C must not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        stack.close()
