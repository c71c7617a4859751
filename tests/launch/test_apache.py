"""What Apache gets (app/launch/apache.py, report.py): mod_wsgi-express's arguments, its environment, the printout."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from app.launch import apache, settings
from app.launch.checks import Refused
from app.launch.report import Start, effective_settings

APP = "/opt/modelhost"
ROOT = "/dev/shm/modelhost-10001-8000"


def test_the_default_arguments_of_mod_wsgi_express():
    server = settings.read_server({}, 10001)
    assert apache.express_arguments(server, APP, ROOT, "warn") == [
        "start-server", f"{APP}/flask.wsgi", "--server-root", ROOT, "--host", "127.0.0.1", "--port", "8000",
        "--processes", "2", "--threads", "192", "--embedded-mode", "--server-mpm", "worker", "--max-clients", "384",
        "--initial-workers", "1", "--minimum-spare-workers", "0.25", "--maximum-spare-workers", "1",
        "--server-backlog", "500", "--daemon-backlog", "384", "--keep-alive-timeout", "5", "--request-timeout", "60",
        "--queue-timeout", "30", "--socket-timeout", "60", "--startup-timeout", "60", "--graceful-timeout", "15",
        "--shutdown-timeout", "5", "--maximum-requests", "0", "--limit-request-body", "10485760", "--chunked-request",
        "--working-directory", APP, "--python-path", APP, "--disable-reloading", "--locale", "C.UTF-8",
        "--log-to-terminal", "--startup-log", "--log-level", "warn", "--server-status",
        "--include-file", f"{APP}/docker/apache/modelhost.conf",
    ]


def test_daemon_mode_every_address_and_apaches_own_access_log():
    server = settings.read_server({"MODELHOST_WSGI_MODE": "daemon", "MODELHOST_HOST": "::",
                                   "MODELHOST_APACHE_ACCESS_LOG": "on", "MODELHOST_THREADS": "8"}, 10001)
    arguments = apache.express_arguments(server, APP, ROOT, "warn ssl:info")
    assert "--host" not in arguments and "--embedded-mode" not in arguments
    assert arguments[arguments.index("--threads") + 1] == "8"
    assert arguments[arguments.index("--log-level") + 1] == "warn ssl:info"
    assert arguments[-1] == "--access-log"


@pytest.mark.parametrize(("origins", "pattern"), [
    ([], "(?!)"), (["*"], ".+"),
    (["https://dash.example.com", "http://[::1]:8080"], r"https://dash[.]example[.]com|http://\[::1\]:8080"),
])
def test_the_cors_pattern_apache_matches_origins_against(origins, pattern):
    assert apache.cors_pattern(origins) == pattern


def test_the_cors_pattern_matches_the_origins_as_literal_text():
    pattern = apache.cors_pattern(["https://dash.example.com", "http://[::1]:8080"])
    compiled = re.compile(f"^(?:{pattern})$", re.IGNORECASE)  # as shared.conf anchors it
    for origin in ("https://dash.example.com", "https://DASH.example.com", "http://[::1]:8080"):
        assert compiled.match(origin), origin
    for origin in ("https://dashxexample.com", "https://dash.example.com.evil.com", "http://1:8080", "null", ""):
        assert not compiled.match(origin), origin


def test_every_process_gets_one_blas_thread_and_a_named_time_zone_unless_set():
    assert apache.process_environment({"OMP_NUM_THREADS": "4", "TZ": "", "MKL_NUM_THREADS": ""}) == {
        "OMP_NUM_THREADS": "4", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "BLIS_NUM_THREADS": "1",
        "NUMEXPR_NUM_THREADS": "1", "TZ": ":/etc/localtime"}


def test_the_module_is_found_beside_modelhost_conf_or_where_the_setting_says(tmp_path):
    (tmp_path / "apache").mkdir()
    (tmp_path / "apache" / "mod_modelhost.so").write_bytes(b"")
    (tmp_path / "built.so").write_bytes(b"")
    assert apache.find_module({}, str(tmp_path), "/") == f"{tmp_path}/apache/mod_modelhost.so"
    assert apache.find_module({"MODELHOST_APACHE_MODULE": "built.so"}, "/x", str(tmp_path)) == f"{tmp_path}/built.so"
    with pytest.raises(Refused, match="missing: build it with docker/apache/build-module.sh"):
        apache.find_module({"MODELHOST_APACHE_MODULE": f"{tmp_path}/none.so"}, "/x", "/")
    with pytest.raises(Refused, match="^MODELHOST_APACHE_MODULE must be a path of letters"):
        apache.find_module({"MODELHOST_APACHE_MODULE": f'{tmp_path}/mod"x.so'}, "/x", "/")


def test_mod_wsgi_express_comes_from_the_virtualenv_the_setting_names(tmp_path):
    (tmp_path / "bin").mkdir()
    express = tmp_path / "bin" / "mod_wsgi-express"
    express.write_text("#!/bin/sh\n")
    express.chmod(0o755)
    assert apache.find_express({"MODELHOST_VENV": str(tmp_path)}, "/x") == str(express)
    assert apache.find_express({"PATH": str(tmp_path / "bin")}, "/x") == str(express)
    with pytest.raises(Refused) as refused:
        apache.find_express({"MODELHOST_VENV": "/nonexistent"}, "/x")
    assert str(refused.value) == ("MODELHOST_VENV: /nonexistent/bin/mod_wsgi-express is missing; set MODELHOST_VENV to "
                                  "the virtualenv that has mod_wsgi (pip install -r requirements-apache.txt there)")
    with pytest.raises(Refused, match="^MODELHOST_VENV must be a path of letters"):
        apache.find_express({"MODELHOST_VENV": "/srv/ve$(id)nv"}, "/x")
    with pytest.raises(Refused, match=r"^mod_wsgi-express not found: pip install -r requirements-apache.txt"):
        apache.find_express({"PATH": str(tmp_path)}, "/x")


HTTPD_CONF = """<IfModule mpm_worker_module>
<IfDefine !ONE_PROCESS>
ServerLimit {limit}
</IfDefine>
<IfDefine ONE_PROCESS>
ServerLimit 1
</IfDefine>
</IfModule>
"""


@pytest.mark.parametrize("limit", [1, 2, 3, 21])
def test_apache_gets_no_more_listening_sockets_than_processes(tmp_path, limit):
    conf = tmp_path / "httpd.conf"
    conf.write_text(HTTPD_CONF.format(limit=limit))
    ratio = apache.listen_buckets_ratio(str(conf), "worker")
    cores = os.sysconf("SC_NPROCESSORS_ONLN")
    assert ratio == (cores + limit - 1) // limit
    assert (1 if cores <= ratio else cores // ratio) <= limit


def test_without_a_server_limit_for_the_mpm_there_is_one_socket(tmp_path):
    conf = tmp_path / "httpd.conf"
    conf.write_text(HTTPD_CONF.format(limit=4))
    cores = os.sysconf("SC_NPROCESSORS_ONLN")
    assert apache.listen_buckets_ratio(str(conf), "event") == cores
    assert apache.listen_buckets_ratio(str(tmp_path / "missing.conf"), "worker") == cores


def test_the_printout_of_the_effective_settings():
    server = settings.read_server({"MODELHOST_WSGI_MODE": "daemon", "MODELHOST_HOST": "::"}, 10001)
    start = Start(server, ["https://dash.example.com", "http://localhost:3000"], "off (set MODELHOST_LDAP_URL to "
                  "turn it on)", "INFO", "warn", "modelhost", ROOT)
    env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MODELHOST_MODEL_REPOSITORY": "/models"}
    assert effective_settings(start, env) == """\
