#!/usr/bin/env bash
# Print the CA certificates of a PEM bundle that Debian's ca-certificates package does not
# already trust: on a host behind a TLS-intercepting proxy, that is the proxy's CA. The result
# goes into the image build as the build argument CA_BUNDLE_PEM (builder stage only).
#
# Why not pass the whole bundle: a single command-line argument is limited to 128 KiB on Linux
# and a full system bundle is larger. The builder stage installs ca-certificates itself, so
# only the certificates it lacks need to travel.
#
# Usage: docker/extra-ca-certs.sh BUNDLE.pem
set -euo pipefail

bundle=${1:?usage: $0 BUNDLE.pem}
[ -r "$bundle" ] || { echo "extra-ca-certs: cannot read CA bundle '$bundle'" >&2; exit 1; }

# Certificates Debian ships; on a non-Debian host this is empty and the whole bundle is kept.
known=()
for f in /usr/share/ca-certificates/mozilla/*.crt; do [ -f "$f" ] && known+=("$f"); done

extra=$(awk -v bundle="$bundle" '
    { sub(/\r$/, "") }
    /-----BEGIN CERTIFICATE-----/ { cert = ""; inside = 1 }
    inside { cert = cert $0 "\n" }
    /-----END CERTIFICATE-----/ {
        inside = 0
        if (FILENAME != bundle) known[cert] = 1
        else if (!(cert in known) && !(cert in printed)) { printed[cert] = 1; printf "%s", cert }
    }' "${known[@]}" "$bundle")

if [ "${#extra}" -gt 120000 ]; then
    echo "extra-ca-certs: $bundle holds ${#extra} bytes of certificates Debian does not ship," >&2
    echo "  more than fits in one build argument. Set CA_BUNDLE to a file with only your proxy's CA." >&2
    exit 1
fi
printf '%s' "$extra"
