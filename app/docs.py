"""The OpenAPI 3 document and the Swagger UI (flasgger) at /apidocs/.

The document is built from the registry at start-up: every model gets its own predict
operations whose request schemas come from the same ``InputSchema`` that validates requests.
flasgger serves the UI and ``/apispec.json``; its own spec assembly is bypassed because in
OpenAPI 3 mode it also emits a Swagger 2 ``definitions`` key, which makes the document invalid.
"""
from __future__ import annotations

from typing import Any

from flasgger import Swagger
from flask import Flask

from . import openapi
from .registry import get_registry

SWAGGER_CONFIG = {
    "openapi": "3.0.3",
    "uiversion": 3,
    "headers": [],
    "specs": [{"endpoint": "apispec", "route": "/apispec.json", "rule_filter": lambda rule: True,
               "model_filter": lambda tag: True}],
    "static_url_path": "/flasgger_static",
    "specs_route": "/apidocs/",
    "title": "modelhost API",
    "hide_top_bar": True,
    # flasgger renders this into the page's script as-is; unset it becomes Python's `None`,
    # a ReferenceError in the browser.
    "auth": {},
}


class ModelhostSwagger(Swagger):
    """flasgger's UI and routes, serving the document built at start-up by ``openapi.build``."""

    def get_apispecs(self, endpoint: str = "apispec") -> dict[str, Any]:
        return self.app.extensions["modelhost.openapi"]


def init_app(app: Flask) -> None:
    """Build the OpenAPI document once (the models are fixed per process) and serve it with the UI."""
    app.extensions["modelhost.openapi"] = openapi.build(app, get_registry(app))
    app.config["SWAGGER"] = SWAGGER_CONFIG
    ModelhostSwagger(app, config=SWAGGER_CONFIG, merge=False)
