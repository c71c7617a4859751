"""What Apache gets: mod_wsgi-express's arguments, the variables modelhost.conf reads, the CORS pattern.

mod_wsgi-express generates httpd.conf, apachectl and handler.wsgi from the arguments (``--setup-only``);
the start then execs apachectl, which execs httpd in the foreground.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping

from app.launch.checks import Refused, check_path
from app.launch.settings import Server


def cors_pattern(origins: list[str]) -> str:
    """The origins as one regular expression that Apache matches a request's Origin against (shared.conf,
    anchored and case-insensitive), for the error documents it serves itself; ``(?!)``, which matches
    nothing, for none."""
    if not origins:
        return "(?!)"
    # An origin as literal text: the brackets of an IPv6 address and '.' are its only special characters
    # (the application's rule allows no others). Each '.' as the class [.], the brackets escaped.
    return "|".join(
        ".+" if origin == "*" else origin.replace("[", r"\[").replace("]", r"\]").replace(".", "[.]")
        for origin in origins
    )


def find_module(env: Mapping[str, str], docker_dir: str, cwd: str) -> str:
    """mod_modelhost (docker/apache/mod_modelhost.c): the image builds it beside modelhost.conf,
    ``make run`` into build/ (MODELHOST_APACHE_MODULE)."""
    module = env.get("MODELHOST_APACHE_MODULE") or f"{docker_dir}/apache/mod_modelhost.so"
    module = module if module.startswith("/") else f"{cwd}/{module}"
    check_path(
        "MODELHOST_APACHE_MODULE",
        module,
        "build the module into such a path (docker/apache/build-module.sh "
        "PATH) and set MODELHOST_APACHE_MODULE to it",
    )
    if not os.access(module, os.R_OK):
        raise Refused(
            f"{module} is missing: build it with docker/apache/build-module.sh {module} (make run and the "
            "image do), or set MODELHOST_APACHE_MODULE"
        )
    return module


def find_express(env: Mapping[str, str], app_dir: str) -> str:
    """mod_wsgi-express: MODELHOST_VENV's, else the checkout's .venv's, else the first on PATH.

    It writes its Python's paths (the virtualenv's) into httpd.conf and apachectl.
    """
    venv = env.get("MODELHOST_VENV")
    if venv:
        express = f"{venv}/bin/mod_wsgi-express"
        check_path("MODELHOST_VENV", venv, "set MODELHOST_VENV to a virtualenv at such a path")
        if not _executable(express):
            raise Refused(
                f"MODELHOST_VENV: {express} is missing; set MODELHOST_VENV to the virtualenv that has "
                "mod_wsgi (pip install -r requirements-apache.txt there)"
            )
        return express
    express = f"{app_dir}/.venv/bin/mod_wsgi-express"
    if not _executable(express):
        found = shutil.which("mod_wsgi-express", path=env.get("PATH"))
        if found is None:
            raise Refused("mod_wsgi-express not found: pip install -r requirements-apache.txt (or set MODELHOST_VENV)")
        express = found
    check_path(
        "mod_wsgi-express's path",
        express,
        "install it (pip install -r requirements-apache.txt) in a "
        "virtualenv at such a path and set MODELHOST_VENV to it",
    )
    return express


def _executable(path: str) -> bool:
    return os.access(path, os.X_OK)


def express_arguments(server: Server, app_dir: str, server_root: str, apache_level: str) -> list[str]:
    """mod_wsgi-express's arguments for a server with these settings (without --user, --group and --setup-only)."""
    arguments = [
        "start-server",
        f"{app_dir}/flask.wsgi",
        "--server-root",
        server_root,
        *(["--host", server.host_argument] if server.host_argument is not None else []),
        "--port",
        str(server.port),
        "--processes",
        str(server.processes),
        "--threads",
        str(server.threads),
        *([] if server.wsgi_mode == "daemon" else ["--embedded-mode"]),
        # Apache worker threads. Each client connection holds one (worker MPM) while its request waits
        # for a daemon thread and while it idles in keep-alive, so this, not processes x threads, bounds
        # how many clients are served at once. The event MPM would hold fewer threads but closes idle
        # keep-alive connections whenever a child's threads are all busy, and clients that reuse one of
        # them at that moment fail ("connection closed without response"); the worker MPM never does.
        "--server-mpm",
        server.mpm,
        "--max-clients",
        str(server.max_clients),
        # Start every Apache child at once and never reap idle ones: no ramp-up under a burst, and no
        # keep-alive connections closed because their child is retired.
        "--initial-workers",
        "1",
        "--minimum-spare-workers",
        "0.25",
        "--maximum-spare-workers",
        "1",
        "--server-backlog",
        str(server.listen_backlog),
        # Room in the daemon queue for every Apache worker, so a burst waits rather than failing.
        "--daemon-backlog",
        str(server.max_clients),
        "--keep-alive-timeout",
        str(server.keep_alive_timeout),
        "--request-timeout",
        str(server.request_timeout),
        "--queue-timeout",
        str(server.queue_timeout),
        "--socket-timeout",
        str(server.socket_timeout),
        "--startup-timeout",
        str(server.startup_timeout),
        "--graceful-timeout",
        str(server.graceful_timeout),
        "--shutdown-timeout",
        str(server.shutdown_timeout),
        "--maximum-requests",
        str(server.maximum_requests),
        # Bodies with Content-Length over the limit get Apache's 413 before any byte is read. Chunked
        # bodies are accepted; modelhost.conf lifts Apache's limit for them and the application enforces
        # it while reading (see the comment there).
        "--limit-request-body",
        str(server.max_content_length),
        "--chunked-request",
        "--working-directory",
        app_dir,
        "--python-path",
        app_dir,
        "--disable-reloading",
        "--locale",
        "C.UTF-8",
        "--log-to-terminal",
        "--startup-log",
        "--log-level",
        apache_level,
        "--server-status",
        "--include-file",
        f"{app_dir}/docker/apache/modelhost.conf",
    ]
    # One access line per request: the application's (it has the model fields). Apache's own line is
    # optional, e.g. to see requests Apache answers itself.
    if server.apache_access_log == "on":
        arguments.append("--access-log")
    return arguments


