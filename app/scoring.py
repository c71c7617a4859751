"""Batch scoring of CSV files: validate and predict chunk by chunk, spool the scored file.

Memory stays bounded by one chunk (``CSV_CHUNK_ROWS``) plus the spooled output, which moves
to disk once it outgrows ``SPOOL_BYTES``. Every row is checked before anything is returned:
when any row fails, the caller gets an InvalidInput naming each failing CSV line (the header
is line 1) and no partial output. Line numbers count physical lines, so they are exact unless
a quoted value spans several lines.
"""
from __future__ import annotations

import csv
import io
import re
import tempfile
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Iterator

import numpy as np
import pandas as pd
from flask import Response, current_app

from .errors import InvalidInput
from .runtime import Runtime
from .schema import FALSE_WORDS, TRUE_WORDS, InputSchema

#: Failing entries listed in one report; further failing lines are counted, not listed.
MAX_REPORTED = 100
SPOOL_BYTES = 8 * 1024 * 1024
_NOT_UTF8 = ("The file is not UTF-8 text (is it a spreadsheet workbook?). Save it as 'CSV UTF-8 "
             "(comma delimited)' and send it again.")
_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


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


def download(scored: ScoredFile, filename: str) -> Response:
    """Stream a scored file back as a CSV attachment; the spool is closed once it is sent."""
    response = current_app.response_class(scored.blocks(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Content-Length": str(scored.size),
        "X-Rows-Scored": str(scored.rows)})
    response.call_on_close(scored.file.close)
    return response


def example_csv(schema: InputSchema) -> str:
    """A header and one example row: the template users fill in and the API docs show."""
    out = io.StringIO()
    row = [str(v).lower() if isinstance(v, bool) else v for v in schema.example().values()]
    csv.writer(out, lineterminator="\n").writerows([schema.names, row])
    return out.getvalue()


def output_columns(runtime: Runtime, probabilities: bool) -> list[str]:
    """The columns scoring appends: ``prediction`` and one ``probability_<label>`` per class."""
    return ["prediction", *(f"probability_{c}" for c in (runtime.classes if probabilities else []))]


def score_csv(stream: BinaryIO, runtime: Runtime, probabilities: bool, chunk_rows: int) -> ScoredFile:
    """Score every row of a CSV file with a header; InvalidInput lists every failing line."""
    buffered = io.BufferedReader(stream, buffer_size=64 * 1024)  # type: ignore[arg-type]
    try:
        first = buffered.peek(64 * 1024).split(b"\n", 1)[0].decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(_NOT_UTF8, errors=[{"path": "line 1", "message": "is not UTF-8 text"}]) from None
    if not first.strip():
        raise InvalidInput("The file is empty or its first line is blank. The first line must be a header "
                           "naming the columns: " + ", ".join(runtime.schema.names) + ".",
                           errors=[{"path": "line 1", "message": "must be the header row"}])
    # Spreadsheets in many locales save CSV with semicolons; the answer uses the same delimiter.
    sep = ";" if first.count(";") > first.count(",") else "\t" if "\t" in first and "," not in first else ","
    header = [h.strip() for h in next(csv.reader([first], delimiter=sep))]
    _check_header(header, runtime.schema)
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="w+b")
    report, rows = _Report(), 0
    try:
        for chunk in pd.read_csv(io.TextIOWrapper(buffered, encoding="utf-8-sig", newline=""), sep=sep,
                                 dtype=str, na_filter=False, skip_blank_lines=False, chunksize=chunk_rows):
            chunk.columns = header
            chunk = chunk[~(chunk == "").all(axis=1)]  # blank lines: counted for line numbers, not scored
            columns, suspect = _coerce(chunk, runtime.schema)
            for position in np.flatnonzero(suspect):
                _check_row(chunk, int(position), runtime.schema, columns, report)
            if not report.failed and not chunk.empty:  # after a failure: validate on, write nothing
                spool.write(_scored(chunk, columns, runtime, probabilities, sep, header=rows == 0))
                rows += len(chunk)
    except pd.errors.ParserError as exc:
        report.add([_parser_error(exc, len(header))])
    except UnicodeDecodeError:
        report.add([{"path": "", "message": "is not UTF-8 text"}], detail=_NOT_UTF8)
    except BaseException:
        spool.close()
        raise
    if report.failed or rows == 0:
        spool.close()
        raise InvalidInput(report.detail or report.summary(), errors=report.errors) if report.failed else \
            InvalidInput("The file has a header but no data rows; add one row per instance to score.",
                         errors=[{"path": "line 2", "message": "is missing: the file has no data rows"}])
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
        self.errors.extend(errors[:MAX_REPORTED - len(self.errors)])

    def summary(self) -> str:
        listed = "; ".join(f"{e['path']} {e['message']}".strip() for e in self.errors[:3])
        more = f" (and {len(self.errors) - 3} more, see errors)" if len(self.errors) > 3 else ""
        capped = f" (only the first {MAX_REPORTED} problems are listed)" if self.full else ""
        return (f"{self.failed} line(s) of the file failed validation, so nothing was scored: {listed}{more}"
                f"{capped}. Fix those lines and send the whole file again.")


