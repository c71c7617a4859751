"""The start script's server root: private to the user who runs it, checked before it is used.

The server root holds the control script Apache is started through (it sources ``envvars``
from there): one that another user prepared would run their code as this user, as root for
``make run`` as root. The script runs here with a stand-in for mod_wsgi-express, so no Apache
is needed; a refused server root stops it before it looks for Apache at all.
"""
from __future__ import annotations

import os
import pwd
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

IS_ROOT = os.geteuid() == 0
#: Apache's children run as www-data when the script runs as root: they need to enter the root.
EXPECTED_MODE = 0o755 if IS_ROOT else 0o700


@pytest.fixture
def stand_in(tmp_path: Path, stand_in_python) -> dict[str, str]:
    """Environment variables of a stand-in mod_wsgi-express and mod_modelhost.

    The stand-in writes an ``apachectl`` into the server root that only reports where it ran.
    """
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    stand_in_python(bin_dir)
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


#: The uid the script runs as in a volume of its own: an ordinary account that has a name here (the
#: script asks for it), the tester's own when not root.
UNPRIVILEGED = pwd.getpwnam("www-data").pw_uid if IS_ROOT else os.geteuid()
# Run inside a new user and mount namespace: mount a tmpfs of mode 0777 (no sticky bit: what a
# Kubernetes emptyDir is) at $1, run the rest of the command, then report what the volume holds.
IN_VOLUME = ('mount -t tmpfs -o mode=0777 modelhost-test "$1" || exit 97\n'
             'volume=$1; shift; "$@"; status=$?\n'
             'echo "volume holds: $(ls -A "$volume")"\n'
             '[ ! -d "$MODELHOST_SERVER_ROOT" ] || echo "server root: $(stat -c "%a %u" "$MODELHOST_SERVER_ROOT")"\n'
             'exit $status\n')


