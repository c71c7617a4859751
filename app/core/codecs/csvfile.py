"""Reading an uploaded CSV file: its header line within limits, then its rows chunk by chunk.

The header line is read first, on its own, so a header that is too long or too wide is refused
after at most ``max_header_bytes`` of it were read, before anything is allocated per column.
Any line break ends it: ``\\n``, ``\\r\\n`` or a lone ``\\r`` (old Mac files).

The rows are read by the standard library's ``csv`` module from the file's lines, split at those
same line breaks and decoded ``_TEXT_BLOCK`` characters at a time, so memory holds one block and
one chunk. A row is numbered as if each row were one line (the header is line 1, blank lines
count; a quoted value spanning lines does not). A row shorter than the header is filled with
empty cells, and a delimiter at the end of a row holds no value. A row with one value more than
the header has columns is returned marked as wide, so that each such row is reported by its
line; a row wider still stops the reading, as does a quoted value that is never closed.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from app.core.errors import InvalidInput, PayloadTooLarge, listed

#: Bytes of header line allowed per column of ``CSV_MAX_COLUMNS``.
HEADER_BYTES_PER_COLUMN = 128
NOT_UTF8 = (
    "The file is not UTF-8 text (is it a spreadsheet workbook?). Save it as 'CSV UTF-8 "
    "(comma delimited)' and send it again."
)
UNCLOSED = 'opens a quoted value (") that is never closed: add the closing quote, or remove the stray one'
_BLOCK = 64 * 1024
#: Characters decoded at a time: a byte that is not UTF-8 stops the reading in the chunk being
#: read when the block holding it is decoded.
_TEXT_BLOCK = 256 * 1024
_LINE_BREAK = re.compile(rb"\r\n?|\n")

# A cell may be as long as the body (a long note, or everything after a stray quote); the csv
# module refuses cells over 128 Ki characters unless told otherwise, and the setting is process-wide.
csv.field_size_limit(2**31 - 1)


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
    """A line the reader cannot parse; the reading stops there."""

    def __init__(self, error: dict[str, str], detail: str | None = None) -> None:
        super().__init__(error["message"])
        self.error = error
        self.detail = detail


@dataclass
class Chunk:
    """Data rows as text cells, column by column, and the line in the file of each row (the header is line 1)."""

    header: list[str]
    #: The cells of each column of the header, in the order of its rows.
    columns: list[list[str]]
    lines: list[int]
    #: Rows with a value past the header's last column.
    wide: np.ndarray

    def __len__(self) -> int:
        return len(self.lines)

    def column(self, name: str) -> list[str]:
        """The cells of the first column of that name."""
        return self.columns[self.header.index(name)]


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
            raise InvalidInput(
                "The header line holds NUL characters, so the file is not UTF-8 text (is it UTF-16 "
                "text from a spreadsheet?). Save it as 'CSV UTF-8 (comma delimited)' and send it again.",
                errors=[{"path": "line 1", "message": "holds NUL characters"}],
            )
        if not first.strip():
            raise InvalidInput(
                "The file is empty or its first line is blank. The first line must be a header "
                "naming the columns: " + ", ".join(expected) + ".",
                errors=[{"path": "line 1", "message": "must be the header row"}],
            )
        # Spreadsheets in many locales save CSV with semicolons; the answer uses the same delimiter.
        self.sep = ";" if first.count(";") > first.count(",") else "\t" if "\t" in first and "," not in first else ","
        try:
            self.header = [h.strip() for h in next(csv.reader([first], delimiter=self.sep))]
        except csv.Error as exc:
            raise InvalidInput(
                f"The header line cannot be read as CSV ({exc}). The first line must name the "
                "columns: " + ", ".join(expected) + ".",
                errors=[{"path": "line 1", "message": f"cannot be read as CSV: {exc}"}],
            ) from None
        if len(self.header) > limits.max_columns:
            raise PayloadTooLarge(
                f"The file has {len(self.header)} columns; this server reads CSV files of at most "
                f"{limits.max_columns}. Remove the columns the model does not use ({_needs(expected)}), or ask "
                "the operator to raise MODELHOST_CSV_MAX_COLUMNS.",
                errors=[
                    {
                        "path": "line 1",
                        "message": f"has {len(self.header)} columns; at most " f"{limits.max_columns} are read",
                    }
                ],
            )
        self._body = _Body(rest, stream)
        self._chunk_rows = limits.chunk_rows

    def chunks(self) -> Iterator[Chunk]:
        """The data rows, ``chunk_rows`` lines at a time; blank lines are counted, not returned."""
        width, size, blank = len(self.header), self._chunk_rows, [""] * len(self.header)
        lines = _Lines(io.TextIOWrapper(io.BufferedReader(self._body, _BLOCK), encoding="utf-8", newline=""))
        # The chunk's cells row after row in one list: a list per row kept alive would make every
        # garbage collection walk all of them.
        cells: list[str] = []
        numbers: list[int] = []
        wide: list[int] = []
        line = 1
        try:
            for row in csv.reader(lines, delimiter=self.sep):
                line += 1
                if lines.ended:  # the reader had to read past the last line to end this row
                    raise Unreadable({"path": f"line {line}", "message": UNCLOSED})
                spare = ""
                if len(row) != width:
                    if len(row) > width + 1:
                        raise Unreadable(width_error(line, len(row), width))
                    spare = row.pop() if len(row) > width else ""
                    row.extend(blank[len(row) :])
                if spare or row != blank:
                    if spare:
                        wide.append(len(numbers))
                    cells += row
                    numbers.append(line)
                if (line - 1) % size == 0 and numbers:
                    yield _chunk(self.header, cells, numbers, wide)
                    cells, numbers, wide = [], [], []
        except csv.Error as exc:
            raise Unreadable({"path": f"line {line + 1}", "message": f"cannot be read as CSV: {exc}"}) from None
        except UnicodeDecodeError:
            raise Unreadable({"path": "", "message": "is not UTF-8 text"}, detail=NOT_UTF8) from None
        if numbers:
            yield _chunk(self.header, cells, numbers, wide)


def _chunk(header: list[str], cells: list[str], lines: list[int], wide: list[int]) -> Chunk:
    """A chunk of the cells read row after row, given the positions of its wide rows."""
    marked = np.zeros(len(lines), dtype=bool)
    marked[wide] = True
    return Chunk(header, [cells[i :: len(header)] for i in range(len(header))], lines, marked)


class _Lines:
    """The lines of a text with their line breaks; ``ended`` once a line past the last was asked for."""

    def __init__(self, text: IO[str]) -> None:
        self._text = text
        self.ended = False

    def __iter__(self) -> Iterator[str]:
        pieces: list[str] = []  # the line being read: unfinished, or ended by a "\r" that a "\n" may follow
        while block := self._text.read(_TEXT_BLOCK):
            if pieces and pieces[-1].endswith("\r") and not block.startswith("\n"):
                yield "".join(pieces)
                pieces = []
            lines = io.StringIO(block, newline="").readlines()  # split at "\n", "\r\n" and a lone "\r" only
            unfinished = lines.pop() if not lines[-1].endswith("\n") else None
            if lines:
                lines[0] = "".join([*pieces, lines[0]])
                pieces = []
                yield from lines
            if unfinished is not None:
                pieces.append(unfinished)
        if pieces:
            yield "".join(pieces)
        self.ended = True


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
            data, self._head = self._head[: len(buffer)], self._head[len(buffer) :]
        else:
            data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
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
                errors=[{"path": "line 1", "message": f"is longer than {limit} bytes"}],
            )
        # A "\r" at the end of what was read may be the first half of "\r\n": read on to know.
        if found and (eof or found.end() < len(data) or found.group() != b"\r"):
            return data[: found.start()], data[found.end() :]
        if eof:
            return data, b""
        block = stream.read(_BLOCK)
        eof, data = not block, data + block


def _needs(expected: list[str]) -> str:
    names = listed(expected)
    return f"it reads {names}"
