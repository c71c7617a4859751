"""The OpenAPI document validates, documents every endpoint, and its examples really work."""
from __future__ import annotations

import inspect
import re

import pytest
from flasgger import Swagger
from flasgger.utils import parse_docstring
from flask import Flask
from openapi_spec_validator import validate
from sklearn.linear_model import LogisticRegression

from app import create_app
from app.http import docs


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


#: Routes that are not part of the API, so have no OpenAPI description: the pages for people
#: (and the files they offer), static files, and flasgger's own UI and document.
NOT_API = {
    "web.index", "ui.predict_form", "ui.score", "ui.template", "ui.card", "ui.plot", "static",
    "flasgger.apidocs", "flasgger.<lambda>", "flasgger.oauth_redirect", "flasgger.static", "flasgger.apispec",
}


def test_every_api_route_documents_itself_in_its_docstring(app):
    """A route without a flasgger docstring fails here: the docstring is where its docs live."""
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints >= NOT_API, f"listed but gone: {NOT_API - endpoints}"
    for endpoint in sorted(endpoints - NOT_API):
        view = app.view_functions[endpoint]
        summary, _, swag = parse_docstring(view, docs.describe)
        assert swag, f"{endpoint} has no OpenAPI description after '---' in its docstring"
        assert summary == inspect.getdoc(view).splitlines()[0] and summary.endswith("."), endpoint
        assert swag.get("tags") and swag.get("responses"), f"{endpoint}: tags and responses are required"
        # Every error is a problem document; on /v2 and :predict, the one with `error` too.
        prefix = "V2_" if endpoint.startswith(("v2.", "api.kserve.")) else ""
        for code, response in swag["responses"].items():
            if str(code) >= "400":
                assert response == {"$ref": f"#/components/responses/{prefix}{code}"} or (
                    endpoint in ("health.ready", "v2.server_ready") and code == 503), (endpoint, code, response)


def test_every_route_is_in_the_document_as_its_docstring_says(app, spec):
    documented = set(spec["paths"])
    for rule in app.url_map.iter_rules():
        if rule.endpoint in NOT_API:
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        if rule.endpoint in docs.PER_MODEL:
            if "{label}" in path:
                continue  # a path per label of a serving file (tests/core/test_serving.py)
            # What a predict request holds depends on the model: each has the path of its own.
            for name in ("iris", "linear", "shop"):
                assert path.replace("{name}", name) in documented, path
            assert path not in documented, f"{path} cannot say which body each model takes"
            continue
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        assert sorted(spec["paths"][path]) == [m.lower() for m in methods], path
        for method in methods:
            documented_operation = spec["paths"][path][method.lower()]
            assert documented_operation["summary"] == inspect.getdoc(app.view_functions[rule.endpoint]).splitlines()[0]
    predict = spec["paths"]["/v1/models/iris/predict"]["post"]
    assert {"200", "400", "404", "405", "413", "415", "422", "500", "503"} <= set(predict["responses"])
    assert spec["components"]["schemas"]["Problem"]["required"][:4] == ["type", "title", "status", "detail"]


def test_each_models_predict_operation_is_the_predict_docstring_with_its_schemas(app, spec):
    """What the predict view's docstring says (responses, query parameters, prose) every model's operation says."""
    generic = docs.operation(app, "api.predict", "post")
    queries = [p["name"] for p in generic["parameters"] if p.get("in") == "query"]
    for path in ("/v1/models/iris/predict", "/v1/models/linear/versions/{version}/predict"):
        operation = spec["paths"][path]["post"]
        assert operation["responses"].keys() == generic["responses"].keys(), path
        assert operation["description"] == generic["description"]
        assert [p["name"] for p in operation["parameters"] if p["in"] == "query"] == queries
        csv = operation["requestBody"]["content"]["text/csv"]["schema"]["description"]
        assert csv.startswith(generic["requestBody"]["content"]["text/csv"]["schema"]["description"])


def test_a_new_route_is_documented_by_its_docstring_alone(repo):
    """Writing the docstring is all it takes: the operation appears, with the shared components."""
    app = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo)})

    def echo(name: str):
        """Echo a model's name.

        Only for this test.
        ---
        tags: [models]
        parameters:
          - $ref: "#/components/parameters/ModelName"
        responses:
          200:
            description: The name.
            content:
              application/json:
                schema: {type: object}
          404: {$ref: "#/components/responses/404"}
        """
        return {"name": name}

    app.add_url_rule("/v1/echo/<name>", view_func=echo)
    spec = app.test_client().get("/apispec.json").get_json()
    validate(spec)
    operation = spec["paths"]["/v1/echo/{name}"]["get"]
    assert operation["summary"] == "Echo a model's name." and operation["description"] == "Only for this test."
    assert set(operation["responses"]) == {"200", "404"}
    assert spec["components"]["parameters"]["ModelName"]["schema"]["enum"] == ["iris", "linear", "shop"]


