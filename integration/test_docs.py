"""The Swagger UI, the OpenAPI document and the landing page."""
from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import shlex
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests

MODELS = tuple(json.loads(p.read_text(encoding="utf-8"))["model"]
               for p in sorted((Path(__file__).parent / "expected").glob("*.json")))
FEATURES = {name: json.loads((Path(__file__).parent / "expected" / f"{name}.json").read_text(encoding="utf-8"))
            ["features"] for name in MODELS}
TIMEOUT = 10


class Page(HTMLParser):
    """The scripts, stylesheets and inline code blocks an HTML page holds."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self.inline_scripts: list[str] = []
        self.code: list[str] = []
        self._open: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script" and attributes.get("src"):
            self.scripts.append(attributes["src"] or "")
        elif tag == "link" and "stylesheet" in (attributes.get("rel") or "").split():
            self.stylesheets.append(attributes.get("href") or "")
        elif tag in ("script", "code"):
            self._open, self._text = tag, []

    def handle_data(self, data: str) -> None:
        if self._open:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == self._open:
            (self.inline_scripts if tag == "script" else self.code).append("".join(self._text))
            self._open = None


def fetch_page(session: requests.Session, url: str) -> tuple[requests.Response, Page]:
    response = session.get(url, timeout=TIMEOUT)
    assert response.status_code == 200, f"GET {url}: {response.status_code}"
    assert response.headers["Content-Type"].split(";")[0] == "text/html"
    page = Page()
    page.feed(response.text)
    return response, page


@pytest.fixture(scope="module")
def apidocs(session: requests.Session, base_url: str) -> tuple[requests.Response, Page]:
    return fetch_page(session, f"{base_url}/apidocs/")


@pytest.fixture(scope="module")
def spec(session: requests.Session, base_url: str) -> dict:
    response = session.get(f"{base_url}/apispec.json", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Content-Type"].split(";")[0] == "application/json"
    return response.json()


# --- Swagger UI -----------------------------------------------------------------------------

def test_swagger_ui_references_its_bundle_and_the_spec(apidocs) -> None:
    response, page = apidocs
    assert any("swagger-ui-bundle" in src for src in page.scripts), page.scripts
    assert any("swagger-ui" in href for href in page.stylesheets), page.stylesheets
    assert "apispec.json" in response.text


def test_swagger_ui_loads_nothing_from_other_hosts(base_url, apidocs) -> None:
    """The docs must work on an air-gapped network: every asset is served by this server."""
    response, page = apidocs
    origin = urlsplit(base_url).netloc
    foreign = [u for u in page.scripts + page.stylesheets if urlsplit(urljoin(response.url, u)).netloc != origin]
    assert not foreign, f"assets from other hosts: {foreign}"


def test_swagger_ui_assets_load(session, apidocs) -> None:
    response, page = apidocs
    assets = [(u, "javascript") for u in page.scripts] + [(u, "css") for u in page.stylesheets]
    assert assets
    for url, kind in assets:
        absolute = urljoin(response.url, url)
        if urlsplit(absolute).netloc != urlsplit(response.url).netloc:
            continue  # reported by the test above; never send traffic elsewhere
        asset = session.get(absolute, timeout=TIMEOUT)
        assert asset.status_code == 200, f"GET {absolute}: {asset.status_code}"
        assert kind in asset.headers.get("Content-Type", ""), f"{absolute}: {asset.headers.get('Content-Type')}"
        assert len(asset.content) > 1000, f"{absolute} is only {len(asset.content)} bytes"
        assert asset.headers.get("X-Request-ID"), f"{absolute} has no X-Request-ID"


# --- OpenAPI document -----------------------------------------------------------------------

def test_spec_is_openapi_3(spec) -> None:
    assert str(spec["openapi"]).startswith("3."), spec.get("openapi")
    assert spec["info"]["title"]
    assert "swagger" not in spec, "an OpenAPI 3 document has no Swagger 2 'swagger' key"


@pytest.mark.parametrize("name", MODELS)
def test_spec_has_each_models_predict_path(spec, name) -> None:
    operation = spec["paths"][f"/v1/models/{name}/predict"]["post"]
    text = json.dumps(spec)
    # The request schema (inline or under components) names every feature of the model.
    for feature in FEATURES[name]:
        assert f'"{feature}"' in text
    assert "requestBody" in operation and "application/json" in operation["requestBody"]["content"]
    assert "200" in operation["responses"]


@pytest.mark.parametrize("name", MODELS)
def test_spec_examples_are_accepted_and_match_their_schemas(session, base_url, spec, name) -> None:
    """Every request example of a model's predict operation is answered 200; the CSV one fits its pattern."""
    path = f"/v1/models/{name}/predict"
    content = spec["paths"][path]["post"]["requestBody"]["content"]
    for example in content["application/json"]["examples"].values():
        response = session.post(base_url + path, json=example["value"], timeout=TIMEOUT)
        assert response.status_code == 200, f"{example}\n-> {response.status_code} {response.text[:300]}"
    csv = content["text/csv"]
    assert re.search(csv["schema"]["pattern"], csv["example"]), csv
    response = session.post(base_url + path, data=csv["example"].encode(), headers={"Content-Type": "text/csv"},
                            timeout=TIMEOUT)
    assert response.status_code == 200, f"{csv['example']}\n-> {response.status_code} {response.text[:300]}"
    assert "prediction" in response.text.splitlines()[0].split(","), response.text[:300]