def start_in_volume(script: Path, tmp_path: Path, stand_in: dict[str, str], *, uid: int = UNPRIVILEGED,
                    no_new_privs: bool = True, folder: str = "") -> tuple[subprocess.CompletedProcess, Path]:
    """Run the start script as ``uid``, without capabilities, with its server root in a volume
    mounted for it alone (``folder`` puts the server root one folder deeper); the volume's path."""
    if shutil.which("unshare") is None or shutil.which("setpriv") is None:
        pytest.skip("needs unshare and setpriv (util-linux)")
    volume = tmp_path / "volume"
    volume.mkdir()
    root = volume / folder / "server-root" if folder else volume / "server-root"
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("MODELHOST_") and k not in ("PROMETHEUS_MULTIPROC_DIR", "TMPDIR")}
    clean.update({"MODELHOST_MODEL_REPOSITORY": str(tmp_path / "no-models"), "MODELHOST_PORT": "18123",
                  "MODELHOST_SERVER_ROOT": str(root), **stand_in})
    drop = ["setpriv", *(["--no-new-privs"] if no_new_privs else []),
            "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all"]
    if folder:  # made by the tester, writable by all, inside the volume
        drop = ["bash", "-c", f'mkdir -m 0777 "$1/{folder}" && shift && exec "$@"', "_", str(volume), *drop]
    command = ["unshare", "--user", f"--map-user={uid}", f"--map-group={uid}", "--mount", "--keep-caps", "--",
               "bash", "-c", IN_VOLUME, "_", str(volume), *drop, "bash", str(script)]
    result = subprocess.run(command, env=clean, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode == 97 or result.stderr.startswith("unshare:"):
        pytest.skip(f"cannot mount a volume in a user namespace here: {result.stderr.strip()}")
    return result, root


def test_a_server_root_in_a_volume_of_its_own_is_used_when_no_other_user_can_exist(script, tmp_path, stand_in):
    """A Kubernetes emptyDir (root-owned, mode 0777, no sticky bit) in a pod that runs as one user
    without privileges: the script makes its private server root in it and starts Apache from it."""
    result, root = start_in_volume(script, tmp_path, stand_in)
    assert result.returncode == 0, result.stderr
    assert f"apachectl ran from {root}" in result.stdout
    assert f"server root: 700 {UNPRIVILEGED}" in result.stdout


@pytest.mark.parametrize("case", ["privilege escalation allowed", "root", "not the mount point"])
def test_a_server_root_in_a_volume_everybody_can_write_to_is_refused_otherwise(script, tmp_path, stand_in, case):
    """Without no_new_privs, as root (whose Apache children run as another user), or in a folder of
    the volume instead of the volume itself, another user could replace the server root."""
    options = {"privilege escalation allowed": {"no_new_privs": False}, "root": {"uid": 0},
               "not the mount point": {"folder": "open"}}[case]
    result, root = start_in_volume(script, tmp_path, stand_in, **options)
    assert result.returncode == 2, result.stdout + result.stderr
    [message] = result.stderr.splitlines()
    assert message.startswith(f"modelhost-start: the server root {root} ")
    assert "where other users can replace it" in message and "MODELHOST_SERVER_ROOT" in message
    holds = "open" if case == "not the mount point" else ""
    assert f"volume holds: {holds}\n" in result.stdout, "nothing was written into the volume"
    assert "server root:" not in result.stdout


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


# --- LDAP sign-in: the settings docker/apache/ldap.conf reads --------------------------------

BIND_PASSWORD = "s3cret-bind-pw"
LDAP_URL = "ldap://ldap:389/ou=people,dc=example,dc=org?uid"
GROUP = "cn=modelhost-users,ou=groups,dc=example,dc=org"
#: The start script's areas, and where Apache's own paths stand (in none).
AREAS = ("pages", "v1", "v2", "docs", "health", "metrics")


@pytest.fixture
def ldap_stand_in(tmp_path: Path, stand_in: dict[str, str]) -> dict[str, str]:
    """A stand-in whose apachectl prints its arguments and the LDAP settings it was given."""
    express = Path(stand_in["MODELHOST_VENV"]) / "bin" / "mod_wsgi-express"
    express.write_text('#!/usr/bin/env bash\nwhile [ "$1" != --server-root ]; do shift; done\n'
                       "cat > \"$2/apachectl\" <<'SH'\n"
                       'echo "apachectl args: $*"\n'
                       "env | grep -E '^MODELHOST_(LDAP_|TRUST_REMOTE_USER=)' | sort\n"
                       "SH\n")
    password = tmp_path / "ldap-password"
    password.write_text(BIND_PASSWORD + "\n")
    return {**stand_in, "MODELHOST_SERVER_ROOT": str(tmp_path / "server-root"), "MODELHOST_LDAP_URL": LDAP_URL,
            "MODELHOST_LDAP_BIND_DN": "cn=modelhost,ou=services,dc=example,dc=org",
            "MODELHOST_LDAP_BIND_PASSWORD_FILE": str(password), "MODELHOST_LDAP_REQUIRE_GROUP": GROUP}


def apache_settings(result: subprocess.CompletedProcess) -> tuple[list[str], dict[str, str]]:
    """The arguments and MODELHOST_LDAP_* environment the stand-in apachectl was started with."""
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    [args] = [line.removeprefix("apachectl args: ").split() for line in lines if line.startswith("apachectl args: ")]
    settings = dict(line.split("=", 1) for line in lines if line.startswith("MODELHOST_"))
    return args, settings


def test_ldap_settings_reach_apache_and_the_printout_names_them_without_the_password(script, tmp_path,
                                                                                      ldap_stand_in):
    result = start(script, tmp_path, **ldap_stand_in, MODELHOST_API_TOKEN="api-token")
    args, settings = apache_settings(result)
    assert {"-DMODELHOST_LDAP", "-DMODELHOST_LDAP_BIND", "-DMODELHOST_LDAP_GROUP"} <= set(args)
    assert "-DMODELHOST_LDAP_CA" not in args
    assert settings["MODELHOST_TRUST_REMOTE_USER"] == "on"
    assert settings["MODELHOST_LDAP_URL"] == LDAP_URL and settings["MODELHOST_LDAP_SECURITY"] == "NONE"
    assert settings["MODELHOST_LDAP_REQUIRE_GROUP"] == GROUP
    assert settings["MODELHOST_LDAP_GROUP_ATTRIBUTE"] == "member uniqueMember"
    assert settings["MODELHOST_LDAP_GROUP_ATTRIBUTE_IS_DN"] == "on"
    assert (settings["MODELHOST_LDAP_CONNECT_TIMEOUT"], settings["MODELHOST_LDAP_TIMEOUT"]) == ("5", "10")
    assert settings["MODELHOST_LDAP_REALM"] == "modelhost"
    assert settings["MODELHOST_LDAP_BIND_PASSWORD_FILE"] == ldap_stand_in["MODELHOST_LDAP_BIND_PASSWORD_FILE"]
    assert f"LDAP sign-in       {LDAP_URL}, bind as cn=modelhost,ou=services,dc=example,dc=org" in result.stdout
    assert f"LDAP allows        members of {GROUP}" in result.stdout
    assert 'LDAP protects      pages, v1, v2, docs (realm "modelhost"); a bearer token instead on /v1 and /v2' \
        in result.stdout
    assert "passwords cross the network unencrypted" in result.stdout
    assert BIND_PASSWORD not in result.stdout + result.stderr
    assert "MODELHOST_LDAP_BIND_PASSWORD=" not in result.stdout


def test_a_relative_password_file_becomes_absolute_and_tls_settings_pass(script, tmp_path, ldap_stand_in):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {**ldap_stand_in, "MODELHOST_LDAP_URL": "ldaps://ldap1.example.org ldap2.example.org:636/dc=example,dc=org",
           "MODELHOST_LDAP_CA_FILE": str(ca), "MODELHOST_LDAP_GROUP_ATTRIBUTE": "memberUid",
           "MODELHOST_LDAP_GROUP_ATTRIBUTE_IS_DN": "off", "MODELHOST_LDAP_REALM": "Model server",
           "MODELHOST_LDAP_CONNECT_TIMEOUT": "2", "MODELHOST_LDAP_TIMEOUT": "30"}
    args, settings = apache_settings(subprocess.run(
        ["bash", str(script)], env={**_clean_env(tmp_path), **env}, cwd=tmp_path, capture_output=True, text=True,
        timeout=60, check=False))
    assert "-DMODELHOST_LDAP_CA" in args
    assert settings["MODELHOST_LDAP_SECURITY"] == "SSL" and settings["MODELHOST_LDAP_CA_FILE"] == str(ca)
    assert (settings["MODELHOST_LDAP_GROUP_ATTRIBUTE"], settings["MODELHOST_LDAP_GROUP_ATTRIBUTE_IS_DN"]) == \
        ("memberUid", "off")
    assert (settings["MODELHOST_LDAP_CONNECT_TIMEOUT"], settings["MODELHOST_LDAP_TIMEOUT"]) == ("2", "30")
    assert settings["MODELHOST_LDAP_REALM"] == "Model server"
    relative = {**env, "MODELHOST_LDAP_BIND_PASSWORD_FILE": "ldap-password", "MODELHOST_LDAP_CA_FILE": "",
                "MODELHOST_LDAP_URL": LDAP_URL, "MODELHOST_LDAP_STARTTLS": "on"}
    args, settings = apache_settings(subprocess.run(
        ["bash", str(script)], env={**_clean_env(tmp_path), **relative}, cwd=tmp_path, capture_output=True,
        text=True, timeout=60, check=False))
    assert settings["MODELHOST_LDAP_BIND_PASSWORD_FILE"] == str(tmp_path / "ldap-password")
    assert settings["MODELHOST_LDAP_SECURITY"] == "STARTTLS" and "-DMODELHOST_LDAP_CA" not in args


def _clean_env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("MODELHOST_") and k not in ("PROMETHEUS_MULTIPROC_DIR", "TMPDIR")}
    return {**clean, "MODELHOST_MODEL_REPOSITORY": str(tmp_path / "no-models"), "MODELHOST_PORT": "18123"}


