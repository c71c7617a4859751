"""python -m app.launch [mod_wsgi-express option...]: check the settings, prepare, and exec Apache.

docker/modelhost-start runs this. Options are passed on to mod_wsgi-express. A refused setting
stops the start with status 2 and one line saying how to fix it, before anything is written. At
the end Apache replaces this process (PID 1 in the container) and gets docker stop's signal itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from app.launch import apache, folders, ldap, settings
from app.launch.checks import Refused, check_path
from app.launch.report import Start, effective_settings

#: The application's folder (flask.wsgi, app/, docker/), by the path it was started from.
APP_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCKER_DIR = f"{APP_DIR}/docker"


def main(options: list[str]) -> int:
    """Start the server; the exit status when it stops before Apache takes over."""
    environ = dict(os.environ)  # what Apache and the application get: the start adds to it
    try:
        start, express, arguments, defines = prepare(environ)
    except Refused as refusal:
        print(f"modelhost-start: {refusal}", file=sys.stderr)
        return 2
    except OSError as error:  # a folder that cannot be changed: what the command would have said
        print(f"modelhost-start: {error}", file=sys.stderr)
        return 1
    print(effective_settings(start, environ), flush=True)
    # Generate the configuration, then start Apache through the generated control script, which
    # execs httpd in the foreground. Running it with bash rather than letting mod_wsgi-express exec it
    # works when the server root is on a noexec tmpfs (docker run --read-only --tmpfs /tmp), and keeps
    # Apache as PID 1 under `docker run -it` too (there mod_wsgi-express would stay in front).
    try:
        status = subprocess.run([express, *arguments, "--setup-only", *options], env=environ, check=False).returncode
    except OSError as error:
        print(f"modelhost-start: {error}", file=sys.stderr)
        return 126
    if status != 0:
        return status if status > 0 else 128 - status  # ended by a signal: as a shell reports it
    root = start.server_root
    environ["MODELHOST_LISTEN_BUCKETS_RATIO"] = str(apache.listen_buckets_ratio(f"{root}/httpd.conf", start.server.mpm))
    sys.stderr.flush()
    # Python ignores these two; Apache gets them as a shell would have left them.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    os.execvpe("bash", ["bash", f"{root}/apachectl", "start", "-DFOREGROUND", *defines], environ)


def prepare(environ: dict[str, str]) -> tuple[Start, str, list[str], list[str]]:
    """Check every setting, make the server root and the shared folders, and add what Apache and the
    application read to ``environ``: the start's settings, mod_wsgi-express and its arguments, and
    Apache's -D defines."""
    env = dict(environ)  # the settings as given
    uid = os.geteuid()
    cwd = working_directory()
    server = settings.read_server(env, uid)
    origins = settings.read_cors_origins(env)
    sign_in = ldap.read(env, cwd)
    app_level, apache_level = settings.read_log_levels(env)
    settings.check_folder_names(env)
    run_as, group = settings.read_account(env, uid)
    root = folders.server_root(env, uid, server.port, cwd)
    check_path(
        "MODELHOST_SERVER_ROOT",
        root,
        "set MODELHOST_SERVER_ROOT to such a path (by default it is in " "/dev/shm, else in TMPDIR)",
    )
    check_path("The application's folder", APP_DIR, "move the checkout to such a path")
    folders.make_private(root, 0o755 if uid == 0 else 0o700, uid)
    module = apache.find_module(env, DOCKER_DIR, cwd)
    express = apache.find_express(env, APP_DIR)
    arguments = apache.express_arguments(server, APP_DIR, root, apache_level)
    if uid == 0:
        folders.check_readable(
            run_as,
            [
                f"{APP_DIR}/flask.wsgi",
                f"{APP_DIR}/app",
                env.get("MODELHOST_MODEL_REPOSITORY") or f"{APP_DIR}/instance/models",
            ],
        )
        arguments += ["--user", run_as, "--group", str(group)]
    environ.update(sign_in.environment)
    # Settings the start read a default or a tidier spelling for reach the processes with it.
    if uid == 0:
        environ.update(
            {var: value for var, value in (("MODELHOST_USER", run_as), ("MODELHOST_GROUP", str(group))) if var in env}
        )
    if env.get("MODELHOST_APACHE_LOG_LEVEL"):
        environ["MODELHOST_APACHE_LOG_LEVEL"] = apache_level
    environ.update(apache.process_environment(env))
    environ.update(
        {
            "MODELHOST_APACHE_DIR": f"{DOCKER_DIR}/apache",
            "MODELHOST_MAX_CONTENT_LENGTH": str(server.max_content_length),
            "MODELHOST_SERVER_ROOT": root,
            "MODELHOST_ACCESS_LOG": server.access_log,
            "MODELHOST_APACHE_MODULE": module,
            "MODELHOST_CORS_ORIGIN_PATTERN": apache.cors_pattern(origins),
            "MODELHOST_GRACEFUL_TIMEOUT": str(server.graceful_timeout),
        }
    )
    # Prometheus samples of every application process go to one folder that /metrics aggregates;
    # what each process serves and reload requests go to another. Those of an earlier start are removed.
    account = (run_as, group)
    environ["PROMETHEUS_MULTIPROC_DIR"] = folders.shared(
        env, "PROMETHEUS_MULTIPROC_DIR", f"{root}/prometheus", account, uid, cwd
    )
    folders.remove_earlier_metrics(environ["PROMETHEUS_MULTIPROC_DIR"])
    environ["MODELHOST_STATE_DIR"] = folders.shared(env, "MODELHOST_STATE_DIR", f"{root}/state", account, uid, cwd)
    folders.remove_earlier_state(environ["MODELHOST_STATE_DIR"])
    start = Start(server, origins, sign_in.summary, app_level, apache_level, run_as, root)
    return start, express, arguments, sign_in.defines


def working_directory() -> str:
    """The current folder by the path it was reached by ($PWD, as the shell has it), else its real path."""
    path = os.environ.get("PWD", "")
    try:
        if path.startswith("/") and os.path.samefile(path, "."):
            return path
    except OSError:
        pass
    return os.getcwd()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
