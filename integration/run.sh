#!/usr/bin/env bash
# `make integration`: build the image, start it on a free loopback port, wait until
# /health/ready answers 200, run the integration suite against it, and always remove the
# container, printing its logs when anything failed.
#
# With BASE_URL set (e.g. BASE_URL=http://127.0.0.1:8000 against a host `make run`), the suite
# runs against that server instead: no image build, no container, container tests skipped.
# Extra arguments go to pytest:  integration/run.sh -k predict
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-.venv/bin/python}
IMAGE=${IMAGE:-modelhost:latest}
READY_TIMEOUT=${READY_TIMEOUT:-120}

pytest_status() {
    # pytest exits 5 when it collected no tests: that is a failure of the suite, not a pass.
    local status=$1
    [ "$status" -ne 5 ] || echo "integration: pytest collected no tests" >&2
    return "$status"
}

if [ -n "${BASE_URL:-}" ]; then
    echo "integration: testing $BASE_URL (container tests skipped)"
    status=0
    MODELHOST_CONTAINER_TESTS=off "$PYTHON" -m pytest integration "$@" || status=$?
    pytest_status "$status"
    exit
fi

"${MAKE:-make}" --no-print-directory docker-build IMAGE="$IMAGE"
# The -train image too (test_image.py): its stages are the ones just built, so this is quick.
"${MAKE:-make}" --no-print-directory docker-build-train IMAGE="$IMAGE"

port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
name=modelhost-integration-$$
status=1
cleanup() {
    if [ "$status" -ne 0 ]; then
        echo "---------------- logs of container $name ----------------"
        docker logs "$name" 2>&1 | tail -n 200 || true
        echo "----------------------------------------------------------"
    fi
    docker rm --force "$name" >/dev/null 2>&1 || true
}
trap cleanup EXIT

docker run --detach --name "$name" --publish "127.0.0.1:$port:8000" "$IMAGE" >/dev/null
url="http://127.0.0.1:$port"
echo "integration: container $name at $url; waiting up to ${READY_TIMEOUT}s for /health/ready"
"$PYTHON" integration/wait_ready.py "$url/health/ready" "$READY_TIMEOUT" "$name" integration || exit 1

status=0
BASE_URL=$url MODELHOST_IMAGE=$IMAGE MODELHOST_TRAIN_IMAGE=$IMAGE-train "$PYTHON" -m pytest integration "$@" || status=$?
pytest_status "$status"
