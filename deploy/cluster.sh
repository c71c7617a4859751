#!/usr/bin/env bash
# The steps of make cluster-up and make cluster-update (deploy/compose.yaml; README "More than
# one machine"):
#
#   deploy/cluster.sh models DIR IMAGE          fill an empty model repository DIR with IMAGE's demo models
#   deploy/cluster.sh wait URL N                wait until the balancer at URL has N replicas in rotation
#   deploy/cluster.sh members PROJECT           print the balancer's members and their state
#   deploy/cluster.sh drain PROJECT CONTAINER   send a replica no new request (before docker stop)
#   deploy/cluster.sh update PROJECT IMAGE URL  replace every replica not running IMAGE, one at a time
#
# update starts a replica of the new image first, waits until the balancer sends it requests,
# then drains one old replica at the balancer and stops it (docker stop: Apache's graceful stop,
# so its running requests finish), so the cluster never has fewer replicas
# than before and no request fails. CLUSTER_COMPOSE is the compose command with its -p and -f.
set -euo pipefail

DOCKER=${DOCKER:-docker}
WAIT_SECONDS=${WAIT_SECONDS:-180}

die() { echo "cluster: $*" >&2; exit 1; }
say() { echo "cluster: $*" >&2; }

# containers PROJECT SERVICE: the ids of the service's running containers, oldest first.
containers() {
    "$DOCKER" ps --filter "label=com.docker.compose.project=$1" --filter "label=com.docker.compose.service=$2" \
        --format '{{.CreatedAt}}\t{{.ID}}' | sort | cut -f2
}

# manager PROJECT QUERY [FORM]: the balancer's manager page (GET /balancer-manager?QUERY), or
# its answer to FORM (POST), asked inside the balancer container, where it is served (Require
# local). The page takes parameters only from a request that names it as its Referer.
manager() {
    local balancer
    balancer=$(containers "$1" balancer | head -n 1)
    [ -n "$balancer" ] || die "no balancer container of project $1 is running; make cluster-up starts one"
    "$DOCKER" exec "$balancer" bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/${MODELHOST_PORT:-8000}"
        headers="Host: modelhost-balancer\r\nReferer: http://modelhost-balancer/balancer-manager\r\n"
        if [ -z "$2" ]; then
            printf "GET /balancer-manager?%s HTTP/1.0\r\n$headers\r\n" "$1" >&3
        else
            printf "POST /balancer-manager HTTP/1.0\r\n${headers}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %s\r\n\r\n%s" "${#2}" "$2" >&3
        fi
        cat <&3' _ "$2" "${3:-}"
}

# workers PROJECT: the balancer's members, one <httpd:worker> element of its XML page per line.
workers() {
    manager "$1" "b=modelhost&xml=1" | tr -d '\n' | grep -o '<httpd:worker>.*</httpd:worker>' |
        sed 's#</httpd:worker>#&\n#g'
}

# members PROJECT: "member state" lines, such as "http://host:8000 Init Ok".
members() {
    workers "$1" | sed -n 's#.*<httpd:name>\([^<]*\)</httpd:name>.*<httpd:status>\([^<]*\)</httpd:status>.*#\1 \2#p'
}