def _check_header(header: list[str], schema: InputSchema) -> None:
    errors = [{"path": f"line 1/{name}", "message": "appears more than once in the header"}
              for name in sorted({h for h in header if header.count(h) > 1})]
    errors += [{"path": f"line 1/{name}", "message": "is missing: the header must name this column"}
               for name in schema.names if name not in header]
    if errors:
        hint = "" if set(header) & set(schema.names) else " Is the first line a header row?"
        raise InvalidInput(f"The header row must name each of these columns once: {', '.join(schema.names)} "
                           f"(other columns are kept as they are).{hint}", errors=errors)


def _coerce(chunk: pd.DataFrame, schema: InputSchema) -> tuple[dict[str, Any], np.ndarray]:
    """Typed feature columns (arrays), vectorised, and a mask of rows the schema's validator must judge."""
    columns: dict[str, Any] = {}
    bad = np.zeros(len(chunk), dtype=bool)
    for feature in schema.features:
        text = chunk[feature["name"]]
        kind = feature.get("type", "number")
        if kind in ("number", "integer"):
            number = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)  # ignores spaces
            ok = np.isfinite(number)
            if kind == "integer":
                ok &= np.floor(number) == number
            values = number.astype(np.int64, copy=False) if kind == "integer" and ok.all() else number
        elif kind == "boolean":
            lowered = text.str.strip().str.lower()
            values, ok = lowered.isin(TRUE_WORDS).to_numpy(), lowered.isin(TRUE_WORDS + FALSE_WORDS).to_numpy()
        else:
            values = text.to_numpy(dtype=object)
            ok = text.isin(feature["enum"]).to_numpy() if feature.get("enum") else np.ones(len(text), bool)
        columns[feature["name"]] = values
        bad |= ~ok
    return columns, bad


def _check_row(chunk: pd.DataFrame, position: int, schema: InputSchema, columns: dict[str, Any],
               report: _Report) -> None:
    """Judge one suspect row with the API's own validator; a row it accepts is typed its way."""
    line = int(chunk.index[position]) + 2  # the index counts data rows; the header is line 1
    if report.full:
        report.add([])  # enough listed: count the rest without validating them
        return
    raw = {name: str(chunk[name].iat[position]) for name in schema.names}
    typed = schema.from_form(raw)
    try:
        schema.parse(typed, 1)
    except InvalidInput as exc:
        report.add([{"path": f"line {line}/{e['path']}", "message": "is empty: every row needs a value in this "
                     "column" if not raw.get(e["path"], "x").strip() else e["message"]} for e in exc.errors or []])
        return
    for name in schema.names:
        columns[name][position] = typed[name]


def _scored(chunk: pd.DataFrame, columns: dict[str, Any], runtime: Runtime, probabilities: bool,
            sep: str, header: bool) -> bytes:
    try:
        predictions, probs = runtime.predict(columns, probabilities)
    except InvalidInput as exc:
        lines = f"lines {chunk.index[0] + 2}-{chunk.index[-1] + 2}"
        raise InvalidInput(f"{exc.detail} (in {lines} of the file)",
                           errors=[{"path": lines, "message": exc.detail}]) from None
    out = chunk.drop(columns=[c for c in output_columns(runtime, probabilities) if c in chunk.columns])
    out["prediction"] = predictions
    for label in runtime.classes if probs is not None else []:
        out[f"probability_{label}"] = [p[str(label)] for p in probs]
    return out.to_csv(index=False, header=header, sep=sep, lineterminator="\n").encode("utf-8")


def _parser_error(exc: Exception, width: int) -> dict[str, str]:
    match = _FIELDS.search(str(exc))
    if match:
        return {"path": f"line {match[2]}", "message": f"has {match[3]} values; the header has {width} columns"}
    return {"path": "", "message": f"cannot be read as CSV: {str(exc).splitlines()[-1]}"}
