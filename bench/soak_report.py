"""The results of `make soak` (bench/soak.py): what was measured, whether it met the targets, and its report."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from harness.commands import git_revision
from harness.console import logger
from harness.paths import ROOT
from harness.tables import latency, markdown_table
from harness.wrk import WRK_TIMEOUT
from soak_container import Sample
from soak_mix import Kind
from soak_settings import SOAK_DIR, Settings

log = logger("soak")


@dataclass(frozen=True)
class Outcome:
    """What the soak measured, and whether it met the targets."""

    kinds: list[Kind]
    report: dict[str, Any]
    samples: list[Sample]
    baseline: Sample
    final: Sample
    log_counts: dict[str, int]
    log_first: dict[str, str]

    @property
    def socket_errors(self) -> int:
        r = self.report
        return int(r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"])

    @property
    def unexpected(self) -> int:
        return int(sum(self.report["unexpected"])) + int(self.report["unattributed"]) + self.socket_errors

    def growth(self) -> dict[int, float]:
        """Percent growth of each process that ran the application both after the warm-up and at the end."""
        return {pid: 100.0 * (self.final.rss_kib[pid] - rss) / rss
                for pid, rss in self.baseline.rss_kib.items() if pid in self.final.rss_kib}

    def peak(self, pid: int) -> int:
        return max(s.rss_kib.get(pid, 0) for s in self.samples if s.at >= self.baseline.at)

    def changed_processes(self) -> list[str]:
        gone = sorted(set(self.baseline.rss_kib) - set(self.final.rss_kib))
        new = sorted(set(self.final.rss_kib) - set(self.baseline.rss_kib))
        return ([f"process {pid} ({self.baseline.programs[pid]}) that ran the application after the warm-up "
                 "is gone" for pid in gone]
                + [f"process {pid} ({self.final.programs[pid]}) began to run the application after the warm-up"
                   for pid in new])


def minutes(at: float) -> str:
    """Seconds since the load began, as 1m05s."""
    return f"{int(at) // 60}m{int(at) % 60:02d}s"


def verdict(outcome: Outcome, settings: Settings) -> list[str]:
    """The targets missed, one sentence each; empty when the soak passed."""
    missed = []
    if outcome.unexpected:
        missed.append(f"{outcome.unexpected} unexpected answers or socket errors (target: 0)")
    if not outcome.baseline.rss_kib:
        missed.append("no process that runs the application was found")
    for pid, growth in outcome.growth().items():
        if growth >= settings.max_growth_percent:
            missed.append(f"process {pid} grew {growth:.1f} % after the warm-up "
                          f"(target: under {settings.max_growth_percent} %)")
    missed += outcome.changed_processes()
    return missed


def render(outcome: Outcome, settings: Settings) -> str:
    """The results as Markdown: the settings, the mix with its counts, latency, memory, the verdict."""
    r = outcome.report
    total_weight = sum(kind.weight for kind in outcome.kinds)
    rows = [[kind.name, kind.group, f"{100 * kind.weight / total_weight:.1f} %", str(kind.status), f"{answered:,}",
             str(unexpected)]
            for kind, answered, unexpected in zip(outcome.kinds, r["answered"], r["unexpected"], strict=True)]
    rows.append(["all", "", "100 %", "", f"{sum(r['answered']):,}", str(sum(r["unexpected"]))])
    mix_table = markdown_table(["request", "group", "share", "expected", "answered", "unexpected"], rows,
                               "llrrrr")
    base, final = outcome.baseline, outcome.final
    memory_rows = [[f"{pid} ({base.programs[pid]})", f"{base.rss_kib[pid] / 1024:.1f} MiB",
                    f"{final.rss_kib[pid] / 1024:.1f} MiB", f"{outcome.peak(pid) / 1024:.1f} MiB", f"{growth:+.1f} %"]
                   for pid, growth in sorted(outcome.growth().items())]
    memory_table = markdown_table(
        ["process", f"RSS at {minutes(base.at)}", f"RSS at {minutes(final.at)} (end)", "peak after warm-up",
         "growth"], memory_rows or [["none found", "", "", "", ""]], "lrrrr")

    tuning = ", ".join(f"`{k}={v}`" for k, v in settings.tuning.items()) or "none (the image's defaults)"
    setup = (f"Revision {git_revision()}; {os.cpu_count()} cores shared by wrk and the container; image "
             f"{settings.image} ({settings.mode} mode); MODELHOST_* tuning: {tuning}.")
    load = (f"wrk -t{min(settings.wrk_threads, settings.connections)} -c{settings.connections} "
            f"-d{settings.duration} --timeout {WRK_TIMEOUT}, keep-alive; each request a kind of the mix "
            "at random, by weight.")
    seconds_run = r["duration_us"] / 1e6
    answers = (f"- **Answers**: {r['requests']:,} in {seconds_run:.0f} s ({r['requests'] / seconds_run:,.0f} "
               f"per second). **Unexpected: {outcome.unexpected}** (wrong status or pinned body, or an error "
               f"that is not a problem document: {sum(r['unexpected'])}; without the soak's request id: "
               f"{r['unattributed']}; socket errors: connect {r['connect_errors']}, read {r['read_errors']}, "
               f"write {r['write_errors']}, time-outs {r['timeouts']}).")
    latencies = (f"- **Latency** over the whole run and every kind: p50 {latency(r['p50_us'])}, "
                 f"p90 {latency(r['p90_us'])}, **p99 {latency(r['p99_us'])}**, "
                 f"max {latency(r['max_us'])}.")
    memory = (f"- **Memory** (RSS) of each process that runs the application, sampled every "
              f"{settings.sample_interval}; growth from the first sample after the {settings.warmup} warm-up to "
              "the end of the load:")
    container_log = "- **Container log** during the soak: " + "; ".join(
        f"{name}: {count:,}" + (f", the first: `{outcome.log_first[name]}`" if count else "")
        for name, count in outcome.log_counts.items()) + "."
    lines = [setup, load, "", mix_table, "", answers, latencies, memory, "", memory_table, "", container_log]
    if r["samples"]:
        lines.append("- First unexpected answers: " + "; ".join(f"`{sample}`" for sample in r["samples"]))
    missed = verdict(outcome, settings)
    if missed:
        lines += ["", "**FAILED**: " + "; ".join(missed) + "."]
    else:
        passed = (f"**PASSED**: 0 unexpected answers; every process that runs the application grew less than "
                  f"{settings.max_growth_percent} % after the warm-up.")
        lines += ["", passed]
    return "\n".join(lines)


def report(outcome: Outcome, settings: Settings) -> bool:
    """Print and save the results; whether the soak met its targets."""
    text = render(outcome, settings)
    print("\n" + text + "\n", flush=True)
    (SOAK_DIR / "results.md").write_text(f"# `make soak`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n{text}\n")
    (SOAK_DIR / "results.json").write_text(json.dumps(
        {"report": outcome.report, "growth_percent": outcome.growth(), "unexpected": outcome.unexpected,
         "log_lines": outcome.log_counts}, indent=1))
    log(f"saved {(SOAK_DIR / 'results.md').relative_to(ROOT)} (raw numbers: results.json, memory.json; "
        "wrk's output and the container's log beside them)")
    return not verdict(outcome, settings)
