"""The start script's server root: private to the user who runs it, checked before it is used.

The server root holds the control script Apache is started through (it sources ``envvars``
from there): one that another user prepared would run their code as this user, as root for
``make run`` as root. The script runs here with a stand-in for mod_wsgi-express, so no Apache
is needed; a refused server root stops it before it looks for Apache at all.
"""
from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "docker" / "modelhost-start"
IS_ROOT = os.geteuid() == 0
#: Apache's children run as www-data when the script runs as root: they need to enter the root.
EXPECTED_MODE = 0o755 if IS_ROOT else 0o700


@pytest.fixture(scope="module")
def script() -> Iterator[Path]:
    """A copy of the start script beside an application that MODELHOST_USER can read.

    Run as root, the script checks that Apache's account can read the application, which a
    checkout under /root would fail; the copy lives where any account can read it.
    """
    app_dir = Path(tempfile.mkdtemp(prefix="modelhost-start-test-"))
    try:
        app_dir.chmod(0o755)
        (app_dir / "docker").mkdir()
        shutil.copy(SCRIPT, app_dir / "docker" / "modelhost-start")
        (app_dir / "app").mkdir()
        (app_dir / "flask.wsgi").write_text("")
        yield app_dir / "docker" / "modelhost-start"
    finally:
        shutil.rmtree(app_dir)


@pytest.fixture
def stand_in(tmp_path: Path) -> dict[str, str]:
    """Environment variables of a stand-in mod_wsgi-express and mod_modelhost.

    The stand-in writes an ``apachectl`` into the server root that only reports where it ran.
    """
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    express = bin_dir / "mod_wsgi-express"
    express.write_text('#!/usr/bin/env bash\nwhile [ "$1" != --server-root ]; do shift; done\n'
                       'printf \'echo "apachectl ran from %s"\\n\' "$2" > "$2/apachectl"\n')
    express.chmod(0o755)
    module = tmp_path / "mod_modelhost.so"
    module.write_bytes(b"")
    return {"MODELHOST_VENV": str(tmp_path / "venv"), "MODELHOST_APACHE_MODULE": str(module)}


def start(script: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Run the start script with only the given MODELHOST_* settings."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("MODELHOST_") and k not in ("PROMETHEUS_MULTIPROC_DIR", "TMPDIR")}
    clean.update({"MODELHOST_MODEL_REPOSITORY": str(tmp_path / "no-models"), "MODELHOST_PORT": "18123", **env})
    return subprocess.run(["bash", str(script)], env=clean, capture_output=True, text=True, timeout=60, check=False)


def test_a_missing_server_root_is_created_private_and_apache_starts_from_it(script, tmp_path, stand_in):
    root = tmp_path / "server-root"
    result = start(script, tmp_path, MODELHOST_SERVER_ROOT=str(root), **stand_in)
    assert result.returncode == 0, result.stderr
    assert f"apachectl ran from {root}" in result.stdout
    info = root.stat()
    assert stat.S_IMODE(info.st_mode) == EXPECTED_MODE and info.st_uid == os.geteuid()
    metrics = (root / "prometheus").stat()
    assert stat.S_ISDIR(metrics.st_mode)
    if IS_ROOT:  # the Python processes run as www-data and write their samples there
        assert metrics.st_uid == pwd.getpwnam("www-data").pw_uid


def test_an_existing_server_root_of_this_user_is_used_and_given_the_mode_apache_needs(script, tmp_path, stand_in):
    root = tmp_path / "server-root"
    root.mkdir(mode=0o700 if IS_ROOT else 0o755)
    result = start(script, tmp_path, MODELHOST_SERVER_ROOT=str(root), **stand_in)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(root.stat().st_mode) == EXPECTED_MODE


def test_the_default_server_root_is_named_after_the_user(script, tmp_path, stand_in):
    port = str(20000 + os.getpid() % 20000)
    shm = Path("/dev/shm")
    parent = shm if shm.is_dir() and os.access(shm, os.W_OK) else tmp_path
    expected = parent / f"modelhost-{os.geteuid()}-{port}"
    try:
        result = start(script, tmp_path, MODELHOST_PORT=port, TMPDIR=str(tmp_path), **stand_in)
        assert result.returncode == 0, result.stderr
        assert f"apachectl ran from {expected}" in result.stdout
        assert expected.stat().st_uid == os.geteuid()
    finally:
        shutil.rmtree(expected, ignore_errors=True)


def _owned_by_someone_else(tmp_path: Path) -> Path:
    if IS_ROOT:
        path = tmp_path / "server-root"
        path.mkdir(mode=0o755)
        os.chown(path, 65534, 65534)
        return path
    return Path("/")  # a directory root owns, which an ordinary user cannot create one of


def _prepared(tmp_path: Path, kind: str) -> Path:
    """A server root another user could have prepared (or could still replace)."""
    path = tmp_path / "server-root"
    if kind == "symbolic link":
        target = tmp_path / "elsewhere"
        target.mkdir(mode=0o700)
        path.symlink_to(target)
    elif kind == "file":
        path.write_text("")
    elif kind == "other owner":
        return _owned_by_someone_else(tmp_path)
    elif kind == "open parent":
        parent = tmp_path / "open"
        parent.mkdir()
        parent.chmod(0o777)
        path = parent / "server-root"
        path.mkdir(mode=0o700)
    else:
        path.mkdir()
        path.chmod({"group-writable": 0o770, "world-writable": 0o777, "sticky world-writable": 0o1777}[kind])
    return path


REFUSALS = {
    "symbolic link": "is a symbolic link",
    "file": "is not a directory",
    "other owner": "belongs to uid",
    "group-writable": "is writable by other users (mode 770)",
    "world-writable": "is writable by other users (mode 777)",
    "sticky world-writable": "is writable by other users (mode 1777)",
    "open parent": "where other users can replace it",
}


@pytest.mark.parametrize("kind", REFUSALS)
def test_a_server_root_someone_else_controls_is_refused_before_anything_is_written(script, tmp_path, kind):
    path = _prepared(tmp_path, kind)
    before = sorted(os.listdir(path)) if path.is_dir() else None
    # No stand-in for Apache: the check must come first.
    result = start(script, tmp_path, MODELHOST_SERVER_ROOT=str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    [message] = result.stderr.splitlines()
    assert message.startswith(f"modelhost-start: the server root {path} ") and REFUSALS[kind] in message
    assert "MODELHOST_SERVER_ROOT" in message, "the message says what to do"
    assert result.stdout == "", "refused before the settings are even printed"
    if before is not None:
        assert sorted(os.listdir(path)) == before, "nothing was written into it"


@pytest.mark.parametrize("key", ["MODELHOST_API_TOKEN", "MODELHOST_ADMIN_TOKEN"])
@pytest.mark.parametrize("value", ["", " \t"])
def test_a_token_variable_set_but_empty_stops_the_start(script, tmp_path, stand_in, key, value):
    """Behind Apache the application's own refusal would only answer 500 to every request."""
    root = tmp_path / "server-root"
    result = start(script, tmp_path, MODELHOST_SERVER_ROOT=str(root), **stand_in, **{key: value})
    assert result.returncode == 2
    assert result.stderr == f"modelhost-start: {key} is set but empty, so it would protect nothing; set it to " \
                            "the token, or unset it to run without one\n"
    assert not root.exists()
    assert start(script, tmp_path, MODELHOST_SERVER_ROOT=str(root), **stand_in, **{key: "0"}).returncode == 0
