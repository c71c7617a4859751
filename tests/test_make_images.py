"""The Makefile's image targets on a host with or without registry access.

`make docker-build` (and so `make docker-run`) needs the base image: present, it is used as
it is; absent, it is pulled; when the pull fails (an air-gapped host), it is built here with
`make base-image`, and the output says so. A stand-in for the docker CLI records what the
Makefile asked of it and answers as a connected or an air-gapped host would; a stand-in for
docker/base-image.sh records that it ran. Nothing here talks to a Docker engine.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FAKE_DOCKER = """#!/usr/bin/env bash
echo "docker $*" >>"$CALLS"
case "$1 $2" in
    "image inspect") [ -e "$STATE/base-present" ] ;;
    "pull "*)
        if [ -e "$STATE/registry" ]; then touch "$STATE/base-present"; echo "pulled $2"; exit 0; fi
        echo 'Error response from daemon: Get "https://registry-1.docker.io/v2/": dial tcp: lookup' \\
            'registry-1.docker.io: no such host' >&2
        exit 1 ;;
    "build "*) exit 0 ;;
    *) exit 0 ;;
esac
"""
FAKE_BASE_IMAGE = """#!/usr/bin/env bash
echo "base-image.sh $*" >>"$CALLS"
[ ! -e "$STATE/debootstrap-fails" ] || { echo "base-image: debootstrap failed" >&2; exit 1; }
touch "$STATE/base-present"
"""


@pytest.fixture
def host(tmp_path: Path):
    """Run a make target against the stand-ins; returns (result, calls)."""
    for name, text in (("docker", FAKE_DOCKER), ("base-image.sh", FAKE_BASE_IMAGE)):
        path = tmp_path / name
        path.write_text(text)
        path.chmod(0o755)
    state = tmp_path / "state"
    state.mkdir()

    def make(target: str, *flags: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
        for flag in flags:
            (state / flag).touch()
        calls = tmp_path / "calls"
        calls.write_text("")
        result = subprocess.run(
            ["make", "--no-print-directory", "-C", str(ROOT), target, f"DOCKER={tmp_path / 'docker'}",
             f"BASE_IMAGE_SCRIPT={tmp_path / 'base-image.sh'}", "BASE_IMAGE=debian:bookworm-slim",
             "IMAGE=modelhost:test", "CA_BUNDLE="],
            capture_output=True, text=True, timeout=60,
            env={"PATH": "/usr/bin:/bin", "CALLS": str(calls), "STATE": str(state), "HOME": str(tmp_path)})
        return result, calls.read_text().splitlines()

    return make


def test_a_present_base_image_is_used_as_it_is(host):
    result, calls = host("docker-build", "base-present")
    assert result.returncode == 0, result.stderr
    assert not any(c.startswith(("docker pull", "base-image.sh")) for c in calls)
    assert any(c.startswith("docker build -f docker/Dockerfile") and "--target serve -t modelhost:test" in c
               for c in calls)


def test_a_connected_host_pulls_the_missing_base_image(host):
    result, calls = host("docker-build", "registry")
    assert result.returncode == 0, result.stderr
    assert "docker pull debian:bookworm-slim" in calls
    assert not any(c.startswith("base-image.sh") for c in calls)
    assert "Base image debian:bookworm-slim is not here: pulling it" in result.stdout
    assert calls[-1].startswith("docker build")


def test_an_air_gapped_host_builds_the_base_image_itself_and_says_so(host):
    result, calls = host("docker-build")
    assert result.returncode == 0, result.stderr
    assert calls.index("docker pull debian:bookworm-slim") < calls.index("base-image.sh debian:bookworm-slim")
    assert ("Base image debian:bookworm-slim cannot be pulled (no registry access?): building it here with "
            "make base-image") in result.stdout
    assert calls[-1].startswith("docker build") and "--target serve" in calls[-1]


def test_docker_run_on_an_air_gapped_host_without_images_builds_both_then_runs(host):
    result, calls = host("docker-run")
    assert result.returncode == 0, result.stderr
    order = [c.split()[0] + " " + c.split()[1] for c in calls]
    assert order.index("base-image.sh debian:bookworm-slim") < order.index("docker build") < order.index("docker run")


def test_the_build_stops_when_the_base_image_can_be_neither_pulled_nor_built(host):
    result, calls = host("docker-build", "debootstrap-fails")
    assert result.returncode != 0
    assert "debootstrap failed" in result.stderr
    assert not any(c.startswith("docker build") for c in calls)


def test_the_train_image_is_the_train_target_under_its_own_tag(host):
    result, calls = host("docker-build-train", "base-present")
    assert result.returncode == 0, result.stderr
    assert any("--target train -t modelhost:test-train" in c for c in calls)
