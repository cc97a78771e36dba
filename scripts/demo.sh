#!/usr/bin/env bash
# The pool on a local regtest chain, with live figures:
#   two connected regtest nodes (scripts/regtest.sh, ZMQ on node 0)
#   -> jobmaster (templates -> jobs on the job ring; block candidates -> both nodes)
#   -> gateway (2 shards, Stratum V1 on 127.0.0.1:3333)
#   -> sim-miner (simulated miners: real Stratum over TCP, real sha256d)
#   gateway share rings -> metawriter -> a local redis-server (scripts/redis.sh), in the
#   ViaBTC key format; the figures below read the pool's shares and hash rate back from Redis
#
#   scripts/demo.sh                 runs until Ctrl-C
#   DEMO_SECONDS=60 scripts/demo.sh stops by itself after 60 s
#
# Installs what is missing and builds in release mode first (scripts/setup.sh).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
scripts/setup.sh

# shellcheck source-path=SCRIPTDIR source=lib/install-node.sh
source "$REPO/scripts/lib/install-node.sh"
CLI="$(ironpool_node_bin_dir "$REPO")/bitcoin-cli"

WORK="$(mktemp -d /tmp/ironpool-demo.XXXXXX)"
RINGS="/dev/shm/ironpool-demo-$$"
PIDS=()
cleanup() {
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    scripts/regtest.sh stop "$WORK/nodes" --rm >/dev/null 2>&1 || true
    scripts/redis.sh stop "$WORK/redis" >/dev/null 2>&1 || true
    rm -rf "$RINGS"
    echo "demo: stopped; logs and found blocks kept in $WORK"
}
trap cleanup EXIT INT TERM

echo "demo: starting two regtest nodes"
scripts/regtest.sh start 2 "$WORK/nodes" --zmq >"$WORK/nodes.txt"
read -r _ RPC0 _ ZMQ0 DIR0 _ < <(sed -n 1p "$WORK/nodes.txt")
read -r _ RPC1 _ _ _ _ < <(sed -n 2p "$WORK/nodes.txt")

echo "demo: starting redis-server"
REDIS_PORT="$(scripts/redis.sh start "$WORK/redis" --persist)"

PORT="${DEMO_PORT:-3333}"
MINERS="${DEMO_MINERS:-20}"
# The documented regtest configs, pointed at these nodes and this run's directories.
sed -e "s|http://127.0.0.1:18443/|http://127.0.0.1:$RPC0/|" \
    -e "s|http://127.0.0.1:18444/|http://127.0.0.1:$RPC1/|" \
    -e "s|^dir = \"/dev/shm/ironpool-demo\"|dir = \"$RINGS\"|" \
    -e "s|^dir = \"/tmp/ironpool-demo/blocks\"|dir = \"$WORK/blocks\"|" \
    conf/regtest/jobmaster.toml >"$WORK/jobmaster.toml"
sed -i "0,/^timeout_ms = 5000/s||timeout_ms = 5000\nzmq_hashblock = \"tcp://127.0.0.1:$ZMQ0\"|" "$WORK/jobmaster.toml"

sed -e "s|^dir = \"/dev/shm/ironpool-demo\"|dir = \"$RINGS\"|" \
    -e "s|/tmp/ironpool-demo/spool|$WORK/spool|" \
    -e "s|127.0.0.1:3333|127.0.0.1:$PORT|" \
    conf/regtest/gateway.toml >"$WORK/gateway.toml"

sed -e "s|^ring_dir = \"/dev/shm/ironpool-demo\"|ring_dir = \"$RINGS\"|" \
    -e "s|/tmp/ironpool-demo/metawriter|$WORK/metawriter|" \
    -e "s|redis://127.0.0.1:6379/|redis://127.0.0.1:$REDIS_PORT/|" \
    conf/regtest/metawriter.toml >"$WORK/metawriter.toml"

target/release/ironpool-control jobmaster --config "$WORK/jobmaster.toml" 2>"$WORK/jobmaster.log" &
PIDS+=($!)
target/release/ironpool-gateway --config "$WORK/gateway.toml" 2>"$WORK/gateway.log" &
PIDS+=($!)
target/release/ironpool-control metawriter --config "$WORK/metawriter.toml" 2>"$WORK/metawriter.log" &
PIDS+=($!)
target/release/sim-miner --addr "127.0.0.1:$PORT" --connections "$MINERS" --hashrate 2000 >"$WORK/miner.log" 2>&1 &
PIDS+=($!)

echo "demo: jobmaster, gateway, metawriter and $MINERS simulated miners running; logs in $WORK (Ctrl-C to stop)"
echo "demo: Redis on port $REDIS_PORT (redis-cli -p $REDIS_PORT hgetall btc:m:share)"
printf '%-8s %-7s %-9s %-8s %-46s %-26s %s\n' "elapsed" "height" "accepted" "pending" "miners (from sim-miner)" "redis: shares/pow this min" "best block"
started=$SECONDS
while :; do
    for pid in "${PIDS[@]}"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "demo: a process exited; last lines of its log:" >&2
            tail -n 20 "$WORK/jobmaster.log" "$WORK/metawriter.log" "$WORK/miner.log" >&2
            exit 1
        fi
    done
    height=$("$CLI" -datadir="$DIR0" getblockcount 2>/dev/null || echo "?")
    best=$("$CLI" -datadir="$DIR0" getbestblockhash 2>/dev/null || echo "?")
    accepted=$(find "$WORK/blocks/accepted" -name '*.block' 2>/dev/null | wc -l)
    pending=$(find "$WORK/blocks/pending" -name '*.block' 2>/dev/null | wc -l)
    miners=$(tail -n 1 "$WORK/miner.log" 2>/dev/null | grep -o 'authorized=[0-9]* hashrate=[^ ]* accepted=[0-9]* rejected=[0-9]*' || true)
    minute=$(($(date +%s) / 60 * 60))
    shares=$(redis-cli -p "$REDIS_PORT" hget btc:m:share "$minute" 2>/dev/null || true)
    pow=$(redis-cli -p "$REDIS_PORT" hget btc:m:pow "$minute" 2>/dev/null || true)
    printf '%-8s %-7s %-9s %-8s %-46s %-26s %s\n' "$((SECONDS - started))s" "$height" "$accepted" "$pending" "${miners:-starting}" "${shares:-0} / ${pow:-0}" "${best:0:16}..."
    if [[ -n "${DEMO_SECONDS:-}" ]] && ((SECONDS - started >= DEMO_SECONDS)); then
        break
    fi
    sleep 2
done
