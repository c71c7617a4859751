"""A live server over freshly trained demo models, and a headless Chromium driven by Selenium.

The browser is Debian's ``chromium`` with its ``chromium-driver``; Selenium is pointed at both
binaries so selenium-manager never tries to download anything. Without the binaries the
browser tests are skipped (CI installs them).
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LinearRegression
from werkzeug.serving import make_server

from app import create_app, demo, training

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def train_demo(repository: Path, name: str, estimator: str | None = None, as_name: str | None = None) -> None:
    """Train one of the bundled demo data sets into ``repository`` with the real training code."""
    data = demo.load_demo(name)
    options = training.TrainingOptions(target=data.target, estimator=estimator or data.estimator,
                                       descriptions=data.descriptions)
    training.train(repository, as_name or name, data.frame, options, data.source_info(), progress=lambda _: None)


@pytest.fixture(scope="session")
def live_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """iris in two versions (with plots), the diabetes regressor, and a dropped-in estimator."""
    root = tmp_path_factory.mktemp("live") / "models"
    train_demo(root, "iris")
    train_demo(root, "iris", "random_forest")
    train_demo(root, "diabetes")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    (root / "dropped" / "1").mkdir(parents=True)
    joblib.dump(LinearRegression().fit(X, X @ [1.0, -2.0, 0.5]), root / "dropped" / "1" / "model.joblib")
    return root


@pytest.fixture(scope="session")
def base_url(live_repository: Path) -> Iterator[str]:
    """The application served by a real HTTP server on a free local port, in a thread."""
    app = create_app({"TESTING": True, "MODEL_REPOSITORY": str(live_repository)})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="session")
def browser(downloads: Path):
    """Headless Chromium; skipped, with the reason, when the Debian binaries are not installed."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.skip(f"browser tests need {' and '.join(missing)}: apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
                     "--disable-gpu", "--disable-extensions", "--no-first-run"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    # A driver path in the Service makes Selenium skip selenium-manager, which would download one.
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


@pytest.fixture
def screenshot(browser):
    """Save a PNG of the current page (the whole page by default) as artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(name: str, full_page: bool = True) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        if full_page:
            height = browser.execute_script("return document.documentElement.scrollHeight")
            browser.set_window_size(1280, max(900, min(int(height), 6000)))
        browser.save_screenshot(str(path))
        browser.set_window_size(1280, 900)
        return path

    return save
