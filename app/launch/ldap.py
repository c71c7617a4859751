"""LDAP sign-in (docker/apache/ldap.conf; README "LDAP sign-in"): MODELHOST_LDAP_URL turns it on.

Apache asks for a directory user name and password on the areas MODELHOST_LDAP_PROTECT lists. The
bind password is only ever read from a file, by Apache itself at start (AuthLDAPBindPassword
"exec:"): it is in no environment variable (docker inspect), no printout, no generated file. Values
end up inside Apache directives, so those that would end a quoted argument are refused here with a
message rather than by Apache with a syntax error.
"""

from __future__ import annotations

import os
import pwd
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from app import urls
from app.launch.checks import Refused, has_control, switch, whole_number

_FIX_URL = (
    "write ldap[s]://host[:port]/base-dn?attribute[?scope?filter], such as "
    "ldap://ldap.example.com/ou=people,dc=example,dc=com?uid"
)
#: scheme :// one or more hosts (space-separated, as AuthLDAPURL takes them) / base DN ? attribute ? scope ? filter
_URL = re.compile(r"(ldaps?)://([\]\[A-Za-z0-9._: -]+)/([^?]+)(\?([^?]*)(\?([^?]*)(\?(.*))?)?)?", re.DOTALL)
_RDN = r"[A-Za-z][A-Za-z0-9.-]*=(?:[^,\\]|\\.)+"
_DN = re.compile(rf"{_RDN}(?:, *{_RDN})*", re.DOTALL)
_ATTRIBUTE = re.compile("[A-Za-z][A-Za-z0-9-]*")
_PRINTABLE_ASCII = re.compile("[ -~]{1,100}")
_ASCII_SPACE = " \t\n\v\f\r"
#: The areas, as paths of the application's routes (README "LDAP sign-in"). pages is every path no
#: other area claims, so a route added later is protected too; Apache's /server-status and its error
#: documents are in none.
AREAS = {
    "pages": r"^/(?!(?:v1|v2|health|metrics|apidocs|flasgger_static)(?:/|$)|(?:apispec\.json|oauth2-redirect\.html)$"
    r"|server-status|\.modelhost-errors/)",
    "v1": rf"^{urls.V1}(?:/|$)",
    "v2": rf"^{urls.V2}(?:$|/(?!health/))",
    "docs": r"^/(?:apidocs|flasgger_static)(?:/|$)|^/(?:apispec\.json|oauth2-redirect\.html)$",
    "health": rf"^{urls.HEALTH}(?:/|$)|^{urls.V2}/health/",
    "metrics": r"^/metrics(?:/|$)",
}
_AREA_LIST = "pages, v1, v2, docs, health, metrics"


@dataclass
class Ldap:
    """What Apache gets for the sign-in: -D defines, environment variables, and the printout's lines."""

    defines: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=lambda: {"MODELHOST_TRUST_REMOTE_USER": "off"})
    summary: str = "off (set MODELHOST_LDAP_URL to turn it on)"


