#!/usr/bin/env bash
# `make bench`: load-test POST /v1/models/iris/predict with wrk over loopback, bounded in time:
# one run per connection count (default 64, 200 and 256 keep-alive connections, 20 s each),
# printing throughput, latency percentiles and errors, then the container's memory.
#
# Without BASE_URL it starts modelhost:latest on a free loopback port (building it if needed)
# and removes it afterwards; with BASE_URL it loads that server, which must be on loopback.
# Settings: DURATION=20s CONNECTIONS="64 200 256" WRK_THREADS=2, and MODELHOST_* variables
# (passed to the container it starts) to try other tunings.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DURATION=${DURATION:-20s}
CONNECTIONS=${CONNECTIONS:-64 200 256}
WRK_THREADS=${WRK_THREADS:-2}
IMAGE=${IMAGE:-modelhost:latest}

if ! command -v wrk >/dev/null; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        echo "bench: installing wrk"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
    else
        echo "bench: wrk is not installed: apt-get install wrk" >&2
        exit 1
    fi
fi

container=
cleanup() { [ -z "$container" ] || docker rm --force "$container" >/dev/null 2>&1 || true; }
trap cleanup EXIT

if [ -n "${BASE_URL:-}" ]; then
    url=${BASE_URL%/}
    case $url in
        http://127.0.0.1:* | http://localhost:* | http://\[::1\]:*) ;;
        *) echo "bench: BASE_URL must be a loopback address (http://127.0.0.1:PORT); got $url" >&2; exit 1 ;;
    esac
else
    docker image inspect "$IMAGE" >/dev/null 2>&1 || "${MAKE:-make}" --no-print-directory docker-build IMAGE="$IMAGE"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    container=modelhost-bench-$$
    # Pass on the tuning variables set here (not paths such as MODELHOST_MODEL_REPOSITORY).
    env_args=()
    for var in PROCESSES THREADS MAX_CLIENTS LISTEN_BACKLOG KEEP_ALIVE_TIMEOUT REQUEST_TIMEOUT \
        QUEUE_TIMEOUT SOCKET_TIMEOUT GRACEFUL_TIMEOUT SHUTDOWN_TIMEOUT MAXIMUM_REQUESTS \
        SERVER_MPM ACCESS_LOG LOG_LEVEL APACHE_LOG_LEVEL; do
        value_var=MODELHOST_$var
        [ -z "${!value_var:-}" ] || env_args+=(--env "$value_var=${!value_var}")
    done
    docker run --detach --name "$container" --publish "127.0.0.1:$port:8000" "${env_args[@]}" "$IMAGE" >/dev/null
    url=http://127.0.0.1:$port
    echo "bench: container $container at $url"
fi

[ -z "$container" ] || docker exec "$container" true  # fails early if it did not start
for _ in $(seq 120); do
    python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" "$url/health/ready" 2>/dev/null && break
    sleep 1
done
python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" "$url/health/ready" ||
    { echo "bench: $url/health/ready is not answering 200" >&2; [ -z "$container" ] || docker logs "$container" 2>&1 | tail -n 50; exit 1; }

echo "bench: warm-up, 5 s at 16 connections"
wrk -t"$WRK_THREADS" -c16 -d5s -s bench/predict.lua "$url" >/dev/null

for connections in $CONNECTIONS; do
    echo
    echo "=== POST /v1/models/iris/predict: $connections keep-alive connections, $DURATION ==="
    wrk -t"$WRK_THREADS" -c"$connections" -d"$DURATION" --timeout 10s --latency -s bench/predict.lua "$url"
done

if [ -n "$container" ]; then
    echo
    docker stats --no-stream --format 'memory of the container: {{.MemUsage}} ({{.PIDs}} processes and threads)' "$container"
    if docker logs "$container" 2>&1 | grep -E 'reached MaxRequestWorkers|Queue timeout|Unable to connect'; then
        echo "bench: Apache reported saturation above"
    else
        echo "bench: Apache logged no 'reached MaxRequestWorkers', queue-timeout or daemon-connect errors"
    fi
fi
