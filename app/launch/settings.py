"""The server's MODELHOST_* settings, each read and checked with a message that says how to fix it.

The defaults are sized for a 2-core host; README.md ("Tuning") explains each setting and how its
default was chosen. The settings are read in the order the start has always checked them, so a start
with several wrong ones names the same one first.
"""

from __future__ import annotations

import grp
import pwd
import re
from collections.abc import Mapping
from dataclasses import dataclass

from app.launch.checks import (
    Refused,
    check_account,
    check_log_level,
    has_control,
    is_hostname,
    is_ipv4,
    is_ipv6,
    shown,
    switch,
    whole_number,
)
from app.origins import parse_origins

#: Each whole-number setting MODELHOST_<name>: its default, its least value and its greatest (None: no bound).
WHOLE_NUMBERS: dict[str, tuple[int, int, int | None]] = {
    "PORT": (8000, 1, 65535),
    "PROCESSES": (2, 1, None),
    "THREADS": (32, 1, None),
    "MAX_CLIENTS": (384, 1, None),
    "LISTEN_BACKLOG": (500, 1, None),
    "KEEP_ALIVE_TIMEOUT": (5, 0, None),
    "REQUEST_TIMEOUT": (60, 1, None),
    "QUEUE_TIMEOUT": (30, 1, None),
    "SOCKET_TIMEOUT": (60, 1, None),
    "STARTUP_TIMEOUT": (60, 1, None),
    "GRACEFUL_TIMEOUT": (15, 0, None),
    "SHUTDOWN_TIMEOUT": (5, 0, None),
    "MAXIMUM_REQUESTS": (0, 0, None),
    "MAX_CONTENT_LENGTH": (10 * 1024 * 1024, 1, None),
}
#: Apache's log level for each of the application's: one step quieter, as Apache's "info" and
#: "debug" describe every connection.
APACHE_LEVELS = {
    "DEBUG": "info",
    "INFO": "warn",
    "WARNING": "warn",
    "WARN": "warn",
    "ERROR": "error",
    "CRITICAL": "crit",
}


@dataclass(frozen=True)
class Server:
    """The settings of Apache and mod_wsgi: where it listens, how many requests at once, its timeouts."""

    host: str
    #: What mod_wsgi-express gets as --host; None for every address (it then listens on the port alone).
    host_argument: str | None
    mpm: str
    wsgi_mode: str
    access_log: str
    apache_access_log: str
    port: int
    processes: int
    threads: int
    max_clients: int
    listen_backlog: int
    keep_alive_timeout: int
    request_timeout: int
    queue_timeout: int
    socket_timeout: int
    startup_timeout: int
    graceful_timeout: int
    shutdown_timeout: int
    maximum_requests: int
    max_content_length: int

    @property
    def capacity(self) -> int:
        """Requests the application serves at once."""
        return self.processes * self.threads