def read(env: Mapping[str, str], cwd: str) -> Ldap:
    """The LDAP settings, checked; relative file paths are taken from ``cwd``."""
    if "MODELHOST_LDAP_BIND_PASSWORD" in env:
        raise Refused(
            "MODELHOST_LDAP_BIND_PASSWORD is set, but the bind password is read from a file only (an "
            "environment variable shows in docker inspect); put it in a file, mount it read-only and set "
            "MODELHOST_LDAP_BIND_PASSWORD_FILE to its path"
        )
    if "MODELHOST_LDAP_URL" not in env:
        for var in sorted(var for var in env if var.startswith("MODELHOST_LDAP_")):
            raise Refused(
                f"{var} is set but MODELHOST_LDAP_URL is not, so LDAP sign-in is off and {var} does nothing; "
                f"set MODELHOST_LDAP_URL (ldap://host/base-dn?attribute) or unset {var}"
            )
        return Ldap()
    ldap = Ldap(defines=[])
    url, security, security_text = _read_url(env)
    ca_file = env.get("MODELHOST_LDAP_CA_FILE", "")
    if ca_file:
        if security == "NONE":
            raise Refused(
                "MODELHOST_LDAP_CA_FILE is for TLS to the directory: use an ldaps:// URL or "
                "MODELHOST_LDAP_STARTTLS=on, or unset it"
            )
        ca_file = _file("MODELHOST_LDAP_CA_FILE", ca_file, cwd, "the CA certificate (PEM) of the directory")
        ldap.defines.append("-DMODELHOST_LDAP_CA")
        security_text += f", CA {ca_file}"
    elif security != "NONE" and not os.path.exists("/etc/ldap/ldap.conf") and not env.get("LDAPTLS_CACERT"):
        # The directory's certificate is always verified, and this system names no CA to verify it
        # with (the image has none): every sign-in would fail.
        raise Refused(
            "MODELHOST_LDAP_CA_FILE is needed for TLS to the directory: set it to the CA certificate (PEM) "
            "that signed the directory's certificate, mounted read-only"
        )
    connect_timeout = whole_number(env, "LDAP_CONNECT_TIMEOUT", 5, 1, 300)
    timeout = whole_number(env, "LDAP_TIMEOUT", 10, 1, 300)
    bind_dn, password_file, bind_text = _read_bind(env, cwd, ldap)
    group, attributes, is_dn, group_text = _read_group(env, ldap)
    realm = env.get("MODELHOST_LDAP_REALM") or "modelhost"
    if not _PRINTABLE_ASCII.fullmatch(realm) or '"' in realm or "\\" in realm:
        raise Refused(
            f"MODELHOST_LDAP_REALM must be 1 to 100 printable characters without quotes or backslashes, got "
            f"'{realm}'"
        )
    protect = _read_areas(env)
    # A bearer token stands in for the sign-in only where the application checks it: /v1 and /v2 (not
    # /v2/health/) while MODELHOST_API_TOKEN is set, and the admin operation, which always checks
    # MODELHOST_ADMIN_TOKEN. Anywhere else Apache would let a made-up token through.
    bearer_paths, bearer_text = r"^/v1/repository/reload$", "the admin operation (MODELHOST_ADMIN_TOKEN)"
    if env.get("MODELHOST_API_TOKEN"):
        bearer_paths = f"{AREAS['v1']}|{AREAS['v2']}"
        bearer_text = "/v1 and /v2 (MODELHOST_API_TOKEN, or the admin token)"
    ldap.defines.append("-DMODELHOST_LDAP")
    ldap.environment = {
        "MODELHOST_LDAP_URL": url,
        "MODELHOST_LDAP_SECURITY": security,
        "MODELHOST_LDAP_CONNECT_TIMEOUT": str(connect_timeout),
        "MODELHOST_LDAP_TIMEOUT": str(timeout),
        "MODELHOST_LDAP_GROUP_ATTRIBUTE": attributes,
        "MODELHOST_LDAP_PATHS": "|".join(AREAS[a] for a in protect),
        "MODELHOST_LDAP_BEARER_PATHS": bearer_paths,
        "MODELHOST_LDAP_REALM": realm,
        "MODELHOST_LDAP_GROUP_ATTRIBUTE_IS_DN": is_dn,
        "MODELHOST_LDAP_CA_FILE": ca_file,
        "MODELHOST_LDAP_BIND_DN": bind_dn,
        "MODELHOST_LDAP_BIND_PASSWORD_FILE": password_file,
        "MODELHOST_LDAP_REQUIRE_GROUP": group,
        # Only Apache sets REMOTE_USER, after it checked the password, and no request header can: the
        # application may take it as signed in (app/http/auth.py) in place of the API token.
        "MODELHOST_TRUST_REMOTE_USER": "on",
    }
    ldap.summary = (
        f"{url}, {bind_text}\n"
        f"  LDAP security      {security_text}; timeouts connect {connect_timeout}s, operations "
        f"{timeout}s\n"
        f"  LDAP allows        {group_text}\n"
        f"  LDAP protects      {', '.join(protect)} (realm \"{realm}\"); a bearer token instead on "
        f"{bearer_text}"
    )
    return ldap


