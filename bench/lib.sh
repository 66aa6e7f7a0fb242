# Shared by bench/run and bench/gateway: a throwaway cluster tuned for benchmarks, with
# PostgREST's roles, and the extension's database loaded with $devices devices (bench/load.sql).
# Expects $devices, $seconds and $clients; start_cluster sets $port (BENCH_PORT, default a free
# port), start_standby $standby_port.

# The users who register devices in the register runs (bench/profiles.sql): each registration is
# a new device of a random one of them, so most of them own one or two.
registrants=1000000
# The cluster (tests/cluster.sh): its data directory and log are in data/.
cluster="$PWD/target/bench-cluster"
# A hot standby of it (start_standby), on a free port; its log is in data/ too.
standby="$cluster-standby"

sql() { psql -X -q -v ON_ERROR_STOP=1 -h localhost -p "$port" -U postgres "$@"; }
value() { sql -At "$@"; }

# Builds and installs the extension (release), then starts a fresh cluster; stopped on exit.
start_cluster() {
    if [ "$(id -u)" -eq 0 ]; then
        cargo pgrx install --release --pg-config "$(command -v pg_config)" >/dev/null
    else
        cargo pgrx install --release --sudo --pg-config "$(command -v pg_config)" >/dev/null
    fi
    tests/cluster.sh init "$cluster" /dev/stdin <<CONF
max_connections = 100
shared_buffers = '1GB'
max_wal_size = '16GB'
checkpoint_timeout = '30min'
# WAL is measured cluster-wide: no autovacuum of one database inside another's run (each is
# vacuumed by hand after loading).
autovacuum = off
compute_devices.database = 'bench_ext'
compute_devices.slots = $((devices + 1000000))
# Liveness changes (revivals of the 10% inactive devices the heartbeats hit) are written back
# every second, inside the heartbeat run, so their WAL is counted with it.
compute_devices.sweep_interval = '1s'
CONF
    port="$(tests/cluster.sh start "$cluster" ${BENCH_PORT:+"$BENCH_PORT"})"
    trap 'stop_cluster' EXIT
    sql -d postgres -f tests/supabase_roles.sql
}

stop_cluster() {
    stop_standby
    tests/cluster.sh stop "$cluster"
}

# A hot standby of the cluster, copied with pg_basebackup (the copied configuration preloads the
# library), started, and caught up: it has replayed all the WAL the cluster had written once it
# started. Sets $standby_port.
start_standby() {
    tests/cluster.sh standby "$standby" "$port" >/dev/null
    standby_port="$(tests/cluster.sh start "$standby")"
    local written
    written="$(value -d postgres -c "SELECT pg_current_wal_lsn()")"
    until [ "$(port="$standby_port" value -d postgres -c "SELECT pg_last_wal_replay_lsn() >= '$written'")" = t ]; do
        sleep 0.2
    done
}

# Stops the standby, if it runs, and removes it.
stop_standby() {
    if [ -n "${standby_port:-}" ]; then
        tests/cluster.sh stop "$standby" immediate
        rm -rf "$standby"
        standby_port=""
    fi
}

# bench_ext: the extension with $devices devices, vacuumed, and served from shared memory.
load_extension_database() {
    sql -d postgres -c "CREATE DATABASE bench_ext"
    sql -d bench_ext -c "CREATE EXTENSION compute_devices"
    sql -d bench_ext -v devices="$devices" -f bench/load.sql
    sql -d bench_ext -c "VACUUM ANALYZE"
    # The worker serves bench_ext once it exists (it retries every 10 s), then rebuilds the slots.
    until [ "$(value -d bench_ext -c "SELECT path = 'shared memory' AND slots_used >= $devices FROM liveness_status()")" = t ]; do
        sleep 1
    done
    wait_for_spells
}

# Once it serves the loaded network, the worker records the spell online of every live device
# (online_intervals: one insert of about 900,000 rows at a million devices, 20 MB/s of WAL for a
# while). Measured beside it, the cases below were the worker's catch-up, not themselves: wait
# for it, then checkpoint, so that what follows starts from a quiet cluster.
wait_for_spells() {
    until [ "$(value -d bench_ext -c "SELECT (SELECT count(*) FROM online_intervals WHERE ended_at IS NULL)
                                                >= (SELECT active_nodes FROM get_network_stats())")" = t ]; do
        sleep 2
    done
    sql -d bench_ext -c "CHECKPOINT"
}

# One pgbench run of a script in bench/scripts, or of standard input for -: prints "tps transactions".
pgbench_run() {
    local database="$1" script="$2"
    [ "$script" = - ] || script="bench/scripts/$script"
    pgbench -n -M prepared -c "$clients" -j 2 -T "$seconds" -D devices="$devices" -D batches="${batches:-1}" -D registrants="$registrants" \
        -h localhost -p "$port" -U authenticator -f "$script" "$database" 2>/dev/null |
        awk '/^number of transactions actually processed/ { n = $6 } /^tps = / { tps = $3 } END { print tps, n }'
}
