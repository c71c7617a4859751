"""LDAP sign-in (app/launch/ldap.py): what Apache's ldap.conf gets, and the settings refused before it."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.launch import ldap
from app.launch.checks import Refused

URL = "ldap://ldap:389/ou=people,dc=example,dc=org?uid"
BIND_DN = "cn=modelhost,ou=services,dc=example,dc=org"
GROUP = "cn=modelhost-users,ou=groups,dc=example,dc=org"
PASSWORD = "s3cret-bind-pw"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Sign-in with a bind account and a group, over plain LDAP."""
    (tmp_path / "password").write_text(PASSWORD + "\n")
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    return {"MODELHOST_LDAP_URL": URL, "MODELHOST_LDAP_BIND_DN": BIND_DN,
            "MODELHOST_LDAP_BIND_PASSWORD_FILE": str(tmp_path / "password"), "MODELHOST_LDAP_REQUIRE_GROUP": GROUP}


def refused(env: dict[str, str], cwd: str = "/") -> str:
    with pytest.raises(Refused) as refusal:
        ldap.read(env, cwd)
    return str(refusal.value)


def test_without_a_url_sign_in_is_off_and_remote_user_is_not_trusted():
    off = ldap.read({"MODELHOST_API_TOKEN": "x"}, "/")
    assert off.defines == [] and off.environment == {"MODELHOST_TRUST_REMOTE_USER": "off"}
    assert off.summary == "off (set MODELHOST_LDAP_URL to turn it on)"


def test_apache_gets_every_setting_ldap_conf_reads(env, tmp_path):
    sign_in = ldap.read(env, "/")
    assert sign_in.defines == ["-DMODELHOST_LDAP_BIND", "-DMODELHOST_LDAP_GROUP", "-DMODELHOST_LDAP"]
    assert sign_in.environment == {
        "MODELHOST_LDAP_URL": URL, "MODELHOST_LDAP_SECURITY": "NONE", "MODELHOST_LDAP_CONNECT_TIMEOUT": "5",
        "MODELHOST_LDAP_TIMEOUT": "10", "MODELHOST_LDAP_GROUP_ATTRIBUTE": "member uniqueMember",
        "MODELHOST_LDAP_PATHS": "|".join(ldap.AREAS[area] for area in ("pages", "v1", "v2", "docs")),
        "MODELHOST_LDAP_BEARER_PATHS": "^/v1/repository/reload$", "MODELHOST_LDAP_REALM": "modelhost",
        "MODELHOST_LDAP_GROUP_ATTRIBUTE_IS_DN": "on", "MODELHOST_LDAP_CA_FILE": "", "MODELHOST_LDAP_BIND_DN": BIND_DN,
        "MODELHOST_LDAP_BIND_PASSWORD_FILE": str(tmp_path / "password"), "MODELHOST_LDAP_REQUIRE_GROUP": GROUP,
        "MODELHOST_TRUST_REMOTE_USER": "on",
    }
    assert sign_in.summary == (
        f"{URL}, bind as {BIND_DN}, password from {tmp_path / 'password'}\n"
        "  LDAP security      NONE: passwords cross the network unencrypted; use ldaps:// or "
        "MODELHOST_LDAP_STARTTLS=on; timeouts connect 5s, operations 10s\n"
        f"  LDAP allows        members of {GROUP} (member uniqueMember; user DN)\n"
        '  LDAP protects      pages, v1, v2, docs (realm "modelhost"); a bearer token instead on the admin operation '
        "(MODELHOST_ADMIN_TOKEN)")
    assert PASSWORD not in repr(sign_in)


