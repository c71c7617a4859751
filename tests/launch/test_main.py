"""python -m app.launch from end to end, in this process: refuse, or generate and exec Apache's control script."""
from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.launch import __main__ as launch

EXPRESS = """#!/bin/sh
printf '%s\\n' "$@" > "$(dirname "$0")/arguments"
while [ "$1" != --server-root ]; do shift; done
printf '<IfModule mpm_worker_module>\\n<IfDefine !ONE_PROCESS>\\nServerLimit 1\\n</IfDefine>\\n</IfModule>\\n' \
    > "$2/httpd.conf"
[ "${EXPRESS_STATUS:-0}" != TERM ] || kill -TERM $$
exit "${EXPRESS_STATUS:-0}"
"""


class Execed(Exception):
    """What os.execvpe was asked to run, instead of running it."""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A start with a stand-in mod_wsgi-express and module, no other setting; the stand-in's folder."""
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "mod_wsgi-express").write_text(EXPRESS)
    (bin_dir / "mod_wsgi-express").chmod(0o755)
    (tmp_path / "mod.so").write_bytes(b"")
    for var in [var for var in os.environ if var.startswith("MODELHOST_") or var == "PROMETHEUS_MULTIPROC_DIR"]:
        monkeypatch.delenv(var)
    for var, value in {"MODELHOST_VENV": tmp_path / "venv", "MODELHOST_APACHE_MODULE": tmp_path / "mod.so",
                       "MODELHOST_SERVER_ROOT": tmp_path / "root", "MODELHOST_PORT": 18125,
                       "MODELHOST_MODEL_REPOSITORY": tmp_path / "no-models"}.items():
        monkeypatch.setenv(var, str(value))

    def execvpe(file: str, args: list[str], environ: dict[str, str]) -> None:
        raise Execed(file, args, environ)

    monkeypatch.setattr(launch.os, "execvpe", execvpe)
    # Started as root, whether Apache's account can read the checkout depends on where it is
    # (tests/launch/test_start_script.py copies it where it can).
    monkeypatch.setattr(launch.folders, "check_readable", lambda account, paths: None)
    yield bin_dir
    for name in ("SIGPIPE", "SIGXFSZ"):  # as Python keeps them for itself
        signal.signal(getattr(signal, name), signal.SIG_IGN)


def test_the_settings_are_printed_then_apache_replaces_the_start(env, tmp_path, capsys):
    with pytest.raises(Execed) as execed:
        launch.main(["--trust-proxy-header", "X-Forwarded-For"])
    file, args, environ = execed.value.args
    root = tmp_path / "root"
    assert (file, args) == ("bash", ["bash", f"{root}/apachectl", "start", "-DFOREGROUND"])
    assert environ["MODELHOST_SERVER_ROOT"] == str(root) and environ["MODELHOST_TRUST_REMOTE_USER"] == "off"
    assert environ["MODELHOST_LISTEN_BUCKETS_RATIO"] == str(os.sysconf("SC_NPROCESSORS_ONLN"))
    assert environ["PROMETHEUS_MULTIPROC_DIR"] == f"{root}/prometheus"
    assert environ["MODELHOST_STATE_DIR"] == f"{root}/state"
    assert signal.getsignal(signal.SIGPIPE) == signal.SIG_DFL, "Apache gets SIGPIPE as a shell leaves it"
    arguments = (env / "arguments").read_text().splitlines()
    assert arguments[:2] == ["start-server", f"{launch.APP_DIR}/flask.wsgi"]
    assert arguments[-3:] == ["--setup-only", "--trust-proxy-header", "X-Forwarded-For"]
    output = capsys.readouterr()
    assert output.out.startswith("modelhost-start: Apache httpd + mod_wsgi, effective settings\n") and output.err == ""


def test_a_refused_setting_stops_the_start_with_status_2_before_anything_is_written(env, tmp_path, capsys,
                                                                                     monkeypatch):
    monkeypatch.setenv("MODELHOST_PROCESSES", "many")
    assert launch.main([]) == 2
    assert capsys.readouterr() == ("", "modelhost-start: MODELHOST_PROCESSES must be a whole number, got 'many'\n")
    assert not (tmp_path / "root").exists() and not (env / "arguments").exists()


def test_when_mod_wsgi_express_fails_the_start_ends_with_its_status(env, monkeypatch):
    monkeypatch.setenv("EXPRESS_STATUS", "3")
    assert launch.main([]) == 3
    monkeypatch.setenv("EXPRESS_STATUS", "TERM")
    assert launch.main([]) == 128 + signal.SIGTERM, "as a shell reports a command a signal ended"


def test_the_working_directory_keeps_the_path_it_was_reached_by(tmp_path, monkeypatch):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    monkeypatch.chdir(tmp_path / "link")
    monkeypatch.setenv("PWD", str(tmp_path / "link"))
    assert launch.working_directory() == str(tmp_path / "link")
    monkeypatch.setenv("PWD", str(tmp_path))
    assert launch.working_directory() == os.getcwd() == str(tmp_path / "real")
