"""How the reports show numbers: latencies in their unit, and Markdown tables that line up."""
from __future__ import annotations


def latency(us: int) -> str:
    """Microseconds as µs, ms or s, three significant digits."""
    if us < 1000:
        return f"{us} µs"
    if us < 1_000_000:
        return f"{us / 1000:.3g} ms"
    return f"{us / 1e6:.3g} s"


def markdown_table(header: list[str], rows: list[list[str]], align: str) -> str:
    """A Markdown table, padded to line up; ``align`` has one letter per column, l(eft) or r(ight)."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    columns = list(zip(widths, align, strict=True))

    def line(cells: list[str]) -> str:
        padded = (cell.ljust(width) if side == "l" else cell.rjust(width)
                  for cell, (width, side) in zip(cells, columns, strict=True))
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (width + 1) + (":" if side == "r" else "-") for width, side in columns) + "|"
    return "\n".join([line(header), rule, *map(line, rows)])
