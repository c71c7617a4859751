"""Pages for people under /ui: a prediction form and CSV upload per model version, and model cards.

Everything works without JavaScript. The form is validated by the same ``InputSchema`` as the
API, so its messages are the API's; unknown or unloaded models get an HTML error page here
instead of the API's problem document.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, render_template, request, send_file
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import secure_filename

from app.core import features
from app.core.codecs.csvanswer import example_csv, output_columns
from app.core.errors import InvalidInput, ModelhostError, ModelNotFound, ModelNotReady, UnusableOutput
from app.core.features import example_value
from app.core.runtime import Runtime
from app.core.schema import InputSchema
from app.core.versions import ModelVersion
from app.extensions import get_dataplane, get_registry
from app.http import files
from app.http import state as requeststate
from app.http.auth import pages_need_token, token_matches
from app.http.problems import describe
from app.web import cards

bp = Blueprint("ui", __name__, url_prefix="/ui")
#: The upload form's checkboxes: each is sent once ("on") when ticked, or not at all.
_SWITCHES = ("probabilities", "escape_formulas")


@bp.before_request
def count_as_page() -> None:
    """Predictions made by the pages are counted under the protocol label "page"."""
    requeststate.current().protocol = "page"


@bp.errorhandler(ModelNotFound)
@bp.errorhandler(ModelNotReady)
def model_error(exc: ModelhostError) -> tuple[str, int]:
    """A readable page for an unknown model or version, or one that failed to load."""
    return render_template("ui/error.html", status=exc.status, detail=describe(exc)), exc.status


@bp.route("/models/<name>", methods=["GET", "POST"])
@bp.route("/models/<name>/versions/<version>", methods=["GET", "POST"])
def predict_form(name: str, version: str | None = None) -> tuple[str, int]:
    """The prediction form; a POST shows the prediction, or the form again with each field's error."""
    entry = get_registry().get(name, version)
    runtime = entry.ready_runtime()
    if request.method == "GET":
        return _page(entry, runtime)
    values = {n: request.form.get(n, "") for n in runtime.schema.names}
    denied = _token_error()
    if denied:
        return _page(entry, runtime, values=values, form_error=denied, status=401)
    repeated = {
        n: "was sent more than once: reload this page and submit the form again"
        for n in runtime.schema.names
        if len(request.form.getlist(n)) > 1
    }
    if repeated:
        return _page(entry, runtime, values=values, errors=repeated, status=400)
    state = requeststate.current()
    state.use(entry.name, entry.version)
    try:
        answer = get_dataplane().predict_v1(
            entry, state, runtime.supports_probabilities, form={n: [v] for n, v in values.items()}, max_batch=1
        )
    except InvalidInput as exc:
        if not exc.errors:  # input the model itself rejected: said above the form
            return _page(entry, runtime, values=values, form_error=describe(exc), status=exc.status)
        errors = {
            e["path"]: "is required: enter a value" if not values.get(e["path"], "x").strip() else e["message"]
            for e in exc.errors
        }
        return _page(entry, runtime, values=values, errors=errors, status=400)
    except UnusableOutput as exc:
        return _page(entry, runtime, values=values, form_error=describe(exc), status=exc.status)
    predictions, probs = answer.predictions, answer.probabilities
    result = {"prediction": predictions[0], "probabilities": _bars(probs[0]) if probs else None}
    return _page(entry, runtime, values=values, result=result)


@bp.post("/models/<name>/score")
@bp.post("/models/<name>/versions/<version>/score")
def score(name: str, version: str | None = None) -> Response | tuple[str, int]:
    """Score an uploaded CSV file into a download, or show on the page why it cannot be scored."""
    entry = get_registry().get(name, version)
    runtime = entry.ready_runtime()
    try:
        upload = request.files.get("file")
    except RequestEntityTooLarge:
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        return _page(
            entry,
            runtime,
            status=413,
            upload_error=(
                f"The file is larger than the upload limit of {_size(limit)}. Split it into files of under "
                f"{_size(limit)} (keep the header row in each) and score them one by one."
            ),
        )
    denied = _token_error()
    if denied:
        return _page(entry, runtime, upload_error=denied, status=401)
    repeated = [n for n in _SWITCHES if len(request.form.getlist(n)) > 1]
    if repeated:
        return _page(
            entry,
            runtime,
            status=400,
            upload_error=(
                f"The field '{repeated[0]}' was sent more than once. Send it once: reload this page and submit the "
                "form again."
            ),
        )
    if upload is None or not upload.filename:
        return _page(entry, runtime, status=400, upload_error="Choose a CSV file to score, then press Score file.")
    if upload.filename.lower().endswith((".xlsx", ".xls", ".ods")):
        return _page(
            entry,
            runtime,
            status=400,
            upload_error=(
                "This is a spreadsheet workbook, not a CSV file. Save it as 'CSV UTF-8 (comma delimited)' "
                "and upload that file."
            ),
        )
    probabilities = runtime.supports_probabilities and request.form.get("probabilities") == "on"
    state = requeststate.current()
    state.use(entry.name, entry.version)
    try:
        scored = get_dataplane().score_csv(
            entry, state, upload.stream, probabilities, escape_formulas=request.form.get("escape_formulas") == "on"
        )
    except ModelhostError as exc:  # a file refused (400) or too big to read (413): said on the page
        return _page(entry, runtime, status=exc.status, upload_error=describe(exc), upload_errors=exc.errors or [])
    stem = secure_filename(upload.filename).rsplit(".", 1)[0] or entry.name
    return files.download(scored, f"{stem}-scored.csv")


