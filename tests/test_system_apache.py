"""modelhost in an existing Apache: the site example, the file it shares with the container, mod_modelhost.

The container (docker/apache/modelhost.conf) and a distribution's Apache
(docker/apache/system-apache.conf.example) include one shared.conf. These tests check the three
files fit together, that the example passes ``apache2 -t`` with Debian's Apache of this host
(skipped without Debian's mod_wsgi: apt-get install libapache2-mod-wsgi-py3), that mod_modelhost
routes only the sites that ask for it, and that README's steps are the ones the system-Apache CI
container runs (integration/system-apache/Dockerfile).
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.launch.settings import WHOLE_NUMBERS

ROOT = Path(__file__).resolve().parent.parent
APACHE_DIR = ROOT / "docker" / "apache"
SHARED = APACHE_DIR / "shared.conf"
CONTAINER = APACHE_DIR / "modelhost.conf"
EXAMPLE = APACHE_DIR / "system-apache.conf.example"
DOCKERFILE = ROOT / "integration" / "system-apache" / "Dockerfile"
APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
MODULES = Path("/usr/lib/apache2/modules")
#: The modules README's a2enmod line enables, besides wsgi; the example uses each of them.
SITE_MODULES = ["headers", "include", "unique_id", "deflate", "filter", "setenvif", "env", "alias", "reqtimeout"]


def directives(path: Path) -> list[str]:
    """The file's lines without comments and blank lines, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_the_container_and_the_system_site_include_the_same_shared_file():
    assert 'Include "${MODELHOST_APACHE_DIR}/shared.conf"' in directives(CONTAINER)
    assert "Include ${MODELHOST_APACHE_DIR}/shared.conf" in directives(EXAMPLE)
    # Inside the site's <VirtualHost>, so none of it reaches the server's other sites.
    lines = directives(EXAMPLE)
    include = lines.index("Include ${MODELHOST_APACHE_DIR}/shared.conf")
    assert lines.index("<VirtualHost *:80>") < include < lines.index("</VirtualHost>")


@pytest.mark.parametrize("pattern,why", [
    (r"^ServerTokens\b", "a server-wide setting"),
    (r"^LogFormat\b.*\bcommon$", "the format other sites' logs use"),
    (r"^(LoadModule|ListenCoresBucketsRatio)\b", "mod_wsgi-express's server"),
    (r"MOD_WSGI_|MODELHOST_SERVER_ROOT|MODELHOST_APACHE_MODULE|MODELHOST_LISTEN", "set by the start script only"),
    (r"SetHandler wsgi-handler|^ModelhostRoute\b|server-status", "the container's routing"),
    (r"^PassEnv\b", "the system site's values are Defines, not Apache's environment"),
])
def test_the_shared_file_holds_nothing_that_belongs_to_one_of_them(pattern, why):
    found = [line for line in directives(SHARED) if re.search(pattern, line)]
    assert not found, f"{why}: {found}"


def test_the_example_defines_every_variable_the_shared_file_reads_and_the_start_script_exports_them():
    shared = SHARED.read_text()
    own = set(re.findall(r"^Define (\w+)", shared, re.MULTILINE))
    used = set(re.findall(r"\$\{(\w+)\}", "\n".join(directives(SHARED)))) - own
    assert used == {"MODELHOST_APACHE_DIR", "MODELHOST_MAX_CONTENT_LENGTH", "MODELHOST_CORS_ORIGIN_PATTERN"}
    defined = set(re.findall(r"^Define (\w+) ", EXAMPLE.read_text(), re.MULTILINE))
    assert used <= defined, used - defined
    start = "\n".join(path.read_text() for path in sorted((ROOT / "app" / "launch").glob("*.py")))
    for name in used:
        assert f'"{name}"' in start, f"{name} is not set for Apache by the start (app/launch)"


