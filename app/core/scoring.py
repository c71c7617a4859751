"""Batch scoring of CSV files: validate and predict chunk by chunk, spool the scored file.

Memory stays bounded by one chunk (``CSV_CHUNK_ROWS``, read by :mod:`app.core.codecs.csvfile`) plus
the spooled output, which moves to disk once it outgrows ``SPOOL_BYTES``. Every row is checked
before anything is returned: when any row fails, the caller gets an InvalidInput naming each
failing CSV line (the header is line 1) and no partial output. Line numbers count physical
lines, so they are exact unless a quoted value spans several lines.

Each feature's column is read in bulk with numpy (numbers as Python's ``float`` reads them,
surrounding spaces ignored); a cell it cannot read, or whose value the schema might refuse,
marks its row for the schema's own validator, which has the last word. The scored rows are
written by :mod:`app.core.codecs.csvanswer`.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from app.core import features
from app.core.codecs.csvanswer import scored_rows
from app.core.codecs.csvfile import Chunk, CsvFile, CsvLimits, Unreadable, width_error
from app.core.errors import InvalidInput, listed
from app.core.features import FALSE_WORDS, TRUE_WORDS
from app.core.runtime import Runtime
from app.core.schema import Batch, InputSchema

#: Predicts one chunk's validated rows, given each row's line in the file: JSON-native predictions,
#: and probabilities as ``{label: p}`` per row when asked for.
Predict = Callable[[Batch, Sequence[int]], tuple[list[Any], "list[dict[str, float]] | None"]]
#: Failing entries listed in one report; further failing lines are counted, not listed.
MAX_REPORTED = 100
SPOOL_BYTES = 8 * 1024 * 1024


@dataclass
class ScoredFile:
    """The scored CSV in a spooled temporary file, ready to stream back."""

    file: Any
    rows: int
    size: int

    def blocks(self, size: int = 64 * 1024) -> Iterator[bytes]:
        """The file's bytes from the start, in blocks."""
        self.file.seek(0)
        while block := self.file.read(size):
            yield block


def score_csv(
    stream: IO[bytes],
    runtime: Runtime,
    probabilities: bool,
    limits: CsvLimits,
    predict: Predict,
    escape_formulas: bool = False,
) -> ScoredFile:
    """Score every row of a CSV file with a header; InvalidInput lists every failing line.

    ``predict`` predicts one chunk's validated rows (given the line of each), as every request is
    predicted (``app.core.dataplane``): its errors name the lines of the file.
    """
    source = CsvFile(stream, limits, runtime.schema.names)
    _check_header(source.header, runtime.schema)
    with ExitStack() as unless_scored:
        spool = unless_scored.enter_context(tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="w+b"))
        report, rows, width = _Report(), 0, len(source.header)
        try:
            for chunk in source.chunks():
                columns, suspect = _coerce(chunk, runtime.schema)
                for position in np.flatnonzero(suspect | chunk.wide):
                    if chunk.wide[position]:
                        report.add([width_error(chunk.lines[position], width + 1, width)])
                    else:
                        _check_row(chunk, int(position), runtime.schema, columns, report)
                if not report.failed:  # after a failure: validate on, write nothing
                    predictions, probs = predict(Batch(columns, len(chunk), single=False, ids=None), chunk.lines)
                    spool.write(
                        scored_rows(
                            chunk,
                            predictions,
                            probs,
                            runtime,
                            probabilities,
                            source.sep,
                            header=rows == 0,
                            escape_formulas=escape_formulas,
                        )
                    )
                    rows += len(chunk)
        except Unreadable as exc:
            report.add([exc.error], detail=exc.detail)
        if report.failed:
            raise InvalidInput(report.detail or report.summary(), errors=report.errors)
        if rows == 0:
            raise InvalidInput(
                "The file has a header but no data rows; add one row per instance to score.",
                errors=[{"path": "line 2", "message": "is missing: the file has no data rows"}],
            )
        unless_scored.pop_all()  # the spool is the caller's now; download() closes it once sent
    return ScoredFile(spool, rows, spool.tell())


@dataclass
class _Report:
    """Failing lines: the first MAX_REPORTED problems listed, every failing line counted."""

    errors: list[dict[str, str]] = field(default_factory=list)
    failed: int = 0
    detail: str | None = None  # replaces the summary when the whole file is unreadable

    @property
    def full(self) -> bool:
        return len(self.errors) >= MAX_REPORTED

    def add(self, errors: list[dict[str, str]], detail: str | None = None) -> None:
        """Count one failing line and list its problems while there is room."""
        self.failed, self.detail = self.failed + 1, detail or self.detail
        self.errors.extend(errors[: MAX_REPORTED - len(self.errors)])

    def summary(self) -> str:
        problems = listed([f"{e['path']} {e['message']}".strip() for e in self.errors], 3, "; ", see_errors=True)
        capped = f" (only the first {MAX_REPORTED} problems are listed)" if self.full else ""
        return (
            f"{self.failed} line(s) of the file failed validation, so nothing was scored: {problems}"
            f"{capped}. Fix those lines and send the whole file again."
        )


