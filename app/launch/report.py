"""The printout of the effective settings, which the start writes before Apache's own lines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from app.launch.settings import Server


@dataclass(frozen=True)
class Start:
    """What a start settled on, beside the server's settings."""

    server: Server
    origins: list[str]
    ldap_summary: str
    app_level: str
    apache_level: str
    run_as: str
    server_root: str


def effective_settings(start: Start, env: Mapping[str, str]) -> str:
    """The printout, from the settings and the environment the processes get (``env``)."""
    server = start.server
    listen = "[::]" if server.host == "::" else server.host
    queue = f"daemon queue {server.max_clients}, " if server.wsgi_mode == "daemon" else ""
    repository = env.get("MODELHOST_MODEL_REPOSITORY") or "(application default)"
    poll = env.get("MODELHOST_REPOSITORY_POLL_SECONDS") or "5"
    return "\n".join(
        [
            "modelhost-start: Apache httpd + mod_wsgi, effective settings",
            f"  listen             http://{listen}:{server.port}/  (backlog {server.listen_backlog})",
            f"  processes/threads  {server.processes} x {server.threads} = {server.capacity} requests at once "
            f"({server.wsgi_mode} mode), as user {start.run_as}",
            f"  max clients        {server.max_clients}  ({server.mpm} MPM, {queue}keep-alive "
            f"{server.keep_alive_timeout}s)",
            f"  timeouts           request {server.request_timeout}s, queue {server.queue_timeout}s, socket "
            f"{server.socket_timeout}s, startup {server.startup_timeout}s",
            f"  shutdown           graceful {server.graceful_timeout}s (docker stop), "
            f"shutdown {server.shutdown_timeout}s, maximum requests {server.maximum_requests} (0 = never recycle)",
            f"  request body limit {server.max_content_length} bytes",
            f"  CORS origins       {' '.join(start.origins) or '(none: no CORS headers)'}",
            f"  LDAP sign-in       {start.ldap_summary}",
            f"  logs               Apache level {start.apache_level}, app level {start.app_level}, access log "
            f"{server.access_log} (Apache's own: {server.apache_access_log})",
            f"  model repository   {repository}, polled every {poll}s (0 = off)",
            f"  server root        {start.server_root}",
            f"  BLAS threads       OMP_NUM_THREADS={env['OMP_NUM_THREADS']} OPENBLAS_NUM_THREADS="
            f"{env['OPENBLAS_NUM_THREADS']}",
        ]
    )
