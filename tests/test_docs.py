"""The OpenAPI document validates, documents every endpoint, and its examples really work."""
from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from app import create_app


@pytest.fixture
def spec(client) -> dict:
    response = client.get("/apispec.json")
    assert response.status_code == 200
    return response.get_json()


def test_spec_is_valid_openapi_3(spec):
    assert spec["openapi"].startswith("3.0") and "swagger" not in spec and "definitions" not in spec
    validate(spec)


def test_spec_with_token_auth_is_valid_too(repo):
    app = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "API_TOKEN": "t"})
    spec = app.test_client().get("/apispec.json").get_json()
    validate(spec)
    assert "bearerAuth" in spec["components"]["securitySchemes"]


def test_every_route_is_documented_with_its_errors(app, spec):
    documented = set(spec["paths"])
    for rule in app.url_map.iter_rules():
        path = rule.rule.replace("<", "{").replace(">", "}")
        if path.startswith(("/v1", "/health", "/metrics")):
            assert path in documented, path
    predict = spec["paths"]["/v1/models/iris/predict"]["post"]
    assert {"200", "400", "404", "405", "413", "415", "500", "503"} <= set(predict["responses"])
    assert spec["components"]["schemas"]["Problem"]["required"][:4] == ["type", "title", "status", "detail"]


def test_request_schema_is_the_validating_schema(app, spec):
    from app.registry import get_registry

    with app.app_context():
        schema = get_registry().get("iris").ready_runtime().schema
    documented = spec["components"]["schemas"]["iris.instance"]
    assert documented["required"] == schema.instance["required"]
    assert documented["properties"] == schema.instance["properties"]


@pytest.mark.parametrize("name", ["iris", "linear", "shop"])
def test_documented_examples_predict_successfully(client, spec, name):
    content = spec["paths"][f"/v1/models/{name}/predict"]["post"]["requestBody"]["content"]["application/json"]
    for example in content["examples"].values():
        response = client.post(f"/v1/models/{name}/predict", json=example["value"])
        assert response.status_code == 200, (example, response.get_json())


def test_swagger_ui_is_served_without_external_resources(client):
    page = client.get("/apidocs/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "swagger-ui-bundle.js" in html and "/apispec.json" in html
    assert "googleapis" not in html and "cdn" not in html.lower()
    assert "= None;" not in html, "a Python None rendered into the Swagger UI's script"
    assert client.get("/flasgger_static/swagger-ui-bundle.js").status_code == 200


def test_landing_page_lists_models_with_curl_examples(client):
    html = client.get("/").get_data(as_text=True)
    for name in ("iris", "linear", "shop"):
        assert f'id="model-{name}"' in html
    assert "curl -s -X POST" in html and "/v1/models/iris/predict" in html and "sepal_length" in html
    assert 'href="/apidocs/"' in html
