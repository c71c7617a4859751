"""Request bodies read whole: within the size limit, chunked or not, and decompressed when sent compressed.

Flask enforces MAX_CONTENT_LENGTH while it reads (413). A body sent with ``Content-Encoding:
gzip`` or ``deflate`` (tritonclient's request compression, ``curl --data-binary @file.gz``) is
inflated at most to that same limit, so a small compressed body cannot unpack into gigabytes.
A gzip body may hold several members one after the other, as RFC 1952 allows and ``gzip``
writes for concatenated files; they are read as one body, as ``gunzip`` reads them. Bytes after
the compressed data that start no further member are refused, never ignored.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterable, Iterator
from typing import IO, Any

from flask import current_app, request
from werkzeug.datastructures import MultiDict

from app.core.errors import InvalidInput, PayloadTooLarge
from app.http.problems import UnsupportedMediaType

#: zlib's window bits for each content coding: gzip's header, or zlib's (what HTTP calls deflate).
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
#: The content codings a request body may have, as the 415 and its Accept-Encoding name them.
ACCEPTED_CODINGS = "gzip, deflate"
#: The first two bytes of every gzip member (RFC 1952, ID1 and ID2).
_GZIP_MAGIC = b"\x1f\x8b"
#: Compressed bytes inflated per call. Where a member ends, zlib copies what follows it (at most
#: this much), so a body of many tiny members costs time in proportion to its size, not its square.
_STEP = 1024
#: Bytes read from the request stream at a time when a compressed body is read as a stream.
_BLOCK = 64 * 1024


def is_json(mimetype: str) -> bool:
    """Whether a media type is JSON (``application/json`` or a ``+json`` type)."""
    return mimetype == "application/json" or mimetype.endswith("+json")


def raw_body() -> bytes:
    """The whole request body; a chunked body longer than the limit is a 413 too."""
    raw = request.get_data(cache=False)
    if request.content_length is None and len(raw) == request.max_content_length:
        # A streamed (chunked) body is cut at the limit; reading past it raises the 413.
        request.stream.read(1)
    return raw


def content_coding() -> str | None:
    """The body's Content-Encoding when it is gzip or deflate, None when there is none; 415 for any other."""
    coding = request.environ.get("HTTP_CONTENT_ENCODING")  # the header, without EnvironHeaders' key folding
    if not coding:
        return None
    coding = coding.strip().lower()
    if coding in ("", "identity"):
        return None
    if coding not in _WBITS:
        raise UnsupportedMediaType(
            f"Content-Encoding {coding!r} is not accepted; send the body uncompressed, or "
            "compressed with gzip or deflate.",
            headers={"Accept-Encoding": ACCEPTED_CODINGS},
        )
    return coding


def decoded_body() -> bytes:
    """The whole request body, inflated when its Content-Encoding is gzip or deflate."""
    coding = content_coding()
    raw = raw_body()
    if coding is None:
        return raw
    return b"".join(inflate((raw,), coding, current_app.config["MAX_CONTENT_LENGTH"]))


def decoded_stream() -> IO[bytes]:
    """The request body as a stream, inflated as it is read when its Content-Encoding is gzip or deflate."""
    coding = content_coding()
    if coding is None:
        return request.stream
    blocks = iter(lambda: request.stream.read(_BLOCK), b"")
    return io.BufferedReader(_Inflating(inflate(blocks, coding, current_app.config["MAX_CONTENT_LENGTH"])))


def decoded_form() -> MultiDict[str, str]:
    """The fields of a form-encoded body, inflated first when its Content-Encoding is gzip or deflate."""
    if content_coding() is None:
        return request.form
    body = decoded_body()
    parser = request.make_form_data_parser()
    return parser.parse(io.BytesIO(body), request.mimetype, len(body), request.mimetype_params)[1]


def inflate(blocks: Iterable[bytes], coding: str, limit: int) -> Iterator[bytes]:
    """The inflated bytes of compressed ``blocks``: every gzip member, at most ``limit`` bytes in all.

    PayloadTooLarge (413) as soon as the output passes ``limit``; InvalidInput (400) for data that is
    not of the coding, is cut short, or goes on after its end with bytes that start no gzip member.
    """
    wbits = _WBITS[coding]
    inflater, expect, size = zlib.decompressobj(wbits), b"", 0
    for block in blocks:
        view, pos = memoryview(block), 0
        while pos < len(view):
            if inflater.eof:  # a member ended and more follows: only another gzip member may
                if coding == "deflate":
                    raise _trailing(coding)
                inflater, expect = zlib.decompressobj(wbits), _GZIP_MAGIC
            if expect:  # the start of a further member, which may be split across blocks
                seen = min(len(expect), len(view) - pos)
                if view[pos : pos + seen] != expect[:seen]:
                    raise _trailing(coding)
                expect = expect[seen:]
            chunk = view[pos : pos + _STEP]
            try:
                out = inflater.decompress(chunk, limit - size + 1)
            except zlib.error as exc:
                raise InvalidInput(
                    f"The body is not valid {coding} data ({exc}); compress it with {coding}, or "
                    "send it uncompressed without Content-Encoding.",
                    errors=[{"path": "", "message": f"is not valid {coding} data"}],
                ) from None
            size += len(out)
            if size > limit:  # output stopped one byte past the limit: the rest is never inflated
                raise PayloadTooLarge(
                    f"The {coding} body inflates to more than the limit of {limit} bytes; send "
                    "fewer instances per request."
                )
            # Below the output limit zlib took the whole chunk, and kept what follows a member's end.
            pos += len(chunk) - len(inflater.unused_data)
            if out:
                yield out
    if not inflater.eof:
        raise InvalidInput(
            f"The {coding} body ends before its compressed data does; send the whole body.",
            errors=[{"path": "", "message": f"is truncated {coding} data"}],
        )


def _trailing(coding: str) -> InvalidInput:
    if coding == "deflate":
        what = "The deflate body goes on after its compressed data ends"
    else:
        what = (
            f"The {coding} body goes on after its last member with bytes that are not a gzip member (several "
            "members one after the other are read, as gunzip reads them)"
        )
    return InvalidInput(
        f"{what}; send only the compressed data, with nothing after it.",
        errors=[{"path": "", "message": f"has bytes after its {coding} data"}],
    )


class _Inflating(io.RawIOBase):
    """A readable stream over inflated pieces, for bodies read as they arrive (CSV files)."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        super().__init__()
        self._pieces = pieces
        self._piece = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._piece:
            self._piece = memoryview(next(self._pieces, b""))
        size = min(len(buffer), len(self._piece))
        buffer[:size] = self._piece[:size]
        self._piece = self._piece[size:]
        return size