def test_without_ldap_apache_gets_no_define_and_remote_user_is_not_trusted(script, tmp_path, ldap_stand_in):
    env = {k: v for k, v in ldap_stand_in.items() if not k.startswith("MODELHOST_LDAP_")}
    result = start(script, tmp_path, **env, MODELHOST_TRUST_REMOTE_USER="on")
    args, settings = apache_settings(result)
    assert not [arg for arg in args if arg.startswith("-DMODELHOST_LDAP")]
    assert settings == {"MODELHOST_TRUST_REMOTE_USER": "off"}
    assert "LDAP sign-in       off (set MODELHOST_LDAP_URL to turn it on)" in result.stdout


def test_the_bind_password_in_the_environment_is_refused_without_showing_it(script, tmp_path, ldap_stand_in):
    for env in ({**ldap_stand_in, "MODELHOST_LDAP_BIND_PASSWORD": BIND_PASSWORD},
                {"MODELHOST_LDAP_BIND_PASSWORD": BIND_PASSWORD, **ldap_stand_in, "MODELHOST_LDAP_URL": ""}):
        result = start(script, tmp_path, **env)
        assert result.returncode == 2 and result.stdout == ""
        assert "MODELHOST_LDAP_BIND_PASSWORD_FILE" in result.stderr and BIND_PASSWORD not in result.stderr


