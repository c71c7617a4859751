"""Who may call the API: the bearer tokens, and a user Apache signed in (LDAP sign-in, TRUST_REMOTE_USER).

Behind Apache, REMOTE_USER is the user mod_authnz_ldap signed in; here the test client puts it
into the WSGI environ as mod_wsgi would. A client's headers only ever become HTTP_* keys.
"""
from __future__ import annotations

import pytest

from app import create_app

SIGNED_IN = {"REMOTE_USER": "alice"}


@pytest.fixture
def ldap_app(repo):
    """An application behind Apache with LDAP sign-in: both tokens set, REMOTE_USER trusted."""
    return create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "API_TOKEN": "api-secret",
                       "ADMIN_TOKEN": "admin-secret", "TRUST_REMOTE_USER": True})


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/v1/models", None), ("POST", "/v1/models/iris/predict", lambda row: row), ("GET", "/v1/repository", None),
    ("GET", "/v2/models/iris", None), ("POST", "/v1/models/iris:predict", lambda row: {"instances": [row]}),
])
def test_a_user_apache_signed_in_needs_no_token(ldap_app, method, path, body, setosa):
    body = body(setosa) if body else None  # the body around the example row
    client = ldap_app.test_client()
    assert client.open(path, method=method, json=body).status_code == 401
    assert client.open(path, method=method, json=body, environ_base=SIGNED_IN).status_code == 200


def test_the_basic_credentials_apache_checked_do_not_make_the_application_answer_401(ldap_app):
    """Apache removes the header once it signed the user in; should one reach the application, it is no token."""
    response = ldap_app.test_client().get("/v1/models", headers={"Authorization": "Basic YWxpY2U6cGFzc3dvcmQ="},
                                          environ_base=SIGNED_IN)
    assert response.status_code == 200


def test_a_bearer_token_is_still_checked_as_before(ldap_app):
    client = ldap_app.test_client()
    assert client.get("/v1/models", headers={"Authorization": "Bearer api-secret"}).status_code == 200
    wrong = client.get("/v1/models", headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Bearer")
    assert "not valid" in wrong.get_json()["detail"]


def test_remote_user_counts_only_while_trust_is_on(repo):
    """Without LDAP the start script sets TRUST_REMOTE_USER=off: REMOTE_USER from anywhere else counts for nothing."""
    app = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "API_TOKEN": "api-secret"})
    assert app.config["TRUST_REMOTE_USER"] is False
    assert app.test_client().get("/v1/models", environ_base=SIGNED_IN).status_code == 401


def test_an_empty_remote_user_is_nobody(ldap_app):
    assert ldap_app.test_client().get("/v1/models", environ_base={"REMOTE_USER": ""}).status_code == 401


def test_the_admin_operation_stays_token_only(ldap_app):
    client = ldap_app.test_client()
    signed_in = client.post("/v1/repository/reload", environ_base=SIGNED_IN)
    assert signed_in.status_code == 401 and "admin token" in signed_in.get_json()["detail"]
    assert client.post("/v1/repository/reload", headers={"Authorization": "Bearer admin-secret"}).status_code == 200


def test_a_header_named_remote_user_is_not_a_sign_in(ldap_app):
    """A request header reaches the environ as HTTP_REMOTE_USER, never as REMOTE_USER."""
    assert ldap_app.test_client().get("/v1/models", headers={"Remote-User": "alice"}).status_code == 401


def test_trust_remote_user_reads_as_a_switch_from_the_environment(repo, monkeypatch):
    monkeypatch.setenv("MODELHOST_TRUST_REMOTE_USER", "on")
    monkeypatch.setenv("MODELHOST_MODEL_REPOSITORY", str(repo))
    assert create_app().config["TRUST_REMOTE_USER"] is True
    monkeypatch.setenv("MODELHOST_TRUST_REMOTE_USER", "maybe")
    with pytest.raises(ValueError, match="TRUST_REMOTE_USER must be on or off"):
        create_app()
