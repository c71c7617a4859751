"""The start script's settings that reach generated files, a shell or other people's folders.

mod_wsgi-express writes the host, the log level, the account and several paths into httpd.conf,
into the ``apachectl`` shell script the start script runs (as root for ``make run`` as root) and
into handler.wsgi. The stand-in mod_wsgi-express here writes them the way mod_wsgi-express does
(in double quotes in apachectl, as a bare directive argument in httpd.conf), so a value that got
through unchecked would run as a command or add a directive, as it would with the real one.
Folders that a setting names (the Prometheus samples, the shared state) may hold other files: only
the server's own files of an earlier start are removed from them.
"""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

IS_ROOT = os.geteuid() == 0
#: The account Apache's processes run as: www-data when the script runs as root, else the tester.
APACHE_USER = "www-data" if IS_ROOT else pwd.getpwuid(os.geteuid()).pw_name
ONLY_AS_ROOT = pytest.mark.skipif(not IS_ROOT, reason="MODELHOST_USER and MODELHOST_GROUP apply when started as root")

#: A stand-in for ``mod_wsgi-express start-server ... --setup-only``: the values go where the real
#: one puts them, quoted the same way, and the MPM section says how many Apache processes there are
#: (MODELHOST_TEST_SERVER_LIMIT). Its apachectl reports what it was started with.
EXPRESS = r'''#!/usr/bin/env bash
printf '%s\n' "$@" > "$MODELHOST_TEST_ARGS"
host= user=nobody group=nogroup level=warn
while [ $# -gt 0 ]; do
    case $1 in
        --server-root) root=$2; shift ;;
        --host) host=$2; shift ;;
        --user) user=$2; shift ;;
        --group) group=$2; shift ;;
        --log-level) level=$2; shift ;;
    esac
    shift
done
cat > "$root/httpd.conf" <<EOF
ServerName ${host:-localhost}
LogLevel $level
<IfModule mpm_worker_module>
<IfDefine !ONE_PROCESS>
ServerLimit ${MODELHOST_TEST_SERVER_LIMIT:-2}
</IfDefine>
<IfDefine ONE_PROCESS>
ServerLimit 1
</IfDefine>
</IfModule>
EOF
cat > "$root/apachectl" <<EOF
MOD_WSGI_SERVER_ROOT="$root"
MOD_WSGI_LISTENER_HOST="${host:-localhost}"
WSGI_RUN_USER="\${WSGI_RUN_USER:-$user}"
WSGI_RUN_GROUP="\${WSGI_RUN_GROUP:-$group}"
echo "apachectl ran"
echo "PROMETHEUS_MULTIPROC_DIR=\$PROMETHEUS_MULTIPROC_DIR"
echo "MODELHOST_STATE_DIR=\$MODELHOST_STATE_DIR"
echo "MODELHOST_LISTEN_BUCKETS_RATIO=\$MODELHOST_LISTEN_BUCKETS_RATIO"
EOF
'''


def open_folder() -> Path:
    """A new folder that any account can enter (pytest's tmp_path is private to the tester)."""
    path = Path(tempfile.mkdtemp(prefix="modelhost-settings-test-"))
    path.chmod(0o755)
    return path


@pytest.fixture
def work() -> Iterator[Path]:
    """A folder for this test's files that Apache's account can reach."""
    path = open_folder()
    try:
        yield path
    finally:
        shutil.rmtree(path)


@pytest.fixture
def env(work: Path, stand_in_python) -> dict[str, str]:
    """The environment of a start with the stand-in mod_wsgi-express, and no other MODELHOST_* setting."""
    bin_dir = work / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    stand_in_python(bin_dir)
    (bin_dir / "mod_wsgi-express").write_text(EXPRESS)
    (bin_dir / "mod_wsgi-express").chmod(0o755)
    (work / "mod_modelhost.so").write_bytes(b"")
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("MODELHOST_") and k not in ("PROMETHEUS_MULTIPROC_DIR", "TMPDIR")}
    return {**clean, "MODELHOST_VENV": str(work / "venv"), "MODELHOST_APACHE_MODULE": str(work / "mod_modelhost.so"),
            "MODELHOST_MODEL_REPOSITORY": str(work / "no-models"), "MODELHOST_PORT": "18123",
            "MODELHOST_SERVER_ROOT": str(work / "server-root"), "MODELHOST_TEST_ARGS": str(work / "express-args")}


