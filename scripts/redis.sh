#!/usr/bin/env bash
# A throwaway redis-server, or Redis Cluster, for tests (DESIGN.md "Real parts in tests": a real
# Redis, never a mock).
#
#   scripts/redis.sh start DIR [--persist] [--always] [--port P]   prints the port (127.0.0.1)
#   scripts/redis.sh stop DIR [--rm]
#   scripts/redis.sh cluster-start DIR N    prints the N ports, space-separated
#   scripts/redis.sh cluster-stop DIR [--rm]
#   scripts/redis.sh node-stop DIR I
#   scripts/redis.sh node-start DIR I
#
# start: runs redis-server in DIR on a free port, with no RDB snapshots and no AOF unless
#   --persist (then appendonly, fsync every second) or --always (appendonly, fsync before every
#   reply: nothing acknowledged is lost to a SHUTDOWN, a restart or SIGKILL). --port P listens on
#   P instead, to restart a server on its own port and DIR, where it reads its AOF back. Returns
#   once it answers and has loaded its AOF. Writes DIR/redis.port and DIR/redis.pid.
# stop: shuts it down (SHUTDOWN NOSAVE, SIGKILL after 10 s) and waits for it to exit; --rm then
#   removes DIR.
# cluster-start: N (>= 3) masters, no replicas, in DIR/node-<i>/ (i from 0), each with AOF and
#   fsync always, joined by `redis-cli --cluster create`. Returns once every node reports
#   cluster_state:ok and sees every other node connected. Writes DIR/cluster.ports (client ports,
#   in node order, one line) and DIR/cluster.bus-ports.
# cluster-stop: stops every node as `stop` does; --rm then removes DIR.
# node-stop / node-start: stops node I, or starts it again on its own ports and directory; it
#   keeps its nodes.conf, so it rejoins as the same node with the same slots. node-start returns
#   once the whole cluster is healthy again, as cluster-start does: with another node still
#   stopped it times out, so stop one node at a time.
set -euo pipefail

START_TIMEOUT_S=10
STOP_TIMEOUT_S=10
LAUNCH_ATTEMPTS_MAX=3
# A restarted master with slots stays marked FAIL by the others for 2 node timeouts (2 x 2 s)
# after it answers again, and a fresh cluster needs a few gossip rounds: 30 s is ample for both.
CLUSTER_TIMEOUT_S=30
CLUSTER_MASTERS_MIN=3

die() {
    echo "redis: $*" >&2
    exit 1
}

usage() {
    sed -n '5,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}/usage: /' >&2
    exit 2
}

# COUNT distinct free ports, space-separated: all sockets stay bound until all are picked, so no
# two are the same. Another process can take a port between this pick and redis' bind: start
# retries on that.
free_ports() {
    python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
' "$1"
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

# True once the server on PORT is process PID and has finished loading its AOF. The pid check
# matters when PORT was given: another server already listening there would answer while ours
# fails to bind. Loading matters because PING already answers PONG while loading, when every data
# command still fails with -LOADING.
redis_ready() {
    local port="$1" pid="$2" info
    info="$(redis-cli -p "$port" info 2>/dev/null | tr -d '\r')" || return 1
    grep -qx "process_id:$pid" <<<"$info" && grep -qx "loading:0" <<<"$info"
}

# start_redis DIR MODE PORT [BUS_PORT]
#   MODE: volatile (no AOF), everysec, always (AOF fsynced before each reply), or cluster (always,
#   plus cluster mode). PORT 0 picks a free port (and, for a cluster node, a free bus port),
#   retrying when another process takes it first; any other PORT (and BUS_PORT) is used as given,
#   once, since a restart must come back where its clients and peers expect it.
start_redis() {
    local dir="$1" mode="$2" fixed_port="$3" fixed_bus_port="${4:-}"
    local port bus_port="" picked pid attempt attempts deadline log_offset
    command -v redis-server >/dev/null || die "redis-server not found (run scripts/setup.sh)"
    command -v redis-cli >/dev/null || die "redis-cli not found (run scripts/setup.sh)"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd -P)"
    if redis_alive "$(cat "$dir/redis.pid" 2>/dev/null || true)"; then
        die "a redis-server is still running in $dir; run: scripts/redis.sh stop $dir"
    fi
    local -a config=(--save "")
    case "$mode" in
        volatile) config+=(--appendonly no) ;;
        everysec) config+=(--appendonly yes --appendfsync everysec) ;;
        always) config+=(--appendonly yes --appendfsync always) ;;
        cluster)
            # The bus port is set explicitly: the default (port + 10000) overflows for ports above
            # 55535, which free_ports hands out.
            config+=(--appendonly yes --appendfsync always --cluster-enabled yes
                --cluster-config-file nodes.conf --cluster-node-timeout 2000)
            ;;
        *) die "internal error: unknown mode $mode" ;;
    esac
    attempts=$LAUNCH_ATTEMPTS_MAX
    ((fixed_port == 0)) || attempts=1

    for ((attempt = 1; attempt <= attempts; attempt++)); do
        if ((fixed_port == 0)); then
            picked="$(free_ports 2)"
            read -r port bus_port <<<"$picked"
        else
            port="$fixed_port"
            bus_port="$fixed_bus_port"
        fi
        local -a listen=(--port "$port")
        [[ "$mode" != cluster ]] || listen+=(--cluster-port "$bus_port")
        # Only this launch's part of the log is searched and shown: a restart appends to it.
        log_offset="$(stat -c %s "$dir/redis.log" 2>/dev/null || echo 0)"
        # Not --daemonize: we keep the pid of our own child, and it logs to a file.
        redis-server "${listen[@]}" --bind 127.0.0.1 --dir "$dir" --logfile "$dir/redis.log" \
            "${config[@]}" </dev/null >/dev/null 2>&1 &
        pid=$!
        echo "$pid" >"$dir/redis.pid"
        deadline=$((SECONDS + START_TIMEOUT_S))
        while ((SECONDS < deadline)); do
            if redis_ready "$port" "$pid"; then
                echo "$port" >"$dir/redis.port"
                [[ "$mode" != cluster ]] || echo "$bus_port" >"$dir/redis.bus-port"
                echo "$port"
                return 0
            fi
            redis_alive "$pid" || break
            sleep 0.05
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        rm -f "$dir/redis.pid"
        if ! tail -c "+$((log_offset + 1))" "$dir/redis.log" 2>/dev/null |
            grep -q "Address already in use"; then
            break
        fi
        if ((fixed_port != 0)); then
            die "port $port${bus_port:+ or bus port $bus_port} is taken by another process;" \
                "cannot start the redis-server of $dir there"
        fi
        echo "redis: port $port${bus_port:+ or $bus_port} was taken, retrying" >&2
    done
    echo "redis: redis-server did not become ready in $dir; tail of its log:" >&2
    tail -c "+$((log_offset + 1))" "$dir/redis.log" 2>/dev/null | tail -n 20 >&2 || true
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
    rm -f "$dir/redis.pid" "$dir/redis.port" "$dir/redis.bus-port"
    if ((remove)); then
        rm -rf "$dir"
    fi
}