def _check_header(header: list[str], schema: InputSchema) -> None:
    # Columns without a name are kept like any other; only named ones must be unique.
    errors = [
        {"path": f"line 1/{name}", "message": "appears more than once in the header"}
        for name, count in sorted(Counter(header).items())
        if count > 1 and name
    ]
    errors += [
        {"path": f"line 1/{name}", "message": "is missing: the header must name this column"}
        for name in schema.names
        if name not in header
    ]
    if errors:
        hint = "" if set(header) & set(schema.names) else " Is the first line a header row?"
        raise InvalidInput(
            f"The header row must name each of these columns once: {', '.join(schema.names)} "
            f"(other columns are kept as they are).{hint}",
            errors=errors,
        )


def _coerce(chunk: Chunk, schema: InputSchema) -> tuple[dict[str, Any], np.ndarray]:
    """Typed feature columns (arrays), vectorised, and a mask of rows the schema's validator must judge."""
    columns: dict[str, Any] = {}
    bad = np.zeros(len(chunk), dtype=bool)
    for feature in schema.features:
        text = chunk.column(feature["name"])
        kind = features.type_name(feature)
        if kind == "integer":
            values, ok = _whole_numbers(text)
        elif kind == "number":
            whole = _integers(text)
            values = _numbers(text) if whole is None else whole.astype(np.float64)
            ok = np.isfinite(values)
        elif kind == "boolean":
            lowered = [t.strip().lower() for t in text]
            values = np.array([t in TRUE_WORDS for t in lowered], dtype=bool)
            ok = values | np.array([t in FALSE_WORDS for t in lowered], dtype=bool)
        else:
            values = np.array(text, dtype=object)
            allowed = set(feature.get("enum") or ())
            ok = np.array([t in allowed for t in text], dtype=bool) if allowed else np.ones(len(text), dtype=bool)
        columns[feature["name"]] = values
        bad |= ~ok
    return columns, bad


def _integers(text: Sequence[str]) -> np.ndarray | None:
    """The cells as int64 when each is an integer an int64 holds (surrounding spaces ignored), else None.

    A column of integers is read as integers, as JSON reads them: ``-0`` is the integer 0.
    """
    try:
        return np.array(text, dtype=np.int64)
    except (ValueError, OverflowError):
        return None


def _numbers(text: Sequence[str]) -> np.ndarray:
    """The cells as doubles, surrounding spaces ignored; NaN where a cell is no number."""
    try:
        return np.array(text, dtype=np.float64)  # the whole column at once; it raises on the first bad cell
    except ValueError:
        return np.array([_number(t) for t in text], dtype=np.float64)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return np.nan


def _whole_numbers(text: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """An integer feature's column read exactly, and a mask of the rows the schema must judge.

    A column of integers an int64 holds is returned as it is. In any other column a double is
    exact only below 2^53 (2^53 + 1 reads as 2^53), so values from 2^53 on and all that are not
    whole numbers go to the schema, which reads them as it reads JSON (out of int64's range is an
    error there); the column is then an object array, which keeps the exact integers the schema
    returns. Nothing is cast to int64 unless it fits.
    """
    values = _integers(text)
    if values is not None:
        return values, values != -(2**63)  # -2^63 is outside the range JSON takes (app/core/violations.py)
    number = _numbers(text)
    ok = (np.floor(number) == number) & (np.abs(number) < 2.0**53)
    return (number.astype(np.int64) if ok.all() else number.astype(object)), ok


def _check_row(chunk: Chunk, position: int, schema: InputSchema, columns: dict[str, Any], report: _Report) -> None:
    """Judge one suspect row with the API's own validator; a row it accepts is typed its way."""
    line = chunk.lines[position]
    if report.full:
        report.add([])  # enough listed: count the rest without validating them
        return
    raw = {name: chunk.column(name)[position] for name in schema.names}
    typed = schema.from_form(raw)
    try:
        schema.parse(typed, 1)
    except InvalidInput as exc:
        report.add(
            [
                {
                    "path": f"line {line}/{e['path']}",
                    "message": "is empty: every row needs a value in this " "column"
                    if not raw.get(e["path"], "x").strip()
                    else e["message"],
                }
                for e in exc.errors or []
            ]
        )
        return
    for name in schema.names:
        columns[name][position] = typed[name]