def _read_url(env: Mapping[str, str]) -> tuple[str, str, str]:
    """MODELHOST_LDAP_URL and MODELHOST_LDAP_STARTTLS: the URL, AuthLDAPURL's security word, and its description."""
    url = env["MODELHOST_LDAP_URL"]
    if not url:
        raise Refused(f"MODELHOST_LDAP_URL is set but empty; {_FIX_URL}, or unset it to run without LDAP sign-in")
    authority = url.partition("://")[2] if "://" in url else url
    # Not quoted in the message: whatever is before an @ may be a password.
    if "@" in authority.partition("/")[0]:
        raise Refused(
            "MODELHOST_LDAP_URL must not carry a user name or password (user@host); set "
            "MODELHOST_LDAP_BIND_DN and MODELHOST_LDAP_BIND_PASSWORD_FILE instead"
        )
    _text("MODELHOST_LDAP_URL", url)
    match = _URL.fullmatch(url)
    if not match:
        raise Refused(f"MODELHOST_LDAP_URL '{url}' is not an LDAP URL with a base DN; {_FIX_URL}")
    scope = match[7] or ""
    if scope not in ("", "base", "one", "sub"):
        raise Refused(f"MODELHOST_LDAP_URL: the scope must be base, one or sub, got '{scope}'; {_FIX_URL}")
    starttls = switch(env, "LDAP_STARTTLS", "off")
    if match[1] == "ldaps":
        if starttls == "on":
            raise Refused(
                "MODELHOST_LDAP_STARTTLS is for ldap:// URLs; ldaps:// is TLS from the start: unset "
                "MODELHOST_LDAP_STARTTLS"
            )
        return url, "SSL", "TLS (ldaps)"
    if starttls == "on":
        return url, "STARTTLS", "TLS (STARTTLS)"
    return url, "NONE", "NONE: passwords cross the network unencrypted; use ldaps:// or MODELHOST_LDAP_STARTTLS=on"


def _read_bind(env: Mapping[str, str], cwd: str, ldap: Ldap) -> tuple[str, str, str]:
    """The account Apache searches as: both its DN and its password file, or neither (an anonymous search)."""
    bind_dn = env.get("MODELHOST_LDAP_BIND_DN", "")
    password_file = env.get("MODELHOST_LDAP_BIND_PASSWORD_FILE", "")
    if not bind_dn and not password_file:
        return "", "", "anonymous search"
    if not bind_dn:
        raise Refused(
            "MODELHOST_LDAP_BIND_PASSWORD_FILE is set but MODELHOST_LDAP_BIND_DN is not; set it to the DN "
            "of the account the server searches the directory as"
        )
    if not password_file:
        raise Refused(
            "MODELHOST_LDAP_BIND_DN is set but MODELHOST_LDAP_BIND_PASSWORD_FILE is not; put the account's "
            "password in a file, mount it read-only (docker run -v "
            "/path/on/host:/run/secrets/ldap-password:ro) and set "
            "MODELHOST_LDAP_BIND_PASSWORD_FILE=/run/secrets/ldap-password"
        )
    _dn("MODELHOST_LDAP_BIND_DN", bind_dn)
    password_file = _file("MODELHOST_LDAP_BIND_PASSWORD_FILE", password_file, cwd, "the file holding the bind password")
    # Apache takes the first line as the password; an empty one would be an anonymous bind. It is
    # only tested here: the password is in no variable of the start.
    if not _first_line_has_text(password_file):
        raise Refused(
            f"MODELHOST_LDAP_BIND_PASSWORD_FILE: the first line of {password_file} is empty; write the "
            "password on it"
        )
    ldap.defines.append("-DMODELHOST_LDAP_BIND")
    return bind_dn, password_file, f"bind as {bind_dn}, password from {password_file}"


def _first_line_has_text(path: str) -> bool:
    try:
        with open(path, "rb") as file:
            return bool(file.readline().strip(_ASCII_SPACE.encode()))
    except OSError:
        return False


