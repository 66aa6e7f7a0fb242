#!/usr/bin/env bash
# A throwaway PostgreSQL cluster with compute_devices preloaded: the one bootstrap ./demo,
# bench/lib.sh and the tests' Cluster (tests/support) share. PostgreSQL refuses to run as root,
# so as root the server runs as the `postgres` user.
#
#   tests/cluster.sh init DIR [CONF_FILE]   a new cluster in DIR/data (DIR is emptied first):
#                                           listening on localhost, its socket in DIR, the
#                                           library preloaded, then CONF_FILE's lines
#   tests/cluster.sh start DIR [PORT] [NAME=VALUE...]
#                                           starts it, the server with these variables in its
#                                           environment, on PORT, or else on the port it had,
#                                           or else on a free one; prints the port
#   tests/cluster.sh standby DIR PRIMARY_PORT
#                                           a hot standby in DIR/data (DIR is emptied first): a
#                                           copy of the server on PRIMARY_PORT made with
#                                           pg_basebackup, set to stream from it; start it
#                                           with start (on a free port)
#   tests/cluster.sh promote DIR            promotes the standby in DIR to a primary and waits
#                                           until it takes writes
#   tests/cluster.sh stop DIR [fast|immediate]
#
# Its log is DIR/data/server.log.
set -euo pipefail

usage() {
    sed -n '5,19p' "$0" >&2
    exit 2
}
[ $# -ge 2 ] || usage
action="$1"
dir="$(realpath -m "$2")"
shift 2
data="$dir/data"
# The port is set in a file of its own that postgresql.conf includes last; DIR/port is the one
# it started on, which a restart keeps.
port_conf="$data/port.conf"
started_port="$dir/port"
bindir="$(pg_config --bindir)"
if [ "$(id -u)" -eq 0 ]; then
    as_server=(sudo -u postgres)
else
    as_server=()
fi

init() {
    local conf_file="${1:-}"
    rm -rf "$dir"
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir"; fi
    "${as_server[@]}" "$bindir/initdb" --auth=trust --username=postgres -D "$data" >/dev/null
    {
        echo "listen_addresses = 'localhost'"
        echo "unix_socket_directories = '$dir'"
        echo "shared_preload_libraries = 'compute_devices'"
        if [ -n "$conf_file" ]; then cat "$conf_file"; fi
        echo "include_if_exists = 'port.conf'"
    } | "${as_server[@]}" tee -a "$data/postgresql.conf" >/dev/null
}

# A port nothing listens on, below Linux's ephemeral range (32768 and up) so that no outgoing
# connection holds it. Only the server binding it proves it free: start retries on another.
free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
}

start() {
    local port="" given=false fixed=false env=() arg
    for arg in "$@"; do
        case "$arg" in
            *=*) env+=("$arg") ;;
            *) port="$arg" given=true fixed=true ;;
        esac
    done
    if [ -z "$port" ] && [ -f "$started_port" ]; then
        # A restart: clients and gateways know the port it had; it waits for that one.
        port="$(cat "$started_port")"
        fixed=true
    fi
    local log="$data/server.log" deadline=$((SECONDS + 30)) logged
    while :; do
        if [ -z "$port" ]; then port="$(free_port)"; fi
        echo "port = $port" | "${as_server[@]}" tee "$port_conf" >/dev/null
        logged="$(stat -c %s "$log" 2>/dev/null || echo 0)"
        if "${as_server[@]}" env "${env[@]}" "$bindir/pg_ctl" -w -l "$log" -D "$data" start >/dev/null; then
            echo "$port" | tee "$started_port"
            return
        fi
        if tail -c "+$((logged + 1))" "$log" | grep -q "could not create any TCP/IP sockets"; then
            if $given; then
                echo "port $port is taken: the server in $data does not start" >&2
                exit 1
            fi
            if ! $fixed; then port=""; fi
        fi
        # After a crash, old backends may hold the shared memory for a moment.
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "the server in $data does not start: see $log" >&2
            exit 1
        fi
        sleep 0.2
    done
}

standby() {
    [ $# -eq 1 ] || usage
    rm -rf "$dir"
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir"; fi
    "${as_server[@]}" "$bindir/pg_basebackup" -h localhost -p "$1" -U postgres -D "$data" \
        --write-recovery-conf --wal-method=stream --checkpoint=fast
    # The copy's log starts afresh, and its port is its own (start picks a free one).
    rm -f "$data/server.log" "$port_conf"
}

promote() {
    [ $# -eq 0 ] || usage
    "${as_server[@]}" "$bindir/pg_ctl" -w -D "$data" promote >/dev/null
}

stop() {
    "${as_server[@]}" "$bindir/pg_ctl" -w -m "${1:-fast}" -D "$data" stop >/dev/null
}

case "$action" in
    init) init "$@" ;;
    start) start "$@" ;;
    standby) standby "$@" ;;
    promote) promote "$@" ;;
    stop) stop "$@" ;;
    *) usage ;;
esac