# True when the node on PORT reports cluster_state:ok and knows exactly COUNT nodes, none flagged
# fail, fail?, handshake or noaddr, all with their link connected. cluster_state:ok alone is not
# enough after a restart: a peer may not have noticed yet that the node was gone, and would mark
# it failed a moment later.
node_healthy() {
    local port="$1" count="$2" info nodes
    info="$(redis-cli -p "$port" cluster info 2>/dev/null)" || return 1
    [[ "$info" == *"cluster_state:ok"* ]] || return 1
    nodes="$(redis-cli -p "$port" cluster nodes 2>/dev/null)" || return 1
    awk -v want="$count" '
        NF { seen++; if ($3 ~ /fail|handshake|noaddr/ || $8 != "connected") bad = 1 }
        END { exit (bad || seen != want) }' <<<"$nodes"
}

# The client ports of the cluster in DIR, in node order, into the array named by $2.
read_cluster_ports() {
    local dir="$1" file="$1/cluster.ports" line
    [[ -r "$file" ]] || die "no cluster in $dir ($file is missing); run: scripts/redis.sh cluster-start $dir N"
    line="$(cat "$file")"
    read -r -a "$2" <<<"$line"
}

wait_cluster_healthy() {
    local dir="$1" port deadline all_ok
    local -a ports
    read_cluster_ports "$dir" ports
    deadline=$((SECONDS + CLUSTER_TIMEOUT_S))
    while ((SECONDS < deadline)); do
        all_ok=1
        for port in "${ports[@]}"; do
            node_healthy "$port" "${#ports[@]}" || {
                all_ok=0
                break
            }
        done
        ((all_ok)) && return 0
        sleep 0.1
    done
    echo "redis: the cluster in $dir is not healthy after ${CLUSTER_TIMEOUT_S}s; as each node sees it:" >&2
    for port in "${ports[@]}"; do
        echo "--- node on port $port:" >&2
        redis-cli -p "$port" cluster info 2>&1 | grep cluster_state >&2 || true
        redis-cli -p "$port" cluster nodes >&2 2>&1 || true
    done
    exit 1
}

# Set while cluster-start runs: on a failure, the EXIT trap stops the nodes already started, so
# none outlives the error.
cluster_starting_dir=""

abort_cluster_start() {
    [[ -n "$cluster_starting_dir" ]] || return 0
    echo "redis: cluster-start failed; stopping the nodes started in $cluster_starting_dir" >&2
    cluster_stop "$cluster_starting_dir" 0
}