def test_the_daemon_processes_have_the_containers_defaults():
    """The start's defaults (app/launch/settings.py) in daemon mode, written out."""
    [daemon] = [line for line in directives(EXAMPLE) if line.startswith("WSGIDaemonProcess ")]
    options = dict(option.split("=", 1) for option in daemon.split()[2:])
    defaults = {name: str(default) for name, (default, _, _) in WHOLE_NUMBERS.items()}
    for option, name in [("processes", "PROCESSES"), ("threads", "THREADS"), ("request-timeout", "REQUEST_TIMEOUT"),
                         ("queue-timeout", "QUEUE_TIMEOUT"), ("socket-timeout", "SOCKET_TIMEOUT"),
                         ("startup-timeout", "STARTUP_TIMEOUT"), ("graceful-timeout", "GRACEFUL_TIMEOUT"),
                         ("shutdown-timeout", "SHUTDOWN_TIMEOUT"), ("maximum-requests", "MAXIMUM_REQUESTS"),
                         ("listen-backlog", "MAX_CLIENTS")]:
        assert options[option] == defaults[name], (option, name)
    assert options["python-home"] == "${MODELHOST_APP}/venv" and options["home"] == "${MODELHOST_APP}"
    assert options["locale"] == "C.UTF-8" and options["display-name"] == "%{GROUP}"
    lines = directives(EXAMPLE)
    for expected in ("WSGIProcessGroup modelhost", "WSGIApplicationGroup %{GLOBAL}", "WSGIPassAuthorization On",
                     "WSGIScriptAlias / ${MODELHOST_APP}/flask.wsgi", "WSGIChunkedRequest On",
                     "LimitRequestBody ${MODELHOST_MAX_CONTENT_LENGTH}"):
        assert expected in lines, expected


# --- README's steps are the CI container's ---------------------------------------------------

