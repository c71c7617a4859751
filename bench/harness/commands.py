"""Commands the bench runs: subprocesses with their output captured, and the tools it installs when missing."""
from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.console import BenchError, log
from harness.paths import REQUIREMENTS, ROOT, VENV_BIN


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, its output captured as text."""
    return subprocess.run(command, capture_output=True, text=True, **kwargs)


def tail(text: str, lines: int = 40) -> str:
    """The last lines of a tool's output, indented under the message that quotes them."""
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


def git_revision() -> str:
    """The commit measured, and whether the work tree differed from it."""
    head = run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]).stdout.strip() or "unknown"
    dirty = run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"]).stdout.strip()
    return head + (" with uncommitted changes" if dirty else "")


def ensure_wrk() -> None:
    """Install wrk from Debian when it is missing (as root with apt-get)."""
    if shutil.which("wrk"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise BenchError("wrk is not installed: apt-get install wrk")
    log("installing wrk (apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        result = run(command, env=env)
        if result.returncode != 0:
            raise BenchError(f"{' '.join(command)} failed:\n{tail(result.stdout + result.stderr)}")


def pinned_version(requirements: Path, package: str) -> str:
    """The version a requirements file pins ``package`` to (its name as written there, extras and all)."""
    for line in requirements.read_text().splitlines():
        name, _, version = line.split("#")[0].strip().partition("==")
        if name.strip().lower() == package:
            return version.strip()
    raise BenchError(f"{requirements} pins no {package}")


def ensure_requirement(requirement: str, distribution: str) -> None:
    """Install bench/requirements.txt into this virtualenv when ``distribution`` is missing or not at its pin.

    ``requirement`` is the name as bench/requirements.txt writes it (``tritonclient[http]``),
    ``distribution`` the one installed (``tritonclient``).
    """
    wanted = pinned_version(REQUIREMENTS, requirement)
    try:
        if importlib.metadata.version(distribution) == wanted:
            return
    except importlib.metadata.PackageNotFoundError:
        pass
    log(f"installing {requirement}=={wanted} into {VENV_BIN.parent} ({REQUIREMENTS.relative_to(ROOT)})")
    result = run([sys.executable, "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)])
    if result.returncode != 0:
        raise BenchError(f"pip install -r {REQUIREMENTS} failed:\n{tail(result.stdout + result.stderr)}")


def image_present(image: str) -> bool:
    """Whether docker has the image here (docker itself missing is a BenchError)."""
    if not shutil.which("docker"):
        raise BenchError("the container servers need docker; leave them out with SERVERS='baseline host'")
    return run(["docker", "image", "inspect", image]).returncode == 0


def require_image(image: str, howto: str) -> None:
    """The image must be here: it is never built from this work tree (``howto`` says how to make it)."""
    if not image_present(image):
        raise BenchError(f"image {image} is not here: {howto}")


def ensure_image(image: str) -> None:
    """Build the image with `make docker-build` when it is not here."""
    if image_present(image):
        return
    log(f"image {image} is not here: make docker-build (a few minutes)")
    if subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "docker-build", f"IMAGE={image}"]).returncode:
        raise BenchError(f"make docker-build IMAGE={image} failed (output above)")
