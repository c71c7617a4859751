#!/usr/bin/env bash
# Build mod_modelhost.so (mod_modelhost.c beside this script) with apxs into the path given.
#   docker/apache/build-module.sh build/mod_modelhost.so
# Needs Apache's development files: apt-get install apache2-dev.
set -euo pipefail
out=${1:?usage: build-module.sh OUTPUT.so}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
apxs=$(command -v apxs || command -v apxs2) ||
    { echo "build-module.sh: apxs not found: apt-get install apache2-dev" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/mod_modelhost.c" "$work/"
# Warnings are errors: an undeclared Apache function would otherwise compile, returning an int
# where the module expects a pointer.
(cd "$work" && "$apxs" -Wc,-Wall -Wc,-Werror -c mod_modelhost.c >build.log 2>&1) ||
    { cat "$work/build.log" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
install -m 0644 "$work/.libs/mod_modelhost.so" "$out"
