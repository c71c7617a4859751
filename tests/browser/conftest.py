"""A live server over freshly trained demo models, and a headless Chromium driven by Selenium.

The browser is Debian's ``chromium`` with its ``chromium-driver``; Selenium is pointed at both
binaries so selenium-manager never tries to download anything. Without the binaries the
browser tests are skipped (CI installs them).
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LinearRegression
from werkzeug.serving import make_server

from app import create_app
from app.training import demo
from app.training import train as training

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


def serve(app) -> Iterator[str]:
    """Serve an application with a real HTTP server on a free local port, in a thread, until resumed."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def base_url(live_repository: Path) -> Iterator[str]:
    """The application served by a real HTTP server on a free local port, in a thread."""
    yield from serve(create_app({"TESTING": True, "MODEL_REPOSITORY": str(live_repository)}))


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


#: The page of a front-end served from another origin: its script calls the API with fetch(), as a
#: dashboard would (a JSON POST, so the browser sends a preflight first).
FRONTEND_PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>Front-end of another origin</title></head>
<body><p>A front-end that calls modelhost from another origin.</p>
<script>
async function predict(url, body, token) {
  const headers = {"Content-Type": "application/json"};
  if (token) headers["Authorization"] = "Bearer " + token;
  try {
    const response = await fetch(url, {method: "POST", headers: headers, body: JSON.stringify(body)});
    return {status: response.status, body: await response.json(),
            requestId: response.headers.get("X-Request-ID"),
            authenticate: response.headers.get("WWW-Authenticate")};
  } catch (error) {
    return {error: error.name, message: error.message};
  }
}
</script></body></html>
"""


class _FrontendPage(BaseHTTPRequestHandler):
    """Serves FRONTEND_PAGE at / and nothing else."""

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        found = self.path == "/"
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(FRONTEND_PAGE) if found else 0))
        self.end_headers()
        if found:
            self.wfile.write(FRONTEND_PAGE)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
        """Quiet: the test output is no place for its access lines."""


@pytest.fixture(scope="session")
def frontend_origins() -> Iterator[tuple[str, str]]:
    """Two servers of the front-end page on other ports, that is two other origins: (allowed, not allowed)."""
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _FrontendPage) for _ in range(2)]
    threads = [threading.Thread(target=server.serve_forever, daemon=True) for server in servers]
    for thread in threads:
        thread.start()
    allowed, other = (f"http://127.0.0.1:{server.server_port}" for server in servers)
    yield allowed, other
    for server, thread in zip(servers, threads, strict=True):
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


#: The token of the application cors_base_url serves.
CORS_TOKEN = "browser-cors-token"


@pytest.fixture(scope="session")
def cors_token() -> str:
    """The API_TOKEN of the application cors_base_url serves."""
    return CORS_TOKEN


@pytest.fixture(scope="session")
def cors_base_url(live_repository: Path, frontend_origins: tuple[str, str]) -> Iterator[str]:
    """The application with CORS_ORIGINS set to the first front-end origin and an API_TOKEN, in a thread."""
    yield from serve(create_app({"TESTING": True, "MODEL_REPOSITORY": str(live_repository),
                                 "CORS_ORIGINS": [frontend_origins[0]], "API_TOKEN": CORS_TOKEN}))
