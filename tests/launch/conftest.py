"""Fixtures of the start-script tests: a copy of docker/modelhost-start beside the application it starts.

The helpers below reach the test modules as fixtures (``copy_start``, ``stand_in_python``, ``script``),
not as imports: no test module imports another.
"""
from __future__ import annotations

import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docker" / "modelhost-start"


def copy_start(app_dir: Path) -> Path:
    """The start script and the application it starts (app/launch checks the settings) in ``app_dir``;
    the script's path. Its .venv is this test run's virtualenv: the Python the script runs app/launch with
    when MODELHOST_VENV names none."""
    (app_dir / "docker").mkdir(parents=True)
    shutil.copy(SCRIPT, app_dir / "docker" / "modelhost-start")
    shutil.copytree(ROOT / "app", app_dir / "app", ignore=shutil.ignore_patterns("__pycache__"))
    (app_dir / ".venv").symlink_to(sys.prefix)
    return app_dir / "docker" / "modelhost-start"


def stand_in_python(bin_dir: Path) -> None:
    """A virtualenv's python in ``bin_dir`` that is this test run's."""
    python = bin_dir / "python"
    python.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    python.chmod(0o755)


@pytest.fixture(name="copy_start", scope="session")
def copy_start_fixture() -> Callable[[Path], Path]:
    """:func:`copy_start`: the start script and the application it starts, copied into a folder."""
    return copy_start


@pytest.fixture(name="stand_in_python", scope="session")
def stand_in_python_fixture() -> Callable[[Path], None]:
    """:func:`stand_in_python`: a virtualenv's python that is this test run's."""
    return stand_in_python


@pytest.fixture(scope="module")
def script() -> Iterator[Path]:
    """A copy of the start script beside an application that MODELHOST_USER can read.

    Run as root, the script checks that Apache's account can read the application, which a
    checkout under /root would fail; the copy lives where any account can read it.
    """
    app_dir = Path(tempfile.mkdtemp(prefix="modelhost-start-test-"))
    try:
        app_dir.chmod(0o755)
        start_script = copy_start(app_dir)
        (app_dir / "flask.wsgi").write_text("")
        yield start_script
    finally:
        shutil.rmtree(app_dir)
