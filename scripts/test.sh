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

# Debian packages that tests need (for example sipp, tshark; openssl makes
# the throwaway TLS certificates). Installed with
# apt-get only when one of them is not installed yet.
DEBIAN_PACKAGES=(sip-tester openssl sngrep dnsmasq-base)

# shellcheck source=scripts/setup.sh
source "$ROOT/scripts/setup.sh"

section "setup: system packages"
PYTHON=$(find_python)
ensure_debian_packages "${DEBIAN_PACKAGES[@]}"

section "setup: Rust toolchain"
ensure_rust rustfmt clippy

section "setup: Python virtualenv .venv and the drachtio package"
ensure_venv "$VENV"
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
# Node.js and npm from Debian when no npm is on the PATH.
command -v npm >/dev/null 2>&1 || ensure_debian_packages nodejs npm
if ! cmp -s "$SRF_NODE/package-lock.json" "$SRF_NODE/node_modules/.installed-lock.json"; then
    quiet npm ci --prefix "$SRF_NODE" --no-audit --no-fund --ignore-scripts
    cp "$SRF_NODE/package-lock.json" "$SRF_NODE/node_modules/.installed-lock.json"
fi
echo "drachtio-srf $(node -p "require('$SRF_NODE/node_modules/drachtio-srf/package.json').version")"

section "setup: JsSIP for the SIP over WebSocket test (npm)"
# The JsSIP client that tests/server/test_server_ws.py runs under node.js,
# pinned by its package-lock.json; installed again only when it changed.
JSSIP_NODE="$ROOT/tests/jssip/node"
if ! cmp -s "$JSSIP_NODE/package-lock.json" "$JSSIP_NODE/node_modules/.installed-lock.json"; then
    quiet npm ci --prefix "$JSSIP_NODE" --no-audit --no-fund --ignore-scripts
    cp "$JSSIP_NODE/package-lock.json" "$JSSIP_NODE/node_modules/.installed-lock.json"
fi
echo "jssip $(node -p "require('$JSSIP_NODE/node_modules/jssip/package.json').version")"

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