cluster_start() {
    local dir="$1" count="$2" i node
    local -a ports=() bus_ports=() addresses=()
    command -v redis-cli >/dev/null || die "redis-cli not found (run scripts/setup.sh)"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd -P)"
    if [[ -e "$dir/cluster.ports" || -e "$dir/node-0" ]]; then
        die "$dir already holds a cluster; run: scripts/redis.sh cluster-stop $dir --rm"
    fi
    cluster_starting_dir="$dir"
    trap abort_cluster_start EXIT
    for ((i = 0; i < count; i++)); do
        node="$dir/node-$i"
        start_redis "$node" cluster 0 >/dev/null
        ports+=("$(cat "$node/redis.port")")
        bus_ports+=("$(cat "$node/redis.bus-port")")
        addresses+=("127.0.0.1:${ports[i]}")
    done
    echo "${ports[*]}" >"$dir/cluster.ports"
    echo "${bus_ports[*]}" >"$dir/cluster.bus-ports"
    # Its output (a coloured report) goes to a file: this script's stdout is the port list.
    if ! redis-cli --cluster create "${addresses[@]}" --cluster-replicas 0 --cluster-yes \
        </dev/null >"$dir/cluster-create.log" 2>&1; then
        echo "redis: redis-cli --cluster create failed; tail of its output:" >&2
        tail -n 20 "$dir/cluster-create.log" >&2 || true
        exit 1
    fi
    wait_cluster_healthy "$dir"
    cluster_starting_dir=""
    trap - EXIT
    echo "${ports[*]}"
}

cluster_stop() {
    local dir="$1" remove="$2" node
    [[ -d "$dir" ]] || return 0
    for node in "$dir"/node-*/; do
        [[ -d "$node" ]] || continue
        stop_redis "${node%/}" 0
    done
    if ((remove)); then
        rm -rf "$dir"
    fi
}

# Dies unless I names a node of the cluster in DIR.
check_node_index() {
    local dir="$1" index="$2"
    local -a ports
    read_cluster_ports "$dir" ports
    if ! [[ "$index" =~ ^[0-9]{1,9}$ ]] || ((10#$index >= ${#ports[@]})); then
        die "no node $index in the cluster in $dir (it has nodes 0 to $((${#ports[@]} - 1)))"
    fi
}

node_stop() {
    local dir="$1" index="$2"
    check_node_index "$dir" "$index"
    stop_redis "$dir/node-$((10#$index))" 0
}

node_start() {
    local dir="$1" index="$2" bus_line
    local -a ports bus_ports
    check_node_index "$dir" "$index"
    index=$((10#$index))
    read_cluster_ports "$dir" ports
    [[ -r "$dir/cluster.bus-ports" ]] || die "$dir/cluster.bus-ports is missing"
    bus_line="$(cat "$dir/cluster.bus-ports")"
    read -r -a bus_ports <<<"$bus_line"
    ((${#bus_ports[@]} == ${#ports[@]})) ||
        die "$dir/cluster.bus-ports and cluster.ports list different numbers of nodes"
    start_redis "$dir/node-$index" cluster "${ports[index]}" "${bus_ports[index]}" >/dev/null
    wait_cluster_healthy "$dir"
}

# Dies unless $1 is a TCP port number.
check_port() {
    if ! [[ "$1" =~ ^[0-9]{1,5}$ ]] || ((10#$1 < 1 || 10#$1 > 65535)); then
        die "not a port number: $1"
    fi
}

cmd="${1:-}"
(($# >= 2)) || usage
dir="$2"
shift 2
flag=0
case "$cmd" in
    start)
        mode=volatile
        port=0
        while (($#)); do
            case "$1" in
                --persist) [[ "$mode" == always ]] || mode=everysec ;;
                --always) mode=always ;;
                --port)
                    (($# >= 2)) || usage
                    check_port "$2"
                    port=$((10#$2))
                    shift
                    ;;
                *) usage ;;
            esac
            shift
        done
        start_redis "$dir" "$mode" "$port"
        ;;
    stop | cluster-stop)
        for arg in "$@"; do
            [[ "$arg" == --rm ]] || usage
            flag=1
        done
        if [[ "$cmd" == stop ]]; then
            stop_redis "$dir" "$flag"
        else
            cluster_stop "$dir" "$flag"
        fi
        ;;
    cluster-start)
        (($# == 1)) || usage
        if ! [[ "$1" =~ ^[0-9]{1,4}$ ]] || ((10#$1 < CLUSTER_MASTERS_MIN)); then
            die "a cluster needs at least $CLUSTER_MASTERS_MIN masters" \
                "(redis-cli --cluster create refuses fewer), not $1"
        fi
        cluster_start "$dir" $((10#$1))
        ;;
    node-stop | node-start)
        (($# == 1)) || usage
        if [[ "$cmd" == node-stop ]]; then
            node_stop "$dir" "$1"
        else
            node_start "$dir" "$1"
        fi
        ;;
    *) usage ;;
esac
