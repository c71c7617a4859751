"""The "× earlier" column of bench/throughput.py's table: today's image against the image of an earlier revision.

With the servers `earlier` (EARLIER_IMAGE) and `container` (IMAGE) in one run, both started
alike and run back to back in every workload, each workload's container req/s is given as a
multiple of the earlier image's. The target is at least FLOOR (0.95×) in every workload. A
workload below it is run again against both at the end of the same run, to tell noise on the
machine from a cost: the table shows both multiples, and the note says which were below twice.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from harness.containers import ImageFacts
from harness.wrk import WrkResult

#: Today's image must serve every workload at least this multiple of the earlier image's req/s.
FLOOR = 0.95
EARLIER, TODAY = "earlier", "container"


#: (workload, server name, result): a workload is anything hashable with a ``label``.
Run = tuple[Any, str, WrkResult]


def ratios(runs: list[Run]) -> dict[Any, float]:
    """Workload -> today's req/s over the earlier image's, for each workload that both served."""
    earlier = {workload: result.per_second for workload, server, result in runs if server == EARLIER}
    return {workload: result.per_second / earlier[workload] for workload, server, result in runs
            if server == TODAY and earlier.get(workload)}


def below_floor(runs: list[Run]) -> list[Any]:
    """The workloads where today's image served less than FLOOR× the earlier image's req/s."""
    return [workload for workload, ratio in ratios(runs).items() if ratio < FLOOR]


def multiple(ratio: float) -> str:
    """Two decimals; a multiple below the floor that two would round up to it, cut to three (0.949)."""
    return f"{math.floor(ratio * 1000) / 1000:.3f}" if ratio < FLOOR <= round(ratio, 2) else f"{ratio:.2f}"


def flag(ratio: float) -> str:
    """A multiple as the console shows it after a run of today's image: marked when below the floor."""
    return f"× earlier {multiple(ratio)}" + (f"  <-- below {FLOOR}" if ratio < FLOOR else "")


@dataclass(frozen=True)
class Comparison:
    """The images compared, and the multiples of the table's runs and of the runs again."""

    earlier: ImageFacts
    today: ImageFacts
    first: dict[Any, float]
    again: dict[Any, float]

    @classmethod
    def of(cls, images: dict[str, ImageFacts], runs: list[Run], again: list[Run]) -> Comparison:
        return cls(images[EARLIER], images[TODAY], ratios(runs), ratios(again))

    def cell(self, workload: Any, server: str) -> str:
        """The "× earlier" cell of a line: on today's image's lines, bold when below the floor."""
        ratio = self.first.get(workload)
        if server != TODAY or ratio is None:
            return "–"
        if ratio >= FLOOR:
            return multiple(ratio)
        again = self.again.get(workload)
        return f"**{multiple(ratio)}**" + (f", again {multiple(again)}" if again is not None else "")

    def note(self) -> str:
        """Which images were compared, and the workloads below the floor (once, or twice: a cost)."""
        head = (f"× earlier: {TODAY} {self.today.describe()} as a multiple of {EARLIER} "
                f"{self.earlier.describe()}, started alike and run back to back in every workload")
        if self.today.id == self.earlier.id:
            head += " (the same image twice: the column shows the noise of this machine)"
        low = [workload for workload, ratio in self.first.items() if ratio < FLOOR]
        if not low:
            return f"{head}. Every line at least {FLOOR}×"
        twice = [w for w in low if w in self.again and self.again[w] < FLOOR]
        noise = [w for w in low if w in self.again and self.again[w] >= FLOOR]
        parts = [f"{len(low)} of {len(self.first)} lines below {FLOOR}×, run again at the end of the run"]
        if once := [w for w in low if w not in self.again]:
            parts.append(f"Not run again: {self.listed(once)}")
        if noise:
            parts.append(f"At least {FLOOR}× the second time (noise): {self.listed(noise)}")
        if twice:
            parts.append(f"Below {FLOOR}× twice (a cost): {self.listed(twice)}")
        return f"{head}. " + ". ".join(parts)

    def listed(self, workloads: list[Any]) -> str:
        """Each workload's label with its multiple in the table's run and in the run again."""
        def again(workload: Any) -> str:
            return multiple(self.again[workload]) if workload in self.again else "not run again"

        return "; ".join(f"{w.label}: {multiple(self.first[w])} then {again(w)}" for w in workloads)

    def raw(self, server: str) -> dict[str, str]:
        """What results.json says of the image behind a run of ``server``."""
        facts = {EARLIER: self.earlier, TODAY: self.today}.get(server)
        if facts is None:
            return {}
        return {"image": facts.name, "image_id": facts.id, "image_revision": facts.revision}
