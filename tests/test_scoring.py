"""CSV batch scoring through the predict endpoint: the scored file, line-numbered errors, chunks, limits."""
from __future__ import annotations

import io

import pandas as pd
import pytest

from app import create_app, scoring

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