def start(script: Path, env: dict[str, str], cwd: Path | None = None, **settings: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(script)], env={**env, **settings}, cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False)


def express_args(env: dict[str, str]) -> list[str]:
    return Path(env["MODELHOST_TEST_ARGS"]).read_text().splitlines()


def reported(result: subprocess.CompletedProcess, name: str) -> str:
    """A variable as the stand-in apachectl saw it."""
    assert result.returncode == 0, result.stderr
    [value] = [line.split("=", 1)[1] for line in result.stdout.splitlines() if line.startswith(name + "=")]
    return value


# --- Values that would run, or add directives, are refused ---------------------------------

HOST_REFUSED = "MODELHOST_HOST must be an IP address or a host name"
#: Each setting with a value that ends a quote or a line where mod_wsgi-express writes it.
INJECTIONS = {
    "host $( )": ("MODELHOST_HOST", "127.0.0.1$(touch {marker})", HOST_REFUSED),
    "host quote": ("MODELHOST_HOST", '127.0.0.1"; touch {marker}; "', HOST_REFUSED),
    "host backticks": ("MODELHOST_HOST", "localhost`touch {marker}`", HOST_REFUSED),
    "server root": ("MODELHOST_SERVER_ROOT", "{work}/root$(touch {marker})",
                    "MODELHOST_SERVER_ROOT must be a path of letters, digits and . _ - + @ / only"),
    "group": ("MODELHOST_GROUP", "www-data$(touch {marker})", "MODELHOST_GROUP must be the name of a group"),
    "user": ("MODELHOST_USER", "www-data$(touch {marker})", "MODELHOST_USER must be the name of an account"),
}


@pytest.mark.parametrize("case", INJECTIONS)
def test_a_command_in_a_setting_is_refused_and_never_runs(script, env, work, case):
    name, value, message = INJECTIONS[case]
    if name in ("MODELHOST_GROUP", "MODELHOST_USER") and not IS_ROOT:
        pytest.skip("MODELHOST_USER and MODELHOST_GROUP apply when started as root")
    marker = work / "injected"
    result = start(script, env, **{name: value.format(marker=marker, work=work)})
    assert not marker.exists(), "the command in the setting ran"
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("modelhost-start: ") and message in line, line
    assert result.stdout == "" and not (work / "server-root").exists(), "refused before anything was written"


