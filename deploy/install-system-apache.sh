#!/usr/bin/env bash
# `make install-apache`: install modelhost into APP_PREFIX (default /opt/modelhost) for an
# existing Apache httpd with the distribution's mod_wsgi (README.md, "Into an existing Apache";
# the site is docker/apache/system-apache.conf.example). Run as root; again to upgrade in place.
#
#   APP_PREFIX/venv                    virtualenv of the system Python (/usr/bin/python3, the one
#                                      Debian's libapache2-mod-wsgi-py3 is built for), with the
#                                      serving set (requirements.txt)
#   APP_PREFIX/app, flask.wsgi         the application, compiled
#   APP_PREFIX/docker/apache           shared.conf, errors/, the site example (naming this prefix)
#                                      and mod_modelhost.so where apxs is installed
#   APP_PREFIX/instance/models         the model repository; the demo models while it is empty
#   APP_PREFIX/state, state/prometheus STATE_DIR: the only folders Apache's user can write to
#
# Everything else is root's and only readable by Apache's user: a compromised application can
# change no code, model or setting. The instance folder's config.py (settings, tokens) is the
# admin's: this script never writes it, nor any secret.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { printf 'install-apache: %s\n' "$*"; }
die() { printf 'install-apache: %s\n' "$*" >&2; exit 2; }

prefix=${APP_PREFIX:-/opt/modelhost}
python=${SYSTEM_PYTHON:-/usr/bin/python3}
# Debian's and Ubuntu's Apache run as www-data, RHEL's and Fedora's as apache.
user=${APACHE_USER:-$(id -u www-data >/dev/null 2>&1 && echo www-data || echo apache)}
demo=${DEMO_MODELS:-yes}

[ "$(id -u)" -eq 0 ] || die "run as root (sudo make install-apache): the files must belong to root, and the state folders to $user"
# The prefix ends up unquoted in Apache directives (python-home=..., Define): no spaces or quotes.
[[ $prefix =~ ^/[A-Za-z0-9._/-]+$ && $prefix != / ]] ||
    die "APP_PREFIX must be an absolute path of letters, digits, '.', '_', '-' and '/', got '$prefix'"
prefix=${prefix%/}
id -u "$user" >/dev/null 2>&1 || die "Apache's user '$user' does not exist; install Apache first, or set APACHE_USER"
[ "$(id -u "$user")" -ne 0 ] || die "APACHE_USER must not be root"
group=$(id -gn "$user")
[ -x "$python" ] || die "$python not found: the virtualenv must be made with the Python mod_wsgi is built for; set SYSTEM_PYTHON"
"$python" -c 'import ensurepip, venv' 2>/dev/null ||
    die "$python cannot make a virtualenv: apt-get install python3-venv (RHEL: it is part of python3)"
version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

umask 022
# Root's folders, readable by everyone: nobody but root may change what Apache runs.
install -d -o root -g root -m 0755 "$prefix" "$prefix/docker" "$prefix/instance" "$prefix/instance/models"

# --- The virtualenv -----------------------------------------------------------------------
# Kept on upgrades (pip installs what the pins changed), made again when its Python is not the
# system Python's version any more (a distribution upgrade).
venv=$prefix/venv
if [ -x "$venv/bin/python" ] &&
    [ "$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$version" ]; then
    say "virtualenv $venv (Python $version): upgrading to requirements.txt"
else
    say "virtualenv $venv: creating it with $python (Python $version)"
    rm -rf "$venv"
    "$python" -m venv "$venv"
fi
PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/pip" install --quiet -r "$src/requirements.txt"

# --- The application ----------------------------------------------------------------------
# Assembled beside the installed tree and swapped in, so a module deleted from the source is
# gone from the installation too, and the old tree serves until the new one is complete.
stage=$(mktemp -d "$prefix/.install.XXXXXX")
scratch=
trap 'rm -rf "$stage" ${scratch:+"$scratch"}' EXIT
cp -R "$src/app" "$stage/app"
find "$stage/app" -name __pycache__ -prune -exec rm -rf {} +
cp "$src/flask.wsgi" "$src/requirements.txt" "$stage/"
cp -R "$src/docker/apache" "$stage/apache"
rm -f "$stage/apache/mod_modelhost.so"
# The site example names this prefix, so it can be copied as it is.
sed -i "s|^Define MODELHOST_APP .*|Define MODELHOST_APP $prefix|" "$stage/apache/system-apache.conf.example"
if command -v apxs >/dev/null 2>&1 || command -v apxs2 >/dev/null 2>&1; then
    "$src/docker/apache/build-module.sh" "$stage/apache/mod_modelhost.so"
    module="built ($prefix/docker/apache/mod_modelhost.so)"
elif [ -f "$prefix/docker/apache/mod_modelhost.so" ]; then
    cp "$prefix/docker/apache/mod_modelhost.so" "$stage/apache/"
    module="kept from the last install (apxs is not installed to build it again)"