@bp.get("/models/<name>/template.csv")
@bp.get("/models/<name>/versions/<version>/template.csv")
def template(name: str, version: str | None = None) -> Response:
    """A CSV file with the model's header and one example row, to fill in and upload."""
    entry = get_registry().get(name, version)
    body = example_csv(entry.ready_runtime().schema)
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{entry.name}-v{entry.version}-template.csv"'},
    )


@bp.get("/models/<name>/card")
@bp.get("/models/<name>/versions/<version>/card")
def card(name: str, version: str | None = None) -> str:
    """The model card: training facts, hold-out metrics, plots, features and a version comparison."""
    registry = get_registry()
    entry = registry.get(name, version)
    return render_template("ui/card.html", entry=entry, **cards.describe(registry.model(name), entry))


@bp.get("/models/<name>/versions/<version>/plots/<kind>.png")
def plot(name: str, version: str, kind: str) -> Response:
    """A plot made at training time; only files named in the version's model.json are served."""
    registry = get_registry()
    return send_file(registry.plot_file(registry.get(name, version), kind), mimetype="image/png", max_age=3600)


def _page(
    entry: ModelVersion,
    runtime: Runtime,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    **context: Any,
) -> tuple[str, int]:
    """Render the model page: versions, the form (with values and errors), the upload box."""
    model = get_registry().model(entry.name)
    fields = form_fields(runtime.schema, values, errors or {})
    return render_template(
        "ui/model.html",
        entry=entry,
        runtime=runtime,
        fields=fields,
        errors=errors,
        versions=[model.versions[v] for v in sorted(model.versions, reverse=True)],
        default_version=model.default_version,
        meta=entry.metadata,
        token_required=pages_need_token(),
        max_bytes=current_app.config["MAX_CONTENT_LENGTH"],
        max_size=_size(current_app.config["MAX_CONTENT_LENGTH"]),
        output_columns=output_columns(runtime, runtime.supports_probabilities),
        **context,
    ), status


def form_fields(schema: InputSchema, values: dict[str, str] | None, errors: dict[str, str]) -> list[dict]:
    """One input per feature: widget, bounds, step and default from the training data."""
    fields = []
    for feature in schema.features:
        name, kind = feature["name"], features.type_of(feature)
        value = values[name] if values is not None else _text(example_value(feature))
        low, high = feature.get("minimum"), feature.get("maximum")
        field = {
            "name": name,
            "label": name.replace("_", " ").capitalize(),
            "input": kind.form_input,
            "description": feature.get("description"),
            "value": value,
            "error": errors.get(name),
            "min": low,
            "max": high,
            "step": _step(feature),
            "warning": None,
            "options": [_text(o) for o in feature.get("enum") or []]
            or (["true", "false"] if kind.form_input == "select" else None),
        }
        number = _number(value) if kind.numeric else None
        if number is not None and low is not None and high is not None and not low <= number <= high:
            field["warning"] = (
                f"outside the training range {low:g} to {high:g}: "
                "the model has not seen such values, so treat the prediction with care"
            )
        fields.append(field)
    return fields


def _bars(probabilities: dict[str, float]) -> list[dict[str, Any]]:
    """Class probabilities, most likely first, with the percentage each bar is drawn at."""
    ranked = sorted(probabilities.items(), key=lambda item: item[1], reverse=True)
    return [{"label": label, "value": p, "percent": round(100 * p, 1)} for label, p in ranked]


def _step(feature: dict[str, Any]) -> str:
    """The input's step: 1 for integers, else the finest decimal the training data shows."""
    if features.type_name(feature) == "integer":
        return "1"
    samples = [
        repr(float(v)) for k in ("minimum", "maximum", "example") if isinstance(v := feature.get(k), (int, float))
    ]
    decimals = [99 if "e" in s else len(s.partition(".")[2]) for s in samples]
    finest = max(decimals, default=99)
    return f"{10 ** -finest:.{finest}f}" if finest <= 4 else "any"


def _token_error() -> str | None:
    """With API_TOKEN configured, pages predict only for users who type the token in (or Apache signed in)."""
    if not pages_need_token() or token_matches(request.form.get("token", "")):
        return None
    return "This server requires an access token to predict. Enter the token the operator gave you."


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _size(limit: int) -> str:
    return f"{limit / (1 << 20):g} MiB" if limit >= 1 << 20 else f"{limit / 1024:g} KiB"