LDAP_REFUSALS = {
    "empty URL": ({"MODELHOST_LDAP_URL": ""}, "MODELHOST_LDAP_URL is set but empty"),
    "http URL": ({"MODELHOST_LDAP_URL": "http://ldap/dc=example,dc=org"}, "is not an LDAP URL with a base DN"),
    "no base DN": ({"MODELHOST_LDAP_URL": "ldap://ldap:389"}, "is not an LDAP URL with a base DN"),
    "bad scope": ({"MODELHOST_LDAP_URL": "ldap://ldap/dc=example?uid?deep"}, "the scope must be base, one or sub"),
    "quote": ({"MODELHOST_LDAP_URL": 'ldap://ldap/dc=example" NONE'}, "must not contain double quotes"),
    "user in URL": ({"MODELHOST_LDAP_URL": f"ldap://admin:{BIND_PASSWORD}@ldap/dc=example"},
                    "must not carry a user name or password"),
    "STARTTLS on ldaps": ({"MODELHOST_LDAP_URL": "ldaps://ldap/dc=example", "MODELHOST_LDAP_STARTTLS": "on"},
                          "MODELHOST_LDAP_STARTTLS is for ldap:// URLs"),
    "CA without TLS": ({"MODELHOST_LDAP_CA_FILE": "/etc/hostname"}, "MODELHOST_LDAP_CA_FILE is for TLS"),
    "missing CA": ({"MODELHOST_LDAP_URL": "ldaps://ldap/dc=example", "MODELHOST_LDAP_CA_FILE": "/nonexistent/ca.pem"},
                   "MODELHOST_LDAP_CA_FILE: /nonexistent/ca.pem does not exist; mount"),
    "timeout": ({"MODELHOST_LDAP_TIMEOUT": "soon"}, "MODELHOST_LDAP_TIMEOUT must be a whole number"),
    "DN without password file": ({"MODELHOST_LDAP_BIND_PASSWORD_FILE": ""},
                                 "MODELHOST_LDAP_BIND_DN is set but MODELHOST_LDAP_BIND_PASSWORD_FILE is not"),
    "password file without DN": ({"MODELHOST_LDAP_BIND_DN": ""},
                                 "MODELHOST_LDAP_BIND_PASSWORD_FILE is set but MODELHOST_LDAP_BIND_DN is not"),
    "missing password file": ({"MODELHOST_LDAP_BIND_PASSWORD_FILE": "/run/secrets/nothing"},
                              "/run/secrets/nothing does not exist; mount"),
    "password file is a folder": ({"MODELHOST_LDAP_BIND_PASSWORD_FILE": "/tmp"}, "/tmp is not a file"),
    "bind DN": ({"MODELHOST_LDAP_BIND_DN": "modelhost"}, "MODELHOST_LDAP_BIND_DN must be a distinguished name"),
    "group": ({"MODELHOST_LDAP_REQUIRE_GROUP": "modelhost-users"},
              "MODELHOST_LDAP_REQUIRE_GROUP must be a distinguished name"),
    "group attribute": ({"MODELHOST_LDAP_GROUP_ATTRIBUTE": "member;x"}, "'member;x' is not an attribute name"),
    "is-DN without group": ({"MODELHOST_LDAP_REQUIRE_GROUP": "", "MODELHOST_LDAP_GROUP_ATTRIBUTE_IS_DN": "off"},
                            "MODELHOST_LDAP_GROUP_ATTRIBUTE_IS_DN is set but MODELHOST_LDAP_REQUIRE_GROUP is not"),
    "unknown area": ({"MODELHOST_LDAP_PROTECT": "pages,api"}, "MODELHOST_LDAP_PROTECT: 'api' is not an area"),
    "no area": ({"MODELHOST_LDAP_PROTECT": " , "}, "MODELHOST_LDAP_PROTECT is empty"),
    "realm": ({"MODELHOST_LDAP_REALM": 'my "realm"'}, "MODELHOST_LDAP_REALM must be"),
    "setting without URL": ({"MODELHOST_LDAP_URL": None},
                            "is set but MODELHOST_LDAP_URL is not, so LDAP sign-in is off"),
}


