"""The start script's CORS setting: MODELHOST_CORS_ORIGINS becomes the pattern Apache matches its own
error documents against (docker/apache/shared.conf), read with app/config.py's own rule.

The start script runs with a stand-in for mod_wsgi-express whose apachectl prints the pattern.
tests/http/test_cors.py tests the application's CORS answers.
"""
from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from app import create_app

DASH = "https://dash.example.com"
LOCAL = "http://localhost:3000"
ROOT = Path(__file__).resolve().parents[2]


def run_start_script(script: Path, tmp_path: Path, stand_in_python: Callable[[Path], None],
                     origins: str | None) -> subprocess.CompletedProcess:
    """The start script with a stand-in mod_wsgi-express whose apachectl prints the pattern it was given
    (``stand_in_python``: the fixture that makes its virtualenv's python)."""
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    stand_in_python(bin_dir)
    express = bin_dir / "mod_wsgi-express"
    express.write_text('#!/usr/bin/env bash\nwhile [ "$1" != --server-root ]; do shift; done\n'
                       "echo 'echo \"pattern=[$MODELHOST_CORS_ORIGIN_PATTERN]\"' > \"$2/apachectl\"\n")
    express.chmod(0o755)
    module = tmp_path / "mod_modelhost.so"
    module.write_bytes(b"")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MODELHOST_") and k not in ("PROMETHEUS_MULTIPROC_DIR", "TMPDIR")}
    env.update({"MODELHOST_VENV": str(tmp_path / "venv"), "MODELHOST_APACHE_MODULE": str(module),
                "MODELHOST_SERVER_ROOT": str(tmp_path / "server-root"), "MODELHOST_PORT": "18124",
                "MODELHOST_MODEL_REPOSITORY": str(tmp_path / "no-models")})
    if origins is not None:
        env["MODELHOST_CORS_ORIGINS"] = origins
    return subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60, check=False)


def apache_pattern(result: subprocess.CompletedProcess) -> re.Pattern[str]:
    """The start script's pattern, anchored and case-insensitive as shared.conf uses it."""
    assert result.returncode == 0, result.stderr
    found = re.search(r"^pattern=\[(.*)\]$", result.stdout, re.MULTILINE)
    assert found, result.stdout
    conf = (ROOT / "docker" / "apache" / "shared.conf").read_text()
    assert "m#^(?:${MODELHOST_CORS_ORIGIN_PATTERN})$#i" in conf
    return re.compile(f"^(?:{found[1]})$", re.IGNORECASE)


def test_the_start_script_passes_apache_the_escaped_origins(script, tmp_path, stand_in_python):
    result = run_start_script(script, tmp_path, stand_in_python, f" {DASH}, HTTP://LocalHost:3000 ,http://[::1]:8080")
    pattern = apache_pattern(result)
    for origin in (DASH, "https://DASH.example.com", LOCAL, "http://[::1]:8080"):
        assert pattern.match(origin), origin
    for origin in ("https://dashxexample.com", "https://dash.example.com.evil.com", "https://evil.com/https://dash.example.com",
                   "http://dash.example.com", "http://localhost:30000", "http://1:8080", "null", ""):
        assert not pattern.match(origin), origin
    assert "CORS origins       https://dash.example.com http://localhost:3000 http://[::1]:8080" in result.stdout


@pytest.mark.parametrize("origins", [None, "", " , "])
def test_without_origins_the_pattern_matches_nothing(script, tmp_path, stand_in_python, origins):
    result = run_start_script(script, tmp_path, stand_in_python, origins)
    pattern = apache_pattern(result)
    assert not any(pattern.match(o) for o in (DASH, "null", "", "x"))
    assert "(none: no CORS headers)" in result.stdout


def test_the_wildcard_matches_every_origin(script, tmp_path, stand_in_python):
    pattern = apache_pattern(run_start_script(script, tmp_path, stand_in_python, "*"))
    assert pattern.match(DASH) and pattern.match("null")


@pytest.mark.parametrize("value", [
    "https://dash.example.com/", "dash.example.com", "ftp://dash.example.com", "https://user@dash.example.com",
    "https://dash.example.com:443", "http://localhost:80", "http://localhost:70000", "http://localhost:0",
    "https://büchër.example", "*, https://dash.example.com", '["https://dash.example.com"]',
    "https://dash.example.com\nhttps://other.example.com",
])
def test_the_start_script_refuses_what_the_application_refuses(script, tmp_path, stand_in_python, repo, value):
    result = run_start_script(script, tmp_path, stand_in_python, value)
    assert result.returncode == 2 and "MODELHOST_CORS_ORIGINS" in result.stderr, result.stderr
    assert not (tmp_path / "server-root" / "apachectl").exists()
    if not value.startswith("["):  # a JSON list is the application's reading of the variable, not the script's
        with pytest.raises(ValueError):
            create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "CORS_ORIGINS": value})