def test_tls_a_ca_names_and_a_relative_password_file(env, tmp_path):
    env.update({"MODELHOST_LDAP_URL": "ldaps://ldap1.example.org ldap2.example.org:636/dc=example,dc=org",
                "MODELHOST_LDAP_CA_FILE": "ca.pem", "MODELHOST_LDAP_BIND_PASSWORD_FILE": "password",
                "MODELHOST_LDAP_GROUP_ATTRIBUTE": "memberUid", "MODELHOST_LDAP_GROUP_ATTRIBUTE_IS_DN": "off",
                "MODELHOST_LDAP_REALM": "Model server", "MODELHOST_LDAP_CONNECT_TIMEOUT": "2",
                "MODELHOST_LDAP_TIMEOUT": "300", "MODELHOST_LDAP_PROTECT": " Health,metrics , health,,",
                "MODELHOST_API_TOKEN": "api"})
    sign_in = ldap.read(env, str(tmp_path))
    assert sign_in.defines == ["-DMODELHOST_LDAP_CA", "-DMODELHOST_LDAP_BIND", "-DMODELHOST_LDAP_GROUP",
                               "-DMODELHOST_LDAP"]
    settings = sign_in.environment
    assert settings["MODELHOST_LDAP_SECURITY"] == "SSL" and settings["MODELHOST_LDAP_CA_FILE"] == f"{tmp_path}/ca.pem"
    assert settings["MODELHOST_LDAP_BIND_PASSWORD_FILE"] == f"{tmp_path}/password"
    assert (settings["MODELHOST_LDAP_GROUP_ATTRIBUTE"], settings["MODELHOST_LDAP_GROUP_ATTRIBUTE_IS_DN"]) == \
        ("memberUid", "off")
    assert (settings["MODELHOST_LDAP_CONNECT_TIMEOUT"], settings["MODELHOST_LDAP_TIMEOUT"]) == ("2", "300")
    assert settings["MODELHOST_LDAP_PATHS"] == f"{ldap.AREAS['health']}|{ldap.AREAS['metrics']}"
    assert settings["MODELHOST_LDAP_BEARER_PATHS"] == f"{ldap.AREAS['v1']}|{ldap.AREAS['v2']}"
    assert f"TLS (ldaps), CA {tmp_path}/ca.pem;" in sign_in.summary
    assert 'health, metrics (realm "Model server"); a bearer token instead on /v1 and /v2' in sign_in.summary
    starttls = ldap.read({**env, "MODELHOST_LDAP_URL": URL, "MODELHOST_LDAP_STARTTLS": "on"}, str(tmp_path))
    assert starttls.environment["MODELHOST_LDAP_SECURITY"] == "STARTTLS"


def test_group_attributes_reach_apache_one_space_apart(env):
    env["MODELHOST_LDAP_GROUP_ATTRIBUTE"] = "member,\tuniqueMember, memberUid"
    assert ldap.read(env, "/").environment["MODELHOST_LDAP_GROUP_ATTRIBUTE"] == "member uniqueMember memberUid"


def test_anonymous_search_and_every_directory_user(env):
    for var in ("MODELHOST_LDAP_BIND_DN", "MODELHOST_LDAP_BIND_PASSWORD_FILE", "MODELHOST_LDAP_REQUIRE_GROUP"):
        del env[var]
    sign_in = ldap.read(env, "/")
    assert sign_in.defines == ["-DMODELHOST_LDAP"]
    assert f"{URL}, anonymous search\n" in sign_in.summary
    assert "LDAP allows        every directory user (set MODELHOST_LDAP_REQUIRE_GROUP to allow one group only)" in \
        sign_in.summary


def test_every_area_pattern_matches_its_own_paths_only():
    paths = {"pages": ["/", "/models/iris", "/v10", "/metricsx"], "v1": ["/v1", "/v1/models"],
             "v2": ["/v2", "/v2/models/iris/infer", "/v2/healthz"], "docs": ["/apidocs/", "/apispec.json"],
             "health": ["/health/ready", "/v2/health/live"], "metrics": ["/metrics"]}
    for area, examples in paths.items():
        for path in examples:
            assert [a for a, pattern in ldap.AREAS.items() if re.search(pattern, path)] == [area], path
    for path in ("/server-status", "/.modelhost-errors/problem.json"):
        assert not any(re.search(pattern, path) for pattern in ldap.AREAS.values())


FIX_URL = ("write ldap[s]://host[:port]/base-dn?attribute[?scope?filter], such as "
           "ldap://ldap.example.com/ou=people,dc=example,dc=com?uid")


