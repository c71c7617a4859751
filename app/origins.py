"""The rule for CORS_ORIGINS: the origins of browser front-ends that may call the API.

Both the application (``app.config``) and the container's start (``app.launch``, which has Apache
answer its own error documents to the same origins) read the setting by this rule, so they agree
on what it allows and refuse the same values with the same words. No Flask here: the start
runs before the application.
"""

from __future__ import annotations

import re
from typing import Any

#: An origin as browsers send it: scheme, host (a name or a bracketed IPv6 address), optional port.
#: docker/modelhost-start checks MODELHOST_CORS_ORIGINS with the same pattern for Apache.
_ORIGIN = re.compile(
    r"(https?)://([a-z0-9_-]+(?:\.[a-z0-9_-]+)*|\[[0-9a-f:.]+\])(?::([1-9][0-9]{0,4}))?", re.IGNORECASE | re.ASCII
)
_ORIGINS_FIX = "fix MODELHOST_CORS_ORIGINS (comma-separated) or CORS_ORIGINS in instance/config.py"


def parse_origins(value: Any) -> list[str]:
    """CORS_ORIGINS as a list of origins in lower case, or ``["*"]``; text is split at commas."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) for item in items):
        raise ValueError(
            f"Configuration CORS_ORIGINS must be a list of origins such as "
            f'["https://dash.example.com"], got {value!r}; {_ORIGINS_FIX}'
        )
    origins = [item.strip() for item in items if item.strip()]
    if "*" in origins:
        if len(origins) > 1:
            raise ValueError(
                "Configuration CORS_ORIGINS: '*' allows every origin, so it stands alone; give "
                f"either '*' or the list of origins, got {origins!r}; {_ORIGINS_FIX}"
            )
        return origins
    return [_check_origin(origin) for origin in origins]


def _check_origin(origin: str) -> str:
    """One origin, lower-cased (browsers send scheme and host in lower case), or a ValueError saying why not."""
    match = _ORIGIN.fullmatch(origin)
    if (
        match
        and (match[3] is None or int(match[3]) <= 65535)
        and match[3] != {"http": "80", "https": "443"}[match[1].lower()]
    ):
        return origin.lower()
    scheme, _, rest = origin.partition("://")
    if not rest:
        why = "it has no scheme; start it with https:// or http://"
    elif scheme.lower() not in ("http", "https"):
        why = f"its scheme is {scheme!r}, where web pages have http or https"
    elif "/" in rest or "?" in rest or "#" in rest:
        why = (
            "it has a path; an origin is scheme://host[:port] only, without a trailing slash "
            "(browsers send it that way)"
        )
    elif "@" in rest:
        why = "it has a user name; an origin is scheme://host[:port] only"
    elif match and int(match[3]) <= 65535:
        why = (
            f"{match[3]} is the default port of {match[1].lower()}, which browsers leave out of the origin they "
            "send; remove it"
        )
    elif match:
        why = "its port is not from 1 to 65535"
    else:
        why = (
            "its host or port is not valid: a host is letters, digits, '-', '_' and dots (IDN names in their "
            "xn-- form), or an IPv6 address in brackets, and a port is a number"
        )
    raise ValueError(
        f"Configuration CORS_ORIGINS: {origin!r} is not an origin: {why}, such as "
        f"https://dash.example.com or http://localhost:3000; {_ORIGINS_FIX}"
    )
