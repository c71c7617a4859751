#!/usr/bin/env bash
# Build the base image `debian:bookworm-slim` locally, for build hosts that cannot pull from a
# registry. A minimal Debian bookworm root filesystem is made with debootstrap from the apt
# mirror this host already uses, then imported under the exact name the Dockerfile's FROM
# names, so the same Dockerfile builds on connected and air-gapped hosts alike.
#
# Usage: docker/base-image.sh [IMAGE]        (default IMAGE: debian:bookworm-slim)
# Environment: MIRROR (override the mirror), SECURITY_MIRROR (override the security mirror).
set -euo pipefail

image=${1:-debian:bookworm-slim}
suite=bookworm

die() { echo "base-image: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "debootstrap needs root; run as root (sudo make base-image)"
command -v docker >/dev/null || die "the docker CLI is not installed"
docker info >/dev/null 2>&1 || die "no Docker engine answers 'docker info'"
if ! command -v debootstrap >/dev/null; then
    echo "base-image: installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

# The host's own apt sources: deb822 files (URIs:) first, then the one-line format.
# Prints "URI SUITE" pairs for every Debian source line.
host_sources() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # Each stanza: remember URIs and Suites, print them at the blank line that ends it.
        awk 'BEGIN { RS = ""; FS = "\n" }
             {
               uris = ""; suites = ""; enabled = 1
               for (i = 1; i <= NF; i++) {
                 line = $i
                 if (line ~ /^[ \t]*#/) continue
                 if (line ~ /^URIs:/)    { sub(/^URIs:[ \t]*/, "", line); uris = line }
                 if (line ~ /^Suites:/)  { sub(/^Suites:[ \t]*/, "", line); suites = line }
                 if (line ~ /^Enabled:[ \t]*no/) enabled = 0
                 if (line ~ /^Types:/ && line !~ /deb([ \t]|$)/) enabled = 0
               }
               if (!enabled) next
               n = split(uris, u, /[ \t]+/); m = split(suites, s, /[ \t]+/)
               for (a = 1; a <= n; a++) for (b = 1; b <= m; b++) print u[a], s[b]
             }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        # deb [options] URI SUITE COMPONENTS...
        sed -E 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" { print $2, $3 }'
    done
}

sources=$(host_sources)
mirror=${MIRROR:-$(awk -v s="$suite" '$2 == s { print $1; exit }' <<<"$sources")}
security=${SECURITY_MIRROR:-$(awk -v s="$suite-security" '$2 == s { print $1; exit }' <<<"$sources")}
[ -n "$mirror" ] || die "no '$suite' source found in /etc/apt/sources.list{,.d/}; set MIRROR=http://your.mirror/debian"
echo "base-image: mirror $mirror${security:+, security $security}"

rootfs=$(mktemp -d /tmp/modelhost-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >/tmp/modelhost-debootstrap.log 2>&1 \
    || { tail -n 30 /tmp/modelhost-debootstrap.log >&2; die "debootstrap failed (full log: /tmp/modelhost-debootstrap.log)"; }

# apt sources inside the image: the same mirror, plus updates and security when the host has them.
{
    echo "deb $mirror $suite main"
    if grep -q " $suite-updates\$" <<<"$sources"; then echo "deb $mirror $suite-updates main"; fi
    if [ -n "$security" ]; then echo "deb $security $suite-security main"; fi
} >"$rootfs/etc/apt/sources.list"

# Keep it slim like the registry's -slim image: no docs, man pages, locales or apt lists,
# and tell dpkg to keep them out of every later install too.
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$rootfs"/usr/share/{man,info}/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* \
    "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* "$rootfs"/tmp/*
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +

tar -C "$rootfs" --numeric-owner -c . \
    | docker import --change 'CMD ["bash"]' \
        --message "debootstrap --variant=minbase $suite from $mirror (docker/base-image.sh)" - "$image" >/dev/null
echo "base-image: imported $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
