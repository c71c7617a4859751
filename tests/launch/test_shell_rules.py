"""docker/lib.sh (the balancer's start, in bash) and the server's start (app/launch, in Python) keep the same rules.

The balancer image has no Python, so its start checks the settings it shares with the server in bash.
Each rule runs in both, on the same accepted and refused values, in the C locale (the images) and in
a UTF-8 one (a host): the CORS origins against the application's own rule (app/config.py) and the
pattern Apache gets, host addresses, whole numbers, switches, accounts, and how a value is shown.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from app.launch import checks
from app.launch.apache import cors_pattern
from app.launch.checks import Refused
from app.launch.settings import read_cors_origins
from app.origins import parse_origins

LIB = Path(__file__).resolve().parents[2] / "docker" / "lib.sh"
LOCALES = ["C", "C.UTF-8"]


def bash(script: str, *args: str, locale: str = "C", **env: str) -> subprocess.CompletedProcess[str]:
    """``script`` run by bash after docker/lib.sh, with ``args`` as $1..., and only ``env`` set (and PATH,
    for getent)."""
    return subprocess.run(["bash", "-c", f'source "$LIB"; {script}', "lib", *args], capture_output=True, text=True,
                          timeout=30, check=False,
                          env={"PATH": os.environ["PATH"], "LIB": str(LIB), "LC_ALL": locale, **env})


def refusal(result: subprocess.CompletedProcess[str]) -> str | None:
    """What the shell said when it stopped the start (without its name), or None when it did not."""
    if result.returncode == 0:
        return None
    assert result.returncode == 2 and result.stderr.startswith("lib: "), result.stderr
    return result.stderr.removeprefix("lib: ").removesuffix("\n")


# --- CORS origins -----------------------------------------------------------------------------

ACCEPTED_ORIGINS = [
    "", " , ", "https://dash.example.com", "http://localhost:3000", "HTTP://LocalHost:3000", "https://DASH.example.com",
    " https://a.example.com ,\thttp://b.example.com:8080 ", "http://[::1]:8080", "http://[FD00::2]", "http://1.2.3.4",
    "https://xn--bcher-kva.example", "http://a_b.example", "http://localhost:65535", "https://localhost:80",
    "http://localhost:443", "http://x:1", "*", " * ", "https://a.com\n", "https://a.com\x1f", "https://a.com,,https://b.com",
    "https://a.com, https://a.com",
]
REFUSED_ORIGINS = [
    "https://dash.example.com/", "dash.example.com", "ftp://dash.example.com", "https://user@dash.example.com",
    "https://dash.example.com:443", "http://localhost:80", "HTTP://localhost:80", "http://localhost:70000",
    "http://localhost:65536", "http://localhost:0", "http://localhost:08", "http://localhost:123456",
    "https://büchër.example", "https://\u212a.example", "*, https://dash.example.com", "https://a.com, *", "*,*",
    '["https://dash.example.com"]', "https://dash.example.com\nhttps://other.example.com", "https://a.com?x",
    "https://a.com#x", "https://", "https://a..com", "https://.a.com", "https://a.com.", "http://[::1", "http://[::g]",
    "http://[]", "null", "https://a.com:", "https ://a.com", "https://a .com", "https://a.com, ftp://b",
]


def shell_origins(value: str, locale: str) -> tuple[list[str], str] | None:
    """The balancer's origins and pattern for MODELHOST_CORS_ORIGINS=value, or None when it stops the start."""
    result = bash('read_cors_origins; echo "$MODELHOST_CORS_ORIGIN_PATTERN"; printf "%s\\n" "${cors_origins[@]}"',
                  locale=locale, MODELHOST_CORS_ORIGINS=value)
    if refusal(result) is not None:
        return None
    pattern, *origins = result.stdout.split("\n")[:-1]
    return [origin for origin in origins if origin], pattern


def python_origins(value: str) -> tuple[list[str], str] | None:
    """The server's origins and pattern (app/launch, with the application's rule), or None when it refuses."""
    try:
        origins = read_cors_origins({"MODELHOST_CORS_ORIGINS": value})
    except Refused:
        return None
    return origins, cors_pattern(origins)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("value", ACCEPTED_ORIGINS)
