#!/usr/bin/env bash
# The project's one test command: installs what it needs (idempotently), then
# runs every lint and test suite, stopping at the first failure.
#
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh -k via     # extra arguments go to pytest
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
VENV="$ROOT/.venv"
LOG="$ROOT/target/test-setup.log"

# Debian packages that tests need (for example sipp, tshark). Installed with
# apt-get only when one of them is not installed yet.
DEBIAN_PACKAGES=(sip-tester)

step_no=0
section() {
    step_no=$((step_no + 1))
    printf '\n==> [%d] %s\n' "$step_no" "$*"
}
on_exit() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        printf '\n!!! scripts/test.sh failed in step [%d] (exit %d)\n' "$step_no" "$rc" >&2
    fi
}
trap on_exit EXIT

# Runs a setup command with its output in $LOG, shown only if it fails.
quiet() {
    mkdir -p "$(dirname "$LOG")"
    if ! "$@" >"$LOG" 2>&1; then
        cat "$LOG" >&2
        echo "failed: $*" >&2
        return 1
    fi
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

deb_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

find_python() {
    local py
    for py in "${PYTHON:-}" python3 python; do
        if [ -n "$py" ] && command -v "$py" >/dev/null 2>&1 &&
            "$py" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
            echo "$py"
            return 0
        fi
    done
    echo "Python 3.10 or newer is needed (set PYTHON=/path/to/python3 to choose one)" >&2
    return 1
}

section "setup: system packages"
PYTHON=$(find_python)
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
    deb_installed "$pkg" || missing+=("$pkg")
done
# A bare Debian has neither a C linker (rustc needs one) nor venv's ensurepip.
if command -v apt-get >/dev/null 2>&1; then
    command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
    "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    quiet as_root apt-get update
    quiet as_root apt-get install -y --no-install-recommends "${missing[@]}"
else
    echo "nothing to install"
fi

section "setup: Rust toolchain"
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null 2>&1; then
    echo "installing Rust with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
        sh -s -- -y --quiet --profile minimal --component rustfmt,clippy >"$LOG" 2>&1 ||
        { cat "$LOG" >&2; exit 1; }
fi
if command -v rustup >/dev/null 2>&1; then
    installed=$(rustup component list --installed 2>/dev/null || true)
    for comp in rustfmt clippy; do
        grep -q "^$comp" <<<"$installed" || quiet rustup component add "$comp"
    done
fi
cargo --version

section "setup: Python virtualenv .venv and the drachtio package"
if ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    rm -rf "$VENV"
    quiet "$PYTHON" -m venv "$VENV"
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"
quiet python -m pip install --disable-pip-version-check 'maturin>=1.7,<2'
# A release build: fast at test time, and the same code the wheel ships.
# --extras installs the test tools declared in pyproject.toml.
quiet maturin develop --release --extras test
python --version
python -c 'import importlib.metadata as m; print("drachtio", m.version("drachtio"))'

section "setup: drachtio-srf for the interoperability test (npm)"
# The node.js client that tests/srfproto/test_srfproto_interop.py runs, pinned
# by its package-lock.json; installed again only when the lock file changed.
SRF_NODE="$ROOT/tests/srfproto/node"
if command -v npm >/dev/null 2>&1; then
    if ! cmp -s "$SRF_NODE/package-lock.json" "$SRF_NODE/node_modules/.installed-lock.json"; then
        quiet npm ci --prefix "$SRF_NODE" --no-audit --no-fund --ignore-scripts
        cp "$SRF_NODE/package-lock.json" "$SRF_NODE/node_modules/.installed-lock.json"
    fi
    echo "drachtio-srf $(node -p "require('$SRF_NODE/node_modules/drachtio-srf/package.json').version")"
else
    echo "npm not found: the drachtio-srf interoperability test is skipped"
fi

section "cargo fmt --all --check"
cargo fmt --all --check

section "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --quiet --workspace --all-targets -- -D warnings

# drachtio-py depends on pyo3 with the extension-module feature, which leaves
# libpython unlinked (the interpreter provides it at import time), so a test
# binary of that crate that touches the Python API cannot link. The setup step
# above has already built and linked it (maturin develop), and pytest tests it
# through the real extension.
section "cargo test --workspace --exclude drachtio-py"
cargo test --quiet --workspace --exclude drachtio-py

section "ruff check python tests benches examples"
ruff check python tests benches examples

section "ruff format --check python tests benches examples"
ruff format --check python tests benches examples

section "mypy --strict python/drachtio"
mypy --strict python/drachtio

section "mypy --strict examples"
mypy --strict examples

section "python -m mypy.stubtest drachtio._core"
python -m mypy.stubtest drachtio._core

section "pytest -q $*"
pytest -q "$@"

printf '\nall checks passed\n'