def process_environment(env: Mapping[str, str]) -> dict[str, str]:
    """Variables every process of the server gets unless they are set already."""
    defaults = {
        # One BLAS/OpenMP thread per request thread: processes x threads already fill the cores, and
        # nested thread pools on top of them only oversubscribe the CPU.
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "BLIS_NUM_THREADS": "1",
        "NUMEXPR_NUM_THREADS": "1",
        # With TZ unset, glibc checks /etc/localtime each time a log line's time is formatted; naming
        # the zone once keeps that file-system call out of every request.
        "TZ": ":/etc/localtime",
    }
    return {name: env.get(name) or value for name, value in defaults.items()}


def listen_buckets_ratio(httpd_conf: str, mpm: str) -> int:
    """Apache's ListenCoresBucketsRatio: one listening socket per Apache process where the cores allow.

    With SO_REUSEPORT the kernel spreads new connections over the sockets. With one shared socket a
    process that wins most accepts keeps its keep-alive clients, and in embedded mode a few busy
    clients can all end up on one process, that is on one core. Apache opens (online cores / ratio)
    sockets and starts a child for each, past ServerLimit if there are more sockets than that: then
    its parent crashes a second after the start (AH00060, exit 139). So the ratio leaves no more
    sockets than the ServerLimit mod_wsgi-express wrote for the MPM: MODELHOST_PROCESSES in embedded
    mode; in daemon mode one Apache process per about 20 of MODELHOST_MAX_CLIENTS, a single one up to
    10. Cores are counted as Apache counts them, every online one (not only those of this process's
    CPU affinity).
    """
    children = _server_limit(httpd_conf, mpm) or 1
    cores = os.sysconf("SC_NPROCESSORS_ONLN")
    cores = cores if cores > 0 else 1
    return (cores + children - 1) // children


def _server_limit(httpd_conf: str, mpm: str) -> int | None:
    """The ServerLimit of the MPM's section for several processes (not -DONE_PROCESS) in httpd.conf."""
    try:
        with open(httpd_conf) as file:
            lines = file.read().split("\n")
    except OSError:
        return None
    inside = several = False
    for line in lines:
        if line == f"<IfModule mpm_{mpm}_module>":
            inside = True
        if not inside:
            continue
        if line == "</IfModule>":
            return None
        if line == "<IfDefine !ONE_PROCESS>":
            several = True
        if line == "</IfDefine>":
            several = False
        words = line.split()
        if several and words[:1] == ["ServerLimit"]:
            value = words[1] if len(words) > 1 else ""
            return int(value) if value.isascii() and value.isdigit() and int(value) > 0 else None
    return None
