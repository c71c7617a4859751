"""The server's settings (app/launch/settings.py): the address, sizes and modes, tokens, CORS, logs, accounts."""
from __future__ import annotations

import pwd

import pytest

from app.launch import settings
from app.launch.checks import Refused

ROOT_UID, USER_UID = 0, 1000


def server(uid: int = USER_UID, **env: str) -> settings.Server:
    return settings.read_server(env, uid)


def refused(call, *args) -> str:
    with pytest.raises(Refused) as refusal:
        call(*args)
    return str(refusal.value)


def test_the_defaults_serve_384_clients_from_two_embedded_processes():
    defaults = server()
    assert (defaults.host, defaults.host_argument, defaults.port) == ("127.0.0.1", "127.0.0.1", 8000)
    assert (defaults.wsgi_mode, defaults.mpm, defaults.processes, defaults.threads) == ("embedded", "worker", 2, 192)
    assert defaults.capacity == defaults.max_clients == 384
    assert (defaults.access_log, defaults.apache_access_log) == ("on", "off")
    assert (defaults.request_timeout, defaults.graceful_timeout, defaults.max_content_length) == (60, 15, 10485760)


def test_embedded_mode_gives_every_client_a_thread_and_daemon_mode_takes_the_threads_given():
    assert server(MODELHOST_PROCESSES="3", MODELHOST_MAX_CLIENTS="10").threads == 3
    assert server(MODELHOST_PROCESSES="4", MODELHOST_MAX_CLIENTS="4").threads == 1
    daemon = server(MODELHOST_WSGI_MODE="daemon", MODELHOST_MAXIMUM_REQUESTS="100")
    assert (daemon.threads, daemon.capacity, daemon.maximum_requests) == (32, 64, 100)


@pytest.mark.parametrize(("env", "message"), [
    ({"MODELHOST_WSGI_MODE": "thread"}, "MODELHOST_WSGI_MODE must be daemon or embedded, got 'thread'"),
    ({"MODELHOST_SERVER_MPM": "winnt"}, "MODELHOST_SERVER_MPM must be worker, event or prefork, got 'winnt'"),
    ({"MODELHOST_MAXIMUM_REQUESTS": "5"},
     "MODELHOST_MAXIMUM_REQUESTS recycles daemon processes; it needs MODELHOST_WSGI_MODE=daemon"),
    ({"MODELHOST_PROCESSES": "5", "MODELHOST_MAX_CLIENTS": "3"},
     "MODELHOST_MAX_CLIENTS (3) must be at least processes x threads (5)"),
    ({"MODELHOST_WSGI_MODE": "daemon", "MODELHOST_THREADS": "200"},
     "MODELHOST_MAX_CLIENTS (384) must be at least processes x threads (400)"),
    ({"MODELHOST_PORT": "80"}, "MODELHOST_PORT 80 needs root; use a port above 1023 and map it (docker run -p 80:80)"),
    ({"MODELHOST_ACCESS_LOG": "maybe"}, "MODELHOST_ACCESS_LOG must be 'on' or 'off', got 'maybe'"),
    ({"MODELHOST_KEEP_ALIVE_TIMEOUT": "-1"}, "MODELHOST_KEEP_ALIVE_TIMEOUT must be a whole number, got '-1'"),
])
def test_sizes_and_modes_that_cannot_work_are_refused(env, message):
    assert refused(settings.read_server, env, USER_UID) == message


def test_root_may_listen_below_1024():
    assert server(ROOT_UID, MODELHOST_PORT="80").port == 80


@pytest.mark.parametrize(("host", "argument"), [("0.0.0.0", "0.0.0.0"), ("localhost", "localhost"), ("::", None),
                                                ("[::]", None), ("", "127.0.0.1")])
def test_hosts_mod_wsgi_express_can_listen_on(host, argument):
    assert settings.read_host({"MODELHOST_HOST": host})[1] == argument


@pytest.mark.parametrize("host", ["::1", "[fd00::2]", "::ffff:127.0.0.1"])
def test_one_ipv6_address_is_refused_with_what_to_use_instead(host):
    assert refused(settings.read_host, {"MODELHOST_HOST": host}) == (
        f"MODELHOST_HOST {host} is one IPv6 address, which mod_wsgi-express cannot listen on; use :: for every address "
        "(IPv6 and IPv4), or a host name that resolves to it (ip6-localhost for ::1)")


