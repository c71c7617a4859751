"""Logging: request ids, one access line per request, text or JSON, stderr or a rotating file.

The application writes the one access line of each request (Apache's own access log is off by
default, see README "Tuning"): it alone knows the model, version and batch size.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from typing import TextIO

from flask import Flask, Response, has_request_context, request

from app.http import state as requeststate

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_TEXT_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
#: Fields the access line carries besides the message, in JSON logs as keys.
ACCESS_FIELDS = ("method", "path", "status", "duration_ms", "model", "version", "batch_size", "user")
#: What could end a text log line or rewrite it on a terminal: C0 and C1 controls, DEL, and the
#: Unicode line and paragraph separators (some log viewers break lines there too).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: The name of the handler configure_logging installs: a later create_app replaces it, and only it.
_HANDLER_NAME = "modelhost"


class RequestIdFilter(logging.Filter):
    """Stamp every record with the id of the request it was logged under."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = requeststate.current().request_id if has_request_context() else "-"
        return True


def escape_controls(text: str) -> str:
    """``text`` with every control character written as an escape (``\\n``, ``\\x1b``, ``\\u2028``)."""
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _ESCAPES.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def _indented(text: str) -> str:
    # A traceback keeps its line breaks, but every line of it is indented and escaped: however
    # an exception message (say, one quoting a client's input) breaks, none of its lines can
    # pass for the start of a record.
    return "\n".join("  " + escape_controls(line) for line in text.split("\n"))


class TextFormatter(logging.Formatter):
    """The text format, in which a line that starts at the margin always starts a record.

    Paths, headers and other values a client chooses reach the log inside messages; their
    control characters are escaped, so a request for ``/x%0a<forged line>`` stays one line.
    """

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        text = escape_controls(self.formatMessage(record))
        # Formatted here rather than through record.exc_text, which another handler may
        # already have filled with an unindented traceback.
        if record.exc_info:
            text += "\n" + _indented(self.formatException(record.exc_info))
        elif record.exc_text:
            text += "\n" + _indented(record.exc_text)
        if record.stack_info:
            text += "\n" + _indented(self.formatStack(record.stack_info))
        return text


def _formatter(kind: str) -> logging.Formatter:
    if kind == "json":
        # JSON escapes every control character in its strings: a record is one line already.
        from pythonjsonlogger.json import JsonFormatter

        return JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    return TextFormatter(_TEXT_FORMAT)


class _DescriptorHandler(logging.StreamHandler):
    """A stream handler that owns its stream, closes it with itself, and may write in batches.

    With ``flush_ms`` > 0, lines collect in the stream's buffer and a background thread writes
    them out every ``flush_ms`` milliseconds (warnings and errors at once, and everything at
    exit). Each write to a container's standard error wakes Docker's log pipeline; one write
    per batch instead of one per request keeps that cost off the request path.
    """

    def __init__(self, stream: TextIO, flush_ms: int = 0) -> None:
        super().__init__(stream)
        self._batched = flush_ms > 0
        self._stop = threading.Event()
        if self._batched:
            threading.Thread(
                target=self._flush_every, args=(flush_ms / 1000,), name="modelhost-log-flush", daemon=True
            ).start()
            atexit.register(self.flush)

    def flush(self) -> None:
        if not self.stream.closed:
            super().flush()

    def emit(self, record: logging.LogRecord) -> None:
        if not self._batched:
            super().emit(record)
            return
        try:
            self.stream.write(self.format(record) + self.terminator)
            if record.levelno >= logging.WARNING:
                self.stream.flush()
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - logging must never fail a request
            self.handleError(record)

    def _flush_every(self, seconds: float) -> None:
        while not self._stop.wait(seconds):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        atexit.unregister(self.flush)
        super().close()
        if self.stream not in (sys.stderr, sys.stdout):
            self.stream.close()


def _stderr(buffered: bool) -> TextIO:
    """The process's own standard error, bypassing any wrapper around ``sys.stderr``.

    mod_wsgi replaces ``sys.stderr`` with an object that files every line into Apache's error
    log as ``[wsgi:error] ... [remote ...]``: an INFO line would read as an error, and a JSON
    line would no longer be one JSON object. File descriptor 2 is where that log goes anyway
    (the terminal with --log-to-terminal), so writing to it directly keeps lines as formatted.
    """
    try:
        return os.fdopen(
            os.dup(2), "w", buffering=64 * 1024 if buffered else 1, encoding="utf-8", errors="backslashreplace"
        )
    except OSError:  # no usable descriptor 2 (some embedded servers): the wrapper will do
        return sys.stderr


