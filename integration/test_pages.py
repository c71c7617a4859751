"""The pages for people, served by the running server: form, CSV upload, model card, plots."""
from __future__ import annotations

import csv
import io
import re

SETOSA = {"sepal_length": "5.1", "sepal_width": "3.5", "petal_length": "1.4", "petal_width": "0.2"}


def test_form_page_predicts(base_url, session) -> None:
    page = session.get(base_url + "/ui/models/iris")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert 'name="sepal_length"' in page.text
    answer = session.post(base_url + "/ui/models/iris", data=SETOSA)
    assert answer.status_code == 200 and "setosa" in answer.text


def test_form_page_shows_field_errors(base_url, session) -> None:
    answer = session.post(base_url + "/ui/models/iris", data={**SETOSA, "sepal_width": "wide"})
    assert answer.status_code == 400 and "must be a number" in answer.text and 'value="wide"' in answer.text


def test_csv_upload_returns_the_scored_file(base_url, session) -> None:
    upload = "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"
    answer = session.post(base_url + "/ui/models/iris/score", files={"file": ("flowers.csv", upload, "text/csv")},
                          data={"probabilities": "on"})
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [r["prediction"] for r in rows] == ["setosa", "virginica"]
    assert "probability_setosa" in rows[0]


def test_model_card_and_its_plots(base_url, session) -> None:
    card = session.get(base_url + "/ui/models/breast_cancer/card")
    assert card.status_code == 200 and "accuracy" in card.text.lower()
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', card.text)
    assert len(images) >= 2, "confusion matrix and feature importance"
    for src in images:
        image = session.get(base_url + src)
        assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
        assert image.content.startswith(b"\x89PNG")


def test_unknown_model_page_is_a_friendly_404(base_url, session) -> None:
    page = session.get(base_url + "/ui/models/nope")
    assert page.status_code == 404 and page.headers["Content-Type"].startswith("text/html")
