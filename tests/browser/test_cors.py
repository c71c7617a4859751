"""A front-end page of another origin calls the API with fetch() in a real browser: CORS lets it, or not.

The page (FRONTEND_PAGE in conftest.py) is served on two other ports than the application, so
from two other origins; the application allows only the first (CORS_ORIGINS) and has an
API_TOKEN, so the browser's preflight must pass the token check and allow the Authorization
header.
"""
from __future__ import annotations

from typing import Any

PREDICT = "/v1/models/iris/predict"
SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def predict_from(browser, page: str, url: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    """Open the front-end page at ``page`` and run its predict(): the answer it read, or the error fetch raised."""
    browser.get(page + "/")
    browser.set_script_timeout(15)
    return browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "predict(arguments[0], arguments[1], arguments[2]).then(done);", url, body, token)


def test_an_allowed_origin_predicts_with_the_token(browser, frontend_origins, cors_base_url, cors_token):
    allowed, _ = frontend_origins
    result = predict_from(browser, allowed, cors_base_url + PREDICT, SETOSA, cors_token)
    assert result.get("status") == 200, result
    assert result["body"]["prediction"] == "setosa" and result["body"]["model"] == "iris"
    # An exposed header: without Access-Control-Expose-Headers the script would read null.
    assert result["requestId"]


def test_an_allowed_origin_reads_the_error_answers(browser, frontend_origins, cors_base_url, cors_token):
    allowed, _ = frontend_origins
    unauthorized = predict_from(browser, allowed, cors_base_url + PREDICT, SETOSA)
    assert unauthorized.get("status") == 401, unauthorized
    assert unauthorized["body"]["status"] == 401 and unauthorized["authenticate"].startswith("Bearer")
    invalid = predict_from(browser, allowed, cors_base_url + PREDICT, {"sepal_length": "long"}, cors_token)
    assert invalid.get("status") == 400, invalid
    assert {e["path"] for e in invalid["body"]["errors"]} >= {"sepal_length", "petal_width"}
    assert invalid["requestId"] == invalid["body"]["request_id"]


def test_another_origin_is_blocked_by_the_browser(browser, frontend_origins, cors_base_url, cors_token):
    _, other = frontend_origins
    result = predict_from(browser, other, cors_base_url + PREDICT, SETOSA, cors_token)
    # fetch() rejects with a TypeError ("Failed to fetch"): the script learns nothing of the answer.
    assert result.get("error") == "TypeError", result
    assert "status" not in result
