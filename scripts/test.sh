#!/usr/bin/env bash
# Every check, in the order CI runs them (.ci/run execs this):
#   1. scripts/setup.sh --no-build   the node and redis-server the tests start are installed
#   2. cargo fmt --all -- --check
#   3. cargo clippy --workspace --all-targets -- -D warnings
#   4. cargo test --workspace        tests start the real parts they need (regtest nodes, Redis)
#                                    themselves, through the harness in bench/src/regtest
# Stops at the first failing stage and names it.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

STAGE="start"
report() {
    local status=$?
    if ((status != 0)); then
        echo >&2
        echo "test.sh: FAILED at stage '$STAGE' (exit status $status)" >&2
    fi
}
trap report EXIT

stage() {
    STAGE="$1"
    echo
    echo "==> test.sh: $STAGE"
}

stage "setup"
scripts/setup.sh --no-build

stage "fmt"
cargo fmt --all -- --check

stage "clippy"
cargo clippy --workspace --all-targets -- -D warnings

stage "test"
log="$(mktemp)"
cargo test --workspace 2>&1 | tee "$log"
# One closing line for the whole workspace: cargo prints a result per test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     END { printf "\ntest.sh: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"

echo
echo "test.sh: all stages passed"
