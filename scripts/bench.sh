#!/usr/bin/env bash
# The 100,000-miner benchmark: two regtest nodes, the jobmaster, 6 gateway processes on one port
# and 6 load generators (`loadgen`) holding 100,000 miners; three runs; prints each run's RESULT
# line and a table of medians with min and max (also saved to bench-results.md). Installs what is
# missing first (scripts/setup.sh).
#
#   scripts/bench.sh                          defaults (see: target/release/pool_bench --help)
#   scripts/bench.sh --miners 20000 --runs 1  any pool_bench option
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
scripts/setup.sh --no-build >/dev/null
cargo build --release -p ironpool-controlplane -p ironpool-dataplane -p ironpool-bench \
    --bin ironpool-control --bin ironpool-gateway --bin loadgen --bin pool_bench
limit=$(ulimit -Hn)
if [ "$limit" != unlimited ] && [ "$limit" -lt 20000 ]; then
    echo "bench.sh: open files hard limit is $limit; each gateway and load generator needs ~17,000" >&2
fi
ulimit -n "$limit" 2>/dev/null || true
./target/release/pool_bench "$@" | tee bench-results.md