def readme_steps() -> list[str]:
    """The commands of the first shell block under README's "Into an existing Apache"."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Into an existing Apache", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block, "no ```bash block in README's \"Into an existing Apache\""
    return [line.split("  #")[0].strip() for line in block[1].splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_the_readme_steps_are_the_ci_containers_word_for_word():
    steps = readme_steps()
    assert steps[-2:] == ["systemctl restart apache2", "curl -fsS http://127.0.0.1/health/ready"]
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    runs = [line[4:].strip() for line in text.splitlines() if line.startswith("RUN ")]
    # Every step up to the restart, in the same order; the CI container starts Apache instead of
    # restarting it (no systemd), and integration/system-apache.sh waits for /health/ready.
    position = 0
    for step in steps[:-2]:
        assert step in runs[position:], f"README step not in the Dockerfile (in order): {step}"
        position = runs.index(step, position) + 1
    assert 'CMD ["apache2ctl", "-D", "FOREGROUND"]' in text
    enable = next(step for step in steps if step.startswith("a2enmod "))
    assert enable.split()[1:] == ["wsgi", *SITE_MODULES]
    assert "a2enmod mpm_worker" in steps and "<IfModule mpm_worker_module>" in directives(EXAMPLE)


# --- Debian's Apache on this host ------------------------------------------------------------

def mod_wsgi() -> Path | None:
    """Debian's mod_wsgi, or one named by MODELHOST_TEST_MOD_WSGI (e.g. extracted from the .deb)."""
    for candidate in (os.environ.get("MODELHOST_TEST_MOD_WSGI"), MODULES / "mod_wsgi.so"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def build_module(target: Path) -> None:
    if not (shutil.which("apxs") or shutil.which("apxs2")):
        pytest.skip("apxs is not installed (apt-get install apache2-dev): mod_modelhost cannot be built")
    subprocess.run([str(APACHE_DIR / "build-module.sh"), str(target)], check=True, capture_output=True, text=True)


@pytest.fixture
def debian_apache(tmp_path: Path) -> Path:
    """A copy of this host's /etc/apache2, as Debian installs it, with no site enabled."""
    if not (Path(APACHE).is_file() and Path("/etc/apache2/apache2.conf").is_file() and MODULES.is_dir()):
        pytest.skip("Debian's Apache is not installed here (apt-get install apache2)")
    conf = tmp_path / "apache2"
    shutil.copytree("/etc/apache2", conf, symlinks=True)
    for site in (conf / "sites-enabled").iterdir():
        site.unlink()
    return conf


def configtest(conf: Path, *options: str) -> subprocess.CompletedProcess:
    """``apache2 -t`` on the copy, with the environment apache2ctl gives it (its envvars), and
    the folders apache2ctl would make under /run and /var in the copy's parent instead."""
    run = conf.parent / "run"
    for folder in ("run", "lock", "log"):
        (run / folder).mkdir(parents=True, exist_ok=True)
    command = (f'. "{conf}/envvars" && APACHE_RUN_DIR="{run}/run" APACHE_LOCK_DIR="{run}/lock" '
               f'APACHE_LOG_DIR="{run}/log" APACHE_PID_FILE="{run}/run/apache2.pid" && '
               'export APACHE_RUN_DIR APACHE_LOCK_DIR APACHE_LOG_DIR APACHE_PID_FILE && '
               f'exec "{APACHE}" -d "{conf}" -f "{conf}/apache2.conf" -t "$@"')
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "APACHE_CONFDIR": str(conf)}
    return subprocess.run(["sh", "-c", command, "configtest", *options], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def enable(conf: Path, module: str) -> None:
    """What a2enmod does: link the module's .load (and .conf) into mods-enabled."""
    for suffix in (".load", ".conf"):
        available = conf / "mods-available" / f"{module}{suffix}"
        enabled = conf / "mods-enabled" / f"{module}{suffix}"
        if available.exists() and not enabled.exists():
            enabled.symlink_to(f"../mods-available/{module}{suffix}")


def installed(tmp_path: Path, conf: Path) -> Path:
    """What make install-apache leaves in APP_PREFIX, as far as Apache reads it, and the site
    example copied to sites-enabled with its prefix."""
    prefix = tmp_path / "opt-modelhost"
    shutil.copytree(APACHE_DIR, prefix / "docker" / "apache", ignore=shutil.ignore_patterns("*.so"))
    (prefix / "flask.wsgi").write_text("")
    site = EXAMPLE.read_text().replace("Define MODELHOST_APP /opt/modelhost", f"Define MODELHOST_APP {prefix}")
    (conf / "sites-enabled" / "modelhost.conf").write_text(site)
    return prefix


@pytest.mark.parametrize("with_module", [True, False], ids=["with-mod_modelhost", "without-mod_modelhost"])
def test_the_example_passes_apache2_t_with_debians_apache(debian_apache, tmp_path, with_module):
    wsgi = mod_wsgi()
    if wsgi is None:
        pytest.skip("Debian's mod_wsgi is not installed here (apt-get install libapache2-mod-wsgi-py3), or set "
                    "MODELHOST_TEST_MOD_WSGI to a mod_wsgi.so; the system-Apache CI container runs it either way")
    prefix = installed(tmp_path, debian_apache)
    if with_module:
        build_module(prefix / "docker" / "apache" / "mod_modelhost.so")
    (debian_apache / "mods-available" / "wsgi.load").write_text(f"LoadModule wsgi_module {wsgi}\n")
    for module in ["wsgi", *SITE_MODULES]:
        enable(debian_apache, module)
    result = configtest(debian_apache)
    assert result.returncode == 0 and "Syntax OK" in result.stderr, result.stderr
    loaded = configtest(debian_apache, "-D", "DUMP_MODULES").stdout
    assert "wsgi_module" in loaded and ("modelhost_module" in loaded) == with_module, loaded


def test_without_the_modules_the_example_says_which_directive_needs_what(debian_apache, tmp_path):
    """A missing a2enmod is an error naming the directive, before anything starts."""
    wsgi = mod_wsgi()
    if wsgi is None:
        pytest.skip("Debian's mod_wsgi is not installed here (apt-get install libapache2-mod-wsgi-py3)")
    installed(tmp_path, debian_apache)
    result = configtest(debian_apache)
    assert result.returncode != 0, result.stderr
    assert "Invalid command" in result.stderr and "defined by a module not included" in result.stderr, result.stderr


# --- mod_modelhost acts only where ModelhostRoute says so --------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, host: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def two_sites(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An Apache of this host with mod_modelhost loaded and two sites: "other" without
    ModelhostRoute, "modelhost" with ModelhostRoute DocumentRoot. Both have a file hello.txt."""
    if not (Path(APACHE).is_file() and MODULES.is_dir()):
        pytest.skip("Debian's Apache is not installed here (apt-get install apache2)")
    module = tmp_path / "mod_modelhost.so"
    build_module(module)
    port = free_port()
    # Apache started as root serves as nobody, who cannot enter pytest's folders: the sites'
    # files are in a folder anybody can read.
    sites = Path(tempfile.mkdtemp(prefix="modelhost-sites-"))
    sites.chmod(0o755)
    for site in ("other", "modelhost"):
        (sites / site).mkdir(mode=0o755)
        (sites / site / "hello.txt").write_text(f"hello from {site}\n")
        (sites / site / "hello.txt").chmod(0o644)
    load = "\n".join(f"LoadModule {name}_module {MODULES}/mod_{name}.so"
                     for name in ("mpm_event", "authz_core", "mime"))
    user = "User nobody\nGroup nogroup" if os.geteuid() == 0 else ""
    (tmp_path / "httpd.conf").write_text(f"""
{load}
LoadModule modelhost_module {module}
{user}
ServerName localhost
Listen 127.0.0.1:{port}
PidFile {tmp_path}/httpd.pid
ErrorLog {tmp_path}/error.log
TypesConfig /etc/mime.types
<Directory {sites}>
    Require all granted
</Directory>
<VirtualHost 127.0.0.1:{port}>
    ServerName other
    DocumentRoot {sites}/other
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName modelhost
    DocumentRoot {sites}/modelhost
    ModelhostRoute DocumentRoot
</VirtualHost>
""")
    subprocess.run([APACHE, "-d", str(tmp_path), "-f", str(tmp_path / "httpd.conf"), "-k", "start"],
                   check=True, capture_output=True, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                get(url + "/", "other")
                break
            except OSError:
                time.sleep(0.1)
        yield url, tmp_path
    finally:
        subprocess.run([APACHE, "-d", str(tmp_path), "-f", str(tmp_path / "httpd.conf"), "-k", "stop"],
                       capture_output=True, check=False)
        pid = tmp_path / "httpd.pid"
        deadline = time.monotonic() + 10
        while pid.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        shutil.rmtree(sites)


def test_mod_modelhost_leaves_the_servers_other_sites_alone(two_sites):
    url, _ = two_sites
    # The other site: its files, and Apache's own answer to a path no file name can hold.
    assert get(url + "/hello.txt", "other") == (200, b"hello from other\n")
    assert get(url + "/" + "a" * 5000, "other")[0] == 403
    # The routed site: no path is a file of its DocumentRoot, however long it is.
    assert get(url + "/hello.txt", "modelhost")[0] == 404
    assert get(url + "/" + "a" * 5000, "modelhost")[0] == 404


def test_mod_modelhost_refuses_a_route_it_does_not_know(tmp_path):
    if not Path(APACHE).is_file():
        pytest.skip("Debian's Apache is not installed here (apt-get install apache2)")
    module = tmp_path / "mod_modelhost.so"
    build_module(module)
    for route, message in [("Somewhere", "ModelhostRoute takes DocumentRoot"),
                           ("WSGIScript", "ModelhostRoute takes DocumentRoot"),
                           ("DocumentRoot /x", "ModelhostRoute takes DocumentRoot")]:
        (tmp_path / "httpd.conf").write_text(f"LoadModule mpm_event_module {MODULES}/mod_mpm_event.so\n"
                                             f"LoadModule modelhost_module {module}\nModelhostRoute {route}\n")
        result = subprocess.run([APACHE, "-d", str(tmp_path), "-f", str(tmp_path / "httpd.conf"), "-t"],
                                capture_output=True, text=True, check=False)
        assert result.returncode != 0 and message in result.stderr, (route, result.stderr)
