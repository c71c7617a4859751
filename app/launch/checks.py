"""The rules of each kind of setting value, and the refusal that stops the start with a fix-it message.

mod_wsgi-express writes the host, the account and several paths into httpd.conf (Apache directives,
some arguments in single quotes), into apachectl (a shell script the start runs, as root for
``make run`` as root: values in double quotes and unquoted) and into handler.wsgi (Python, in single
quotes); Apache puts the ${...} variables modelhost.conf reads into its lines. A quote, a newline or a
$( in such a value would run as a command, or add directives or code. So each of them is checked
against what it names, before anything is written. The characters are listed rather than given as
ranges, as docker/lib.sh does for the balancer.
"""

from __future__ import annotations

import grp
import pwd
import re
from collections.abc import Mapping

ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")
_LABEL = f"[{ALNUM}](?:[{ALNUM}-]{{0,61}}[{ALNUM}])?"
#: RFC 1123 labels; a name of digits and dots only would be an IPv4 address, or a wrong one.
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_DIGITS_AND_DOTS = re.compile("[0123456789.]+")
_GROUP = "[0123456789abcdefABCDEF]{1,4}"
_GROUPS = re.compile(f"(?:{_GROUP}(?::{_GROUP})*)?")
_EIGHT_GROUPS = re.compile(f"{_GROUP}(?::{_GROUP}){{7}}")
#: Control characters as the shell's [[:cntrl:]] has them: C0, DEL, C1, and the line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_PATH = re.compile(f"[{ALNUM}._+@/-]+")
_ACCOUNT = re.compile(f"[{ALNUM}_][{ALNUM}_.-]*")
_LOG_LEVEL = re.compile(f"(?:[{ALNUM}_.]+:)?(?:emerg|alert|crit|error|warn|notice|info|debug|trace[12345678])")
_SWITCHES = {"on": "on", "true": "on", "yes": "on", "1": "on", "off": "off", "false": "off", "no": "off", "0": "off"}
_ESCAPES = {
    "\x1b": "\\E",
    "\a": "\\a",
    "\v": "\\v",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\\": "\\\\",
    "'": "\\'",
}


class Refused(Exception):
    """A setting the start refuses; the message names it and says how to fix it."""


def has_control(value: str) -> bool:
    """Whether ``value`` holds a control character (a newline, a tab, ...)."""
    return _CONTROL.search(value) is not None


def shown(value: str) -> str:
    """``value`` for a message: in single quotes; with control characters as bash writes it ($'...'),
    so the message stays one line and shows what is there."""
    if not has_control(value):
        return f"'{value}'"
    return "$'" + "".join(_escaped(char) for char in value) + "'"


def _escaped(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    if has_control(char):
        return "".join(f"\\{byte:03o}" for byte in char.encode("utf-8", "surrogateescape"))
    return char


def whole_number(env: Mapping[str, str], name: str, default: int, low: int, high: int | None = None) -> int:
    """MODELHOST_<name> as a whole number from ``low`` to ``high`` (no upper bound when None)."""
    var = f"MODELHOST_{name}"
    text = env.get(var) or str(default)
    if not re.fullmatch("[0123456789]+", text):
        raise Refused(f"{var} must be a whole number, got '{text}'")
    value = int(text)
    if value < low:
        raise Refused(f"{var} must be at least {low}, got {value}")
    if high is not None and value > high:
        raise Refused(f"{var} must be at most {high}, got {value}")
    return value


def switch(env: Mapping[str, str], name: str, default: str) -> str:
    """MODELHOST_<name> as a switch: "on" or "off" (also true/false, yes/no, 1/0, in any case)."""
    var = f"MODELHOST_{name}"
    text = env.get(var) or default
    value = _SWITCHES.get(text.lower()) if text.isascii() else None
    if value is None:
        raise Refused(f"{var} must be 'on' or 'off', got '{text}'")
    return value


def is_ipv4(text: str) -> bool:
    """Whether ``text`` is an IPv4 address in dotted decimal."""
    return _IPV4.fullmatch(text) is not None


def is_ipv6(text: str) -> bool:
    """Whether ``text`` is an IPv6 address (no brackets; it may end in an IPv4 address)."""
    if ":" not in text:
        return False
    if "." in text:  # the IPv4 address at the end stands for two groups
        head, _, tail = text.rpartition(":")
        if not is_ipv4(tail):
            return False
        text = head + ":0:0"
    if "::" not in text:
        return _EIGHT_GROUPS.fullmatch(text) is not None
    # One "::", which stands for one group or more: at most seven around it.
    before, _, after = text.partition("::")
    if not (_GROUPS.fullmatch(before) and _GROUPS.fullmatch(after)):
        return False
    return sum(part.count(":") + 1 for part in (before, after) if part) <= 7


def is_hostname(text: str) -> bool:
    """Whether ``text`` is a host name (RFC 1123), not digits and dots only."""
    return len(text) <= 253 and _HOSTNAME.fullmatch(text) is not None and not _DIGITS_AND_DOTS.fullmatch(text)


def check_path(name: str, path: str, fix: str) -> None:
    """``path`` reaches generated files or Apache's configuration: letters, digits and . _ - + @ / only."""
    if not _PATH.fullmatch(path):
        raise Refused(
            f"{name} must be a path of letters, digits and . _ - + @ / only (it is written into Apache's "
            f"configuration and a shell script), got {shown(path)}; {fix}"
        )


def check_account(var: str, value: str, kind: str) -> None:
    """``value`` of ``var`` names an existing account (``kind`` "passwd") or group ("group"): a name, not
    a number, which Apache would look up as a name."""
    what = "an account" if kind == "passwd" else "a group"
    fix = f"set it to one that getent {kind} lists, such as www-data"
    if not _ACCOUNT.fullmatch(value) or value.isdigit():
        raise Refused(
            f"{var} must be the name of {what} (letters, digits, _ . -; not a number), got {shown(value)}; " f"{fix}"
        )
    try:
        pwd.getpwnam(value) if kind == "passwd" else grp.getgrnam(value)
    except KeyError:
        raise Refused(
            f"{var}: there is no {what.split()[1]} '{value}' on this system (getent {kind} {value} finds "
            f"none); {fix}"
        ) from None


def check_log_level(var: str, value: str) -> str:
    """``value`` of ``var`` as Apache's LogLevel (a level, and module:level pairs), words one space apart."""
    fix = (
        "set it to an Apache log level (emerg, alert, crit, error, warn, notice, info, debug, trace1 to trace8), "
        "optionally with module:level pairs such as 'warn ssl:info wsgi:debug', or unset it"
    )
    if has_control(value):
        raise Refused(f"{var} must be Apache's LogLevel on one line, got {shown(value)}; {fix}")
    words = value.split(" ")
    words = [word for word in words if word]
    if not words:
        raise Refused(f"{var} is set but holds no level, got {shown(value)}; {fix}")
    for word in words:
        if not (word.isascii() and _LOG_LEVEL.fullmatch(word.lower())):
            raise Refused(f"{var}: '{word}' is not a log level or module:level, got {shown(value)}; {fix}")
    return " ".join(words)