@pytest.mark.parametrize(("changes", "message"), [
    ({"MODELHOST_LDAP_URL": ""}, f"MODELHOST_LDAP_URL is set but empty; {FIX_URL}, or unset it to run without LDAP "
                                 "sign-in"),
    ({"MODELHOST_LDAP_URL": "http://ldap/dc=example"}, "MODELHOST_LDAP_URL 'http://ldap/dc=example' is not an LDAP URL "
                                                       f"with a base DN; {FIX_URL}"),
    ({"MODELHOST_LDAP_URL": "ldap://ldap/dc=example?uid?deep"},
     f"MODELHOST_LDAP_URL: the scope must be base, one or sub, got 'deep'; {FIX_URL}"),
    ({"MODELHOST_LDAP_URL": f"ldap://admin:{PASSWORD}@ldap/dc=example"},
     "MODELHOST_LDAP_URL must not carry a user name or password (user@host); set MODELHOST_LDAP_BIND_DN and "
     "MODELHOST_LDAP_BIND_PASSWORD_FILE instead"),
    ({"MODELHOST_LDAP_URL": "ldaps://ldap/dc=example", "MODELHOST_LDAP_STARTTLS": "on"},
     "MODELHOST_LDAP_STARTTLS is for ldap:// URLs; ldaps:// is TLS from the start: unset MODELHOST_LDAP_STARTTLS"),
    ({"MODELHOST_LDAP_CA_FILE": "/etc/hostname"}, "MODELHOST_LDAP_CA_FILE is for TLS to the directory: use an "
                                                  "ldaps:// URL or MODELHOST_LDAP_STARTTLS=on, or unset it"),
    ({"MODELHOST_LDAP_URL": "ldaps://ldap/dc=x", "MODELHOST_LDAP_CA_FILE": "/nonexistent/ca.pem"},
     "MODELHOST_LDAP_CA_FILE: /nonexistent/ca.pem does not exist; mount the CA certificate (PEM) of the directory "
     "there (docker run -v /path/on/host:/nonexistent/ca.pem:ro)"),
    ({"MODELHOST_LDAP_TIMEOUT": "301"}, "MODELHOST_LDAP_TIMEOUT must be at most 300, got 301"),
    ({"MODELHOST_LDAP_CONNECT_TIMEOUT": "0"}, "MODELHOST_LDAP_CONNECT_TIMEOUT must be at least 1, got 0"),
    ({"MODELHOST_LDAP_BIND_DN": ""}, "MODELHOST_LDAP_BIND_PASSWORD_FILE is set but MODELHOST_LDAP_BIND_DN is not; set "
                                     "it to the DN of the account the server searches the directory as"),
    ({"MODELHOST_LDAP_BIND_PASSWORD_FILE": "/tmp"},
     "MODELHOST_LDAP_BIND_PASSWORD_FILE: /tmp is not a file; point it at the file holding the bind password"),
    ({"MODELHOST_LDAP_BIND_DN": "modelhost"}, "MODELHOST_LDAP_BIND_DN must be a distinguished name such as "
                                              "cn=modelhost-users,ou=groups,dc=example,dc=com, got 'modelhost'"),
    ({"MODELHOST_LDAP_GROUP_ATTRIBUTE": "member;x"},
     "MODELHOST_LDAP_GROUP_ATTRIBUTE: 'member;x' is not an attribute name; list them comma-separated, such as "
     "member,uniqueMember (or memberUid with MODELHOST_LDAP_GROUP_ATTRIBUTE_IS_DN=off)"),
    ({"MODELHOST_LDAP_REQUIRE_GROUP": "", "MODELHOST_LDAP_GROUP_ATTRIBUTE_IS_DN": "off"},
     "MODELHOST_LDAP_GROUP_ATTRIBUTE_IS_DN is set but MODELHOST_LDAP_REQUIRE_GROUP is not; set the group, or unset it"),
    ({"MODELHOST_LDAP_PROTECT": "pages,API"}, "MODELHOST_LDAP_PROTECT: 'api' is not an area; list some of pages, v1, "
                                              "v2, docs, health, metrics (comma-separated)"),
    ({"MODELHOST_LDAP_PROTECT": " , "},
     "MODELHOST_LDAP_PROTECT is empty, so the sign-in would protect nothing; list some of pages, v1, v2, docs, health, "
     "metrics, or unset it for pages,v1,v2,docs"),
    ({"MODELHOST_LDAP_REALM": "x" * 101}, "MODELHOST_LDAP_REALM must be 1 to 100 printable characters without quotes "
                                          f"or backslashes, got '{'x' * 101}'"),
    ({"MODELHOST_LDAP_BIND_PASSWORD": PASSWORD}, "MODELHOST_LDAP_BIND_PASSWORD is set, but the bind password is read "
                                                 "from a file only (an environment variable shows in docker inspect); "
                                                 "put it in a file, mount it read-only and set "
                                                 "MODELHOST_LDAP_BIND_PASSWORD_FILE to its path"),
])
def test_a_wrong_setting_is_refused_with_how_to_fix_it(env, changes, message):
    assert refused({**env, **changes}) == message