def test_flasgger_openapi_3_mistakes_are_corrected():
    """With the version in the template, flasgger 0.9.7.1 writes Swagger 2 keys that ``correct`` removes."""
    flask_app = Flask(__name__)

    @flask_app.get("/thing")
    def thing():
        """A thing.
        ---
        responses:
          200: {description: The thing.}
        """
        return {}

    Swagger(flask_app, template={"openapi": "3.0.3", "info": {"title": "t", "version": "1"}})
    spec = flask_app.test_client().get("/apispec_1.json").get_json()
    assert "definitions" in spec and spec["swagger"] == "2.0"  # flasgger's mistake, as its issues describe
    corrected = docs.correct(spec)
    assert "definitions" not in corrected and "swagger" not in corrected and corrected["openapi"] == "3.0.3"
    validate(corrected)


def test_with_a_token_every_api_operation_needs_it_and_health_does_not(repo):
    spec = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "API_TOKEN": "t"}).test_client() \
        .get("/apispec.json").get_json()
    assert spec["security"] == [{"bearerAuth": []}]
    for path, item in spec["paths"].items():
        for operation in item.values():
            if path == "/v1/repository/reload":  # a write operation, turned off without an admin token
                assert operation["security"] == [] and "every request is answered 403" in operation["description"]
                continue
            # /v1 and /v2 need the token (the document's security); health, on either, does not.
            open_path = path.startswith(("/health", "/metrics", "/v2/health"))
            assert ("security" in operation) == open_path, path
            assert operation.get("security", []) == [], path


def test_the_reload_needs_the_admin_token_only_where_one_is_configured(repo):
    spec = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "API_TOKEN": "t", "ADMIN_TOKEN": "a"}) \
        .test_client().get("/apispec.json").get_json()
    reload = spec["paths"]["/v1/repository/reload"]["post"]
    assert reload["security"] == [{"adminToken": []}] and "403" not in reload["description"]
    assert spec["components"]["securitySchemes"]["adminToken"] == {
        "type": "http", "scheme": "bearer", "description": "The server's ADMIN_TOKEN, for the repository's write "
                                                          "operations."}


def test_request_schema_is_the_validating_schema(app, spec):
    from app.extensions import get_registry

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


def operation(spec: dict, path: str) -> dict:
    return spec["paths"][path]["post"]


def body_schemas(spec: dict, path: str) -> list[str]:
    """The component names of an operation's JSON body forms."""
    content = operation(spec, path)["requestBody"]["content"]["application/json"]
    return [ref["$ref"].rsplit("/", 1)[-1] for ref in content["schema"]["oneOf"]]


@pytest.mark.parametrize("name", ["iris", "linear", "shop"])
def test_documented_csv_pattern_matches_the_example_and_such_files_are_scored(client, spec, name):
    csv = operation(spec, f"/v1/models/{name}/predict")["requestBody"]["content"]["text/csv"]
    pattern = csv["schema"]["pattern"]
    header, row = csv["example"].splitlines()
    for text in (csv["example"], f"{header}\n{row}\n{row}", f"{header}\n{row}\n{row}\n"):
        assert re.search(pattern, text), (pattern, text)
        response = client.post(f"/v1/models/{name}/predict", data=text, content_type="text/csv")
        assert response.status_code == 200, (text, response.get_json())
    for refused in ("", header, f"{row}\n", f"{header}\n{row},1\n", f"{header}\n\n{row}\n"):
        assert not re.search(pattern, refused), (pattern, refused)


def test_probabilities_parameter_says_what_each_model_takes(client, spec):
    def probabilities(path: str) -> dict:
        return next(p for p in operation(spec, path)["parameters"] if p["name"] == "probabilities")

    for path in ("/v1/models/iris/predict", "/v1/models/iris/versions/{version}/predict"):
        assert probabilities(path)["schema"] == {"type": "boolean"}
    for path in ("/v1/models/linear/predict", "/v1/models/linear/versions/{version}/predict"):
        assert probabilities(path)["schema"] == {"type": "boolean", "enum": [False]}
    body = {"x_0": 1.0, "x_1": 2.0, "x_2": 3.0}
    assert client.post("/v1/models/linear/predict?probabilities=false", json=body).status_code == 200
    assert client.post("/v1/models/linear/predict?probabilities=true", json=body).status_code == 400
    # An empty value is read as absent, which the document says with allowEmptyValue.
    assert probabilities("/v1/models/linear/predict")["allowEmptyValue"] is True
    assert client.post("/v1/models/linear/predict?probabilities=", json=body).status_code == 200