@pytest.mark.parametrize("case", LDAP_REFUSALS)
def test_a_wrong_ldap_setting_stops_the_start_and_says_how_to_fix_it(script, tmp_path, ldap_stand_in, case):
    changes, message = LDAP_REFUSALS[case]
    env = {**ldap_stand_in, **{k: v for k, v in changes.items() if v is not None}}
    for key in [k for k, v in changes.items() if v is None]:
        del env[key]
    result = start(script, tmp_path, **env)
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("modelhost-start: ") and message in line, line
    assert result.stdout == "" and not (tmp_path / "server-root").exists(), "stopped before anything was set up"
    assert BIND_PASSWORD not in line


def test_a_password_file_whose_first_line_is_empty_is_refused(script, tmp_path, ldap_stand_in):
    password = Path(ldap_stand_in["MODELHOST_LDAP_BIND_PASSWORD_FILE"])
    for text in ("", "\n" + BIND_PASSWORD + "\n", "  \n"):
        password.write_text(text)
        result = start(script, tmp_path, **ldap_stand_in)
        assert result.returncode == 2
        assert f"the first line of {password} is empty; write the password on it" in result.stderr


@pytest.mark.skipif(Path("/etc/ldap/ldap.conf").exists(), reason="this system's LDAP configuration may name a CA")
def test_tls_without_a_ca_to_verify_the_directory_with_is_refused(script, tmp_path, ldap_stand_in):
    """As in the image, which has no CA bundle: every sign-in would fail, so the start does."""
    result = start(script, tmp_path, **{**ldap_stand_in, "MODELHOST_LDAP_URL": "ldaps://ldap/dc=example,dc=org"})
    assert result.returncode == 2 and "MODELHOST_LDAP_CA_FILE is needed for TLS to the directory" in result.stderr


@pytest.mark.skipif(IS_ROOT, reason="root reads every file")
def test_a_password_file_apache_cannot_read_is_refused(script, tmp_path, ldap_stand_in):
    Path(ldap_stand_in["MODELHOST_LDAP_BIND_PASSWORD_FILE"]).chmod(0)
    result = start(script, tmp_path, **ldap_stand_in)
    assert result.returncode == 2 and "is not readable by" in result.stderr


