"""LDAP sign-in at the Apache layer, against a real directory (README "LDAP sign-in").

The module builds a small OpenLDAP image (``modelhost-slapd-test``, integration/ldap/: users
alice, a member of cn=modelhost-users, and bob, who is not) and starts it on a private Docker
network under the name ``ldap``, beside containers of ``MODELHOST_IMAGE`` configured by
``MODELHOST_LDAP_*`` variables with the bind password in a file mounted read-only. Everything is
removed afterwards. Skipped, like the other container tests, without the docker CLI or the image
or with ``MODELHOST_CONTAINER_TESTS=off`` (containers.py).
"""
from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from containers import IMAGE, IRIS, Container, docker, needs_containers

pytestmark = needs_containers

SLAPD_IMAGE = "modelhost-slapd-test"
SLAPD_CONTEXT = Path(__file__).resolve().parent / "ldap"
#: The service account's password in integration/ldap/directory.ldif: what must never show.
BIND_PASSWORD = "bind-pw-7d1f0c9e"
ALICE = ("alice", "alice-pw-3b8e")  # in cn=modelhost-users
BOB = ("bob", "bob-pw-91c2")  # a directory user, not in the group
API_TOKEN = "api-token-for-ldap-tests"
ADMIN_TOKEN = "admin-token-for-ldap-tests"
REALM = "modelhost LDAP test"
GROUP = "cn=modelhost-users,ou=groups,dc=example,dc=org"
USERS = "ou=people,dc=example,dc=org"
ORIGIN = "https://dash.example.com"


class Directory:
    """The slapd container on its own network, and what a modelhost container needs to use it."""

    def __init__(self, network: str, name: str, secrets: Path) -> None:
        self.network, self.name, self.secrets = network, name, secrets

    def start_modelhost(self, env: dict[str, str], names: list[str]) -> Container:
        """A modelhost container on the directory's network, the secrets folder mounted read-only at /run/secrets."""
        name = f"modelhost-test-ldap-{uuid.uuid4().hex[:8]}"
        names.append(name)
        docker("run", "--detach", "--name", name, "--network", self.network, "--publish", "127.0.0.1::8000",
               "--volume", f"{self.secrets}:/run/secrets:ro", *[f"--env={key}={value}" for key, value in env.items()],
               IMAGE)
        container = Container(name)
        container.wait("/health/live")
        return container


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Directory]:
    """slapd with the test directory, answering as ldap:// and ldaps:// ``ldap`` on a private network."""
    docker("build", "--quiet", "--tag", SLAPD_IMAGE, str(SLAPD_CONTEXT), timeout=900)
    suffix = uuid.uuid4().hex[:8]
    network, name = f"modelhost-ldap-{suffix}", f"modelhost-slapd-{suffix}"
    docker("network", "create", network)
    try:
        docker("run", "--detach", "--name", name, "--network", network, "--network-alias", "ldap", SLAPD_IMAGE)
        _wait_for_slapd(name)
        secrets = tmp_path_factory.mktemp("secrets")
        secrets.chmod(0o755)
        password = secrets / "ldap-password"
        password.write_text(BIND_PASSWORD + "\n")
        password.chmod(0o644)  # the container's user (uid 10001) reads it through the mount
        for ca in ("ca.pem", "other-ca.pem"):
            docker("cp", f"{name}:/etc/ldap/tls/{ca}", str(secrets / f"ldap-{ca}"))
            (secrets / f"ldap-{ca}").chmod(0o644)
        yield Directory(network, name, secrets)
    finally:
        docker("rm", "--force", name, check=False)
        docker("network", "rm", network, check=False)


def _wait_for_slapd(name: str) -> None:
    for _ in range(60):
        result = docker("exec", name, "ldapsearch", "-x", "-H", "ldap://localhost", "-s", "base", "-b",
                        "dc=example,dc=org", "-D", "cn=modelhost,ou=services,dc=example,dc=org", "-w", BIND_PASSWORD,
                        check=False)
        if result.returncode == 0:
            return
        docker("exec", name, "sleep", "0.5", check=False)
    logs = docker("logs", name, check=False)
    pytest.fail(f"slapd did not answer within 30 s:\n{logs.stdout}{logs.stderr}")