def _handler(app: Flask) -> logging.Handler:
    path = app.config["LOG_FILE"]
    if not path:
        flush_ms = app.config["LOG_FLUSH_MS"]
        return _DescriptorHandler(_stderr(buffered=flush_ms > 0), flush_ms)
    # Rotation that several processes (mod_wsgi daemons) can share safely, old files gzipped.
    from concurrent_log_handler import ConcurrentRotatingFileHandler

    return ConcurrentRotatingFileHandler(
        path, maxBytes=app.config["LOG_MAX_BYTES"], backupCount=app.config["LOG_BACKUP_COUNT"], use_gzip=True
    )


def configure_logging(app: Flask) -> None:
    """Send the application's logs (logger ``app`` and its children) to one handler."""
    handler = _handler(app)
    handler.name = _HANDLER_NAME
    handler.setFormatter(_formatter(app.config["LOG_FORMAT"]))
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger(app.import_name)
    # Replace what an earlier create_app in this process installed; leave others' handlers be.
    for old in [h for h in logger.handlers if h.name == _HANDLER_NAME]:
        logger.removeHandler(old)
        old.close()
    logger.addHandler(handler)
    logger.setLevel(app.config["LOG_LEVEL"])
    logger.propagate = False


def _start_request() -> None:
    supplied = request.headers.get("X-Request-ID", "")
    requeststate.begin(supplied if _REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex)


def _stamp_request_id(response: Response) -> Response:
    response.headers["X-Request-ID"] = requeststate.current().request_id
    return response


_access = logging.getLogger("app.access")


def _log_access(response: Response) -> Response:
    if not _access.isEnabledFor(logging.INFO):
        return response
    state = requeststate.current()
    duration = (time.perf_counter() - state.started) * 1000
    fields = {
        "method": request.method,
        "path": request.path,
        "status": response.status_code,
        "duration_ms": round(duration, 2),
        "model": state.model,
        "version": state.version,
        "batch_size": state.batch_size,
        # Whom Apache signed in (LDAP sign-in), whether or not TRUST_REMOTE_USER lets it stand for a token.
        "user": request.remote_user or None,
    }
    detail = " ".join(f"{k}={fields[k]}" for k in ("model", "version", "batch_size", "user") if fields[k] is not None)
    _access.info(
        "%s %s %s %.1fms%s",
        request.method,
        request.path,
        response.status_code,
        duration,
        f" {detail}" if detail else "",
        extra=fields,
    )
    return response


def ensure_warning_filters() -> None:
    """Give an embedded interpreter Python's usual warning behaviour.

    mod_wsgi can start Python with no warning filters at all; scikit-learn's joblib wrapper
    then warns on every parallel predict (e.g. each random forest call), flooding the log.
    """
    if not warnings.filters:
        warnings.simplefilter("default")
    if not isinstance(warnings.showwarning, _ShownOnce):
        warnings.showwarning = _ShownOnce(warnings.showwarning)


class _ShownOnce:
    """``warnings.showwarning`` that writes each distinct warning once per process.

    Python's own once-per-location memory is cleared whenever the warning filters change, and
    scikit-learn resets them around every joblib call (``sklearn.utils.parallel``), racing with
    other request threads: under concurrent load its "delayed should be used with Parallel"
    warning was written once per random forest predict, millions of lines in minutes.
    """

    #: Distinct warnings remembered; past this, further new ones are dropped, not written.
    LIMIT = 1000

    def __init__(self, show: Callable[..., None]) -> None:
        #: The previous ``warnings.showwarning``.
        self._show = show
        self._seen: set[tuple[str, type[Warning], str, int]] = set()
        self._lock = threading.Lock()

    def __call__(
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        key = (str(message), category, filename, lineno)
        with self._lock:
            if key in self._seen or len(self._seen) >= self.LIMIT:
                return
            self._seen.add(key)
        self._show(message, category, filename, lineno, file, line)


def init_app(app: Flask) -> None:
    """Configure logging, give every request its id, and log it once (unless ACCESS_LOG is off)."""
    ensure_warning_filters()
    configure_logging(app)
    app.before_request(_start_request)
    if app.config["ACCESS_LOG"]:
        app.after_request(_log_access)
    app.after_request(_stamp_request_id)
