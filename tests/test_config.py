"""Configuration order: defaults, then instance/config.py, then MODELHOST_* environment."""
from __future__ import annotations

import os

import pytest

from app import create_app


@pytest.fixture
def instance(tmp_path, monkeypatch):
    folder = tmp_path / "instance"
    folder.mkdir()
    monkeypatch.setenv("MODELHOST_INSTANCE_PATH", str(folder))
    for key in ("MODELHOST_MAX_BATCH_SIZE", "MODELHOST_LOG_LEVEL", "MODELHOST_MODEL_REPOSITORY"):
        monkeypatch.delenv(key, raising=False)
    return folder


def test_defaults(instance):
    app = create_app()
    assert app.config["MAX_BATCH_SIZE"] == 10_000
    assert app.config["MAX_CONTENT_LENGTH"] == 10 * 1024 * 1024
    assert app.config["MODEL_REPOSITORY"] == str(instance / "models")
    assert app.config["LOG_LEVEL"] == "INFO"


def test_instance_file_overrides_defaults_and_environment_overrides_both(instance, monkeypatch):
    (instance / "config.py").write_text("MAX_BATCH_SIZE = 50\nLOG_LEVEL = 'warning'\nMAX_CONTENT_LENGTH = 2048\n")
    app = create_app()
    assert (app.config["MAX_BATCH_SIZE"], app.config["LOG_LEVEL"], app.config["MAX_CONTENT_LENGTH"]) == \
        (50, "WARNING", 2048)
    monkeypatch.setenv("MODELHOST_MAX_BATCH_SIZE", "7")
    monkeypatch.setenv("MODELHOST_MODEL_REPOSITORY", "/srv/models")
    app = create_app()
    assert app.config["MAX_BATCH_SIZE"] == 7 and app.config["MAX_CONTENT_LENGTH"] == 2048
    assert app.config["MODEL_REPOSITORY"] == "/srv/models"


def test_test_config_skips_instance_file(instance):
    (instance / "config.py").write_text("MAX_BATCH_SIZE = 50\n")
    assert create_app({"TESTING": True}).config["MAX_BATCH_SIZE"] == 10_000


@pytest.mark.parametrize("key, value, message", [
    ("MODELHOST_MAX_BATCH_SIZE", "lots", "must be a whole number"),
    ("MODELHOST_MAX_BATCH_SIZE", "0", "positive whole number"),
    ("MODELHOST_LOG_FORMAT", "xml", "'text' or 'json'"),
])
def test_bad_values_fail_fast_naming_the_key(instance, monkeypatch, key, value, message):
    monkeypatch.setenv(key, value)
    with pytest.raises(ValueError, match=message):
        create_app()


@pytest.fixture
def no_tokens(instance, monkeypatch):
    """The instance folder, with no token in the environment this test did not set itself."""
    for key in [k for k in os.environ if k.startswith("MODELHOST_") and k.endswith("_TOKEN")]:
        monkeypatch.delenv(key)
    return instance


@pytest.mark.parametrize("token", ["null", "false", "0", "1.50", "[1, 2]", '"quoted"', "{}"])
def test_a_token_in_the_environment_is_its_exact_text(no_tokens, monkeypatch, token):
    monkeypatch.setenv("MODELHOST_API_TOKEN", token)
    monkeypatch.setenv("MODELHOST_ADMIN_TOKEN", token)
    app = create_app()
    assert app.config["API_TOKEN"] == token and app.config["ADMIN_TOKEN"] == token
    client = app.test_client()
    assert client.get("/v1/models").status_code == 401, "a token that parses as JSON still protects /v1"
    assert client.get("/v1/models", headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.parametrize("key", ["MODELHOST_API_TOKEN", "MODELHOST_ADMIN_TOKEN"])
@pytest.mark.parametrize("value", ["", "   ", "\t\n"])
def test_a_token_set_but_empty_in_the_environment_refuses_to_start(no_tokens, monkeypatch, key, value):
    monkeypatch.setenv(key, value)
    with pytest.raises(ValueError, match=rf"{key.removeprefix('MODELHOST_')} is set but empty.*set {key}"):
        create_app()


@pytest.mark.parametrize("line, message", [
    ('API_TOKEN = ""', "API_TOKEN is set but empty"),
    ("API_TOKEN = '  '", "API_TOKEN is set but empty"),
    ("API_TOKEN = 271828", 'API_TOKEN must be text, not int; write it in quotes in instance/config.py'),
    ("API_TOKEN = False", "API_TOKEN must be text, not bool"),
    ("ADMIN_TOKEN = 271828.5", "ADMIN_TOKEN must be text, not float"),
    ("API_TOKEN = 'secret-271828\\n'", "API_TOKEN starts or ends with whitespace"),
    ("API_TOKEN = 'secret\\x00271828'", "API_TOKEN holds control or non-ASCII characters"),
    ("API_TOKEN = 'sécret-271828'", "API_TOKEN holds control or non-ASCII characters"),
])
def test_an_unusable_token_in_the_instance_file_refuses_to_start_without_quoting_it(no_tokens, line, message):
    (no_tokens / "config.py").write_text(line + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message) as raised:
        create_app()
    assert "271828" not in str(raised.value), "the message must not quote the secret"


def test_no_token_leaves_v1_open_and_a_token_from_the_instance_file_protects_it(no_tokens):
    assert create_app().test_client().get("/v1/models").status_code == 200
    (no_tokens / "config.py").write_text("API_TOKEN = 'from the file: 1.50'\n")
    client = create_app().test_client()
    assert client.get("/v1/models").status_code == 401
    assert client.get("/v1/models", headers={"Authorization": "Bearer from the file: 1.50"}).status_code == 200
