"""schemathesis against the server's own OpenAPI document: every check passes, nothing answers 5xx.

It sends what the document describes (and what it rules out) to every operation and checks
each answer against the document: statuses, content types, headers, response schemas, that
valid requests are accepted and invalid ones refused, and that other methods get a 405 with
Allow. The seed, the number of examples and the statuses a valid request may get are in
schemathesis.toml beside this file, which also says how to run the same by hand.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFIG = Path(__file__).with_name("schemathesis.toml")
#: A hard stop; the run takes about 30 seconds on two cores.
TIMEOUT = 900


def test_schemathesis_finds_no_failure(base_url: str, tmp_path: Path) -> None:
    cli = Path(sys.executable).with_name("schemathesis")
    if not cli.exists():
        pytest.fail(f"{cli} is missing: schemathesis is in requirements-dev.txt (make venv)")
    command = [str(cli), "--config-file", str(CONFIG), "--no-color", "run", "--checks", "all",
               f"{base_url}/apispec.json"]
    token = os.environ.get("MODELHOST_TEST_TOKEN")
    if token:
        command[-1:-1] = ["--header", f"Authorization: Bearer {token}"]
    # Run in a scratch directory: schemathesis and hypothesis may leave files where they run.
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    output = result.stdout + result.stderr
    print(output)  # shown for a passing run too with pytest -rP
    shown = " ".join(command).replace(token, "<token>") if token else " ".join(command)
    assert result.returncode == 0, (
        f"schemathesis reported failures (exit {result.returncode}); each is listed with a curl command that "
        f"reproduces it.\n$ {shown}\n{output[-30000:]}")
