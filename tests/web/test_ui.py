"""The pages under /ui: prediction form, CSV upload, model card, plots, and every error a user can cause."""
from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from app import create_app
from app.training import demo
from app.training import train as training

HEADER = "sepal_length,sepal_width,petal_length,petal_width"
SETOSA = {"sepal_length": "5.0", "sepal_width": "3.4", "petal_length": "1.5", "petal_width": "0.2"}


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Demo models trained by the real training code (model.json with plots): iris v1+v2, diabetes."""
    root = tmp_path_factory.mktemp("trained") / "models"
    for name, estimator in (("iris", None), ("iris", "random_forest"), ("diabetes", None)):
        data = demo.load_demo(name)
        options = training.TrainingOptions(target=data.target, estimator=estimator or data.estimator,
                                           descriptions=data.descriptions)
        training.train(root, name, data.frame, options, data.source_info(), progress=lambda _: None)
    return root


@pytest.fixture(scope="module")
def ui(trained: Path, estimators: dict, tmp_path_factory: pytest.TempPathFactory, write_version):
    """A client over the trained models, two dropped-in models, and a model that fails to load."""
    root = tmp_path_factory.mktemp("ui") / "models"
    shutil.copytree(trained, root)
    write_version(root, "linear", 1, estimators["linear"], artifact="model.pkl")
    write_version(root, "shop", 1, estimators["shop"])
    shutil.copytree(trained / "iris" / "1", root / "broken" / "1")
    (root / "broken" / "1" / "model.joblib").write_bytes(b"not a model")
    return create_app({"TESTING": True, "MODEL_REPOSITORY": str(root)}).test_client()


def html(response) -> str:
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def upload(client, content: bytes, filename: str = "cases.csv", url: str = "/ui/models/iris/versions/2/score",
           **fields):
    data = {"file": (io.BytesIO(content), filename), **fields}
    return client.post(url, data=data, content_type="multipart/form-data")


def test_form_has_one_input_per_feature_from_the_training_data(ui):
    page = html(ui.get("/ui/models/iris/versions/2"))
    tag = re.search(r'<input id="f-petal_length"[^>]*>', page, re.S).group(0)
    assert 'type="number"' in tag and 'min="1.0"' in tag and 'max="6.9"' in tag and 'step="0.01"' in tag
    assert 'value="4.35"' in tag  # the training median
    assert "Petal length in cm" in page and '<label for="f-petal_length">' in page
    assert "<script>" not in page  # the only script is the optional file; the form works without it


def test_default_version_and_version_links(ui):
    page = html(ui.get("/ui/models/iris"))
    assert "version 2 (default)" in page
    assert 'href="/ui/models/iris/versions/1"' in page and 'href="/ui/models/iris/versions/2"' in page


def test_categorical_features_are_selects_and_unknown_ranges_are_free(ui):
    page = html(ui.get("/ui/models/shop"))
    assert re.search(r'<select id="f-colour".*<option value="blue" selected>blue</option>', page, re.S)
    tag = re.search(r'<input id="f-size"[^>]*>', page, re.S).group(0)
    assert 'step="any"' in tag and "min=" not in tag


def test_submitting_the_form_shows_prediction_and_probability_bars(ui):
    page = html(ui.post("/ui/models/iris/versions/1", data=SETOSA))
    assert re.search(r'species:\s*<strong>setosa</strong>', page)
    bars = re.findall(r'<span class="bar-label">(\w+)</span>', page)
    assert bars[0] == "setosa" and sorted(bars) == ["setosa", "versicolor", "virginica"]
    assert 'value="3.4"' in page  # the typed values stay in the form


def test_regressor_shows_a_number_and_the_training_range(ui):
    page = html(ui.post("/ui/models/diabetes", data={"age": "50", "sex": "1", "bmi": "25", "bp": "90", "s1": "180",
                                                    "s2": "110", "s3": "50", "s4": "4", "s5": "4.6", "s6": "90"}))
    assert re.search(r'progression:\s*<strong>[\d.,]+</strong>', page)
    assert "ranged from 25 to 346" in page and "bar-row" not in page


def test_invalid_input_keeps_values_and_puts_each_message_beside_its_field(ui):
    response = ui.post("/ui/models/iris", data={**SETOSA, "sepal_width": "wide", "petal_length": ""})
    assert response.status_code == 400
    page = html(response)
    assert '<p class="field-error" id="f-sepal_width-msg">Sepal width must be a number, got string</p>' in page
    assert '<p class="field-error" id="f-petal_length-msg">Petal length is required: enter a value</p>' in page
    assert 'value="wide"' in page and "Some values need fixing" in page and 'id="result"' not in page


def test_values_outside_the_training_range_predict_with_a_warning(ui):
    page = html(ui.post("/ui/models/iris", data={**SETOSA, "petal_width": "9"}))
    assert "Petal width is outside the training range 0.1 to 2.5" in page and 'id="result"' in page


def test_unknown_category_from_a_crafted_form_is_an_error_not_a_crash(ui):
    response = ui.post("/ui/models/shop", data={"colour": "purple", "size": "3"})
    assert response.status_code == 400 and "Colour must be one of" in html(response)


@pytest.mark.parametrize("url, status, text", [
    ("/ui/models/nope", 404, "No model named &#39;nope&#39;"),
    ("/ui/models/iris/versions/9", 404, "has no version &#39;9&#39;"),
    ("/ui/models/nope/card", 404, "No model named"),
    ("/ui/models/broken", 503, "failed to load"),
    ("/ui/models/broken/versions/1/template.csv", 503, "failed to load"),
])
def test_unknown_or_broken_models_get_a_readable_page(ui, url, status, text):
    response = ui.get(url)
    assert response.status_code == status
    page = html(response)
    assert text in page and 'href="/"' in page


def test_uploaded_csv_comes_back_scored_as_a_download(ui):
    response = upload(ui, f"id,{HEADER}\n7,5.0,3.4,1.5,0.2\n8,6.6,3.0,5.5,2.0\n".encode(), "my cases.csv",
                      probabilities="on")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="my_cases-scored.csv"'
    scored = pd.read_csv(io.BytesIO(response.data))
    assert list(scored.columns) == ["id", *HEADER.split(","), "prediction", "probability_setosa",
                                    "probability_versicolor", "probability_virginica"]
    assert scored["prediction"].tolist() == ["setosa", "virginica"]


def test_probability_columns_only_when_ticked(ui):
    scored = pd.read_csv(io.BytesIO(upload(ui, f"{HEADER}\n5.0,3.4,1.5,0.2\n".encode()).data))
    assert list(scored.columns)[-1] == "prediction"


def test_invalid_upload_lists_each_failing_line(ui):
    response = upload(ui, f"{HEADER}\n5.0,3.4,1.5,0.2\n5.0,wide,1.5,0.2\n,3,3,3\n".encode())
    assert response.status_code == 400
    page = html(response)
    assert "2 line(s) of the file failed validation, so nothing was scored" in page
    assert "<strong>Line 3, column sepal_width:</strong> must be a number, got string" in page
    assert "<strong>Line 4, column sepal_length:</strong> is empty" in page


@pytest.mark.parametrize("content, filename, text", [
    (None, "", "Choose a CSV file to score"),
    (b"PK\x03\x04", "cases.xlsx", "Save it as &#39;CSV UTF-8"),
    (b"", "empty.csv", "The file is empty"),
    (b"a,b\n1,2\n", "other.csv", "The header row must name each of these columns"),
])
def test_upload_mistakes_say_how_to_fix_them(ui, content, filename, text):
    if content is None:
        response = ui.post("/ui/models/iris/score", data={}, content_type="multipart/form-data")
    else:
        response = upload(ui, content, filename)
    assert response.status_code == 400
    assert text in html(response)


def test_oversize_upload_gets_a_page_not_a_json_error(trained):
    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(trained), "MAX_CONTENT_LENGTH": 2048}).test_client()
    response = upload(client, (HEADER + "\n" + "5.0,3.4,1.5,0.2\n" * 200).encode())
    assert response.status_code == 413
    assert "larger than the upload limit of 2 KiB" in html(response)


def test_upload_form_escapes_formulas_when_ticked_which_it_is_by_default(ui):
    page = html(ui.get("/ui/models/iris/versions/2"))
    assert '<input type="checkbox" name="escape_formulas" checked>' in page
    assert "instead of running as formulas" in page
    content = f"note,{HEADER}\n=1+1,5.0,3.4,1.5,0.2\n-1.5,5.0,3.4,1.5,0.2\n".encode()
    escaped = upload(ui, content, escape_formulas="on").get_data(as_text=True).splitlines()
    assert escaped[1].startswith("'=1+1,5.0,") and escaped[2].startswith("-1.5,5.0,")
    unticked = upload(ui, content).get_data(as_text=True).splitlines()
    assert unticked[1].startswith("=1+1,5.0,")


def test_old_mac_line_breaks_are_scored_on_the_page(ui):
    response = upload(ui, f"{HEADER}\r5.0,3.4,1.5,0.2\r6.6,3.0,5.5,2.0\r".encode())
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert len(pd.read_csv(io.BytesIO(response.data))) == 2


def test_upload_refusals_are_pages_not_problem_documents(trained):
    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(trained), "CSV_MAX_COLUMNS": 6}).test_client()
    response = upload(client, f"{HEADER},a,b,c\n5.0,3.4,1.5,0.2,1,2,3\n".encode())
    assert response.status_code == 413
    page = html(response)
    assert "at most 6" in page and "MODELHOST_CSV_MAX_COLUMNS" in page
    response = upload(client, f"{HEADER}\n5.0,3.4,1.5,0.2,9\n".encode())
    assert response.status_code == 400
    assert "<strong>Line 2:</strong> has 5 values; the header has 4 columns" in html(response)


def test_template_csv_scores_as_is(ui):
    template = ui.get("/ui/models/iris/template.csv")
    assert template.mimetype == "text/csv" and template.get_data(as_text=True).startswith(HEADER + "\n")
    assert upload(ui, template.data).status_code == 200


def test_token_protected_server_asks_pages_for_the_token(trained):
    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(trained), "API_TOKEN": "s3cret"}).test_client()
    assert 'name="token"' in html(client.get("/ui/models/iris"))
    denied = client.post("/ui/models/iris", data=SETOSA)
    assert denied.status_code == 401 and "requires an access token" in html(denied)
    assert client.post("/ui/models/iris", data={**SETOSA, "token": "s3cret"}).status_code == 200
    assert upload(client, f"{HEADER}\n5,3,1,0.2\n".encode()).status_code == 401


def test_a_user_apache_signed_in_predicts_on_the_pages_without_the_token(trained):
    """LDAP sign-in (TRUST_REMOTE_USER): the signed-in user is asked for no token, and predicts."""
    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(trained), "API_TOKEN": "s3cret",
                         "TRUST_REMOTE_USER": True}).test_client()
    signed_in = {"REMOTE_USER": "alice"}
    assert 'name="token"' not in html(client.get("/ui/models/iris", environ_base=signed_in))
    assert client.post("/ui/models/iris", data=SETOSA, environ_base=signed_in).status_code == 200
    assert client.post("/ui/models/iris", data=SETOSA).status_code == 401


def test_card_shows_training_facts_metrics_plots_and_features(ui):
    page = html(ui.get("/ui/models/iris/versions/2/card"))
    for text in ("RandomForestClassifier", "150 rows, 5 columns", "120 rows to train on, 30 held out",
                 "Accuracy", "Confusion matrix", "Feature importance", "Petal width in cm", "Random seed"):
        assert text in page, text
    plots = re.findall(r'<img src="([^"]+)"', page)
    assert plots == ["/ui/models/iris/versions/2/plots/confusion_matrix.png",
                     "/ui/models/iris/versions/2/plots/feature_importance.png"]
    for url in plots:
        image = ui.get(url)
        assert image.status_code == 200 and image.mimetype == "image/png" and image.data[:4] == b"\x89PNG"


def test_card_compares_versions_side_by_side(ui, trained):
    page = html(ui.get("/ui/models/iris/card"))
    table = page[page.index('<table class="compare">'):]
    rows = re.findall(r"<tr(?: class=\"current\")?>\s*<td>(\d+)", table)
    assert rows == ["2", "1"]
    best = json.loads((trained / "iris" / "1" / "model.json").read_text())["metrics"]["accuracy"]
    assert f'class="num best">{best:.3f}</td>' in table
    assert 'href="/ui/models/iris/versions/1/card"' in table and 'href="/ui/models/iris/versions/1"' in table


def test_regressor_card_has_predicted_vs_actual(ui):
    page = html(ui.get("/ui/models/diabetes/card"))
    assert "Predicted against actual" in page and "Mean absolute error" in page and "lower is better" in page


def test_dropped_in_model_card_says_there_is_no_training_record(ui):
    page = html(ui.get("/ui/models/linear/card"))
    assert "no record of its training data, hold-out metrics or plots" in page
    assert "No hold-out metrics are recorded" in page and "<img" not in page


def test_failed_version_card_still_shows_what_model_json_says(ui):
    response = ui.get("/ui/models/broken/card")
    assert response.status_code == 200
    assert "This version failed to load" in html(response) and "Accuracy" in html(response)


def test_plots_are_served_only_when_named_in_model_json(ui, tmp_path):
    assert ui.get("/ui/models/iris/versions/2/plots/predicted_vs_actual.png").status_code == 404
    assert ui.get("/ui/models/iris/versions/2/plots/model.png").status_code == 404
    assert ui.get("/ui/models/linear/versions/1/plots/confusion_matrix.png").status_code == 404


def test_plot_names_in_model_json_cannot_leave_the_version_directory(trained, tmp_path):
    root = tmp_path / "models"
    shutil.copytree(trained / "iris", root / "iris")
    meta_path = root / "iris" / "2" / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["plots"] = {"confusion_matrix": "../1/confusion_matrix.png", "feature_importance": "model.joblib"}
    meta_path.write_text(json.dumps(meta))
    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(root)}).test_client()
    assert client.get("/ui/models/iris/versions/2/plots/confusion_matrix.png").status_code == 404
    assert client.get("/ui/models/iris/versions/2/plots/feature_importance.png").status_code == 404


def test_landing_page_links_every_model_to_its_form_card_and_docs(ui):
    page = html(ui.get("/"))
    for name in ("iris", "diabetes", "linear", "shop", "broken"):
        section = page[page.index(f'id="model-{name}"'):]
        section = section[:section.index("</section>")]
        assert (f'href="/ui/models/{name}"' in section) == (name != "broken")  # no form for a failed model
        assert f'href="/ui/models/{name}/card"' in section and f'href="/apidocs/#/{name}"' in section


def test_unknown_ui_paths_keep_the_global_problem_document(ui):
    response = ui.get("/ui/nothing-here")
    assert response.status_code == 404 and response.mimetype == "application/problem+json"


def test_card_of_a_minimal_model_json_says_what_is_not_recorded(client):
    page = html(client.get("/ui/models/iris/versions/1/card"))
    assert "No training data is recorded for this version in its <code>model.json</code>" in page
    assert "Trained</dt><dd>2026-01-01 00:00 UTC" in page and "<img" not in page


def test_dropped_in_regressor_card_shows_no_invented_range(ui):
    page = html(ui.get("/ui/models/linear/card"))
    assert "<strong>target</strong>" in page and "a number;" not in page


def test_form_fields_for_every_feature_type():
    from app.core.schema import InputSchema
    from app.web.pages import form_fields

    schema = InputSchema([{"name": "member", "type": "boolean", "example": True},
                          {"name": "visits", "type": "integer", "minimum": 0, "maximum": 20, "example": 4},
                          {"name": "ratio", "type": "number", "minimum": 0.125, "maximum": 0.5},
                          {"name": "tiny", "type": "number", "minimum": 1e-7, "maximum": 1.0},
                          {"name": "note", "type": "string"}])
    member, visits, ratio, tiny, note = form_fields(schema, None, {})
    assert member["options"] == ["true", "false"] and member["value"] == "true"
    assert (visits["step"], visits["min"], visits["max"], visits["value"]) == ("1", 0, 20, "4")
    assert ratio["step"] == "0.001" and ratio["value"] == "0.312"  # midpoint of the training range
    assert tiny["step"] == "any" and note["options"] is None and note["value"] == ""
    typed = form_fields(schema, {"member": "false", "visits": "99", "ratio": "x", "tiny": "", "note": "hi"},
                        {"ratio": "must be a number, got string"})
    assert typed[0]["value"] == "false" and typed[2]["error"] == "must be a number, got string"
    assert typed[1]["warning"].startswith("outside the training range 0 to 20")
