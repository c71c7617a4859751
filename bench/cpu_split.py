"""Where the CPU goes while a command runs: CPU time per process name, from /proc, as % of a core.

    BENCH_PATH=/v1/models/iris_lr/predict BENCH_BODY=build/bench/bodies/1-row.json \\
        python3 bench/cpu_split.py wrk -t2 -c64 -d6s -s bench/predict.lua http://127.0.0.1:8000

Apache's processes are told apart by their command line: "(wsgi:...)" are mod_wsgi's Python
daemon processes, "apache2 (mod_wsgi-express)" Apache's worker children. Processes that end
before the command does (wrk itself) are not counted. Linux only.
"""
from __future__ import annotations

import collections
import os
import subprocess
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")


def snapshot() -> dict[str, tuple[str, int]]:
    """Process id -> (name, user + system clock ticks so far)."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                stat = fh.read()
            with open(f"/proc/{pid}/cmdline") as fh:
                command = fh.read().split("\0")[0][:40]
        except OSError:  # the process ended meanwhile
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        found[pid] = (command if name == "apache2" else name, int(fields[11]) + int(fields[12]))
    return found


def main(command: list[str]) -> int:
    if not command:
        print(__doc__, file=sys.stderr)
        return 2
    before, started = snapshot(), time.monotonic()
    status = subprocess.run(command).returncode
    after, elapsed = snapshot(), time.monotonic() - started
    usage: collections.Counter[str] = collections.Counter()
    for pid, (name, ticks) in after.items():
        usage[name] += ticks - before.get(pid, (name, 0))[1]
    print(f"\nCPU while the command ran ({elapsed:.1f} s), % of one core:")
    for name, ticks in usage.most_common(10):
        print(f"  {name:<32} {ticks / TICKS / elapsed * 100:6.1f}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
