"""One wrk run against a server under test, and the line a bench Lua script prints when done."""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.commands import run, tail
from harness.console import BenchError
from harness.paths import BENCH_DIR
from harness.servers import Server
from harness.settings import seconds

LUA_SCRIPT = BENCH_DIR / "predict.lua"
WRK_TIMEOUT = "10s"


@dataclass(frozen=True)
class WrkResult:
    """One line of bench/predict.lua's done(); latencies in microseconds."""

    requests: int
    duration_us: int
    p50_us: int
    p90_us: int
    p99_us: int
    non2xx: int
    connect_errors: int
    read_errors: int
    write_errors: int
    timeouts: int

    @property
    def per_second(self) -> float:
        return self.requests / (self.duration_us / 1e6) if self.duration_us else 0.0

    @property
    def errors(self) -> int:
        return self.non2xx + self.connect_errors + self.read_errors + self.write_errors + self.timeouts


def wrk_command(url: str, script: Path, connections: int, duration: str, threads: int) -> list[str]:
    """wrk's command line: keep-alive connections, at most one thread per connection, a Lua script."""
    return ["wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{duration}",
            "--timeout", WRK_TIMEOUT, "--latency", "-s", str(script), url]


def wrk_report(command: list[str], returncode: int, stdout: str, stderr: str, target: str) -> dict[str, Any]:
    """The one ``BENCH_RESULT {...}`` line a bench Lua script prints when done, as a dict."""
    lines = [line for line in stdout.splitlines() if line.startswith("BENCH_RESULT ")]
    if returncode != 0 or len(lines) != 1:
        raise BenchError(f"wrk against {target} failed (status {returncode}): {' '.join(command)}\n"
                         f"{tail(stdout + stderr)}")
    report: dict[str, Any] = json.loads(lines[0].removeprefix("BENCH_RESULT "))
    return report


def run_wrk(server: Server, connections: int, request: dict[str, str], duration: str, threads: int,
            output: Path | None) -> WrkResult:
    """Load the server through bench/predict.lua for ``duration``; wrk's full output goes to ``output``.

    ``request`` holds the script's variables: BENCH_BODY and BENCH_PATH, and optionally
    BENCH_CONTENT_TYPE and BENCH_HEADERS.
    """
    command = wrk_command(server.url, LUA_SCRIPT, connections, duration, threads)
    try:
        result = run(command, env={**os.environ, **request}, timeout=seconds(duration) + 60)
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk against {server.name} did not finish: {' '.join(command)}") from None
    if output is not None:
        output.write_text(f"$ {' '.join(command)}\n{result.stdout}{result.stderr}")
    return WrkResult(**wrk_report(command, result.returncode, result.stdout, result.stderr, server.name))
