"""Flask JSON provider backed by orjson, for fast request parsing and response encoding."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import orjson
from flask import Flask, Response
from flask.json.provider import JSONProvider

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    # numpy scalars that OPT_SERIALIZE_NUMPY leaves out (e.g. np.bool_ inside lists)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class OrjsonProvider(JSONProvider):
    """Encode with orjson (numpy-aware); decode with orjson, which rejects NaN and Infinity."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj, default=_default, option=_OPTIONS).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        obj = self._prepare_response_obj(args, kwargs)
        body = orjson.dumps(obj, default=_default, option=_OPTIONS)
        # Flask annotates the provider's app as its framework-free base, whose response class
        # takes no body; the app here is always a Flask, whose response class does.
        response_class = cast("type[Response]", self._app.response_class)
        return response_class(body, mimetype="application/json")


def init_app(app: Flask) -> None:
    """Install the orjson provider on the application."""
    app.json = OrjsonProvider(app)
