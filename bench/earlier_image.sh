#!/usr/bin/env bash
# Build the image of an earlier revision, for `make bench` to compare with today's in one run.
#
#   bench/earlier_image.sh REV TAG      e.g.  bench/earlier_image.sh 59770c7 modelhost:earlier
#
# REV (any commit git names) is checked out into a temporary git worktree, where the Makefile of
# that revision builds it as `make docker-build IMAGE=TAG` would: the same Dockerfile, target and
# build arguments, the revision's short hash in the label org.opencontainers.image.revision. The
# worktree is removed afterwards, also when the build fails; this work tree is not touched.
# Then:  SERVERS="baseline earlier container" EARLIER_IMAGE=TAG make bench   (bench/bench.py)
set -euo pipefail

if [ $# -ne 2 ] || [ -z "$1" ] || [ -z "$2" ]; then
  echo "usage: $0 REV TAG   (e.g. $0 59770c7 modelhost:earlier)" >&2
  exit 2
fi
rev=$1
tag=$2
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
commit=$(git -C "$repo" rev-parse --verify --quiet "$rev^{commit}") || {
  echo "$0: $rev names no commit of $repo" >&2
  exit 2
}

worktree=$(mktemp -d "${TMPDIR:-/tmp}/modelhost-earlier-XXXXXX")
cleanup() {
  git -C "$repo" worktree remove --force "$worktree" 2>/dev/null || rm -rf "$worktree"
}
trap cleanup EXIT

echo "building $tag from revision $(git -C "$repo" log -1 --format='%h %s' "$commit")"
git -C "$repo" worktree add --quiet --detach "$worktree" "$commit"
# A clean make of that revision: none of the calling make's flags or variables.
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u IMAGE \
  make --no-print-directory -C "$worktree" docker-build IMAGE="$tag"

docker image inspect --format \
  "built $tag: {{.Id}}, revision {{index .Config.Labels \"org.opencontainers.image.revision\"}}" "$tag"