else
    module="not built: apxs is not installed (apt-get install apache2-dev gcc libc6-dev; RHEL: httpd-devel gcc);
                     the site routes by WSGIScriptAlias (README: what changes without it)"
fi
"$venv/bin/python" -m compileall -q "$stage/app"
chown -R root:root "$stage"
chmod -R u=rwX,go=rX "$stage"
for part in app flask.wsgi requirements.txt; do
    rm -rf "$prefix/$part.old"
    [ ! -e "$prefix/$part" ] || mv "$prefix/$part" "$prefix/$part.old"
    mv "$stage/$part" "$prefix/$part"
    rm -rf "$prefix/$part.old"
done
rm -rf "$prefix/docker/apache.old"
[ ! -e "$prefix/docker/apache" ] || mv "$prefix/docker/apache" "$prefix/docker/apache.old"
mv "$stage/apache" "$prefix/docker/apache"
rm -rf "$prefix/docker/apache.old"

# Every setting the instance folder's config.py may hold, for the admin who writes it.
[ ! -f "$src/instance/config.example.py" ] ||
    install -o root -g root -m 0644 "$src/instance/config.example.py" "$prefix/instance/config.example.py"

# --- The state folders --------------------------------------------------------------------
# STATE_DIR and its Prometheus samples: the application's processes write there, and the first
# one of each Apache start empties them (app/fleet.py). Made here, so a `flask` command run as
# root can never be the one that creates them.
install -d -o "$user" -g "$group" -m 0750 "$prefix/state" "$prefix/state/prometheus"

# --- The demo models ----------------------------------------------------------------------
models=$prefix/instance/models
if [ -n "$(ls -A "$models")" ]; then
    trained="present, left as they are"
elif [ "$demo" = no ]; then
    trained="none (DEMO_MODELS=no): copy models into $models"
else
    say "model repository $models is empty: training the demo models"
    scratch=$(mktemp -d)
    # The training extras (requirements-train.txt: matplotlib draws the model cards' plots) go
    # into a throwaway virtualenv that sees the serving one's packages through a .pth file: the
    # models are trained with the very libraries that serve them, and the serving virtualenv
    # stays the serving set.
    "$python" -m venv "$scratch/venv"
    purelib() { "$1" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
    purelib "$venv/bin/python" >"$(purelib "$scratch/venv/bin/python")/modelhost-serving.pth"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$scratch/venv/bin/pip" install --quiet -r "$src/requirements-train.txt"
    # An empty instance folder of its own: the training needs none of the server's settings,
    # and must not count as one of its processes.
    (cd "$prefix" && env -u PROMETHEUS_MULTIPROC_DIR -u MODELHOST_STATE_DIR MODELHOST_INSTANCE_PATH="$scratch" \
        MODELHOST_MODEL_REPOSITORY="$models" MPLCONFIGDIR="$scratch" "$scratch/venv/bin/python" -m flask --app app train-demo)
    rm -rf "$scratch"
    trained="the demo models (iris, breast_cancer, diabetes), trained now"
fi
chown -R root:root "$models"
chmod -R u=rwX,go=rX "$models"

# --- Check as Apache's user ---------------------------------------------------------------
runuser -u "$user" -- "$venv/bin/python" -c "import flask, sklearn, numpy, prometheus_client" ||
    die "$user cannot use $venv; are the folders above $prefix readable by $user?"
for path in "$prefix/flask.wsgi" "$prefix/app/__init__.py" "$prefix/docker/apache/shared.conf" "$models"; do
    runuser -u "$user" -- test -r "$path" || die "$path is not readable by $user"
done
for path in "$prefix/state" "$prefix/state/prometheus"; do
    runuser -u "$user" -- test -w "$path" || die "$path is not writable by $user"
done
[ -e "$prefix/instance/config.py" ] && config="present (not changed)" ||
    config="none yet: write at least STATE_DIR = \"$prefix/state\" (README \"Into an existing Apache\")"

cat <<EOF
install-apache: modelhost installed in $prefix for Apache's user $user
  virtualenv        $venv (Python $version, requirements.txt)
  application       $prefix/app, $prefix/flask.wsgi
  Apache files      $prefix/docker/apache (shared.conf, errors/, system-apache.conf.example)
  mod_modelhost     $module
  model repository  $models: $trained
  state (writable)  $prefix/state, $prefix/state/prometheus (owner $user)
  settings          $prefix/instance/config.py: $config
Next (Debian; RHEL in README.md), the first time: copy $prefix/docker/apache/system-apache.conf.example
to /etc/apache2/sites-available/modelhost.conf, a2enmod (wsgi headers include unique_id ...),
a2dismod mpm_event, a2enmod mpm_worker, a2ensite modelhost, apachectl configtest,
systemctl restart apache2. After an upgrade: systemctl reload apache2 (the processes load the new code).
EOF