def test_origins_the_application_accepts_the_balancer_accepts_with_the_same_pattern(value, locale):
    expected = python_origins(value)
    assert expected is not None and expected[0] == parse_origins(value)
    assert shell_origins(value, locale) == expected


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("value", REFUSED_ORIGINS)
def test_origins_the_application_refuses_the_balancer_refuses(value, locale):
    with pytest.raises(ValueError):
        parse_origins(value)
    assert python_origins(value) is None
    assert shell_origins(value, locale) is None


# --- Host addresses, numbers, switches, accounts, messages ------------------------------------

HOSTS = [
    "127.0.0.1", "0.0.0.0", "255.255.255.255", "256.0.0.1", "1.2.3", "01.2.3.4", "1.2.3.4.", "localhost",
    "models-1.example.com", "a" * 63, "a" * 64, ".".join(["a" * 63] * 4)[:253], ".".join(["a" * 63] * 4),
    "-a.com", "a-.com", "a..b", "a_b", "é.com", "1.2.3.4a", "123", "::", "::1", "[::1]", "1::", "1::2::3",
    "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7::", "1:2:3:4:5:6:7::8", "::ffff:1.2.3.4", "::ffff:1.2.3",
    "::1.2.3.4", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "fe80::1%eth0", "FD00::ABCD", "12345::", ":::",
    "1:", ":1", "", "a b", "127.0.0.1\nx", "x$(id)",
]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("value", HOSTS)
def test_host_addresses_and_names_are_told_apart_alike(value, locale):
    result = bash('[[ $1 =~ $ipv4_re ]] && echo ipv4; is_ipv6 "$1" && echo ipv6; is_hostname "$1" && echo name',
                  value, locale=locale)
    kinds = [kind for kind, rule in (("ipv4", checks.is_ipv4), ("ipv6", checks.is_ipv6), ("name", checks.is_hostname))
             if rule(value)]
    assert result.stdout.split() == kinds


NUMBERS = ["", "0", "1", "7", "0007", "65535", "65536", "x", "-1", "1.5", " 1", "1\n", "٣", "99999999999"]


@pytest.mark.parametrize("value", NUMBERS)
def test_whole_numbers_are_read_alike(value):
    result = bash('int PORT 8000 1 65535 && echo "$PORT"', MODELHOST_PORT=value)
    try:
        expected = str(checks.whole_number({"MODELHOST_PORT": value}, "PORT", 8000, 1, 65535))
        assert refusal(result) is None and result.stdout == expected + "\n"
    except Refused as refused:
        assert refusal(result) == str(refused)


@pytest.mark.parametrize("value", ["", "on", "ON", "true", "Yes", "1", "off", "False", "no", "0", "maybe", " on",
                                   "on\n"])
def test_switches_are_read_alike(value):
    result = bash('on_off ACCESS_LOG on && echo "$ACCESS_LOG"', MODELHOST_ACCESS_LOG=value)
    try:
        expected = checks.switch({"MODELHOST_ACCESS_LOG": value}, "ACCESS_LOG", "on")
        assert refusal(result) is None and result.stdout == expected + "\n"
    except Refused as refused:
        assert refusal(result) == str(refused)


@pytest.mark.parametrize(("kind", "value"), [
    ("passwd", "root"), ("passwd", "www-data"), ("passwd", "33"), ("passwd", "no-such-user-mh"),
    ("passwd", "www-data\nroot"), ("passwd", "x'y"), ("group", "www-data"), ("group", "no-such-group-mh"),
    ("group", "-x"), ("group", "a.b_c-d"),
])
def test_accounts_are_checked_alike(kind, value):
    result = bash('check_account MODELHOST_ACCOUNT "$1"', kind, locale="C.UTF-8", MODELHOST_ACCOUNT=value)
    try:
        checks.check_account("MODELHOST_ACCOUNT", value, kind)
        assert refusal(result) is None
    except Refused as refused:
        assert refusal(result) == str(refused)


@pytest.mark.parametrize("value", ["plain", "it's", "a b", "a\nb", "tab\there", "\x1b[31m", "back\\slash\n", "é\x01",
                                   "\x7f", "\u0085", "\u2028", "quote'\n"])
def test_values_are_shown_in_messages_alike(value):
    result = bash('shown "$1"', value, locale="C.UTF-8")
    assert result.stdout == checks.shown(value)
