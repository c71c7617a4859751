"""Configuration order: defaults, then instance/config.py, then MODELHOST_* environment."""
from __future__ import annotations

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
    assert (app.config["MAX_BATCH_SIZE"], app.config["LOG_LEVEL"], app.config["MAX_CONTENT_LENGTH"]) == (50, "WARNING", 2048)
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
