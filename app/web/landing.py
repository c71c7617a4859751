"""The landing page: what this server is, which models it serves, and how to call them."""

from __future__ import annotations

import json
import shlex

from flask import Blueprint, render_template, request

from app.core.versions import Model
from app.extensions import get_registry

bp = Blueprint("web", __name__)


def curl_example(model: Model, base_url: str) -> str | None:
    """A copy-paste request for the model's default version, from its features."""
    entry = model.versions[model.default_version]
    if entry.runtime is None:
        return None
    body = json.dumps(entry.runtime.schema.example())
    url = f"{base_url.rstrip('/')}/v1/models/{model.name}/predict"
    if entry.runtime.supports_probabilities:
        url += "?probabilities=true"
    return f"curl -s -X POST {shlex.quote(url)} \\\n  -H 'Content-Type: application/json' \\\n  -d {shlex.quote(body)}"


@bp.get("/")
def index() -> str:
    """Landing page listing the models with a request example for each."""
    registry = get_registry()
    models = [
        {
            "model": m,
            "summary": m.summary(),
            "curl": curl_example(m, request.host_url),
            "metadata": m.versions[m.default_version].metadata,
        }
        for m in registry.models()
    ]
    return render_template("index.html", models=models, ready=registry.all_ready(), repository=registry.root)