#: A bad value of each setting, and what the refusal says.
REFUSALS = {
    "host with a directive": (
        {"MODELHOST_HOST": "127.0.0.1\nHeader always set X-Injected yes"},
        "MODELHOST_HOST must be an IP address or a host name, got $'127.0.0.1\\nHeader always set X-Injected yes'; "
        "set it to an address such as 127.0.0.1"),
    "host with a space": ({"MODELHOST_HOST": "model host"}, "got 'model host'; set it to an address"),
    "host out of range": ({"MODELHOST_HOST": "256.0.0.1"}, "got '256.0.0.1'; set it to an address"),
    "host label": ({"MODELHOST_HOST": "-models.example.com"}, "got '-models.example.com'; set it to an address"),
    "one IPv6 address": ({"MODELHOST_HOST": "::1"},
                         "MODELHOST_HOST ::1 is one IPv6 address, which mod_wsgi-express cannot listen on; use :: for "
                         "every address (IPv6 and IPv4), or a host name that resolves to it"),
    "one IPv6 address in brackets": ({"MODELHOST_HOST": "[fd00::2]"}, "is one IPv6 address"),
    "log level with a directive": (
        {"MODELHOST_APACHE_LOG_LEVEL": "warn\nHeader always set X-Injected yes"},
        "MODELHOST_APACHE_LOG_LEVEL must be Apache's LogLevel on one line, got "
        "$'warn\\nHeader always set X-Injected yes'; set it to an Apache log level (emerg, alert, crit, error, "
        "warn, notice, info, debug, trace1 to trace8), optionally with module:level pairs"),
    "log level unknown": ({"MODELHOST_APACHE_LOG_LEVEL": "loud"},
                          "MODELHOST_APACHE_LOG_LEVEL: 'loud' is not a log level"),
    "log level of a module": ({"MODELHOST_APACHE_LOG_LEVEL": "warn ssl:loud"}, "'ssl:loud' is not a log level"),
    "log level with a quote": ({"MODELHOST_APACHE_LOG_LEVEL": "warn'"}, "'warn'' is not a log level"),
    "log level blank": ({"MODELHOST_APACHE_LOG_LEVEL": "  "}, "MODELHOST_APACHE_LOG_LEVEL is set but holds no level"),
    "server root with a space": ({"MODELHOST_SERVER_ROOT": "{work}/server root"},
                                 "MODELHOST_SERVER_ROOT must be a path of letters, digits and . _ - + @ / only"),
    "server root with a newline": ({"MODELHOST_SERVER_ROOT": "{work}/server\nroot"}, "got $'"),
    "module with a quote": ({"MODELHOST_APACHE_MODULE": '{work}/mod"modelhost.so'},
                            "MODELHOST_APACHE_MODULE must be a path of letters"),
    "venv with a quote": ({"MODELHOST_VENV": "{work}/ve'nv"}, "MODELHOST_VENV must be a path of letters"),
    "venv without mod_wsgi": ({"MODELHOST_VENV": "{work}"},
                              "MODELHOST_VENV: {work}/bin/mod_wsgi-express is missing; set MODELHOST_VENV to the "
                              "virtualenv that has mod_wsgi"),
    "model repository": ({"MODELHOST_MODEL_REPOSITORY": "/models\nX"},
                         "MODELHOST_MODEL_REPOSITORY must be a path without control characters"),
    "state folder": ({"MODELHOST_STATE_DIR": "/state\r"}, "MODELHOST_STATE_DIR must be a path without control"),
    "metrics folder": ({"PROMETHEUS_MULTIPROC_DIR": "/metrics\n"}, "PROMETHEUS_MULTIPROC_DIR must be a path without"),
}
ACCOUNT_REFUSALS = {
    "user as a number": ({"MODELHOST_USER": "33"},
                         "MODELHOST_USER must be the name of an account (letters, digits, _ . -; not a number), got "
                         "'33'; set it to one that getent passwd lists"),
    "unknown user": ({"MODELHOST_USER": "no-such-user-mh"},
                     "MODELHOST_USER: there is no account 'no-such-user-mh' on this system"),
    "user with a newline": ({"MODELHOST_USER": "www-data\nroot"}, "got $'www-data\\nroot'"),
    "group as a number": ({"MODELHOST_GROUP": "33"}, "MODELHOST_GROUP must be the name of a group"),
    "unknown group": ({"MODELHOST_GROUP": "no-such-group-mh"},
                      "MODELHOST_GROUP: there is no group 'no-such-group-mh' on this system (getent group "
                      "no-such-group-mh finds none); set it to one that getent group lists"),
    "group with a directive": ({"MODELHOST_GROUP": "www-data\nHeader always set X-Injected yes"},
                               "MODELHOST_GROUP must be the name of a group"),
}


def _refused(script: Path, env: dict[str, str], work: Path, settings: dict[str, str], message: str) -> None:
    result = start(script, env, **{k: v.format(work=work) for k, v in settings.items()})
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("modelhost-start: ") and message.format(work=work) in line, line
    assert result.stdout == "", "stopped before Apache's configuration was made"
    assert not (work / "server-root" / "apachectl").exists()


