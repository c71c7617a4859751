"""Writing CSV: the rows of a scored file, and the one-row template of a model's file.

The answer holds the cells as they were read followed by ``prediction`` and one
``probability_<label>`` column per class, written by the ``csv`` module: numbers as Python
writes them (``0.1``, ``1e-05``), booleans as ``True`` and ``False``, text quoted only where needed.

With ``escape_formulas``, every cell of the answer that a spreadsheet would run as a formula
(one starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) gets a single quote
in front, as OWASP recommends against CSV injection; numbers such as ``-1.5`` stay as they are.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.core.codecs.csvfile import Chunk
from app.core.runtime import Runtime
from app.core.schema import InputSchema

#: How a cell that spreadsheets run as a formula starts (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: A plain number, which is no formula even with a sign in front; decimal commas included.
_NUMBER = re.compile(r"[+-]?(?:\d[\d.,]*|[.,]\d[\d.,]*)(?:[eE][+-]?\d+)?")


def example_csv(schema: InputSchema) -> str:
    """A header and one example row: the template users fill in and the API docs show."""
    out = io.StringIO()
    row = [str(v).lower() if isinstance(v, bool) else v for v in schema.example().values()]
    csv.writer(out, lineterminator="\n").writerows([schema.names, row])
    return out.getvalue()


def output_columns(runtime: Runtime, probabilities: bool) -> list[str]:
    """The columns scoring appends: ``prediction`` and one ``probability_<label>`` per class."""
    return ["prediction", *(f"probability_{c}" for c in (runtime.classes if probabilities else []))]


@dataclass
class Table:
    """Named columns of cells: text as read from the file, or the model's numbers, booleans and labels."""

    names: list[str]
    columns: list[Sequence[Any]]


def neutralise_formulas(table: Table) -> Table:
    """The table with a single quote before every text cell and name a spreadsheet would run as a formula."""
    return Table(_neutralised(table.names), [_neutralised(c) if _is_text(c) else c for c in table.columns])


def _neutralised(values: Sequence[Any]) -> list[str]:
    text = [str(v) for v in values]
    return ["'" + t if t.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(t) else t for t in text]


def _is_text(values: Sequence[Any]) -> bool:
    """Not a column of numbers or booleans only, which are written as such (and never quoted)."""
    return not all(isinstance(v, (int, float)) for v in values)  # bool is an int


def scored_rows(
    chunk: Chunk,
    predictions: list[Any],
    probs: list[dict[str, float]] | None,
    runtime: Runtime,
    probabilities: bool,
    sep: str,
    header: bool,
    escape_formulas: bool,
) -> bytes:
    """One chunk's rows of the answer, after the header row when ``header``: the cells as they
    were read, then the prediction and, when asked for, each class's probability."""
    replaced = output_columns(runtime, probabilities)
    kept = [i for i, name in enumerate(chunk.header) if name not in replaced]
    out = Table([*(chunk.header[i] for i in kept), "prediction"], [*(chunk.columns[i] for i in kept), predictions])
    if probs is not None:
        for label in runtime.classes:
            out.names.append(f"probability_{label}")
            key = str(label)
            out.columns.append([p[key] for p in probs])
    if escape_formulas:
        out = neutralise_formulas(out)
    text = io.StringIO()
    writer = csv.writer(text, delimiter=sep, lineterminator="\n", quoting=_quoting(out))
    if header:
        writer.writerow(out.names)
    writer.writerows(zip(*out.columns, strict=True))
    return text.getvalue().encode("utf-8")


def _quoting(out: Table) -> int:
    """Quote where needed. The csv module quotes a value holding the line feed that ends each line,
    but not one holding a carriage return, which readers take for a line break too: a chunk with
    such a value has every text value quoted."""
    if any(_is_text(column) and "\r" in "".join(map(str, column)) for column in out.columns):
        return csv.QUOTE_NONNUMERIC
    return csv.QUOTE_MINIMAL
