"""The OpenAPI 3 document at /apispec.json and the Swagger UI at /apidocs/, both by flasgger.

Every route documents itself: flasgger reads the YAML after ``---`` in its view's docstring,
and the first line of the docstring is the operation's summary. What no single view owns (the
document's info, shared schemas, problem responses, common parameters) is ``apidocs.yml``,
given to flasgger as its template. The predict operations are the exception that proves the
rule: what a request holds depends on the model, so ``openapi.model_docs`` makes one operation
per model from the predict view's docstring and each version's ``InputSchema``, and they join
the template; the generic route itself stays out of the document.
"""

from __future__ import annotations

import copy
import threading
from pathlib import Path
from typing import Any

import yaml
from flasgger import Swagger
from flasgger.utils import parse_docstring
from flask import Flask
from werkzeug.routing import Rule

from app.extensions import get_registry
from app.http import openapi

TEMPLATE = Path(__file__).with_name("apidocs.yml")
#: Views documented once per model by app/http/openapi.py rather than as they are routed.
PER_MODEL = frozenset({"api.predict", "v2.infer", "api.kserve.predict"})


def describe(text: str) -> str:
    """flasgger's sanitizer: keep the docstring's Markdown as written, without the indentation's blank ends."""
    return text.strip()


def documented(rule: Rule) -> bool:
    """flasgger's rule filter: every route, except those documented per model."""
    return rule.endpoint not in PER_MODEL


SWAGGER_CONFIG = {
    "openapi": "3.0.3",
    "uiversion": 3,
    "headers": [],
    "specs": [
        {"endpoint": "apispec", "route": "/apispec.json", "rule_filter": documented, "model_filter": lambda tag: True}
    ],
    "static_url_path": "/flasgger_static",
    "specs_route": "/apidocs/",
    "title": "modelhost API",
    "hide_top_bar": True,
    # flasgger renders this into the page's script as-is; unset it becomes Python's `None`,
    # a ReferenceError in the browser.
    "auth": {},
}


def operation(app: Flask, endpoint: str, verb: str) -> dict[str, Any]:
    """The operation a view's docstring documents, as flasgger reads it."""
    summary, description, swag = parse_docstring(app.view_functions[endpoint], describe, endpoint, verb)
    if not swag:
        raise RuntimeError(f"The view {endpoint} has no OpenAPI description after '---' in its docstring.")
    # YAML reads `200:` as a number; OpenAPI's response codes are strings (flasgger converts them too).
    swag["responses"] = {str(code): response for code, response in swag.get("responses", {}).items()}
    return {**swag, "summary": summary, **({"description": description} if description else {})}


def template(app: Flask) -> dict[str, Any]:
    """flasgger's template: apidocs.yml, with this server's models and, with API_TOKEN, the token."""
    document = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    registry = get_registry(app)
    models = openapi.model_docs(
        registry,
        {
            "predict": operation(app, "api.predict", "post"),
            "kserve": operation(app, "api.kserve.predict", "post"),
            "infer": operation(app, "v2.infer", "post"),
        },
    )
    components = document["components"]
    components["schemas"].update(models.schemas)
    names = [model.name for model in registry.models()]
    if names:
        components["parameters"]["ModelName"]["schema"]["enum"] = names
    document["paths"] = models.paths
    document["tags"] = models.tags + document["tags"]
    if app.config.get("API_TOKEN"):
        # Every operation needs the token unless its docstring says `security: []` (health, metrics).
        document["security"] = [{"bearerAuth": []}]
    return document


def admin_only(spec: dict[str, Any], configured: bool) -> dict[str, Any]:
    """The operations that need the admin token, as this server answers them.

    With ADMIN_TOKEN configured they keep their ``adminToken`` security (a request without it is
    a 401). Without one no token can make them succeed: every request is a 403, whatever it
    sends, so they are documented as turned off and without security.
    """
    if configured:
        return spec
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict) and operation.get("security") == [{"adminToken": []}]:
                operation["security"] = []
                operation["description"] = (
                    operation.get("description", "") + "\n\nTurned off on this server "
                    "(no ADMIN_TOKEN configured): every request is answered 403."
                ).strip()
    return spec


def correct(spec: dict[str, Any]) -> dict[str, Any]:
    """Undo what flasgger 0.9.7.1 gets wrong for OpenAPI 3, in the document it assembled.

    flasgger reads the OpenAPI version from its config only. Where the version comes from the
    template instead (a natural place for it, beside ``info``), it treats the document as
    Swagger 2 and adds a ``definitions`` key, which OpenAPI 3 forbids (flasgger issues #267 and
    #374), and a ``swagger: "2.0"`` key beside ``openapi``, which no document may have both of.
    The version is in the config here, so neither should appear; this keeps the document valid
    should it move.
    """
    spec.pop("definitions", None)
    if "openapi" in spec:
        spec.pop("swagger", None)
    return spec


class ModelhostSwagger(Swagger):
    """flasgger, assembling the document from a fresh copy of the template, thread-safely.

    The document is made again after the registry changed (a version loaded or unloaded, a
    serving file applied), at the first request for it; otherwise it is made once.
    """

    def __init__(self, app: Flask) -> None:
        self.registry = get_registry(app)
        self.generation = self.registry.generation
        self.base = template(app)
        self.lock = threading.Lock()
        super().__init__(app, config=SWAGGER_CONFIG, template=copy.deepcopy(self.base), sanitizer=describe, merge=False)

    def get_apispecs(self, endpoint: str = "apispec") -> dict[str, Any]:
        # flasgger fills the template's dictionaries in place: concurrent first requests, or
        # debug mode's rebuild on every request, must not share them.
        with self.lock:
            generation = self.registry.generation
            if generation != self.generation:
                self.base, self.generation = template(self.app), generation
                self.apispecs.clear()
            if endpoint not in self.apispecs or self.app.debug:
                self.template = copy.deepcopy(self.base)
                spec = correct(super().get_apispecs(endpoint))
                admin_only(spec, self.app.config.get("ADMIN_TOKEN") is not None)
            return self.apispecs[endpoint]


def init_app(app: Flask) -> None:
    """Serve the document and the UI."""
    app.config["SWAGGER"] = SWAGGER_CONFIG
    app.extensions["modelhost.docs"] = ModelhostSwagger(app)
