"""Request bodies read whole: within the size limit, chunked or not, and decompressed when sent compressed.

Flask enforces MAX_CONTENT_LENGTH while it reads (413). A body sent with ``Content-Encoding:
gzip`` or ``deflate`` (tritonclient's request compression) is inflated at most to that same
limit, so a small compressed body cannot unpack into gigabytes.
"""
from __future__ import annotations

import zlib

from flask import current_app, request

from .errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

#: zlib's window bits for each content coding: gzip's header, or zlib's (what HTTP calls deflate).
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


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


def decoded_body() -> bytes:
    """The whole request body, inflated when its Content-Encoding is gzip or deflate."""
    raw = raw_body()
    coding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if coding in ("", "identity"):
        return raw
    if coding not in _WBITS:
        raise UnsupportedMediaType(f"Content-Encoding {coding!r} is not accepted; send the body uncompressed, or "
                                   "compressed with gzip or deflate.")
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    inflater = zlib.decompressobj(_WBITS[coding])
    try:
        body = inflater.decompress(raw, limit)
        if inflater.unconsumed_tail:
            raise PayloadTooLarge(f"The {coding} body inflates to more than the limit of {limit} bytes; send fewer "
                                  "instances per request.")
        body += inflater.flush()
    except zlib.error as exc:
        raise InvalidInput(f"The body is not valid {coding} data ({exc}); compress it with {coding}, or send it "
                           "uncompressed without Content-Encoding.",
                           errors=[{"path": "", "message": f"is not valid {coding} data"}]) from None
    if not inflater.eof:
        raise InvalidInput(f"The {coding} body ends before its compressed data does; send the whole body.",
                           errors=[{"path": "", "message": f"is truncated {coding} data"}])
    if len(body) > limit:
        raise PayloadTooLarge(f"The {coding} body inflates to more than the limit of {limit} bytes; send fewer "
                              "instances per request.")
    return body
