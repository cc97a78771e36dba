#!/usr/bin/env bash
# A throwaway redis-server for tests (DESIGN.md "Real parts in tests": a real Redis, never a mock).
#
#   scripts/redis.sh start DIR [--persist]   prints the port it listens on (127.0.0.1)
#   scripts/redis.sh stop DIR [--rm]
#
# start: runs redis-server in DIR on a free port, with no RDB snapshots and no AOF unless
#   --persist (then appendonly, fsync every second). Returns once it answers PING. Writes
#   DIR/redis.port and DIR/redis.pid.
# stop: shuts it down (SHUTDOWN NOSAVE, SIGKILL after 10 s) and waits for it to exit; --rm then
#   removes DIR.
set -euo pipefail

START_TIMEOUT_S=10
STOP_TIMEOUT_S=10
LAUNCH_ATTEMPTS_MAX=3

die() {
    echo "redis: $*" >&2
    exit 1
}

usage() {
    sed -n '4,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}/usage: /' >&2
    exit 2
}

# Another process can take the port between this pick and redis' bind: start retries on that.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# True when PID is a live (not zombie) redis-server, so a stale pid file never names an unrelated
# process that reused the pid.
redis_alive() {
    local pid="$1" state
    [[ -n "$pid" && -r "/proc/$pid/stat" ]] || return 1
    state="$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d ' ' -f 1)" || return 1
    [[ -n "$state" && "$state" != Z ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "redis-server"
}

start_redis() {
    local dir="$1" persist="$2" port pid attempt deadline
    command -v redis-server >/dev/null || die "redis-server not found (run scripts/setup.sh)"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd -P)"
    if redis_alive "$(cat "$dir/redis.pid" 2>/dev/null || true)"; then
        die "a redis-server is still running in $dir; run: scripts/redis.sh stop $dir"
    fi
    local -a persistence=(--save "" --appendonly no)
    ((persist)) && persistence=(--save "" --appendonly yes --appendfsync everysec)

    for ((attempt = 1; attempt <= LAUNCH_ATTEMPTS_MAX; attempt++)); do
        port="$(free_port)"
        # Not --daemonize: we keep the pid of our own child, and it logs to a file.
        redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --logfile "$dir/redis.log" \
            "${persistence[@]}" </dev/null >/dev/null 2>&1 &
        pid=$!
        echo "$pid" >"$dir/redis.pid"
        deadline=$((SECONDS + START_TIMEOUT_S))
        while ((SECONDS < deadline)); do
            if [[ "$(redis-cli -p "$port" ping 2>/dev/null)" == PONG ]]; then
                echo "$port" >"$dir/redis.port"
                echo "$port"
                return 0
            fi
            redis_alive "$pid" || break
            sleep 0.05
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        if ! grep -q "Address already in use" "$dir/redis.log" 2>/dev/null; then
            break
        fi
        echo "redis: port $port was taken, retrying" >&2
        : >"$dir/redis.log"
    done
    echo "redis: redis-server did not answer PING in $dir; tail of its log:" >&2
    tail -n 20 "$dir/redis.log" >&2 2>/dev/null || true
    exit 1
}

stop_redis() {
    local dir="$1" remove="$2" pid port waited_ds=0
    [[ -d "$dir" ]] || return 0
    pid="$(cat "$dir/redis.pid" 2>/dev/null || true)"
    port="$(cat "$dir/redis.port" 2>/dev/null || true)"
    if redis_alive "$pid"; then
        if [[ -z "$port" ]] || ! redis-cli -p "$port" shutdown nosave >/dev/null 2>&1; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
        while redis_alive "$pid"; do
            if ((waited_ds == STOP_TIMEOUT_S * 10)); then
                echo "redis: pid $pid ignored shutdown for ${STOP_TIMEOUT_S}s, killing it" >&2
                kill -KILL "$pid" 2>/dev/null || true
            fi
            ((waited_ds < (STOP_TIMEOUT_S + 5) * 10)) || die "pid $pid survived SIGKILL"
            sleep 0.1
            waited_ds=$((waited_ds + 1))
        done
    fi
    rm -f "$dir/redis.pid" "$dir/redis.port"
    if ((remove)); then
        rm -rf "$dir"
    fi
}

cmd="${1:-}"
(($# >= 2)) || usage
dir="$2"
shift 2
flag=0
case "$cmd" in
    start)
        for arg in "$@"; do
            [[ "$arg" == --persist ]] || usage
            flag=1
        done
        start_redis "$dir" "$flag"
        ;;
    stop)
        for arg in "$@"; do
            [[ "$arg" == --rm ]] || usage
            flag=1
        done
        stop_redis "$dir" "$flag"
        ;;
    *) usage ;;
esac