@pytest.mark.parametrize("host", ["127.0.0.1$(touch x)", '127.0.0.1"; id; "', "localhost`id`", "a\nb", "model host",
                                  "256.0.0.1", "-a.example.com", "[::1"])
def test_a_host_that_is_neither_address_nor_name_is_refused(host):
    message = refused(settings.read_host, {"MODELHOST_HOST": host})
    assert message.startswith("MODELHOST_HOST must be an IP address or a host name, got ")
    assert message.endswith("; set it to an address such as 127.0.0.1 (0.0.0.0 for every IPv4 address, :: for every "
                            "address) or a host name such as localhost")
    assert "\n" not in message


@pytest.mark.parametrize("value", ["", " ", " \t\n"])
def test_a_token_set_but_empty_is_refused(value):
    assert refused(settings.check_tokens, {"MODELHOST_OTHER": "", "MODELHOST_ADMIN_TOKEN": value}) == (
        "MODELHOST_ADMIN_TOKEN is set but empty, so it would protect nothing; set it to the token, or unset it to run "
        "without one")


def test_only_token_variables_are_checked_the_first_by_name_first():
    settings.check_tokens({"MODELHOST_TOKEN": "", "MODELHOST_API_TOKEN": "0", "OTHER_TOKEN": ""})
    message = refused(settings.check_tokens, {"MODELHOST_B_TOKEN": "", "MODELHOST_A_TOKEN": ""})
    assert message.startswith("MODELHOST_A_TOKEN is set but empty")


def test_cors_origins_are_read_with_the_applications_rule():
    env = {"MODELHOST_CORS_ORIGINS": " https://Dash.example.com, http://[::1]:8080 ,"}
    assert settings.read_cors_origins(env) == ["https://dash.example.com", "http://[::1]:8080"]
    assert settings.read_cors_origins({}) == []
    message = refused(settings.read_cors_origins, {"MODELHOST_CORS_ORIGINS": "https://dash.example.com/"})
    assert "'https://dash.example.com/' is not an origin" in message and "MODELHOST_CORS_ORIGINS" in message


@pytest.mark.parametrize(("level", "apache"), [
    ("DEBUG", "info"), ("info", "warn"), ("Warning", "warn"), ("WARN", "warn"), ("error", "error"),
    ("CRITICAL", "crit"), ("", "warn"),
])
def test_apache_logs_one_step_quieter_than_the_application(level, apache):
    assert settings.read_log_levels({"MODELHOST_LOG_LEVEL": level}) == ((level or "INFO").upper(), apache)


def test_apaches_own_log_level_wins_and_a_wrong_level_is_refused():
    env = {"MODELHOST_LOG_LEVEL": "DEBUG", "MODELHOST_APACHE_LOG_LEVEL": " warn  wsgi:debug"}
    assert settings.read_log_levels(env) == ("DEBUG", "warn wsgi:debug")
    assert refused(settings.read_log_levels, {"MODELHOST_LOG_LEVEL": "verbose"}) == (
        "MODELHOST_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got 'verbose'")


@pytest.mark.parametrize("var", ["MODELHOST_MODEL_REPOSITORY", "MODELHOST_STATE_DIR", "PROMETHEUS_MULTIPROC_DIR"])
def test_folders_with_control_characters_are_refused(var):
    settings.check_folder_names({var: "/srv/models with space"})
    assert refused(settings.check_folder_names, {var: "/srv/x\ny"}) == (
        f"{var} must be a path without control characters, got $'/srv/x\\ny'; set it to the folder's path")


def test_started_by_a_user_everything_runs_as_that_user():
    nobody = pwd.getpwnam("nobody").pw_uid
    assert settings.read_account({"MODELHOST_USER": "www-data"}, nobody) == ("nobody", None)


def test_started_as_root_apache_serves_as_www_data_and_its_group():
    assert settings.read_account({}, ROOT_UID) == ("www-data", "www-data")
    assert settings.read_account({"MODELHOST_USER": "nobody", "MODELHOST_GROUP": "www-data"}, ROOT_UID) == \
        ("nobody", "www-data")


def test_root_is_no_account_for_apaches_children():
    assert refused(settings.read_account, {"MODELHOST_USER": "root"}, ROOT_UID) == "MODELHOST_USER must not be root"
    assert refused(settings.read_account, {"MODELHOST_GROUP": "www-data\nroot"}, ROOT_UID).startswith(
        "MODELHOST_GROUP must be the name of a group")