def _read_group(env: Mapping[str, str], ldap: Ldap) -> tuple[str, str, str, str]:
    """Who may sign in: members of one group, or every user the directory knows.

    The group's DN, its member attributes (space-separated, as AuthLDAPGroupAttribute takes them),
    whether members are listed by DN ("on") or by name, and the printout's words.
    """
    is_dn = switch(env, "LDAP_GROUP_ATTRIBUTE_IS_DN", "on")
    text = env.get("MODELHOST_LDAP_GROUP_ATTRIBUTE") or "member,uniqueMember"
    names = [name for name in re.split("[, \t\n]", text) if name]
    for name in names:
        if not _ATTRIBUTE.fullmatch(name):
            raise Refused(
                f"MODELHOST_LDAP_GROUP_ATTRIBUTE: '{name}' is not an attribute name; list them "
                "comma-separated, such as member,uniqueMember (or memberUid with "
                "MODELHOST_LDAP_GROUP_ATTRIBUTE_IS_DN=off)"
            )
    # One space apart: a tab or a newline between them would reach Apache's configuration.
    attributes = " ".join(names)
    group = env.get("MODELHOST_LDAP_REQUIRE_GROUP", "")
    if group:
        _dn("MODELHOST_LDAP_REQUIRE_GROUP", group)
        ldap.defines.append("-DMODELHOST_LDAP_GROUP")
        user = "DN" if is_dn == "on" else "name"
        return group, attributes, is_dn, f"members of {group} ({attributes}; user {user})"
    if env.get("MODELHOST_LDAP_GROUP_ATTRIBUTE_IS_DN"):
        raise Refused(
            "MODELHOST_LDAP_GROUP_ATTRIBUTE_IS_DN is set but MODELHOST_LDAP_REQUIRE_GROUP is not; set the "
            "group, or unset it"
        )
    return "", attributes, is_dn, "every directory user (set MODELHOST_LDAP_REQUIRE_GROUP to allow one group only)"


def _read_areas(env: Mapping[str, str]) -> list[str]:
    """MODELHOST_LDAP_PROTECT: the areas to sign in on, each once, in the order given."""
    protect: list[str] = []
    for item in env.get("MODELHOST_LDAP_PROTECT", "pages,v1,v2,docs").split(","):
        area = re.sub(f"[{_ASCII_SPACE}]", "", item).lower()
        if not area:
            continue
        if area not in AREAS:
            raise Refused(
                f"MODELHOST_LDAP_PROTECT: '{area}' is not an area; list some of {_AREA_LIST} " "(comma-separated)"
            )
        if area not in protect:
            protect.append(area)
    if not protect:
        raise Refused(
            f"MODELHOST_LDAP_PROTECT is empty, so the sign-in would protect nothing; list some of "
            f"{_AREA_LIST}, or unset it for pages,v1,v2,docs"
        )
    return protect


def _text(var: str, value: str) -> None:
    """``value`` holds no double quote and no control character."""
    if '"' in value or has_control(value):
        raise Refused(f"{var} must not contain double quotes or control characters")


def _dn(var: str, value: str) -> None:
    """``value`` looks like a DN (attribute=value,...)."""
    _text(var, value)
    if not _DN.fullmatch(value):
        raise Refused(
            f"{var} must be a distinguished name such as cn=modelhost-users,ou=groups,dc=example,dc=com, "
            f"got '{value}'"
        )


def _file(var: str, path: str, cwd: str, what: str) -> str:
    """``path`` of ``var`` names a readable file; its absolute path."""
    path = path if path.startswith("/") else f"{cwd}/{path}"
    if any(char.isspace() or char in '"\\' for char in path):
        raise Refused(f"{var} must be a path without spaces, quotes or backslashes")
    if not os.path.exists(path):
        raise Refused(f"{var}: {path} does not exist; mount {what} there (docker run -v /path/on/host:{path}:ro)")
    if not os.path.isfile(path):
        raise Refused(f"{var}: {path} is not a file; point it at {what}")
    if not os.access(path, os.R_OK):
        uid = os.geteuid()
        raise Refused(
            f"{var}: {path} is not readable by {_user_name(uid)} (uid {uid}), who starts Apache; make it "
            "readable by that user"
        )
    return path


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
