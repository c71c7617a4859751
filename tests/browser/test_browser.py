"""What a person does in a real browser: predict from the form, score a CSV file, read the card, try the API."""
from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

IRIS_HEADER = "sepal_length,sepal_width,petal_length,petal_width"


def wait(browser, seconds: float = 10) -> WebDriverWait:
    return WebDriverWait(browser, seconds)


def wait_for_download(directory: Path, name: str, seconds: float = 15) -> Path:
    """The downloaded file, once Chromium has finished writing it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        path = directory / name
        if path.exists() and not list(directory.glob("*.crdownload")):
            return path
        time.sleep(0.1)
    pytest.fail(f"{name} was not downloaded within {seconds} s; {sorted(p.name for p in directory.iterdir())}")


def test_landing_page_leads_to_a_form_that_predicts(browser, base_url, screenshot):
    browser.get(base_url + "/")
    screenshot("01-landing")
    browser.find_element(By.CSS_SELECTOR, "#model-iris").find_element(
        By.LINK_TEXT, "Predict & score a CSV file").click()
    wait(browser).until(EC.title_contains("Predict with iris"))
    screenshot("02-form")
    petal_length = browser.find_element(By.ID, "f-petal_length")
    assert float(petal_length.get_attribute("min")) == 1.0 and float(petal_length.get_attribute("step")) <= 0.1
    petal_length.clear()
    petal_length.send_keys("6.1")
    browser.find_element(By.ID, "f-petal_width").clear()
    browser.find_element(By.ID, "f-petal_width").send_keys("2.3")
    browser.find_element(By.XPATH, "//button[normalize-space()='Predict']").click()
    result = wait(browser).until(EC.visibility_of_element_located((By.ID, "result")))
    assert "species: virginica" in result.text
    assert len(result.find_elements(By.CSS_SELECTOR, ".bar-row")) == 3
    assert browser.find_element(By.ID, "f-petal_length").get_attribute("value") == "6.1"
    screenshot("03-prediction")


def test_regressor_form_predicts_a_number_from_the_defaults(browser, base_url, screenshot):
    browser.get(base_url + "/ui/models/diabetes")
    assert browser.find_element(By.ID, "f-age").get_attribute("step") == "1"
    browser.find_element(By.XPATH, "//button[normalize-space()='Predict']").click()
    result = wait(browser).until(EC.visibility_of_element_located((By.ID, "result")))
    assert result.text.startswith("Prediction\nprogression: ") and "ranged from 25 to 346" in result.text
    screenshot("03b-prediction-regressor")


def test_form_shows_the_message_beside_the_field(browser, base_url, screenshot):
    browser.get(base_url + "/ui/models/iris")
    browser.find_element(By.ID, "f-sepal_width").clear()
    browser.find_element(By.XPATH, "//button[normalize-space()='Predict']").click()
    message = wait(browser).until(EC.visibility_of_element_located((By.ID, "f-sepal_width-msg")))
    assert "Sepal width is required" in message.text
    screenshot("04-form-error")


def test_uploading_a_csv_file_downloads_the_scored_file(browser, base_url, downloads, tmp_path, screenshot):
    cases = tmp_path / "cases.csv"
    cases.write_text(f"case,{IRIS_HEADER}\nA,5.1,3.5,1.4,0.2\nB,6.7,3.0,5.2,2.3\nC,5.9,2.8,4.3,1.3\n")
    browser.get(base_url + "/ui/models/iris")
    browser.find_element(By.ID, "upload-file").send_keys(str(cases))
    screenshot("05-upload")
    browser.find_element(By.XPATH, "//button[normalize-space()='Score file']").click()
    scored = pd.read_csv(wait_for_download(downloads, "cases-scored.csv"))
    assert list(scored.columns) == ["case", *IRIS_HEADER.split(","), "prediction", "probability_setosa",
                                    "probability_versicolor", "probability_virginica"]
    assert scored["case"].tolist() == ["A", "B", "C"]
    assert scored["prediction"].tolist() == ["setosa", "virginica", "versicolor"]


def test_an_invalid_csv_file_lists_the_lines_to_fix(browser, base_url, tmp_path, screenshot):
    cases = tmp_path / "broken.csv"
    cases.write_text(f"{IRIS_HEADER}\n5.1,3.5,1.4,0.2\n5.1,wide,1.4,0.2\n6.7,3.0,,2.3\n")
    browser.get(base_url + "/ui/models/iris")
    browser.find_element(By.ID, "upload-file").send_keys(str(cases))
    browser.find_element(By.XPATH, "//button[normalize-space()='Score file']").click()
    errors = wait(browser).until(EC.visibility_of_element_located((By.ID, "upload-errors")))
    assert "Line 3, column sepal_width:" in errors.text and "Line 4, column petal_length:" in errors.text
    screenshot("06-upload-errors")


def test_an_oversize_file_is_refused_before_uploading(browser, base_url, tmp_path):
    big = tmp_path / "big.csv"
    with big.open("w") as fh:
        fh.write(IRIS_HEADER + "\n")
        fh.write("5.1,3.5,1.4,0.2\n" * 700_000)  # just over the default 10 MiB limit
    browser.get(base_url + "/ui/models/iris")
    browser.find_element(By.ID, "upload-file").send_keys(str(big))
    browser.find_element(By.XPATH, "//button[normalize-space()='Score file']").click()
    message = wait(browser).until(EC.visibility_of_element_located((By.CSS_SELECTOR, ".upload-error")))
    assert "larger than the upload limit of 10 MiB" in message.text
    assert browser.current_url.endswith("/ui/models/iris")  # nothing was sent


def test_model_card_shows_metrics_plots_and_versions(browser, base_url, screenshot):
    browser.get(base_url + "/ui/models/iris/card")
    images = browser.find_elements(By.CSS_SELECTOR, ".plot img")
    assert len(images) >= 2
    wait(browser).until(lambda b: all(b.execute_script("return arguments[0].complete && arguments[0].naturalWidth", i)
                                      for i in images))
    assert browser.find_elements(By.CSS_SELECTOR, "table.compare tbody tr").__len__() == 2
    assert "Accuracy" in browser.find_element(By.CSS_SELECTOR, "table.metrics").text
    screenshot("07-card-classifier")
    browser.get(base_url + "/ui/models/diabetes/card")
    assert "Predicted against actual" in browser.page_source
    screenshot("08-card-regressor")
    browser.get(base_url + "/ui/models/dropped/card")
    assert "no record of its training data" in browser.find_element(By.CSS_SELECTOR, ".alert.info").text
    screenshot("10-card-dropped-in")


def test_swagger_ui_renders_every_operation_of_the_document(browser, base_url):
    """Each operation the document holds (the docstrings' and the models') is a block in the UI."""
    spec = requests.get(base_url + "/apispec.json", timeout=10).json()
    expected = sorted((method, path) for path, item in spec["paths"].items() for method in item)
    browser.get(base_url + "/apidocs/")
    wait(browser, 15).until(lambda _: browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"))
    rendered = sorted(
        (block.get_attribute("class").split("opblock-")[1].split()[0],
         block.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute("data-path"))
        for block in browser.find_elements(By.CSS_SELECTOR, ".opblock"))
    assert rendered == expected
    assert not browser.find_elements(By.CSS_SELECTOR, ".errors-wrapper"), "the UI reports errors in the document"


def try_it_out(browser, base_url: str, block: str, choose: dict[str, str] | None = None) -> tuple[str, object]:
    """Open an operation of the Swagger UI, press "Try it out" and "Execute"; the status and the body shown."""
    browser.get(base_url + "/apidocs/")
    summary = wait(browser, 15).until(EC.element_to_be_clickable((By.CSS_SELECTOR, block)))
    summary.click()
    operation = summary.find_element(By.XPATH, "./ancestor::div[contains(concat(' ', @class, ' '), ' opblock ')][1]")
    wait(browser).until(lambda _: operation.find_element(By.CSS_SELECTOR, ".try-out__btn")).click()
    for name, value in (choose or {}).items():
        selector = f"tr[data-param-name='{name}'] select"
        Select(wait(browser).until(lambda _, s=selector: operation.find_element(By.CSS_SELECTOR, s))) \
            .select_by_visible_text(value)
    wait(browser).until(lambda _: operation.find_element(By.CSS_SELECTOR, ".execute")).click()
    status = wait(browser, 15).until(lambda _: operation.find_element(
        By.CSS_SELECTOR, ".live-responses-table .response .response-col_status"))
    body = operation.find_element(By.CSS_SELECTOR, ".live-responses-table .response .response-col_description pre")
    return status.text.strip(), body


def test_swagger_ui_try_it_out_predicts(browser, base_url, screenshot):
    status, body = try_it_out(browser, base_url, ".opblock-post [data-path='/v1/models/iris/predict']")
    assert status == "200"
    assert '"prediction"' in body.text
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", body)
    screenshot("09-apidocs-try-it-out", full_page=False)


def test_swagger_ui_try_it_out_reads_metadata_with_a_chosen_model(browser, base_url):
    """An operation documented by its view's docstring, with the shared model-name parameter."""
    status, body = try_it_out(browser, base_url, ".opblock-get [data-path='/v1/models/{name}']", {"name": "diabetes"})
    assert status == "200"
    assert '"name": "diabetes"' in body.text and '"task": "regression"' in body.text


def test_swagger_ui_try_it_out_infers_in_the_open_inference_protocol(browser, base_url):
    """The per-model /v2 infer operation's example, sent by the UI as it is, predicts both outputs."""
    status, body = try_it_out(browser, base_url, ".opblock-post [data-path='/v2/models/iris/infer']")
    assert status == "200"
    assert '"model_name": "iris"' in body.text and '"predict_proba"' in body.text


def test_swagger_ui_try_it_out_predicts_in_kserve_v1(browser, base_url):
    status, body = try_it_out(browser, base_url, ".opblock-post [data-path='/v1/models/iris:predict']")
    assert status == "200"
    assert '"predictions"' in body.text and '"model"' not in body.text
