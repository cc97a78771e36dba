#!/usr/bin/env bash
# Installs what ironpool's tests and demo need and is not there yet, then builds the workspace.
#
#   scripts/setup.sh [--no-build]
#
# Idempotent: every step checks first and skips what is present, so CI runs it on every build.
# Works on a fresh Debian machine as root or through sudo. Installs:
#   - redis-server (Debian package): the real Redis the tests start (DESIGN.md "Real parts in tests");
#   - a C toolchain and pkg-config, only when missing (the Rust linker needs cc);
#   - python3 and pip, only when missing (pip fetches the node wheel, python3 picks free ports);
#   - the regtest node into .tools/ (scripts/lib/install-node.sh).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib/install-node.sh
source "$REPO/scripts/lib/install-node.sh"

build=1
for arg in "$@"; do
    case "$arg" in
        --no-build) build=0 ;;
        -h | --help)
            sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "setup: unknown argument: $arg" >&2
            exit 2
            ;;
    esac
done

as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        echo "setup: need root or sudo to run: $*" >&2
        exit 1
    fi
}

packages=()
command -v redis-server >/dev/null || packages+=(redis-server)
command -v redis-cli >/dev/null || packages+=(redis-tools)
command -v cc >/dev/null || packages+=(build-essential)
command -v pkg-config >/dev/null || packages+=(pkg-config)
command -v flock >/dev/null || packages+=(util-linux)
if ! command -v python3 >/dev/null; then
    packages+=(python3 python3-pip)
elif ! python3 -m pip --version >/dev/null 2>&1; then
    packages+=(python3-pip)
fi

if ((${#packages[@]} > 0)); then
    echo "setup: installing ${packages[*]}"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}"
else
    echo "setup: apt packages present"
fi

ironpool_install_node "$REPO"
echo "setup: node $("$(ironpool_node_bin_dir "$REPO")/bitcoind" -version | head -n 1)"

if ((build)); then
    if ! command -v cargo >/dev/null; then
        echo "setup: cargo not found; install the Rust toolchain named in rust-toolchain.toml" >&2
        exit 1
    fi
    echo "setup: cargo build --release --workspace"
    (cd "$REPO" && cargo build --release --workspace)
fi
echo "setup: done"
