# The get_capacity case, sourced by bench/run (after bench/lib.sh): each question asked of the
# extension and of the tables in plain SQL (bench/capacity.sql), the two answers checked equal,
# then each measured, one right after the other, in PostgREST's transaction shape as anon.
#
# It makes the extension anew in bench_ext with a network of its own ($devices devices, with
# accelerators and countries), so it comes after every other case. Nothing beats during it and
# the active window is an hour: no device goes stale between the two sides, so both answer
# about the same devices.

# The questions: the views' letter and what they ask.
capacity_shapes=(a b c d e)
declare -A capacity_question=(
    [a]="(a) >= 24 GB NVIDIA GPUs, servers, Europe"
    [b]="(b) >= 32 GB RAM, >= 16 cores, by country"
    [c]="(c) >= 4 H100/A100-80/MI300X, by region"
    [d]="(d) no filter, by region"
    [e]="(e) no filter, by gpu_model"
)

# bench_ext (which must exist) with the extension made anew and the case's network, served from
# shared memory.
load_capacity_database() {
    sql -d postgres -c "ALTER SYSTEM SET compute_devices.active_window = '1h'" -c "SELECT pg_reload_conf()" >/dev/null
    sql -d bench_ext -v devices="$devices" -f bench/capacity.sql
    sql -d bench_ext -c "VACUUM ANALYZE"
    # The worker rebuilds its slots from the new table (emptied of the old one's).
    until [ "$(value -d bench_ext -c "SELECT path = 'shared memory' AND slots_used = $devices FROM liveness_status()")" = t ]; do
        sleep 1
    done
    wait_for_spells
    # Then compares the whole table with them once more, as it would every reconcile_interval.
    value -d bench_ext -c "SELECT resync_liveness()" >/dev/null
}

# Both answers of a shape at one moment, compared as sets of rows. Prints "rows nodes gpus" of
# the answer, or fails with the rows only one side has (or if the answer is empty). It runs in a
# command substitution, where errexit is off: each step exits on its own failure.
capacity_check() {
    local shape="$1" differing
    differing="$(value -d bench_ext -F ' | ' <<SQL
WITH ext AS MATERIALIZED (TABLE capacity_${shape}_ext), plain AS MATERIALIZED (TABLE capacity_${shape}_sql)
SELECT 'only get_capacity', * FROM (TABLE ext EXCEPT ALL TABLE plain) AS only_ext
UNION ALL
SELECT 'only plain SQL', * FROM (TABLE plain EXCEPT ALL TABLE ext) AS only_plain
SQL
)" || exit 1
    if [ -n "$differing" ]; then
        echo "get_capacity ${capacity_question[$shape]}: the extension and plain SQL differ:" >&2
        echo "$differing" >&2
        exit 1
    fi
    local answer
    answer="$(value -d bench_ext -F ' ' -c "SELECT count(*), sum(active_nodes), sum(total_gpus) FROM capacity_${shape}_ext")" || exit 1
    if [ "$(cut -d' ' -f2 <<<"$answer")" = 0 ]; then
        echo "get_capacity ${capacity_question[$shape]}: no device matches, nothing to compare" >&2
        exit 1
    fi
    echo "$answer"
}

# One pgbench run of a view, as a PostgREST call by anon: prints "tps transactions".
capacity_run() {
    pgbench_run bench_ext - <<SQL
BEGIN;
SELECT set_config('request.jwt.claims', '{"role":"anon"}', true);
SET LOCAL ROLE anon;
SELECT * FROM $1;
COMMIT;
SQL
}

capacity_case() {
    echo "get_capacity: loading $devices devices with accelerators and countries into bench_ext..." >&2
    load_capacity_database
    local shape i answers=() sql_calls=() ext_calls=()
    for shape in "${capacity_shapes[@]}"; do
        answers+=("$(capacity_check "$shape")") || exit 1
    done
    echo "get_capacity: answers equal; running $clients clients, ${seconds}s a side..." >&2
    for shape in "${capacity_shapes[@]}"; do
        sql_calls+=("$(capacity_run "capacity_${shape}_sql" | cut -d' ' -f1)")
        ext_calls+=("$(capacity_run "capacity_${shape}_ext" | cut -d' ' -f1)")
    done
    local network indexes
    network="$(value -d bench_ext -F ' ' -c "SELECT round(100.0 * count(*) FILTER (WHERE EXISTS (
                                                 SELECT FROM device_accelerators AS a WHERE a.device_id = d.id)) / count(*)),
                                                 count(DISTINCT country_code)
                                            FROM compute_devices AS d")"
    # The DBA's indexes as the catalog has them (bench/capacity.sql names them bench_...).
    indexes="$(value -d bench_ext -c "SELECT string_agg(regexp_replace(pg_get_indexdef(i.indexrelid), '^.* ON [a-z_]+\.| USING btree', '', 'g'), ', ' ORDER BY c.relname)
                                        FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid
                                       WHERE c.relname LIKE 'bench\_%'")"
    value -d postgres -c "ALTER SYSTEM RESET compute_devices.active_window" -c "SELECT pg_reload_conf()" >/dev/null
    local rows=""
    for i in "${!capacity_shapes[@]}"; do
        shape="${capacity_shapes[$i]}"
        rows+="${capacity_question[$shape]}|${sql_calls[$i]}|${ext_calls[$i]}|${answers[$i]}"$'\n'
    done
    awk -F '|' -v devices="$devices" -v network="$network" -v seconds="$seconds" -v clients="$clients" \
        -v indexes="$indexes" '
    BEGIN {
        split(network, n, " ")
        printf "\nget_capacity: %d devices (90%% active, %d%% with accelerators, %d countries), %d clients, %ds a side,\n", devices, n[1], n[2], clients, seconds
        printf "PostgREST-shaped calls as anon; plain SQL over the tables with the indexes a DBA would add:\n%s.\n", indexes
        printf "Each answer equal to the plain SQL one (checked before the runs).\n\n"
        printf "| %-42s | %15s | %15s | %-24s | %-26s |\n", "question", "plain SQL (/s)", "extension (/s)", "extension vs target", "answer (rows, nodes, GPUs)"
        printf "|%s|%s|%s|%s|%s|\n", "--------------------------------------------", "-----------------", "-----------------", "--------------------------", "----------------------------"
    }
    NF == 4 {
        split($4, a, " ")
        ratio = $2 > 0 ? sprintf("%.1fx the SQL (>= 10x)", $3 / $2) : "no plain SQL call ended"
        printf "| %-42s | %15.2f | %15.0f | %-24s | %-26s |\n", $1, $2, $3, ratio, sprintf("%d, %d, %d", a[1], a[2], a[3])
    }' <<<"$rows"
}