def _area_patterns(script: Path, tmp_path: Path, env: dict[str, str]) -> dict[str, re.Pattern[str]]:
    """Each area's path pattern as the start script hands it to Apache (one run per area)."""
    patterns = {}
    for area in AREAS:
        shutil.rmtree(tmp_path / "server-root", ignore_errors=True)
        _, settings = apache_settings(start(script, tmp_path, **env, MODELHOST_LDAP_PROTECT=area))
        patterns[area] = re.compile(settings["MODELHOST_LDAP_PATHS"])
    return patterns


def _sample_path(rule: str) -> str:
    values = {"name": "iris", "version": "1", "label": "stable", "kind": "confusion_matrix", "filename": "x.css"}
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda match: values.get(match[1], "x"), rule)


def _expected_area(endpoint: str) -> str:
    if endpoint in ("v2.server_live", "v2.server_ready") or endpoint.startswith("health."):
        return "health"
    prefix = endpoint.split(".")[0]
    return {"api": "v1", "v2": "v2", "metrics": "metrics", "flasgger": "docs"}.get(prefix, "pages")


def test_every_route_of_the_application_is_in_exactly_its_own_area(script, tmp_path, ldap_stand_in, app):
    """pages, v1, v2, docs, health and metrics as README "LDAP sign-in" lists them, for every route."""
    patterns = _area_patterns(script, tmp_path, ldap_stand_in)
    for rule in app.url_map.iter_rules():
        path = _sample_path(rule.rule)
        matched = [area for area, pattern in patterns.items() if pattern.search(path)]
        assert matched == [_expected_area(rule.endpoint)], (rule.rule, rule.endpoint, matched)
    for path, area in [("/nonexistent", "pages"), ("/favicon.ico", "pages"), ("/v2/health", "v2"),
                       ("/v1", "v1"), ("/v10/models", "pages"), ("/metricsx", "pages"), ("/v2/healthz/x", "v2")]:
        assert [a for a, p in patterns.items() if p.search(path)] == [area], path
    # Apache's own: /server-status keeps Require local, and the error documents must stay reachable.
    for path in ("/server-status", "/server-status/x", "/.modelhost-errors/problem.json"):
        assert not any(p.search(path) for p in patterns.values()), path


def test_a_bearer_token_stands_in_for_the_sign_in_only_where_the_application_checks_it(
        script, tmp_path, ldap_stand_in, repo):
    """Apache lets a Bearer header past the sign-in on exactly the paths where the application checks it.

    Checked means a made-up token is a 401 there and the configured one is not: anywhere else a
    Bearer header past the sign-in would be let through unchecked.
    """
    from app import create_app

    for api_token in ("api-token", None):
        env = {**ldap_stand_in, "MODELHOST_LDAP_PROTECT": ",".join(AREAS)}
        if api_token:
            env["MODELHOST_API_TOKEN"] = api_token
        shutil.rmtree(tmp_path / "server-root", ignore_errors=True)
        _, settings = apache_settings(start(script, tmp_path, **env))
        bearer = re.compile(settings["MODELHOST_LDAP_BEARER_PATHS"])
        app = create_app({"TESTING": True, "MODEL_REPOSITORY": str(repo), "API_TOKEN": api_token,
                          "ADMIN_TOKEN": "admin-token"})
        client = app.test_client()
        for rule in app.url_map.iter_rules():
            path = _sample_path(rule.rule)
            method = "POST" if "POST" in rule.methods else "GET"
            made_up = client.open(path, method=method, headers={"Authorization": "Bearer made-up"}).status_code
            valid = client.open(path, method=method,
                                headers={"Authorization": f"Bearer {api_token or 'admin-token'}"}).status_code
            checked = made_up == 401 and valid != 401
            assert bool(bearer.search(path)) == checked, (api_token, path, made_up, valid)