def test_a_setting_without_the_url_does_nothing_and_is_refused(env):
    del env["MODELHOST_LDAP_URL"]
    assert refused(env) == ("MODELHOST_LDAP_BIND_DN is set but MODELHOST_LDAP_URL is not, so LDAP sign-in is off and "
                            "MODELHOST_LDAP_BIND_DN does nothing; set MODELHOST_LDAP_URL "
                            "(ldap://host/base-dn?attribute) or unset MODELHOST_LDAP_BIND_DN")


@pytest.mark.parametrize("first_line", ["", "\n", "  \t\n"])
def test_a_password_file_whose_first_line_is_empty_is_refused(env, first_line):
    path = env["MODELHOST_LDAP_BIND_PASSWORD_FILE"]
    Path(path).write_text(first_line + PASSWORD + "\n" if first_line else "")
    assert refused(env) == (f"MODELHOST_LDAP_BIND_PASSWORD_FILE: the first line of {path} is empty; write the password "
                            "on it")


def test_tls_without_a_ca_to_verify_the_directory_with_is_refused(env, monkeypatch):
    monkeypatch.setattr(ldap.os.path, "exists", lambda path: path != "/etc/ldap/ldap.conf")
    env["MODELHOST_LDAP_URL"] = "ldaps://ldap/dc=example,dc=org"
    assert refused(env).startswith("MODELHOST_LDAP_CA_FILE is needed for TLS to the directory")
    assert ldap.read({**env, "LDAPTLS_CACERT": "/etc/ssl/ca.pem"}, "/").environment["MODELHOST_LDAP_SECURITY"] == "SSL"


#: Each value that reaches ldap.conf's directives, with a quote, a line or a command in it.
INJECTED = {
    "MODELHOST_LDAP_URL": ['ldap://ldap/dc=example" NONE', "ldap://ldap/dc=example\nRequire all granted",
                           "ldap://ldap/dc=x$(id)?uid?sub?(cn=$(id)\n)"],
    "MODELHOST_LDAP_BIND_DN": ['cn="x",dc=example', "cn=x\nRequire all granted", "cn=x,dc=$(id)\r"],
    "MODELHOST_LDAP_REQUIRE_GROUP": ['cn=x" valid-user', "cn=x\nRequire all granted"],
    "MODELHOST_LDAP_REALM": ['my "realm"', "realm\nRequire all granted", "back\\slash"],
    "MODELHOST_LDAP_GROUP_ATTRIBUTE": ['member"', "member$(id)", "member;x", "member`id`"],
    "MODELHOST_LDAP_BIND_PASSWORD_FILE": ['/run/pass"word', "/run/pass word", "/run/pass\nword", "/run/pass\\word"],
    "MODELHOST_LDAP_PROTECT": ["pages$(id)", 'v1"'],
}


@pytest.mark.parametrize(("var", "value"), [(var, value) for var, values in INJECTED.items() for value in values])
def test_quotes_newlines_and_commands_never_reach_apaches_configuration(env, var, value):
    message = refused({**env, var: value})
    assert var in message and PASSWORD not in message
