"""modelhost: a production server for scikit-learn models."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the application: configuration, logging, models, routes, docs and CLI."""
    from app import config
    from app.core import fleet

    # The instance folder holds config.py (and by default the models); IT may move it.
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder="web/templates",
        static_folder="web/static",
        instance_path=os.environ.get("MODELHOST_INSTANCE_PATH") or None,
    )
    config.load_config(app, test_config)
    if test_config is None:
        # A server's process (a test's applications are not) joins the processes' shared folder
        # before the modules that record metrics are imported: prometheus_client picks its
        # multi-process mode at import, from PROMETHEUS_MULTIPROC_DIR (app/core/fleet.py).
        fleet.join_server(app.config["STATE_DIR"])
    from app import extensions, logs
    from app.http import cors, docs, health, jsonprovider, metrics, problems, v1, v2
    from app.training import cli
    from app.web import landing, pages

    jsonprovider.init_app(app)
    logs.init_app(app)
    problems.register_errorhandlers(app)
    extensions.init_app(app)
    metrics.init_app(app)
    cors.init_app(app)
    app.register_blueprint(v1.bp)
    app.register_blueprint(v2.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(landing.bp)
    app.register_blueprint(pages.bp)
    docs.init_app(app)
    cli.init_app(app)
    return app