@pytest.fixture(scope="module")
def started(directory: Directory) -> Iterator[Callable[..., Container]]:
    """Factory of modelhost containers on the directory's network; all are removed at the end."""
    names: list[str] = []
    yield lambda env: directory.start_modelhost(env, names)
    for name in names:
        logs = docker("logs", name, check=False)
        print(f"--- logs of {name} ---\n{logs.stdout}{logs.stderr}")
        docker("rm", "--force", name, check=False)


def ldap_env(**settings: str) -> dict[str, str]:
    """The settings of a container that signs users in against the test directory."""
    return {"MODELHOST_LDAP_URL": f"ldap://ldap:389/{USERS}?uid",
            "MODELHOST_LDAP_BIND_DN": "cn=modelhost,ou=services,dc=example,dc=org",
            "MODELHOST_LDAP_BIND_PASSWORD_FILE": "/run/secrets/ldap-password", **settings}


@pytest.fixture(scope="module")
def guarded(started: Callable[..., Container]) -> Container:
    """The default areas (pages, v1, v2, docs) for members of the group, with both tokens and CORS."""
    container = started(ldap_env(MODELHOST_LDAP_REQUIRE_GROUP=GROUP, MODELHOST_LDAP_REALM=REALM,
                                 MODELHOST_API_TOKEN=API_TOKEN, MODELHOST_ADMIN_TOKEN=ADMIN_TOKEN,
                                 MODELHOST_CORS_ORIGINS=ORIGIN))
    container.wait("/health/ready")
    return container


def assert_apache_problem(response: requests.Response, status: int) -> dict[str, Any]:
    """An RFC 9457 problem document from errors/problem.json, never Apache's HTML page."""
    assert response.status_code == status, response.text[:300]
    assert response.headers["Content-Type"].split(";")[0] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["type"] == "about:blank"
    assert body["title"] and body["detail"] and body["request_id"] == response.headers["X-Request-ID"]
    assert "<html" not in response.text.lower()
    return body


def assert_sign_in_asked(response: requests.Response, bearer_too: bool) -> dict[str, Any]:
    body = assert_apache_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == f'Basic realm="{REALM}"'
    assert body["title"] == "Unauthorized"
    assert body["detail"].startswith("Sign in with your directory user name and password")
    assert ("Authorization: Bearer" in body["detail"]) == bearer_too
    return body


PROTECTED = ["/", "/ui/models/iris", "/ui/models/iris/card", "/v1/models", "/v1/models/iris", "/v2/models/iris",
             "/v2", "/apidocs/", "/apispec.json", "/nonexistent"]


@pytest.mark.parametrize("path", PROTECTED)
def test_without_credentials_apache_asks_for_a_sign_in(guarded: Container, path: str) -> None:
    body = assert_sign_in_asked(requests.get(guarded.url + path, timeout=10),
                                bearer_too=path.startswith(("/v1/", "/v2")))
    assert body["instance"] == path
    if path.startswith("/v2"):
        assert body["error"] == body["detail"], "OIP clients read the detail as error"


@pytest.mark.parametrize("path", ["/", "/ui/models/iris", "/ui/models/iris/card", "/v1/models", "/v1/models/iris",
                                  "/v2/models/iris", "/v2", "/apidocs/", "/apispec.json"])
def test_a_member_of_the_group_gets_in(guarded: Container, path: str) -> None:
    response = requests.get(guarded.url + path, auth=ALICE, timeout=30)
    assert response.status_code == 200, response.text[:300]