modelhost-start: Apache httpd + mod_wsgi, effective settings
  listen             http://[::]:8000/  (backlog 500)
  processes/threads  2 x 32 = 64 requests at once (daemon mode), as user modelhost
  max clients        384  (worker MPM, daemon queue 384, keep-alive 5s)
  timeouts           request 60s, queue 30s, socket 60s, startup 60s
  shutdown           graceful 15s (docker stop), shutdown 5s, maximum requests 0 (0 = never recycle)
  request body limit 10485760 bytes
  CORS origins       https://dash.example.com http://localhost:3000
  LDAP sign-in       off (set MODELHOST_LDAP_URL to turn it on)
  logs               Apache level warn, app level INFO, access log on (Apache's own: off)
  model repository   /models, polled every 5s (0 = off)
  server root        /dev/shm/modelhost-10001-8000
  BLAS threads       OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1"""
    embedded = Start(settings.read_server({}, 10001), [], "off", "INFO", "warn", "modelhost", ROOT)
    text = effective_settings(embedded, {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    assert "  max clients        384  (worker MPM, keep-alive 5s)\n" in text
    assert "  CORS origins       (none: no CORS headers)\n" in text
    assert "  model repository   (application default), polled every 5s (0 = off)\n" in text


def test_the_application_folder_is_the_one_app_launch_is_in():
    from app.launch.__main__ import APP_DIR, DOCKER_DIR

    assert Path(APP_DIR) == Path(__file__).resolve().parents[2]
    assert Path(DOCKER_DIR, "apache", "modelhost.conf").is_file()