def test_spec_documents_the_model_endpoints(spec) -> None:
    paths = spec["paths"]
    for path in ("/v1/models", "/health/live", "/health/ready"):
        assert "get" in paths[path], path


# --- landing page ---------------------------------------------------------------------------

def test_landing_page_lists_every_model_with_a_curl_example(session, base_url) -> None:
    response, page = fetch_page(session, f"{base_url}/")
    text = html.unescape(response.text)
    examples = [c for c in page.code if c.lstrip().startswith("curl")]
    for name in MODELS:
        assert name in text
        assert any(f"/v1/models/{name}/predict" in c for c in examples), f"no curl example for {name}"
    assert "/apidocs/" in text


@pytest.mark.parametrize("name", MODELS)
def test_landing_page_curl_examples_work(session, base_url, name) -> None:
    """Each example is copy-paste correct: its body, sent to its path here, is answered 200."""
    _, page = fetch_page(session, f"{base_url}/")
    example = next(c for c in page.code if c.lstrip().startswith("curl") and f"/v1/models/{name}/predict" in c)
    words = shlex.split(example.replace("\\\n", " "))
    url = next(w for w in words if "/v1/models/" in w)
    flags = [i for i, w in enumerate(words) if w in ("-d", "--data", "--data-raw", "--data-binary")]
    assert flags, f"the example sends no body: {example}"
    body = words[flags[0] + 1]
    target = urlsplit(url)
    response = session.post(f"{base_url}{target.path}" + (f"?{target.query}" if target.query else ""),
                            data=body.encode(), headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
    assert response.status_code == 200, f"{example}\n-> {response.status_code} {response.text[:300]}"


# --- Content-Security-Policy versus the Swagger UI (behind Apache) --------------------------

def csp_sources(policy: str, directive: str) -> list[str] | None:
    """The sources of a directive, falling back to default-src; None when neither is set."""
    directives = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            directives.setdefault(words[0].lower(), words[1:])
    return directives.get(directive, directives.get("default-src"))


def allows_inline(sources: list[str] | None, blocks: list[str]) -> bool:
    """Whether a CSP source list lets these inline blocks run (CSP Level 3 rules)."""
    if sources is None or not blocks:
        return True
    lowered = [s.lower() for s in sources]
    hashes = {s.strip("'")[len("sha256-"):] for s in sources if s.lower().startswith("'sha256-")}
    if hashes:  # with hashes (or nonces) present, 'unsafe-inline' is ignored
        return all(base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() in hashes for b in blocks)
    if any(s.startswith("'nonce-") for s in lowered):
        return False  # nonces need the page to carry them; a static page cannot
    return "'unsafe-inline'" in lowered


@pytest.mark.apache
def test_content_security_policy_lets_the_swagger_ui_work(session, base_url, apidocs) -> None:
    response, page = apidocs
    server = response.headers.get("Server", "")
    if "apache" not in server.lower():
        pytest.skip(f"Server is {server!r}, not Apache: the CSP comes from the Apache configuration "
                    "(docker/apache/); run against the container or `make run`")
    policy = response.headers.get("Content-Security-Policy", "")
    assert policy, "no Content-Security-Policy on /apidocs/"
    for directive in ("script-src", "style-src", "connect-src", "img-src"):
        sources = csp_sources(policy, directive)
        assert sources is None or {"'self'", "*"} & {s.lower() for s in sources} or \
            any(urlsplit(s).netloc == urlsplit(base_url).netloc for s in sources), \
            f"{directive} does not allow this server's own assets: {policy}"
    assert allows_inline(csp_sources(policy, "script-src"), page.inline_scripts), \
        f"the Swagger UI's inline start-up script is blocked by: {policy}"
    styles = re.findall(r"<style[^>]*>(.*?)</style>", response.text, re.DOTALL)
    assert allows_inline(csp_sources(policy, "style-src"), styles), \
        f"the Swagger UI's inline styles are blocked by: {policy}"