def test_a_member_predicts_through_the_api_and_the_pages_without_a_token(guarded: Container) -> None:
    api = requests.post(guarded.url + "/v1/models/iris/predict", json=IRIS, auth=ALICE, timeout=30)
    assert api.status_code == 200 and api.json()["prediction"] == "setosa"
    v2 = requests.post(guarded.url + "/v2/models/iris/infer", auth=ALICE, timeout=30, json={"inputs": [
        {"name": name, "datatype": "FP64", "shape": [1], "data": [value]} for name, value in IRIS.items()]})
    assert v2.status_code == 200 and v2.json()["outputs"][0]["data"] == ["setosa"]
    page = requests.post(guarded.url + "/ui/models/iris", data=IRIS, auth=ALICE, timeout=30)
    assert page.status_code == 200 and "setosa" in page.text and 'name="token"' not in page.text


def test_a_user_outside_the_group_gets_a_403_problem(guarded: Container) -> None:
    for path in ("/", "/v1/models"):
        body = assert_apache_problem(requests.get(guarded.url + path, auth=BOB, timeout=30), 403)
        assert body["title"] == "Forbidden" and "not in the group this server admits" in body["detail"]


def test_a_wrong_password_gets_a_401_problem(guarded: Container) -> None:
    for path in ("/", "/v1/models"):
        response = requests.get(guarded.url + path, auth=(ALICE[0], "not-her-password"), timeout=30)
        assert_sign_in_asked(response, bearer_too=path != "/")
    assert_sign_in_asked(requests.get(guarded.url + "/", auth=("nobody", "x"), timeout=30), bearer_too=False)


@pytest.mark.parametrize("path", ["/health/live", "/health/ready", "/v2/health/live", "/v2/health/ready", "/metrics"])
def test_health_and_metrics_stay_open(guarded: Container, path: str) -> None:
    assert requests.get(guarded.url + path, timeout=10).status_code == 200


