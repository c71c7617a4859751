"""Configuration defaults and the order in which they are overridden.

Order: the defaults below, then ``instance/config.py`` when present, then ``MODELHOST_*``
environment variables, then the overrides a test passes to ``create_app``.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from flask import Flask

from app.origins import parse_origins

#: Every key modelhost reads, with its default. The README's configuration table mirrors this.
DEFAULTS: dict[str, Any] = {
    # Where model versions live: <repo>/<name>/<version>/model.{joblib,pkl,skops}.
    # Relative paths are resolved against the instance folder.
    "MODEL_REPOSITORY": "models",
    # Largest request body in bytes (Flask enforces it, chunked bodies included).
    "MAX_CONTENT_LENGTH": 10 * 1024 * 1024,
    # Most instances accepted in one predict request.
    "MAX_BATCH_SIZE": 10_000,
    # Logging: level name, "text" or "json", and an optional rotating file.
    "LOG_LEVEL": "INFO",
    "LOG_FORMAT": "text",
    "LOG_FILE": None,
    "LOG_MAX_BYTES": 10 * 1024 * 1024,
    "LOG_BACKUP_COUNT": 5,
    # Milliseconds log lines to standard error may wait to be written together (0: each at once).
    # Warnings and errors are written at once.
    "LOG_FLUSH_MS": 250,
    # Fully qualified class names skops may load besides its own trusted defaults.
    "SKOPS_TRUSTED_TYPES": [],
    # Optional bearer token; when set, /v1 endpoints require "Authorization: Bearer <token>".
    "API_TOKEN": None,
    # Take REMOTE_USER, the user Apache signed in, in place of API_TOKEN. docker/modelhost-start
    # turns it on with LDAP sign-in (README "LDAP sign-in"); only Apache can set REMOTE_USER.
    "TRUST_REMOTE_USER": False,
    # Bearer token of the repository's write operations (POST /v1/repository/reload), separate
    # from API_TOKEN and accepted wherever API_TOKEN is; without it those operations answer 403.
    "ADMIN_TOKEN": None,
    # Seconds between two scans of the model repository for new, changed and removed versions
    # and serving files (0: no polling; POST /v1/repository/reload still rescans).
    "REPOSITORY_POLL_SECONDS": 5,
    # Folder the server's processes share to count which of them loaded a version and to pass
    # on reload requests (the start script sets it inside the server root); None: this process only.
    "STATE_DIR": None,
    # Rows per chunk when scoring an uploaded CSV file.
    "CSV_CHUNK_ROWS": 5_000,
    # Most columns an uploaded CSV file may have; its header line may hold 128 bytes per column.
    "CSV_MAX_COLUMNS": 2_048,
    # Put a single quote before answer cells of CSV scoring that spreadsheets would run as formulas
    # (=, +, -, @, tab, carriage return; numbers are kept). The API's default for ?escape_formulas;
    # the upload page has its own checkbox, ticked by default.
    "CSV_ESCAPE_FORMULAS": False,
    # The one access line per request (method, path, status, duration, model fields, request id).
    "ACCESS_LOG": True,
    # Adaptive batching of concurrent requests (app/core/batching.py): the defaults of every model
    # version; model.json's "batching" object overrides them per version, and BATCHING_MODELS
    # ({"<model>": {"enabled": ..., "max_rows": ..., "max_wait_us": ...}}) per model.
    "BATCHING": True,
    "BATCH_MAX_ROWS": 256,
    "BATCH_MAX_WAIT_US": 1000,
    "BATCHING_MODELS": {},
    # Origins of browser front-ends that may call the API from another site (app/http/cors.py), such as
    # ["https://dash.example.com", "http://localhost:3000"]; MODELHOST_CORS_ORIGINS takes them
    # comma-separated. "*" alone allows every origin. Empty: no CORS headers at all.
    "CORS_ORIGINS": [],
}

#: Keys whose environment value must be a positive integer.
_INT_KEYS = {
    "MAX_CONTENT_LENGTH",
    "MAX_BATCH_SIZE",
    "LOG_MAX_BYTES",
    "LOG_BACKUP_COUNT",
    "CSV_CHUNK_ROWS",
    "BATCH_MAX_ROWS",
    "CSV_MAX_COLUMNS",
}
#: Keys that are switches: true/false, on/off, yes/no or 1/0.
_BOOL_KEYS = {"ACCESS_LOG", "BATCHING", "CSV_ESCAPE_FORMULAS", "TRUST_REMOTE_USER"}
#: Keys ending in this hold secrets (API_TOKEN, and any later one such as ADMIN_TOKEN).
SECRET_SUFFIX = "_TOKEN"
_ENV_PREFIX = "MODELHOST_"


def load_config(app: Flask, test_config: dict[str, Any] | None) -> None:
    """Apply defaults, the instance file, the environment and test overrides, in that order."""
    app.config.from_mapping(DEFAULTS)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        # Values are read as JSON when they parse (numbers, lists), else kept as strings.
        app.config.from_prefixed_env("MODELHOST")
        _read_secrets(app)
    else:
        app.config.from_mapping(test_config)
    _coerce(app)
    repo = app.config["MODEL_REPOSITORY"]
    app.config["MODEL_REPOSITORY"] = os.path.join(app.instance_path, repo)


def _read_secrets(app: Flask) -> None:
    """Take every MODELHOST_*_TOKEN variable as its exact text.

    from_prefixed_env reads values as JSON, which turns a token of "null", "false" or "0" into
    a value that switches authentication off, and "1.50" into 1.5, which no client can send.
    """
    for name, value in os.environ.items():
        key = name.removeprefix(_ENV_PREFIX)
        if name.startswith(_ENV_PREFIX) and key.endswith(SECRET_SUFFIX) and "__" not in key:
            app.config[key] = value


def _check_secrets(app: Flask) -> None:
    """A token that is set must be one a client can send; an unusable one fails the start.

    The messages never quote the value: it is a secret, and this one ends up in the log.
    """
    for key in [k for k in app.config if k.endswith(SECRET_SUFFIX)]:
        value = app.config[key]
        if value is None:
            continue
        where = f"MODELHOST_{key} or {key} in instance/config.py"
        if not isinstance(value, str):
            raise ValueError(
                f"Configuration {key} must be text, not {type(value).__name__}; write it in quotes "
                f'in instance/config.py ({key} = "...") or set MODELHOST_{key}'
            )
        if not value.strip():
            raise ValueError(
                f"Configuration {key} is set but empty, so it would protect nothing; set {where} "
                "to the token, or remove it to run without one"
            )
        if value != value.strip():
            raise ValueError(
                f"Configuration {key} starts or ends with whitespace (a line break copied from a "
                f"file?), which no Authorization header can carry; remove it from {where}"
            )
        if not (value.isascii() and value.isprintable()):
            raise ValueError(
                f"Configuration {key} holds control or non-ASCII characters, which an Authorization "
                f"header cannot carry; use letters, digits and punctuation in {where}"
            )


def _coerce(app: Flask) -> None:
    """Turn integer settings given as strings into integers, with a message naming the key."""
    for key in _INT_KEYS:
        value = app.config.get(key)
        if isinstance(value, str):
            try:
                app.config[key] = int(value)
            except ValueError:
                raise ValueError(
                    f"Configuration {key} must be a whole number, got {value!r}; "
                    f"fix MODELHOST_{key} or instance/config.py"
                ) from None
        if not isinstance(app.config[key], int) or app.config[key] <= 0:
            raise ValueError(f"Configuration {key} must be a positive whole number, got {app.config[key]!r}")
    for key in _BOOL_KEYS:
        app.config[key] = _switch(key, app.config[key])
    _bounded(app, "LOG_FLUSH_MS", 0, 60_000, "milliseconds")
    _bounded(app, "BATCH_MAX_WAIT_US", 0, 1_000_000, "microseconds")
    _seconds(app, "REPOSITORY_POLL_SECONDS", 86_400)
    _check_batching(app)
    _check_secrets(app)
    app.config["CORS_ORIGINS"] = parse_origins(app.config["CORS_ORIGINS"])
    app.config["LOG_LEVEL"] = str(app.config["LOG_LEVEL"]).upper()
    app.config["LOG_FORMAT"] = str(app.config["LOG_FORMAT"]).lower()
    if app.config["LOG_FORMAT"] not in ("text", "json"):
        raise ValueError(f"Configuration LOG_FORMAT must be 'text' or 'json', got {app.config['LOG_FORMAT']!r}")
    if isinstance(app.config["SKOPS_TRUSTED_TYPES"], str):
        app.config["SKOPS_TRUSTED_TYPES"] = [t for t in app.config["SKOPS_TRUSTED_TYPES"].split(",") if t]


def _switch(key: str, value: Any) -> bool:
    from app.core.features import FALSE_WORDS, TRUE_WORDS

    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS or text in FALSE_WORDS:
        return text in TRUE_WORDS
    raise ValueError(
        f"Configuration {key} must be on or off (true/false), got {value!r}; "
        f"fix MODELHOST_{key} or instance/config.py"
    )


def _bounded(app: Flask, key: str, low: int, high: int, unit: str) -> None:
    """A whole number from low to high (zero allowed), given as a number or as text."""
    value = app.config[key]
    if isinstance(value, str) and value.strip().isdigit():
        value = app.config[key] = int(value)
    if type(value) is not int or not low <= value <= high:
        raise ValueError(
            f"Configuration {key} must be a whole number of {unit} from {low} to {high}, "
            f"got {value!r}; fix MODELHOST_{key} or instance/config.py"
        )


def _seconds(app: Flask, key: str, high: float) -> None:
    """A number of seconds from 0 to ``high`` (fractions allowed), given as a number or as text."""
    value = app.config[key]
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= high:
        raise ValueError(
            f"Configuration {key} must be a number of seconds from 0 to {high:g}, got "
            f"{app.config[key]!r}; fix MODELHOST_{key} or instance/config.py"
        )
    app.config[key] = float(value)


def _check_batching(app: Flask) -> None:
    """Check the batching settings now, so a typo stops the server at start, not a request."""
    from app.core.batching import BatchSettings, parse_settings

    models = app.config["BATCHING_MODELS"]
    if not isinstance(models, dict):
        raise ValueError(
            'Configuration BATCHING_MODELS must be a JSON object such as {"iris": {"max_rows": 64}}, '
            f"got {models!r}; fix MODELHOST_BATCHING_MODELS or instance/config.py"
        )
    base = BatchSettings(max_rows=app.config["BATCH_MAX_ROWS"], max_wait_us=app.config["BATCH_MAX_WAIT_US"])
    for name, values in models.items():
        try:
            parse_settings(values, base)
        except ValueError as exc:
            raise ValueError(
                f"Configuration BATCHING_MODELS, model {name!r}: {exc}; fix MODELHOST_BATCHING_MODELS "
                "or instance/config.py"
            ) from None
