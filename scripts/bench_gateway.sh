#!/usr/bin/env bash
# Gateway benchmarks: notify fan-out to every session and user-space bytes per idle session, at
# 1,000 / 10,000 / 19,000 sessions in one gateway process (2 shards), three runs each; prints the
# medians with min and max. The gateway is the release build; `fanout` writes its job ring.
#
#   scripts/bench_gateway.sh              all sizes
#   SIZES="1000" RUNS=1 scripts/bench_gateway.sh
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
cargo build --release -p ironpool-dataplane -p ironpool-bench --bin ironpool-gateway --bin fanout >/dev/null 2>&1 || \
    cargo build --release -p ironpool-dataplane -p ironpool-bench
SIZES="${SIZES:-1000 10000 19000}"
RUNS="${RUNS:-3}"
WORK="$(mktemp -d /tmp/ironpool-bench-gw.XXXXXX)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK" /dev/shm/ironpool-bench-gw-$$' EXIT
PORT=$((20000 + RANDOM % 20000))
results="$WORK/results.txt"
for size in $SIZES; do
    for run in $(seq 1 "$RUNS"); do
        rings="/dev/shm/ironpool-bench-gw-$$"
        rm -rf "$rings" "$WORK/spool"
        mkdir -p "$rings"
        cat >"$WORK/gateway.toml" <<TOML
[gateway]
shards = 2
[rings]
dir = "$rings"
spool_dir = "$WORK/spool"
share_ring_records = 4096
[[port]]
listen = ["127.0.0.1:$PORT"]
difficulty = 1
TOML
        # The job ring must exist before the gateway looks for it.
        ./target/release/fanout --addr "127.0.0.1:$PORT" --ring-dir "$rings" --gateway-pid 0 --sessions 0 --rounds 0 >/dev/null 2>&1 &
        sleep 0.3
        RUST_LOG=warn ./target/release/ironpool-gateway --config "$WORK/gateway.toml" 2>"$WORK/gateway.log" &
        gw=$!
        wait %1 2>/dev/null || true
        ./target/release/fanout --addr "127.0.0.1:$PORT" --ring-dir "$rings" --gateway-pid "$gw" --sessions "$size" --rounds 5 \
            | tee -a "$results" | sed "s/^/[$size #$run] /"
        kill -TERM "$gw" && wait "$gw" 2>/dev/null || true
        PORT=$((PORT + 1))
    done
done
python3 - "$results" <<'PY'
import sys, statistics, collections
rows = [dict(kv.split("=", 1) for kv in line.split()[1:]) for line in open(sys.argv[1]) if line.startswith("RESULT")]
by = collections.defaultdict(lambda: collections.defaultdict(list))
for r in rows:
    n = int(r["sessions"])
    if r["kind"] == "sessions":
        by[n]["bytes_per_session"].append(int(r["bytes_per_session"]))
        by[n]["connect_s"].append(float(r["connect_s"]))
    else:
        by[n]["p50_us"].append(int(r["p50_us"])); by[n]["p99_us"].append(int(r["p99_us"])); by[n]["max_us"].append(int(r["max_us"]))
print(f"{'sessions':>9} {'bytes/session':>22} {'notify p50 us':>22} {'notify p99 us':>22} {'last session us':>22}")
for n in sorted(by):
    d = by[n]
    f = lambda k: f"{statistics.median(d[k]):.0f} ({min(d[k]):.0f}-{max(d[k]):.0f})"
    print(f"{n:>9} {f('bytes_per_session'):>22} {f('p50_us'):>22} {f('p99_us'):>22} {f('max_us'):>22}")
PY