def test_the_api_token_works_without_a_sign_in_and_a_wrong_one_is_the_applications_401(guarded: Container) -> None:
    token = {"Authorization": f"Bearer {API_TOKEN}"}
    assert requests.get(guarded.url + "/v1/models", headers=token, timeout=10).status_code == 200
    predicted = requests.post(guarded.url + "/v1/models/iris/predict", json=IRIS, headers=token, timeout=30)
    assert predicted.status_code == 200 and predicted.json()["prediction"] == "setosa"
    assert requests.get(guarded.url + "/v2/models/iris", headers=token, timeout=10).status_code == 200
    wrong = requests.get(guarded.url + "/v1/models", headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Bearer")
    assert wrong.headers["Content-Type"] == "application/problem+json"
    assert wrong.json()["detail"] == "The bearer token is not valid; ask the operator for the current token."


@pytest.mark.parametrize("path", ["/", "/ui/models/iris", "/apidocs/", "/apispec.json"])
def test_a_bearer_header_is_no_sign_in_where_the_application_checks_no_token(guarded: Container, path: str) -> None:
    """Pages and docs do not check a bearer token, so Apache must not let one past the sign-in."""
    response = requests.get(guarded.url + path, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10)
    assert_sign_in_asked(response, bearer_too=False)


def test_the_admin_operation_stays_token_only(guarded: Container) -> None:
    signed_in = requests.post(guarded.url + "/v1/repository/reload", auth=ALICE, timeout=60)
    assert signed_in.status_code == 401 and "admin token" in signed_in.json()["detail"]
    admin = requests.post(guarded.url + "/v1/repository/reload",
                          headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60)
    assert admin.status_code == 200, admin.text[:300]


def test_a_cors_preflight_needs_no_sign_in(guarded: Container) -> None:
    response = requests.options(guarded.url + "/v1/models/iris/predict", timeout=10, headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"})
    assert response.status_code == 200 and response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_apaches_own_paths_keep_their_rules(guarded: Container) -> None:
    """/server-status stays local-only (its own 403), and the error documents are not a sign-in page."""
    status = assert_apache_problem(requests.get(guarded.url + "/server-status", auth=ALICE, timeout=10), 403)
    assert "only served to clients on the server itself" in status["detail"]
    assert requests.get(guarded.url + "/.modelhost-errors/problem.json", timeout=10).status_code == 404


def test_the_signed_in_user_reaches_the_application_and_its_access_log(guarded: Container) -> None:
    marker = f"ldap-{uuid.uuid4().hex[:12]}"
    response = requests.get(guarded.url + "/v1/models/iris", auth=ALICE, headers={"X-Request-ID": marker}, timeout=30)
    assert response.status_code == 200
    [line] = [line for line in _wait_for_log(guarded, marker).splitlines() if marker in line and "app.access" in line]
    assert line.endswith(" user=alice"), line
    token = requests.get(guarded.url + "/v1/models", headers={"Authorization": f"Bearer {API_TOKEN}",
                                                              "X-Request-ID": marker + "-token"}, timeout=10)
    assert token.status_code == 200
    [line] = [line for line in _wait_for_log(guarded, marker + "-token").splitlines() if marker + "-token" in line]
    assert "user=" not in line


def _wait_for_log(container: Container, text: str) -> str:
    for _ in range(40):  # the application writes its log lines in batches (LOG_FLUSH_MS)
        logs = container.logs()
        if text in logs:
            return logs
        docker("exec", container.name, "sleep", "0.25", check=False)
    pytest.fail(f"{text} is not in the container's log")


def test_the_bind_password_shows_nowhere(guarded: Container) -> None:
    """Not in docker logs or docker inspect, the generated configuration, or any process's environment."""
    requests.get(guarded.url + "/v1/models", auth=ALICE, timeout=30)
    logs = guarded.logs()
    assert "LDAP sign-in       ldap://ldap:389/ou=people,dc=example,dc=org?uid, bind as cn=modelhost" in logs
    assert f"LDAP allows        members of {GROUP}" in logs
    assert "LDAP protects      pages, v1, v2, docs" in logs
    assert BIND_PASSWORD not in logs
    assert BIND_PASSWORD not in docker("inspect", guarded.name).stdout
    found = json.loads(guarded.exec_python(
        "import json, os, sys\n"
        f"secret = {BIND_PASSWORD!r}.encode()\n"
        "hits = []\n"
        "for top in ('/dev/shm', '/tmp', '/opt/modelhost'):\n"
        "    for folder, _, files in os.walk(top):\n"
        "        for name in files:\n"
        "            path = os.path.join(folder, name)\n"
        "            try:\n"
        "                if secret in open(path, 'rb').read():\n"
        "                    hits.append(path)\n"
        "            except OSError:\n"
        "                pass\n"
        "configs = [os.path.join(f, n) for t in ('/dev/shm', '/tmp') for f, _, ns in os.walk(t) for n in ns\n"
        "           if n == 'httpd.conf']\n"
        "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
        "    try:\n"
        "        if secret in open(f'/proc/{pid}/environ', 'rb').read():\n"
        "            hits.append(f'/proc/{pid}/environ')\n"
        "    except OSError:\n"
        "        pass\n"
        "print(json.dumps({'hits': hits, 'configs': configs}))\n"))
    assert found["configs"], "the generated httpd.conf was searched"
    assert found["hits"] == []


@pytest.fixture(scope="module")
def over_tls(started: Callable[..., Container]) -> Container:
    """ldaps:// with the directory's CA; only v1, health and metrics protected; any directory user; no API token."""
    return started(ldap_env(MODELHOST_LDAP_URL=f"ldaps://ldap/{USERS}?uid",
                            MODELHOST_LDAP_CA_FILE="/run/secrets/ldap-ca.pem",
                            MODELHOST_LDAP_PROTECT="v1,health,metrics", MODELHOST_LDAP_REALM=REALM))


def test_over_ldaps_any_directory_user_gets_into_the_areas_listed(over_tls: Container) -> None:
    for path in ("/v1/models", "/health/ready", "/metrics"):
        assert_sign_in_asked(requests.get(over_tls.url + path, timeout=10), bearer_too=False)
        assert requests.get(over_tls.url + path, auth=BOB, timeout=30).status_code == 200, path
    for path in ("/", "/v2/models/iris", "/apidocs/"):
        assert requests.get(over_tls.url + path, timeout=10).status_code == 200, path
    assert "LDAP security      TLS (ldaps), CA /run/secrets/ldap-ca.pem" in over_tls.logs()


def test_without_an_api_token_a_bearer_header_is_no_sign_in(over_tls: Container) -> None:
    """No MODELHOST_API_TOKEN: the application checks no token on /v1, so Apache lets none past."""
    response = requests.get(over_tls.url + "/v1/models", headers={"Authorization": "Bearer anything"}, timeout=10)
    assert_sign_in_asked(response, bearer_too=False)


def test_paths_apache_normalises_are_still_protected(over_tls: Container) -> None:
    """Apache matches the areas after decoding and normalising the path, as the application routes it."""
    host, port = over_tls.url.removeprefix("http://").rsplit(":", 1)
    for path in ("//v1/models", "/health/../v1/models", "/%76%31/models", "/v2/health/../../v1/models"):
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            connection.request("GET", path)  # as written: no client-side clean-up of the path
            assert connection.getresponse().status == 401, path
        finally:
            connection.close()


def test_the_image_healthcheck_works_with_health_protected(over_tls: Container) -> None:
    """The HEALTHCHECK asks from inside the container without credentials: still answered."""
    code = over_tls.exec_python("import urllib.request\n"
                                "print(urllib.request.urlopen('http://127.0.0.1:8000/health/ready').status)")
    assert code.strip() == "200"


def test_starttls_signs_in_and_an_untrusted_certificate_is_refused(started: Callable[..., Container]) -> None:
    starttls = started(ldap_env(MODELHOST_LDAP_STARTTLS="on", MODELHOST_LDAP_CA_FILE="/run/secrets/ldap-ca.pem",
                                MODELHOST_LDAP_REQUIRE_GROUP=GROUP, MODELHOST_LDAP_REALM=REALM))
    assert requests.get(starttls.url + "/v1/models", auth=ALICE, timeout=30).status_code == 200
    assert requests.get(starttls.url + "/v1/models", auth=BOB, timeout=30).status_code == 403
    # With a CA that did not sign the directory's certificate, no sign-in succeeds (Apache's 500).
    untrusted = started(ldap_env(MODELHOST_LDAP_URL=f"ldaps://ldap/{USERS}?uid", MODELHOST_LDAP_REALM=REALM,
                                 MODELHOST_LDAP_CA_FILE="/run/secrets/ldap-other-ca.pem"))
    assert_apache_problem(requests.get(untrusted.url + "/v1/models", auth=ALICE, timeout=60), 500)


@pytest.mark.parametrize("settings, message", [
    ({}, "MODELHOST_LDAP_BIND_PASSWORD_FILE: /run/secrets/ldap-password does not exist; mount"),
    ({"MODELHOST_LDAP_URL": f"ldaps://ldap/{USERS}?uid", "MODELHOST_LDAP_BIND_DN": "",
      "MODELHOST_LDAP_BIND_PASSWORD_FILE": ""}, "MODELHOST_LDAP_CA_FILE is needed for TLS to the directory"),
])
def test_a_container_missing_a_file_stops_with_a_message(settings: dict[str, str], message: str) -> None:
    """No password file mounted, or TLS without a CA (the image has none): exit 2, saying what to do."""
    name = f"modelhost-test-ldap-{uuid.uuid4().hex[:8]}"
    try:
        env = {key: value for key, value in ldap_env(**settings).items() if value}
        result = docker("run", "--name", name, *[f"--env={k}={v}" for k, v in env.items()], IMAGE,
                        check=False, timeout=60)
        assert result.returncode == 2, result.stdout + result.stderr
        assert message in result.stderr
    finally:
        docker("rm", "--force", name, check=False)