def test_rows_are_documented_where_openapi_can_describe_them(client, spec):
    """OpenAPI 3.0 has no per-position item types: rows of mixed types are described in words."""
    assert body_schemas(spec, "/v1/models/iris/predict") == ["iris.instance", "iris.instances", "iris.rows"]
    rows = spec["components"]["schemas"]["iris.rows"]["properties"]["instances"]["items"]
    assert rows["items"] == {"type": "number"} and rows["minItems"] == rows["maxItems"] == 4
    assert body_schemas(spec, "/v1/models/shop/predict") == ["shop.instance", "shop.instances"]
    assert "shop.rows" not in spec["components"]["schemas"]
    assert "rows" in spec["components"]["schemas"]["shop.instances"]["description"].lower()
    examples = operation(spec, "/v1/models/shop/predict")["requestBody"]["content"]["application/json"]["examples"]
    assert "rows" not in examples
    assert client.post("/v1/models/shop/predict", json={"instances": [["red", 3.0]]}).status_code == 200
    assert client.post("/v1/models/shop/predict", json={"instances": [[3.0, "red"]]}).status_code == 400


def test_versions_with_other_features_or_none_loaded_have_paths_of_their_own(repo, estimators, iris_like,
                                                                             iris_metadata, write_version,
                                                                             iris_features):
    features, labels = iris_like()
    narrow = LogisticRegression(max_iter=500).fit(features[iris_features[:3]], labels)
    metadata = iris_metadata()
    write_version(repo, "iris", 3, narrow, {**metadata, "version": 3, "features": metadata["features"][:3]})
    broken = write_version(repo, "iris", 4, estimators["iris1"], {**metadata, "version": 4})
    (broken / "model.joblib").write_bytes(b"not a model")
    client = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo)}).test_client()
    spec = client.get("/apispec.json").get_json()
    validate(spec)
    # Version 3, the highest that loaded, is the default; 1 and 2 take a fourth feature.
    shared = operation(spec, "/v1/models/iris/versions/{version}/predict")["parameters"][0]
    assert shared["schema"]["enum"] == ["3"]
    assert spec["components"]["schemas"]["iris.instance"]["required"] == iris_features[:3]
    for number in ("1", "2"):
        assert body_schemas(spec, f"/v1/models/iris/versions/{number}/predict")[0] == f"iris.v{number}.instance"
        own = spec["components"]["schemas"][f"iris.v{number}.instance"]
        assert own["required"] == iris_features
        assert client.post(f"/v1/models/iris/versions/{number}/predict", json=own["example"]).status_code == 200
        assert client.post("/v1/models/iris/versions/3/predict", json=own["example"]).status_code == 400
    failed = operation(spec, "/v1/models/iris/versions/4/predict")
    assert "requestBody" not in failed and set(failed["responses"]) == {"401", "503"}
    assert client.post("/v1/models/iris/versions/4/predict", json={}).status_code == 503


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


@pytest.mark.parametrize("name", ["iris", "linear", "shop"])
def test_v2_and_kserve_examples_answer_in_try_it_out(client, spec, name):
    """Every example of the infer and :predict operations, on the default and the version paths, predicts."""
    from jsonschema import Draft4Validator

    for template in ("/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer",
                     "/v1/models/{name}:predict", "/v1/models/{name}/versions/{version}:predict"):
        documented = template.replace("{name}", name)
        content = operation(spec, documented)["requestBody"]["content"]["application/json"]
        assert content["examples"], documented
        versions = [p["schema"]["enum"] for p in operation(spec, documented).get("parameters", [])
                    if p["name"] == "version"]
        for key, example in content["examples"].items():
            response = client.post(documented.replace("{version}", versions[0][-1] if versions else ""),
                                   json=example["value"])
            assert response.status_code == 200, (documented, key, response.get_json())
    # The documented V2 request schema holds the examples it describes (the rows, or each feature once).
    schema = spec["components"]["schemas"][f"{name}.v2"]
    examples = operation(spec, f"/v2/models/{name}/infer")["requestBody"]["content"]["application/json"]["examples"]
    described = examples["rows"] if "rows" in examples else examples["features"]
    assert not list(Draft4Validator(schema).iter_errors(described["value"]))


def test_v2_operations_list_the_tensor_paths_and_errors_with_error_member(spec):
    infer = operation(spec, "/v2/models/iris/infer")
    assert infer["operationId"] == "v2_infer_iris" and infer["tags"] == ["iris"]
    # Binary bodies only: documented for a JSON body, a client could send it with any value.
    assert "parameters" not in infer and "Inference-Header-Content-Length" in infer["description"]
    assert infer["responses"]["400"] == {"$ref": "#/components/responses/V2_400"}
    assert "application/octet-stream" in infer["responses"]["200"]["content"]
    problem = spec["components"]["schemas"]["V2Problem"]
    assert problem["allOf"][1]["required"] == ["error"]
    for path in ("/v2", "/v2/health/live", "/v2/health/ready", "/v2/models/{name}", "/v2/models/{name}/ready",
                 "/v2/models/{name}/versions/{version}", "/v2/models/{name}/versions/{version}/ready"):
        assert "get" in spec["paths"][path], path