@pytest.mark.parametrize("case", REFUSALS)
def test_a_bad_setting_stops_the_start_and_says_how_to_fix_it(script, env, work, case):
    settings, message = REFUSALS[case]
    _refused(script, env, work, settings, message)


@ONLY_AS_ROOT
@pytest.mark.parametrize("case", ACCOUNT_REFUSALS)
def test_an_account_that_is_not_one_of_this_system_is_refused(script, env, work, case):
    settings, message = ACCOUNT_REFUSALS[case]
    _refused(script, env, work, settings, message)
    assert not (work / "server-root").exists(), "refused before the server root was made"


def test_an_application_folder_whose_path_the_shell_would_split_is_refused(env, work, copy_start):
    app_dir = work / "model server"
    result = start(copy_start(app_dir), env)
    assert result.returncode == 2
    assert "The application's folder must be a path of letters, digits and . _ - + @ / only" in result.stderr
    assert f"got '{app_dir}'; move the checkout to such a path" in result.stderr


@pytest.mark.parametrize(("host", "listen", "argument"), [
    ("127.0.0.1", "http://127.0.0.1:18123/", "127.0.0.1"),
    ("0.0.0.0", "http://0.0.0.0:18123/", "0.0.0.0"),
    ("localhost", "http://localhost:18123/", "localhost"),
    ("models-1.example.com", "http://models-1.example.com:18123/", "models-1.example.com"),
    # Every address: mod_wsgi-express without --host has Apache listen on the port alone.
    ("::", "http://[::]:18123/", None),
    ("[::]", "http://[::]:18123/", None),
])
def test_addresses_and_host_names_are_accepted(script, env, host, listen, argument):
    result = start(script, env, MODELHOST_HOST=host)
    assert result.returncode == 0, result.stderr
    assert f"listen             {listen}" in result.stdout
    args = express_args(env)
    if argument is None:
        assert "--host" not in args
    else:
        assert args[args.index("--host") + 1] == argument


@pytest.mark.parametrize("level", ["warn ssl:info wsgi:debug", "trace8", "INFO", "core:Debug"])
def test_apache_log_levels_with_module_levels_are_accepted(script, env, level):
    result = start(script, env, MODELHOST_APACHE_LOG_LEVEL=level)
    assert result.returncode == 0, result.stderr
    args = express_args(env)
    assert args[args.index("--log-level") + 1] == level


@ONLY_AS_ROOT
def test_an_existing_group_reaches_apache(script, env):
    result = start(script, env, MODELHOST_USER="www-data", MODELHOST_GROUP="www-data")
    assert result.returncode == 0, result.stderr
    args = express_args(env)
    assert args[args.index("--user") + 1] == "www-data" and args[args.index("--group") + 1] == "www-data"


# --- Folders a setting names are not emptied, nor handed over --------------------------------

#: The metrics of an earlier start: prometheus_client's files of its processes (<type>_<pid>.db) and
#: those that the counts of its ended processes were folded into (app/telemetry.py).
METRIC_FILES = ["counter_12.db", "gauge_livesum_34.db", "gauge_all_5.db", "gauge_mostrecent_6.db", "histogram_7.db",
                "summary_8.db", "counter_ended.db", "histogram_ended.db", "summary_ended.db"]
#: What else someone may keep in a folder they point PROMETHEUS_MULTIPROC_DIR at.
OTHER_FILES = ["important.txt", "users.db", "counter.db", "notes/counter_9.db"]


def _fill(folder: Path, names: list[str]) -> None:
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(name)


def _for_apache(folder: Path) -> None:
    """Make a folder Apache's account may write to, as its owner would."""
    if IS_ROOT:
        shutil.chown(folder, "www-data")


