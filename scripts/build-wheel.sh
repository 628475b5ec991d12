#!/usr/bin/env bash
# Writes the release wheel and the sdist of drachtio into OUTDIR, installing
# what it needs (Rust, and in a build virtualenv maturin, ziglang, auditwheel):
#
#   bash scripts/build-wheel.sh OUTDIR
#
# The wheel is abi3 (one wheel for CPython 3.10 and newer) and manylinux2014
# (glibc 2.17 or newer): zig links it against that glibc's symbols, whatever
# the glibc of the building machine, and auditwheel checks the result.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: bash scripts/build-wheel.sh OUTDIR" >&2
    exit 2
fi
mkdir -p "$1"
OUT=$(cd "$1" && pwd)

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
LOG="$ROOT/target/build-wheel.log"
BUILD_VENV="$ROOT/target/wheel-venv"
PLATFORM=manylinux2014
PLATFORM_TAG=manylinux_2_17

# shellcheck source=scripts/setup.sh
source "$ROOT/scripts/setup.sh"

section "setup: system packages"
PYTHON=$(find_python)
ensure_debian_packages

section "setup: Rust toolchain"
ensure_rust

section "setup: build virtualenv (maturin, ziglang, auditwheel)"
ensure_venv "$BUILD_VENV"
quiet "$BUILD_VENV/bin/python" -m pip install --disable-pip-version-check \
    'maturin>=1.7,<2' 'ziglang>=0.13' 'auditwheel>=6'
export PATH="$BUILD_VENV/bin:$PATH"
maturin --version

section "maturin build --release --zig --compatibility $PLATFORM"
# Its own target directory: the zig-linked build does not replace the
# extension that scripts/test.sh builds for the tests.
CARGO_TARGET_DIR="$ROOT/target/wheel" maturin build --release --zig \
    --compatibility "$PLATFORM" --out "$OUT"

section "maturin sdist"
maturin sdist --out "$OUT"

section "auditwheel show"
# The one maturin just wrote: the newest in OUTDIR.
wheel=$(ls -t "$OUT"/drachtio-*-abi3-*.whl | head -1)
report=$(auditwheel show "$wheel")
echo "$report"
if ! grep -q "\"${PLATFORM_TAG}_x86_64\"\|\"${PLATFORM_TAG}_aarch64\"" <<<"$report"; then
    echo "the wheel is not $PLATFORM_TAG-compatible" >&2
    exit 1
fi

printf '\nwrote %s and the sdist into %s\n' "$(basename "$wheel")" "$OUT"
