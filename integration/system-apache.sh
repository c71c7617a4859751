#!/usr/bin/env bash
# `make integration-system-apache`: modelhost inside Debian's own Apache. Builds
# integration/system-apache/Dockerfile (Debian's apache2 and libapache2-mod-wsgi-py3, set up by
# the README's "Into an existing Apache" steps) as modelhost-sysapache-test, starts it on a free
# loopback port, waits until /health/ready answers 200, runs the integration suite against it
# (integration/run.sh with BASE_URL: the tests that start containers of the image skip), and
# always removes the container, printing its output and Apache's log files when anything failed.
# Extra arguments go to pytest:  integration/system-apache.sh -k trace
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-.venv/bin/python}
IMAGE=${SYSTEM_APACHE_IMAGE:-modelhost-sysapache-test}
BASE_IMAGE=${BASE_IMAGE:-debian:bookworm-slim}
READY_TIMEOUT=${READY_TIMEOUT:-180}
# Extra CA certificates for pip inside the build (TLS-intercepting proxy), as make docker-build
# passes them: only those Debian does not ship. CA_BUNDLE= passes none.
CA_BUNDLE=${CA_BUNDLE-/etc/ssl/certs/ca-certificates.crt}

# The base image is built here where it is missing (make base-image), never pulled.
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    echo "system-apache: base image $BASE_IMAGE is not here: make base-image"
    "${MAKE:-make}" --no-print-directory base-image BASE_IMAGE="$BASE_IMAGE"
fi
build_args=()
if [ -n "$CA_BUNDLE" ] && [ -r "$CA_BUNDLE" ]; then
    build_args+=(--build-arg "CA_BUNDLE_PEM=$(docker/extra-ca-certs.sh "$CA_BUNDLE")")
fi
echo "system-apache: building $IMAGE (integration/system-apache/Dockerfile)"
docker build -f integration/system-apache/Dockerfile "${build_args[@]}" -t "$IMAGE" .

port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
name=modelhost-sysapache-$$
status=1
cleanup() {
    if [ "$status" -ne 0 ]; then
        echo "---------------- output of container $name ----------------"
        docker logs "$name" 2>&1 | tail -n 100 || true
        logs=$(mktemp -d)
        if docker cp "$name:/var/log/apache2" "$logs" >/dev/null 2>&1; then
            for log in "$logs"/apache2/*.log; do
                echo "---------------- $(basename "$log") (last 100 lines) ----------------"
                tail -n 100 "$log"
            done
        fi
        rm -rf "$logs"
        echo "-----------------------------------------------------------"
    fi
    docker rm --force "$name" >/dev/null 2>&1 || true
}
trap cleanup EXIT

docker run --detach --name "$name" --publish "127.0.0.1:$port:80" "$IMAGE" >/dev/null
url="http://127.0.0.1:$port"
echo "system-apache: container $name at $url; waiting up to ${READY_TIMEOUT}s for /health/ready"
"$PYTHON" integration/wait_ready.py "$url/health/ready" "$READY_TIMEOUT" "$name" system-apache || exit 1

status=0
BASE_URL=$url PYTHON=$PYTHON integration/run.sh "$@" || status=$?
exit "$status"
