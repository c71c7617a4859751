#!/usr/bin/env bash
# Remove from a virtualenv what serving never runs: the packages' own test suites (scipy,
# pandas, numpy and scikit-learn ship ~100 MB of them), Cython sources and C headers, and,
# unless --keep-pip, pip and setuptools (nothing is installed into an image at runtime).
# Compiled bytecode stays: the image's user cannot write __pycache__, so without it every
# start would compile scikit-learn again.
#
# Usage: docker/slim-venv.sh [--keep-pip] VENV
set -euo pipefail

keep_pip=no
if [ "${1:-}" = --keep-pip ]; then keep_pip=yes; shift; fi
venv=${1:?usage: slim-venv.sh [--keep-pip] VENV}
site=$(echo "$venv"/lib/python3*/site-packages)
[ -d "$site" ] || { echo "slim-venv: no site-packages in $venv" >&2; exit 1; }
before=$(du -sm "$venv" | cut -f1)

# Test suites: directories named tests or testing_data inside packages (never a package's
# runtime code: numpy.testing and sklearn.utils._testing are not named so and stay).
find "$site" -mindepth 2 -type d \( -name tests -o -name testing_data \) -prune -exec rm -rf {} +
# Build inputs: Cython sources and declarations, C/C++ sources and headers.
find "$site" -type f \( -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' -o -name '*.c' -o -name '*.cpp' \
    -o -name '*.h' -o -name '*.hpp' \) -delete
if [ "$keep_pip" = no ]; then
    rm -rf "$site"/pip "$site"/pip-*.dist-info "$site"/setuptools "$site"/setuptools-*.dist-info \
        "$site"/pkg_resources "$site"/_distutils_hack "$site"/distutils-precedence.pth "$venv"/bin/pip*
fi
echo "slim-venv: $venv ${before} MB -> $(du -sm "$venv" | cut -f1) MB"
