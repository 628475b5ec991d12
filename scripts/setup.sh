# Shared by scripts/test.sh and scripts/build-wheel.sh (sourced, not run):
# progress sections, quiet setup steps, and installing what a bare Debian
# machine lacks. The sourcing script sets ROOT and LOG first.

step_no=0
section() {
    step_no=$((step_no + 1))
    printf '\n==> [%d] %s\n' "$step_no" "$*"
}
on_exit() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        printf '\n!!! %s failed in step [%d] (exit %d)\n' "$0" "$step_no" "$rc" >&2
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

# Installs the Debian packages named (apt-get, only those missing), and what a
# bare Debian lacks to build and test: a C linker (rustc needs one) and
# venv's ensurepip for the Python $PYTHON.
ensure_debian_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        deb_installed "$pkg" || missing+=("$pkg")
    done
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
}

# Puts cargo on the PATH, installing Rust with rustup when it is missing,
# with the rustup components named (rustfmt, clippy...).
ensure_rust() {
    export PATH="$HOME/.cargo/bin:$PATH"
    if ! command -v cargo >/dev/null 2>&1; then
        echo "installing Rust with rustup"
        mkdir -p "$(dirname "$LOG")"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
            sh -s -- -y --quiet --profile minimal >"$LOG" 2>&1 ||
            { cat "$LOG" >&2; exit 1; }
    fi
    if [ $# -gt 0 ] && command -v rustup >/dev/null 2>&1; then
        local installed comp
        installed=$(rustup component list --installed 2>/dev/null || true)
        for comp in "$@"; do
            grep -q "^$comp" <<<"$installed" || quiet rustup component add "$comp"
        done
    fi
    cargo --version
}

# A virtualenv at $1 with a Python of 3.10 or newer (made again if not).
ensure_venv() {
    if ! "$1/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
        rm -rf "$1"
        quiet "$PYTHON" -m venv "$1"
    fi
}
