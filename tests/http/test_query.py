"""Switches given more than once are refused, wherever they are read: which value was meant is the client's to say.

The predict endpoint reads ``probabilities`` and ``escape_formulas`` from the query string of
every request, whatever its body; the upload form under /ui reads them as checkbox fields.
"""
from __future__ import annotations

import io

import pytest

URL = "/v1/models/iris/predict"
CSV_FILE = b"sepal_length,sepal_width,petal_length,petal_width\n5.0,3.4,1.5,0.2\n"
SWITCHES = ["probabilities", "escape_formulas"]


@pytest.fixture
def send(setosa):
    """Factory: a predict request with a body of the given kind and the given query string."""
    def post(client, kind: str, query: str):
        if kind == "json":
            return client.post(f"{URL}?{query}", json=setosa)
        if kind == "form":
            return client.post(f"{URL}?{query}", data={k: str(v) for k, v in setosa.items()})
        return client.post(f"{URL}?{query}", data=CSV_FILE,
                           headers={"Content-Type": "text/csv", "Accept": "text/csv"})
    return post


@pytest.mark.parametrize("kind", ["json", "form", "csv"])
@pytest.mark.parametrize("name", SWITCHES)
@pytest.mark.parametrize("values", [["%1F", "abc"], ["true", "false"], ["true", "true"], ["", "true"],
                                    ["false", "", "true"]])
def test_a_switch_given_more_than_once_is_a_400_saying_to_give_it_once(client, kind, name, values, send):
    response = send(client, kind, "&".join(f"{name}={v}" for v in values))
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert f"Query parameter '{name}' is given more than once ({len(values)} times); give it once" in body["detail"]
    assert body["errors"] == [{"path": f"?{name}", "message": "is given more than once: give it once"}]


@pytest.mark.parametrize("kind", ["json", "form", "csv"])
@pytest.mark.parametrize("name", SWITCHES)
def test_a_switch_given_once_is_read_as_before(client, kind, name, send):
    assert send(client, kind, f"{name}=true").status_code == 200
    assert send(client, kind, f"{name}=").status_code == 200
    refused = send(client, kind, f"{name}=abc")
    assert refused.status_code == 400 and "must be true or false" in refused.get_json()["detail"]


def test_other_parameters_given_twice_do_not_count_against_a_switch(client, setosa):
    body = client.post(f"{URL}?probabilities=true&other=1&other=2", json=setosa).get_json()
    assert set(body["probabilities"]) == {"setosa", "versicolor", "virginica"}


def upload(client, **fields):
    data = {"file": (io.BytesIO(CSV_FILE), "cases.csv"), **fields}
    return client.post("/ui/models/iris/score", data=data, content_type="multipart/form-data")


@pytest.mark.parametrize("name", SWITCHES)
def test_an_upload_form_field_sent_more_than_once_is_a_page_saying_to_send_it_once(client, name):
    for values in (["on", "abc"], ["on", "on"]):
        response = upload(client, **{name: values})
        assert response.status_code == 400 and response.mimetype == "text/html"
        assert f"The field &#39;{name}&#39; was sent more than once. Send it once" in response.get_data(as_text=True)
    ticked = upload(client, **{name: "on"})
    assert ticked.status_code == 200 and ticked.mimetype == "text/csv"


@pytest.mark.parametrize("body", ["sepal_length=5.0&sepal_length=abc", "sepal_length=5.0&sepal_length=5.0"])
def test_a_form_field_given_twice_is_a_400(client, body):
    rest = "&sepal_width=3.4&petal_length=1.5&petal_width=0.2"
    response = client.post("/v1/models/iris/predict", data=body + rest,
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400, response.get_data(as_text=True)
    answer = response.get_json()
    assert "'sepal_length'" in answer["detail"] and "more than once" in answer["detail"]
    assert answer["errors"] == [{"path": "sepal_length", "message": "is given more than once"}]


def test_a_field_of_the_prediction_page_sent_twice_is_a_400_beside_the_field(client):
    form = [("sepal_length", "5.0"), ("sepal_length", "6.6"), ("sepal_width", "3.4"), ("petal_length", "1.5"),
            ("petal_width", "0.2")]
    body = "&".join(f"{k}={v}" for k, v in form)
    response = client.post("/ui/models/iris", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="f-sepal_length-msg">' in page and "was sent more than once" in page
    assert 'id="result"' not in page