def test_a_metrics_folder_keeps_every_file_but_the_metrics_of_an_earlier_start(script, env, work):
    folder = work / "important"
    folder.mkdir()
    _fill(folder, METRIC_FILES + OTHER_FILES)
    _for_apache(folder)
    owner = folder.stat().st_uid
    result = start(script, env, PROMETHEUS_MULTIPROC_DIR=str(folder))
    assert reported(result, "PROMETHEUS_MULTIPROC_DIR") == str(folder)
    remaining = sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())
    assert remaining == sorted(OTHER_FILES)
    assert folder.stat().st_uid == owner


def test_a_state_folder_keeps_every_file_but_the_entries_of_an_earlier_start(script, env, work):
    folder = work / "state"
    folder.mkdir()
    _fill(folder, ["process-123.json", "reload", ".tmp-abc", "important.txt", "process-notes.txt"])
    _for_apache(folder)
    result = start(script, env, MODELHOST_STATE_DIR=str(folder))
    assert reported(result, "MODELHOST_STATE_DIR") == str(folder)
    assert sorted(path.name for path in folder.iterdir()) == ["important.txt", "process-notes.txt"]


@pytest.mark.parametrize("name", ["PROMETHEUS_MULTIPROC_DIR", "MODELHOST_STATE_DIR"])
def test_a_folder_apache_cannot_write_to_is_refused_not_handed_over(script, env, work, name):
    folder = work / "theirs"
    folder.mkdir()
    _fill(folder, ["important.txt", "counter_1.db"])
    folder.chmod(0o755 if IS_ROOT else 0o555)  # as root: root's folder, which www-data cannot write to
    try:
        result = start(script, env, **{name: str(folder)})
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr == (f"modelhost-start: {name}: {folder} is not writable by {APACHE_USER}, the account the "
                                 "application runs as; make it writable by that account, or unset "
                                 f"{name} for a folder in the server root\n")
        assert folder.stat().st_uid == os.geteuid(), "its owner is unchanged"
        assert sorted(path.name for path in folder.iterdir()) == ["counter_1.db", "important.txt"]
    finally:
        folder.chmod(0o755)


def test_missing_folders_are_made_for_apache_and_relative_ones_made_absolute(script, env, work):
    result = start(script, env, cwd=work, PROMETHEUS_MULTIPROC_DIR="metrics/new", MODELHOST_STATE_DIR="state")
    assert reported(result, "PROMETHEUS_MULTIPROC_DIR") == str(work / "metrics" / "new")
    assert reported(result, "MODELHOST_STATE_DIR") == str(work / "state")
    for folder in (work / "metrics" / "new", work / "state"):
        assert folder.is_dir() and folder.stat().st_uid == pwd.getpwnam(APACHE_USER).pw_uid


def test_the_default_metrics_folder_loses_the_metrics_of_an_earlier_start(script, env, work):
    assert start(script, env).returncode == 0
    folder = work / "server-root" / "prometheus"
    _fill(folder, METRIC_FILES)
    result = start(script, env)
    assert reported(result, "PROMETHEUS_MULTIPROC_DIR") == str(folder)
    assert list(folder.iterdir()) == []


# --- No more listening sockets than Apache processes -----------------------------------------

@pytest.mark.parametrize("server_limit", [1, 2, 3, 21])
def test_apache_gets_no_more_listening_sockets_than_processes(script, env, server_limit):
    """Apache opens (online cores // ratio) sockets, one when the ratio is the cores or more, and
    starts a child per socket even past ServerLimit, where its parent crashes (AH00060)."""
    result = start(script, env, MODELHOST_TEST_SERVER_LIMIT=str(server_limit))
    ratio = int(reported(result, "MODELHOST_LISTEN_BUCKETS_RATIO"))
    cores = os.sysconf("SC_NPROCESSORS_ONLN")
    sockets = 1 if cores <= ratio else cores // ratio
    assert 1 <= sockets <= server_limit, (cores, ratio)
    if server_limit >= cores or cores % server_limit == 0:
        assert sockets == min(cores, server_limit), "one per process, or per core when there are fewer cores"