# member_of PROJECT CONTAINER: the balancer's member URL of a replica container (by its name).
member_of() {
    local name=${2#/}
    members "$1" | awk -v name="$name" 'index($1, "http://" name ".") == 1 || index($1, "http://" name ":") == 1 { print $1; exit }'
}

# drain PROJECT CONTAINER: the balancer sends the replica no new request (its member's Drain
# state); returns once it has none in flight (at most 30 s).
drain() {
    local member nonce busy deadline
    member=$(member_of "$1" "$2")
    [ -n "$member" ] || { say "${2#/} is not a member of the balancer (already gone)"; return 0; }
    # The form carries the page's nonce; a reload of the balancer's members in between makes a
    # new one, so this tries again until the member shows the Drain state.
    deadline=$((SECONDS + 30))
    until members "$1" | grep -F "$member " | grep -q Drn; do
        ((SECONDS < deadline)) || die "the balancer did not take $member out of rotation within 30 s"
        nonce=$(manager "$1" "" | grep -o 'nonce=[0-9a-f-]*' | head -n 1 | cut -d= -f2) || true
        [ -z "$nonce" ] || manager "$1" "" "b=modelhost&w=$member&w_status_N=1&nonce=$nonce" >/dev/null || true
        sleep 0.5
    done
    deadline=$((SECONDS + 30))
    while :; do
        busy=$(workers "$1" | grep -F "<httpd:name>$member</httpd:name>" |
            sed -n 's#.*<httpd:busy>\([0-9]*\)</httpd:busy>.*#\1#p')
        [ "${busy:-0}" -gt 0 ] && ((SECONDS < deadline)) || break
        sleep 0.2
    done
    say "${2#/} drained: the balancer sends it no new request"
}

# in_rotation PROJECT: how many members the balancer sends requests to now: state Ok, and none
# of in error (Err), health check failed (HcFl), disabled, stopped, draining or standby.
in_rotation() {
    members "$1" | awk '/ Ok/ && !/Err|HcFl|Dis|Stop|Drn|Stby/ { n++ } END { print n + 0 }'
}

case ${1:-} in
    models)
        dir=${2:?usage: cluster.sh models DIR IMAGE} image=${3:?usage: cluster.sh models DIR IMAGE}
        if [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
            say "model repository $dir (mounted read-only by every replica)"
            exit 0
        fi
        say "model repository $dir is empty: copying the demo models of $image into it"
        mkdir -p "$dir"
        created=$("$DOCKER" create "$image")
        trap '"$DOCKER" rm "$created" >/dev/null' EXIT
        "$DOCKER" cp "$created:/models/." "$dir"
        # The replicas run as uid 10001: every folder and file must be readable by it.
        chmod -R a+rX "$dir"
        ;;
    wait)
        url=${2:?usage: cluster.sh wait URL N} want=${3:?usage: cluster.sh wait URL N}
        project=${CLUSTER:-modelhost}
        say "waiting up to ${WAIT_SECONDS}s for $want replicas in rotation behind $url"
        deadline=$((SECONDS + WAIT_SECONDS))
        while :; do
            have=$(in_rotation "$project" 2>/dev/null) || have=0
            if ((have >= want)) && curl -fsS -o /dev/null "$url/health/ready" 2>/dev/null; then
                say "$have replicas in rotation; the cluster answers at $url"
                exit 0
            fi
            ((SECONDS < deadline)) || { members "$project" >&2 || true; die "only $have of $want replicas in rotation after ${WAIT_SECONDS}s; see docker logs of the replicas"; }
            sleep 1
        done
        ;;
    members)
        members "${2:?usage: cluster.sh members PROJECT}"
        ;;
    drain)
        drain "${2:?usage: cluster.sh drain PROJECT CONTAINER}" "${3:?usage: cluster.sh drain PROJECT CONTAINER}"
        ;;
    update)
        project=${2:?usage: cluster.sh update PROJECT IMAGE URL} image=${3:?usage: cluster.sh update PROJECT IMAGE URL}
        [ -n "${CLUSTER_COMPOSE:-}" ] || die "CLUSTER_COMPOSE is not set; run make cluster-update"
        new_id=$("$DOCKER" image inspect -f '{{.Id}}' "$image") || die "image $image is not here; make docker-build first"
        # Compose would start a stopped replica again (with its old image) rather than make a new one.
        stopped=$("$DOCKER" ps -a --filter "label=com.docker.compose.project=$project" \
            --filter "label=com.docker.compose.service=modelhost" --filter status=exited --filter status=created \
            --format '{{.Names}}' | tr '\n' ' ')
        [ -z "$stopped" ] ||
            die "replicas $stopped are stopped: start them (docker start) or remove them (docker rm) first, then run the update again"
        mapfile -t running < <(containers "$project" modelhost)
        ((${#running[@]})) || die "no replica of project $project is running; make cluster-up first"
        old=()
        for id in "${running[@]}"; do
            [ "$("$DOCKER" inspect -f '{{.Image}}' "$id")" = "$new_id" ] || old+=("$id")
        done
        total=${#running[@]}
        say "$total replicas, ${#old[@]} to replace with $image"
        for id in "${old[@]}"; do
            name=$("$DOCKER" inspect -f '{{.Name}}' "$id")
            say "starting a replica of $image beside ${name#/}"
            # One more replica, of the current image; --no-recreate leaves the others as they are.
            $CLUSTER_COMPOSE up -d --no-deps --no-recreate --scale modelhost=$((total + 1)) modelhost
            deadline=$((SECONDS + WAIT_SECONDS))
            until (($(in_rotation "$project") >= total + 1)); do
                ((SECONDS < deadline)) || die "the new replica is not in rotation after ${WAIT_SECONDS}s; ${name#/} still serves (see docker logs)"
                sleep 1
            done
            # New replicas' connections settle, then the old one is drained and stopped.
            sleep 2
            drain "$project" "$name"
            say "stopping ${name#/} (graceful: its running requests finish)"
            "$DOCKER" stop "$id" >/dev/null
            "$DOCKER" rm "$id" >/dev/null
        done
        say "every replica runs $image"
        ;;
    *)
        sed -n '2,14p' "$0" >&2
        exit 2
        ;;
esac