def read_server(env: Mapping[str, str], uid: int) -> Server:
    """The address, the sizes and timeouts, the access logs, the MPM and the WSGI mode."""
    host, host_argument = read_host(env)
    numbers = {name: whole_number(env, name, *bounds) for name, bounds in WHOLE_NUMBERS.items()}
    access_log = switch(env, "ACCESS_LOG", "on")
    apache_access_log = switch(env, "APACHE_ACCESS_LOG", "off")
    mpm = env.get("MODELHOST_SERVER_MPM") or "worker"
    # daemon: Python runs in mod_wsgi daemon processes, fed by Apache's threads over a socket (the
    # request, queue and graceful timeouts apply). embedded: Python runs in Apache's own worker
    # processes, one interpreter per process and one thread per client connection: no socket hop per
    # request (README "Tuning"), but none of the daemon-only timeouts.
    wsgi_mode = env.get("MODELHOST_WSGI_MODE") or "embedded"
    if wsgi_mode not in ("daemon", "embedded"):
        raise Refused(f"MODELHOST_WSGI_MODE must be daemon or embedded, got '{wsgi_mode}'")
    threads = numbers["THREADS"]
    if wsgi_mode == "embedded":
        # Every Apache thread runs the application: as many per process as clients are served.
        threads = max(numbers["MAX_CLIENTS"] // numbers["PROCESSES"], 1)
        if numbers["MAXIMUM_REQUESTS"] != 0:
            raise Refused("MODELHOST_MAXIMUM_REQUESTS recycles daemon processes; it needs MODELHOST_WSGI_MODE=daemon")
    if mpm not in ("worker", "event", "prefork"):
        raise Refused(f"MODELHOST_SERVER_MPM must be worker, event or prefork, got '{mpm}'")
    numbers["THREADS"] = threads
    server = Server(
        host,
        host_argument,
        mpm,
        wsgi_mode,
        access_log,
        apache_access_log,
        **{name.lower(): value for name, value in numbers.items()},
    )
    if server.max_clients < server.capacity:
        raise Refused(
            f"MODELHOST_MAX_CLIENTS ({server.max_clients}) must be at least processes x threads " f"({server.capacity})"
        )
    if server.port < 1024 and uid != 0:
        raise Refused(
            f"MODELHOST_PORT {server.port} needs root; use a port above 1023 and map it "
            f"(docker run -p 80:{server.port})"
        )
    check_tokens(env)
    return server


def read_host(env: Mapping[str, str]) -> tuple[str, str | None]:
    """MODELHOST_HOST, the address Apache listens on, and what mod_wsgi-express gets as --host.

    mod_wsgi-express writes it into httpd.conf, apachectl and handler.wsgi.
    """
    host = env.get("MODELHOST_HOST") or "127.0.0.1"
    if is_ipv4(host) or is_hostname(host):
        return host, host
    if host in ("::", "[::]"):
        # Every address, IPv6 and IPv4: mod_wsgi-express without --host has Apache listen on the port.
        return "::", None
    if is_ipv6(host) or (len(host) >= 2 and host[0] == "[" and host[-1] == "]" and is_ipv6(host[1:-1])):
        # mod_wsgi-express makes the host Apache's ServerName too, which takes no IPv6 address.
        raise Refused(
            f"MODELHOST_HOST {host} is one IPv6 address, which mod_wsgi-express cannot listen on; use :: for "
            "every address (IPv6 and IPv4), or a host name that resolves to it (ip6-localhost for ::1)"
        )
    raise Refused(
        f"MODELHOST_HOST must be an IP address or a host name, got {shown(host)}; set it to an address such "
        "as 127.0.0.1 (0.0.0.0 for every IPv4 address, :: for every address) or a host name such as "
        "localhost"
    )


def check_tokens(env: Mapping[str, str]) -> None:
    """A token variable that is set must hold a token. The application refuses an empty one
    (app/config.py), but behind Apache that refusal would only answer 500 to every request."""
    for var in sorted(env):
        if re.fullmatch("MODELHOST_.*_TOKEN", var, re.DOTALL) and not env[var].strip(" \t\n\v\f\r"):
            raise Refused(
                f"{var} is set but empty, so it would protect nothing; set it to the token, or unset it to "
                "run without one"
            )


def read_cors_origins(env: Mapping[str, str]) -> list[str]:
    """MODELHOST_CORS_ORIGINS by the application's own rule (app/origins.py): the origins, or ["*"].

    The application puts the CORS headers on its own answers; Apache matches the error documents it
    serves itself against the same origins (apache.cors_pattern). A value the application would
    refuse, answering every request with 500, stops the start here.
    """
    try:
        return parse_origins(env.get("MODELHOST_CORS_ORIGINS", ""))
    except ValueError as error:
        raise Refused(str(error)) from None


def read_log_levels(env: Mapping[str, str]) -> tuple[str, str]:
    """The application's log level (MODELHOST_LOG_LEVEL, in capitals) and Apache's."""
    level = env.get("MODELHOST_LOG_LEVEL") or "INFO"
    if level.upper() not in APACHE_LEVELS:
        raise Refused(f"MODELHOST_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got '{level}'")
    apache_level = APACHE_LEVELS[level.upper()]
    if env.get("MODELHOST_APACHE_LOG_LEVEL"):
        apache_level = check_log_level("MODELHOST_APACHE_LOG_LEVEL", env["MODELHOST_APACHE_LOG_LEVEL"])
    return level.upper(), apache_level


def check_folder_names(env: Mapping[str, str]) -> None:
    """Folders the application reads and writes reach its environment, commands and the printout."""
    for var in ("MODELHOST_MODEL_REPOSITORY", "MODELHOST_STATE_DIR", "PROMETHEUS_MULTIPROC_DIR"):
        if has_control(env.get(var, "")):
            raise Refused(
                f"{var} must be a path without control characters, got {shown(env[var])}; set it to the "
                "folder's path"
            )


def read_account(env: Mapping[str, str], uid: int) -> tuple[str, str | None]:
    """The account and group Apache's children and the application run as.

    Started as root, Apache only binds the port as root: its children and the Python daemon processes
    run as an unprivileged account (MODELHOST_USER) that can read the app and the models.
    mod_wsgi-express writes both names into httpd.conf and apachectl. Otherwise they run as this user.
    """
    if uid != 0:
        return _name_of(uid), None
    user = env.get("MODELHOST_USER") or "www-data"
    check_account("MODELHOST_USER", user, "passwd")
    entry = pwd.getpwnam(user)
    if entry.pw_uid == 0:
        raise Refused("MODELHOST_USER must not be root")
    group = env.get("MODELHOST_GROUP") or _group_of(entry.pw_gid)
    check_account("MODELHOST_GROUP", group, "group")
    return user, group


def _name_of(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_of(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
