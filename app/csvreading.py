"""Reading an uploaded CSV file: its header line within limits, then its rows chunk by chunk.

The header line is read here, not by pandas, so a header that is too long or too wide is
refused after at most ``max_header_bytes`` of it were read, before pandas allocates anything
per column. Any line break ends it: ``\\n``, ``\\r\\n`` or a lone ``\\r`` (old Mac files).

pandas then reads the rows as text cells, with one spare column and behind a first row of
exactly that width. Without that row, pandas takes the first column of rows wider than the
header as their index and shifts every value one column left; with it, a row with a value in
the spare column is reported by its line, and a row wider still stops the reading with a
parser error that names its line. An empty spare cell is a delimiter at the end of the line,
which holds no value and is dropped.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import pandas as pd

from .errors import InvalidInput, PayloadTooLarge

#: Bytes of header line allowed per column of ``CSV_MAX_COLUMNS``.
HEADER_BYTES_PER_COLUMN = 128
NOT_UTF8 = ("The file is not UTF-8 text (is it a spreadsheet workbook?). Save it as 'CSV UTF-8 "
            "(comma delimited)' and send it again.")
_BLOCK = 64 * 1024
_LINE_BREAK = re.compile(rb"\r\n?|\n")
_FIELDS = re.compile(r"Expected \d+ fields in line (\d+), saw (\d+)")
_OPEN_QUOTE = re.compile(r"EOF inside string starting at row (\d+)")


@dataclass(frozen=True)
class CsvLimits:
    """Rows read per chunk, and the widest file read (``CSV_CHUNK_ROWS``, ``CSV_MAX_COLUMNS``)."""

    chunk_rows: int
    max_columns: int

    @property
    def max_header_bytes(self) -> int:
        """The longest header line read: ``HEADER_BYTES_PER_COLUMN`` bytes per allowed column."""
        return HEADER_BYTES_PER_COLUMN * self.max_columns

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CsvLimits:
        return cls(config["CSV_CHUNK_ROWS"], config["CSV_MAX_COLUMNS"])


class Unreadable(Exception):
    """A line pandas cannot parse; the reading stops there."""

    def __init__(self, error: dict[str, str], detail: str | None = None) -> None:
        super().__init__(error["message"])
        self.error = error
        self.detail = detail


@dataclass
class Chunk:
    """Data rows as text cells, indexed by their line in the file (the header is line 1)."""

    frame: pd.DataFrame
    #: Rows with a value past the header's last column.
    wide: np.ndarray


def width_error(line: int, values: int, width: int) -> dict[str, str]:
    """The entry for a line with more values than the header has columns."""
    return {"path": f"line {line}", "message": f"has {values} values; the header has {width} columns"}


class CsvFile:
    """An uploaded CSV file: header and delimiter read on opening, rows read by :meth:`chunks`."""

    def __init__(self, stream: IO[bytes], limits: CsvLimits, expected: list[str]) -> None:
        """Read the header line; InvalidInput or PayloadTooLarge when it cannot be used."""
        head, rest = _header_line(stream, limits, expected)
        try:
            first = head.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidInput(NOT_UTF8, errors=[{"path": "line 1", "message": "is not UTF-8 text"}]) from None
        if "\x00" in first:  # valid UTF-8, but what UTF-16 text without a byte order mark looks like
            raise InvalidInput("The header line holds NUL characters, so the file is not UTF-8 text (is it UTF-16 "
                               "text from a spreadsheet?). Save it as 'CSV UTF-8 (comma delimited)' and send it again.",
                               errors=[{"path": "line 1", "message": "holds NUL characters"}])
        if not first.strip():
            raise InvalidInput("The file is empty or its first line is blank. The first line must be a header "
                               "naming the columns: " + ", ".join(expected) + ".",
                               errors=[{"path": "line 1", "message": "must be the header row"}])
        # Spreadsheets in many locales save CSV with semicolons; the answer uses the same delimiter.
        self.sep = ";" if first.count(";") > first.count(",") else \
            "\t" if "\t" in first and "," not in first else ","
        try:
            self.header = [h.strip() for h in next(csv.reader([first], delimiter=self.sep))]
        except csv.Error as exc:
            raise InvalidInput(f"The header line cannot be read as CSV ({exc}). The first line must name the "
                               "columns: " + ", ".join(expected) + ".",
                               errors=[{"path": "line 1", "message": f"cannot be read as CSV: {exc}"}]) from None
        if len(self.header) > limits.max_columns:
            raise PayloadTooLarge(
                f"The file has {len(self.header)} columns; this server reads CSV files of at most "
                f"{limits.max_columns}. Remove the columns the model does not use ({_needs(expected)}), or ask "
                "the operator to raise MODELHOST_CSV_MAX_COLUMNS.",
                errors=[{"path": "line 1", "message": f"has {len(self.header)} columns; at most "
                         f"{limits.max_columns} are read"}])
        spare_row = (self.sep * len(self.header) + "\n").encode()
        self._body = _Body(spare_row + rest, stream)
        self._chunk_rows = limits.chunk_rows

    def chunks(self) -> Iterator[Chunk]:
        """The data rows, ``chunk_rows`` lines at a time; blank lines are counted, not returned."""
        width = len(self.header)
        text = io.TextIOWrapper(io.BufferedReader(self._body, _BLOCK), encoding="utf-8", newline="")
        try:
            with pd.read_csv(text, sep=self.sep, header=None, names=list(range(width + 1)), dtype=str,
                             na_filter=False, skip_blank_lines=False, iterator=True) as reader:
                size = self._chunk_rows + 1  # the first chunk holds the spare row too
                while (frame := _next_chunk(reader, size)) is not None:
                    size = self._chunk_rows
                    frame.index += 1  # row 0 is the spare row, in the header's place: the index is the line
                    keep = ~(frame == "").all(axis=1).to_numpy()
                    wide = (frame[width] != "").to_numpy()
                    frame = frame.drop(columns=width)[keep]
                    frame.columns = self.header
                    yield Chunk(frame, wide[keep])
        except pd.errors.ParserError as exc:
            raise Unreadable(_parser_error(exc, width)) from None
        except UnicodeDecodeError:
            raise Unreadable({"path": "", "message": "is not UTF-8 text"}, detail=NOT_UTF8) from None


class _Body(io.RawIOBase):
    """The file after its header line: the bytes already read, then the rest of the upload."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        super().__init__()
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            data, self._head = self._head[:len(buffer)], self._head[len(buffer):]
        else:
            data = self._stream.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def _header_line(stream: IO[bytes], limits: CsvLimits, expected: list[str]) -> tuple[bytes, bytes]:
    """The first line without its line break, and the bytes read after that line break."""
    limit, data, eof = limits.max_header_bytes, b"", False
    while True:
        found = _LINE_BREAK.search(data)
        if (found.start() if found else len(data)) > limit:
            raise PayloadTooLarge(
                f"The header line is longer than {limit} bytes, the limit for files of up to "
                f"{limits.max_columns} columns. Check that the file has line breaks; shorten the column names "
                f"or remove the columns the model does not use ({_needs(expected)}), or ask the operator to "
                "raise MODELHOST_CSV_MAX_COLUMNS.",
                errors=[{"path": "line 1", "message": f"is longer than {limit} bytes"}])
        # A "\r" at the end of what was read may be the first half of "\r\n": read on to know.
        if found and (eof or found.end() < len(data) or found.group() != b"\r"):
            return data[:found.start()], data[found.end():]
        if eof:
            return data, b""
        block = stream.read(_BLOCK)
        eof, data = not block, data + block


def _next_chunk(reader: Any, size: int) -> pd.DataFrame | None:
    try:
        return reader.get_chunk(size)
    except StopIteration:
        return None


def _needs(expected: list[str]) -> str:
    names = ", ".join(expected[:10]) + (f" and {len(expected) - 10} more" if len(expected) > 10 else "")
    return f"it reads {names}"


def _parser_error(exc: Exception, width: int) -> dict[str, str]:
    message = str(exc)
    if match := _FIELDS.search(message):
        return width_error(int(match[1]), int(match[2]), width)
    if match := _OPEN_QUOTE.search(message):
        return {"path": f"line {int(match[1]) + 1}", "message": 'opens a quoted value (") that is never closed: '
                "add the closing quote, or remove the stray one"}
    return {"path": "", "message": f"cannot be read as CSV: {message.splitlines()[-1]}"}
