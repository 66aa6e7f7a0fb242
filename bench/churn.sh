# The churn case, sourced by bench/run (after bench/lib.sh): what recording liveness and history
# costs while devices come and go, at $devices devices served from shared memory.
#
# It makes the extension anew in bench_ext (which must exist) with bench/load.sql's network (90%
# active), under the extension's own settings (active_window 5 min, heartbeat_interval 90 s,
# sweep_interval 30 s), and restarts the cluster first with pg_stat_statements preloaded beside
# the library, so the worker's statements can be timed. One session (bench_churn_drive) then
# sends heartbeats, as send_heartbeats batches, for every device that is meant to be live, each
# once per heartbeat_interval, spread over it. Two windows of $CHURN_MINUTES minutes (default
# 5) are measured, each from a checkpoint:
#   baseline  the same heartbeats, nothing changes liveness;
#   churn     1% of the devices a minute change liveness: every minute 0.5% of them stop beating
#             (so go stale an active window after their last heartbeat) and 0.5% that were stale
#             start beating again (revive). The stops start an active window before the churn
#             window, so inside it devices go stale at the steady rate.
# Per minute: the devices gone stale and revived (from online_intervals), the heartbeats sent,
# the WAL written (pg_walinspect: each record by the relation it touches, a record without one by
# its transaction's) on the intervals (online_intervals, unknown_periods), the history tables,
# compute_devices (the worker's write-back) and everything else, and the worker's CPU time
# (/proc/<pid>/stat). Then the worker's statements (pg_stat_statements) in ms per minute, each
# window beside the other. Last, a day of history: the minutes recorded in the run, copied back
# to fill the 24 hours before them (the rows as record_network_history() wrote them), the
# hourly rows that gives, their size on disk, and get_network_history over those 24 hours.

churn_minutes="${CHURN_MINUTES:-5}"
# Rows per send_heartbeats call (under max_batch_size).
churn_batch=5000
# Calls of each get_network_history shape timed; the median is reported.
churn_history_calls=11

# The worker's CPU time so far, in clock ticks (user + system).
churn_worker_ticks() {
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# Waits until the epoch second $1 (fractions allowed).
churn_sleep_until() {
    sleep "$(awk -v t="$1" -v now="$(date +%s.%N)" 'BEGIN { d = t - now; printf "%.3f", (d > 0 ? d : 0) }')"
}

# bench_ext with the extension made anew and bench/load.sql's network, in one transaction (the
# worker rebuilds its slots from the whole table), on a cluster restarted with
# pg_stat_statements and the extension's default sweep_interval.
load_churn_database() {
    sql -d postgres -c "ALTER SYSTEM SET shared_preload_libraries = compute_devices, pg_stat_statements" \
        -c "ALTER SYSTEM SET compute_devices.sweep_interval = '30s'" \
        -c "ALTER SYSTEM RESET compute_devices.active_window"
    tests/cluster.sh stop "$cluster"
    port="$(tests/cluster.sh start "$cluster")"
    sql -d postgres -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" \
        -c "CREATE EXTENSION IF NOT EXISTS pg_walinspect"
    sql -d bench_ext -1 -v devices="$devices" -c "DROP EXTENSION IF EXISTS compute_devices CASCADE" \
        -c "CREATE EXTENSION compute_devices" -f bench/load.sql
    sql -d bench_ext -c "VACUUM ANALYZE" -c "CREATE EXTENSION IF NOT EXISTS pg_walinspect"
    until [ "$(value -d bench_ext -c "SELECT path = 'shared memory' AND slots_used = $devices FROM liveness_status()")" = t ]; do
        sleep 1
    done
    wait_for_spells
    sql -d bench_ext <<'SQL'
-- The heartbeats: each second of the run, slice (second mod cadence) of the devices, those meant
-- to be live then: device i (bench/load.sql's numbering) is in slice i mod cadence. Of the 90%
-- loaded active, those numbered up to stopped stop beating (stop_chunk more a minute from
-- stops_from); of the 10% loaded stale, those numbered up to revived beat (revive_chunk more a
-- minute from revive_from). Seconds it fell behind are caught up. Each second's count (beats
-- taken, beats refused, seconds late) is a NOTICE, so counting them writes nothing.
CREATE OR REPLACE PROCEDURE bench_churn_drive(devices integer, started double precision,
    stops_from double precision, revive_from double precision, until double precision,
    cadence integer, stop_chunk integer, revive_chunk integer, batch integer)
LANGUAGE plpgsql AS $$
DECLARE
    done integer := -1;
    due integer;
    s integer;
    at_second double precision;
    stopped integer;
    revived integer;
    beats bigint;
    refused bigint;
BEGIN
    WHILE extract(epoch FROM clock_timestamp()) < until LOOP
        due := floor(extract(epoch FROM clock_timestamp()) - started);
        FOR s IN done + 1 .. due LOOP
            at_second := started + s;
            stopped := CASE WHEN at_second >= stops_from
                            THEN (floor((at_second - stops_from) / 60) + 1) * stop_chunk ELSE 0 END;
            revived := CASE WHEN at_second >= revive_from
                            THEN (floor((at_second - revive_from) / 60) + 1) * revive_chunk ELSE 0 END;
            SELECT count(*) FILTER (WHERE r.error_code IS NULL), count(*) FILTER (WHERE r.error_code IS NOT NULL)
              INTO beats, refused
              FROM (SELECT array_agg(md5('u' || i / 4)::uuid) AS user_ids, array_agg(md5('d' || i)::uuid) AS device_ids
                      FROM generate_series(s % cadence, devices, cadence) AS i
                     WHERE i > 0 AND (i % 10 <> 0 AND i > stopped OR i % 10 = 0 AND i <= revived)
                     GROUP BY i / (batch * cadence)) AS b,
                   send_heartbeats(b.user_ids, b.device_ids) AS r;
            RAISE NOTICE 'beats % % % %', at_second, beats, refused,
                round((extract(epoch FROM clock_timestamp()) - at_second)::numeric, 2);
            COMMIT;
        END LOOP;
        done := greatest(done, due);
        PERFORM pg_sleep(greatest(0, started + done + 1 - extract(epoch FROM clock_timestamp())));
    END LOOP;
END
$$;
SQL
}

# One sample at a minute's edge: "epoch lsn worker_ticks active_nodes".
churn_sample() {
    local at_lsn active
    at_lsn="$(value -d postgres -F ' ' -c "SELECT extract(epoch FROM clock_timestamp()), pg_current_wal_lsn()")"
    active="$(value -d bench_ext -c "SELECT active_nodes AS bench_churn_active FROM get_network_stats()")"
    echo "$at_lsn $(churn_worker_ticks "$churn_worker") $active"
}

# A measured window: a checkpoint 20 s before $2 (epoch), statement counters reset at it, then a
# sample at each minute's edge for $churn_minutes minutes. Appends "phase minute sample sample"
# lines to $churn_samples and the worker's statements to churn_statements (in postgres).
churn_window() {
    local phase="$1" from="$2" minute previous current
    churn_sleep_until "$((from - 20))"
    sql -d postgres -c CHECKPOINT
    churn_sleep_until "$from"
    sql -d postgres -c "SELECT pg_stat_statements_reset()" >/dev/null
    previous="$(churn_sample)"
    for minute in $(seq 1 "$churn_minutes"); do
        churn_sleep_until "$((from + minute * 60))"
        current="$(churn_sample)"
        echo "$phase $minute $previous $current" >>"$churn_samples"
        previous="$current"
    done
    # The worker's statements (anything else in bench_ext is the bench's: named bench_churn).
    sql -d postgres <<SQL
INSERT INTO churn_statements
SELECT '$phase', s.calls, s.total_exec_time, regexp_replace(s.query, '\\s+', ' ', 'g')
  FROM pg_stat_statements AS s JOIN pg_database AS d ON d.oid = s.dbid
 WHERE d.datname = 'bench_ext' AND s.query !~ 'bench_churn';
SQL
}

# A day of history: the minutes the run recorded, copied back over the 24 hours before the last
# of them (the rows as record_network_history() wrote them, each minute's set the latest one's),
# then record_network_history() once more, which rolls them up into hours as the worker would.
# Each history table of the extension whose primary key has a timestamptz column is filled by
# that column's step (a table named for hours: an hour; else a minute) where none is recorded.
# Prints "minute_rows minutes minute_bytes hour_rows hours hour_bytes bytes_before_the_copies".
churn_history_day() {
    value -d bench_ext -F ' ' <<'SQL'
CREATE TEMP TABLE churn_history_table AS
SELECT c.oid::regclass AS rel, c.relname ~ 'hour' AS hourly,
       (SELECT a.attname FROM pg_index AS i JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
         WHERE i.indrelid = c.oid AND i.indisprimary AND a.atttypid = 'timestamptz'::regtype
         ORDER BY array_position(i.indkey::int2[], a.attnum) LIMIT 1) AS at_column
  FROM pg_class AS c JOIN pg_depend AS d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'compute_devices')
   AND c.relkind IN ('r', 'p') AND c.relname ~ 'history';
CREATE TEMP TABLE churn_history_size AS
SELECT 'before' AS stage, sum(pg_total_relation_size(rel)) AS bytes FROM churn_history_table;
DO $$
DECLARE
    t record;
    column_list text;
    copied text;
    latest timestamptz;
    step interval;
BEGIN
    FOR t IN SELECT * FROM churn_history_table WHERE at_column IS NOT NULL ORDER BY hourly LOOP
        step := CASE WHEN t.hourly THEN interval '1 hour' ELSE interval '1 minute' END;
        SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum),
               string_agg('r.' || quote_ident(attname), ', ' ORDER BY attnum)
          INTO column_list, copied
          FROM pg_attribute
         WHERE attrelid = t.rel AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
           AND attidentity = '' AND attname <> t.at_column;
        EXECUTE format('SELECT max(%I) FROM %s', t.at_column, t.rel) INTO latest;
        CONTINUE WHEN latest IS NULL;
        EXECUTE format('INSERT INTO %1$s (%2$I, %3$s)
                        SELECT s.at, %4$s
                          FROM %1$s AS r, generate_series($1 - $2 * ($3 - 1), $1 - $2, $2) AS s(at)
                         WHERE r.%2$I = $1 AND NOT EXISTS (SELECT FROM %1$s AS e WHERE e.%2$I = s.at)',
                       t.rel, t.at_column, column_list, copied)
          USING latest, step, CASE WHEN t.hourly THEN 24 ELSE 1440 END;
        IF NOT t.hourly THEN
            PERFORM record_network_history(); -- the roll-up into hours, as the worker's next minute
        END IF;
    END LOOP;
END
$$;
VACUUM ANALYZE network_history_minutes, network_history_hours;
SELECT (SELECT count(*) FROM network_history_minutes), (SELECT count(DISTINCT minute) FROM network_history_minutes),
       pg_total_relation_size('network_history_minutes'),
       (SELECT count(*) FROM network_history_hours), (SELECT count(DISTINCT hour) FROM network_history_hours),
       pg_total_relation_size('network_history_hours'),
       (SELECT bytes FROM churn_history_size);
SQL
}

# The median of $churn_history_calls calls of get_network_history's arguments $1, over 24 hours,
# in one session, as the client sees it (psql's \timing: the rows sent included). Prints "ms rows".
churn_history_time() {
    local call="SELECT * FROM get_network_history(now() - interval '24 hours', now()$1)"
    {
        echo '\timing on'
        echo '\o /dev/null'
        for _ in $(seq "$churn_history_calls"); do echo "$call;"; done
    } | sql -d bench_ext | awk '/^Time: / { ms[++n] = $2 }
        END {
            for (i = 2; i <= n; i++) for (j = i; j > 1 && ms[j] < ms[j - 1]; j--) { t = ms[j]; ms[j] = ms[j - 1]; ms[j - 1] = t }
            printf "%.1f", ms[int((n + 1) / 2)]
        }'
    echo " $(value -d bench_ext -c "SELECT count(*) FROM ($call) AS answer")"
}

churn_case() {
    if [ "$churn_minutes" -lt 2 ] || [ "$churn_minutes" -gt 15 ]; then
        echo "CHURN_MINUTES: 2 to 15" >&2
        exit 2
    fi
    echo "churn: restarting with pg_stat_statements; loading $devices devices into bench_ext..." >&2
    load_churn_database
    local window cadence
    read -r window cadence <<<"$(value -d bench_ext -F ' ' -c "SELECT extract(epoch FROM current_setting('compute_devices.active_window')::interval)::int,
                                                                       extract(epoch FROM current_setting('compute_devices.heartbeat_interval')::interval)::int")"
    # 0.5% of the devices a minute each way: stop_chunk numbers hold that many of the 90% loaded
    # active, revive_chunk numbers that many of the 10% loaded stale.
    local stop_chunk=$(((devices + 179) / 180)) revive_chunk=$((devices / 20))
    churn_worker="$(value -d bench_ext -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'compute_devices sweeper'")"
    # Every live device beats once now, whatever the load's time left it, then the driver runs:
    # a settling of a cadence and a minute, the baseline window, then (an active window after the
    # first stops, when devices go stale at the steady rate) the churn window.
    value -d bench_ext -v devices="$devices" >/dev/null <<'SQL'
SELECT count(*)
  FROM generate_series(0, (:devices - 1) / 5000) AS chunk,
       LATERAL (SELECT array_agg(md5('u' || i / 4)::uuid) AS user_ids, array_agg(md5('d' || i)::uuid) AS device_ids
                  FROM generate_series(chunk * 5000 + 1, least(chunk * 5000 + 5000, :devices)) AS i
                 WHERE i % 10 <> 0) AS batch,
       LATERAL send_heartbeats(batch.user_ids, batch.device_ids) AS beat;
SQL
    local t0 base_from base_to stops_from churn_from revive_from churn_to
    t0=$(($(date +%s) + 2))
    base_from=$((t0 + cadence + 60))
    base_to=$((base_from + churn_minutes * 60))
    # (revivals from 5 s after the baseline: the worker dates a spell to its tick, up to a second
    # before the heartbeat that opened it)
    stops_from=$((base_to + 5 + cadence - window))
    [ "$stops_from" -ge "$t0" ] || stops_from="$t0"
    churn_from=$((stops_from + window))
    revive_from=$((churn_from - cadence))
    churn_to=$((churn_from + churn_minutes * 60))
    churn_dir="$(mktemp -d)"
    churn_samples="$churn_dir/samples"
    : >"$churn_samples"
    sql -d postgres -c "DROP TABLE IF EXISTS churn_statements" \
        -c "CREATE TABLE churn_statements (phase text, calls bigint, total_exec_time double precision, query text)" \
        -c "SELECT pg_create_physical_replication_slot('bench_churn', true)" >/dev/null
    echo "churn: heartbeats every ${cadence}s from every live device; baseline $churn_minutes min from $(date -d "@$base_from" +%T), churn $churn_minutes min from $(date -d "@$churn_from" +%T) (stops from $(date -d "@$stops_from" +%T))..." >&2
    sql -d bench_ext -c "CALL bench_churn_drive($devices, $t0, $stops_from, $revive_from, $((churn_to + 5)), $cadence, $stop_chunk, $revive_chunk, $churn_batch)" \
        2>"$churn_dir/beats" &
    local driver=$!
    churn_window baseline "$base_from"
    churn_window churn "$churn_from"
    if ! wait "$driver"; then
        echo "churn: the heartbeat driver failed:" >&2
        grep -v '^NOTICE:  beats ' "$churn_dir/beats" >&2
        exit 1
    fi
    # Each minute's heartbeats, refusals and worst lateness (s) of the driver, from its notices.
    local minutes
    minutes="$(awk 'FNR == NR { if ($1 == "beats") { at[NR] = $2; beats[NR] = $3; refused[NR] = $4; late[NR] = $5 } next }
                    { b = 0; r = 0; l = 0
                      for (i in at) if (at[i] >= $3 && at[i] < $7) { b += beats[i]; r += refused[i]; if (late[i] > l) l = late[i] }
                      printf "(%s, %d, %s, %s, %s, %s, %s, %s, %s, %s, %d, %d, %s),\n", "\047" $1 "\047", $2, $3, "\047" $4 "\047", $5, $6, $7, "\047" $8 "\047", $9, $10, b, r, l }' \
                    <(sed 's/^NOTICE: *//' "$churn_dir/beats") "$churn_samples")"
    until [ "$(value -d postgres -c "SELECT pg_current_wal_flush_lsn() >= '$(tail -1 "$churn_samples" | cut -d' ' -f8)'")" = t ]; do sleep 0.2; done
    local per_minute
    per_minute="$(value -d bench_ext -F ' ' <<SQL
CREATE TEMP TABLE churn_minute (phase text, minute int, t_from double precision, lsn_from pg_lsn, ticks_from bigint,
    active_from bigint, t_to double precision, lsn_to pg_lsn, ticks_to bigint, active_to bigint, beats bigint,
    refused bigint, late numeric);
INSERT INTO churn_minute VALUES ${minutes%,};
-- Each relation of the extension (its tables, their TOAST and indexes) by what it holds.
CREATE TEMP TABLE churn_relation AS
WITH member AS (
    SELECT c.oid, CASE WHEN c.relname IN ('online_intervals', 'unknown_periods') THEN 'intervals'
                       WHEN c.relname ~ 'history' THEN 'history'
                       WHEN c.relname = 'compute_devices' THEN 'devices'
                       ELSE 'extension' END AS kind
      FROM pg_class AS c JOIN pg_depend AS d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
     WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'compute_devices')),
     with_toast AS (
    SELECT oid, kind FROM member
    UNION ALL
    SELECT c.reltoastrelid, m.kind FROM member AS m JOIN pg_class AS c ON c.oid = m.oid WHERE c.reltoastrelid <> 0)
SELECT pg_relation_filenode(w.oid) AS filenode, w.kind, w.oid::regclass::text AS relation FROM with_toast AS w
UNION ALL
SELECT pg_relation_filenode(i.indexrelid), w.kind, i.indexrelid::regclass::text FROM with_toast AS w JOIN pg_index AS i ON i.indrelid = w.oid;
DELETE FROM churn_relation WHERE filenode IS NULL;
-- Each record of each minute by the relation its first block is in (in this database), or else
-- by the first kind of relation its transaction wrote (commits), or else rest.
CREATE TEMP TABLE churn_record AS
SELECT m.phase, m.minute, w.xid::text AS xid, w.record_length,
       (regexp_match(w.block_ref, ' rel [0-9]+/' || (SELECT oid FROM pg_database WHERE datname = current_database())
                                  || '/([0-9]+) '))[1]::oid AS filenode
  FROM churn_minute AS m, pg_get_wal_records_info(m.lsn_from, m.lsn_to) AS w;
WITH xact AS (
    SELECT r.xid, (array_agg(c.kind ORDER BY array_position('{intervals,history,devices,extension}'::text[], c.kind)))[1] AS kind
      FROM churn_record AS r JOIN churn_relation AS c USING (filenode)
     WHERE r.xid <> '0'
     GROUP BY r.xid),
     wal AS (
    SELECT r.phase, r.minute, coalesce(c.kind, x.kind, 'rest') AS kind, sum(r.record_length) AS bytes
      FROM churn_record AS r LEFT JOIN churn_relation AS c USING (filenode) LEFT JOIN xact AS x USING (xid)
     GROUP BY 1, 2, 3),
     spell AS (
    SELECT m.phase, m.minute,
           count(*) FILTER (WHERE o.end_reason = 'stale' AND o.ended_at >= to_timestamp(m.t_from) AND o.ended_at < to_timestamp(m.t_to)) AS stale,
           count(*) FILTER (WHERE o.started_at >= to_timestamp(m.t_from) AND o.started_at < to_timestamp(m.t_to)) AS opened
      FROM churn_minute AS m LEFT JOIN online_intervals AS o
           ON o.ended_at >= to_timestamp(m.t_from) AND o.ended_at < to_timestamp(m.t_to)
           OR o.started_at >= to_timestamp(m.t_from) AND o.started_at < to_timestamp(m.t_to)
     GROUP BY 1, 2)
SELECT 'minute', m.phase, m.minute, s.stale, s.opened, m.beats, m.refused, m.late,
       coalesce(sum(w.bytes) FILTER (WHERE w.kind = 'intervals'), 0),
       coalesce(sum(w.bytes) FILTER (WHERE w.kind = 'history'), 0),
       coalesce(sum(w.bytes) FILTER (WHERE w.kind = 'devices'), 0),
       coalesce(sum(w.bytes) FILTER (WHERE w.kind = 'extension'), 0),
       pg_wal_lsn_diff(m.lsn_to, m.lsn_from) - coalesce(sum(w.bytes) FILTER (WHERE w.kind <> 'rest'), 0),
       pg_wal_lsn_diff(m.lsn_to, m.lsn_from),
       (m.ticks_to - m.ticks_from) * 1000 / $(getconf CLK_TCK),
       round((m.t_to - m.t_from)::numeric, 1), m.active_to
  FROM churn_minute AS m JOIN spell AS s USING (phase, minute) LEFT JOIN wal AS w USING (phase, minute)
 GROUP BY m.phase, m.minute, s.stale, s.opened, m.beats, m.refused, m.late, m.lsn_to, m.lsn_from, m.ticks_to, m.ticks_from, m.t_to, m.t_from, m.active_to
 ORDER BY m.phase = 'churn', m.minute;
-- The extension's relations by the WAL of the records in their blocks, a minute in each window.
SELECT 'relation', c.relation,
       round(coalesce(sum(r.record_length) FILTER (WHERE r.phase = 'baseline'), 0)::numeric / $churn_minutes),
       round(coalesce(sum(r.record_length) FILTER (WHERE r.phase = 'churn'), 0)::numeric / $churn_minutes)
  FROM churn_record AS r JOIN churn_relation AS c USING (filenode)
 GROUP BY c.relation
 ORDER BY 4 DESC, 3 DESC;
SQL
)"
    sql -d postgres -c "SELECT pg_drop_replication_slot('bench_churn')" >/dev/null
    local statements
    statements="$(value -d postgres -F '|' -v minutes="$churn_minutes" <<'SQL'
SELECT left(query, 64),
       round(coalesce(sum(calls) FILTER (WHERE phase = 'baseline'), 0)::numeric / :minutes, 1),
       round(coalesce(sum(total_exec_time) FILTER (WHERE phase = 'baseline'), 0)::numeric / :minutes, 1),
       round(coalesce(sum(calls) FILTER (WHERE phase = 'churn'), 0)::numeric / :minutes, 1),
       round(coalesce(sum(total_exec_time) FILTER (WHERE phase = 'churn'), 0)::numeric / :minutes, 1)
  FROM churn_statements
 GROUP BY query
 ORDER BY 5 DESC, 3 DESC
 LIMIT 12
SQL
)"
    echo "churn: a day of history..." >&2
    local day
    day="$(churn_history_day)"
    # get_network_history's extra arguments, with what each asks.
    local timings="" i
    local shapes=("" ", group_by => 'device_type'" ", group_by => 'region'" ", bucket => '1 hour'")
    local labels=("24 h of minutes" "24 h of minutes, by device_type" "24 h of minutes, by region" "24 h in 1 hour buckets")
    for i in "${!shapes[@]}"; do
        timings+="get_network_history: ${labels[$i]}|$(churn_history_time "${shapes[$i]}")"$'\n'
    done
    rm -rf "$churn_dir"
    value -d postgres -c "ALTER SYSTEM RESET compute_devices.sweep_interval" -c "SELECT pg_reload_conf()" >/dev/null
    churn_report "$window" "$cadence" "$(sed -n 's/^minute //p' <<<"$per_minute")" "$statements" "$day" "$timings" \
        "$(sed -n 's/^relation //p' <<<"$per_minute")"
}

# The tables: churn_report window cadence per_minute statements day timings relations.
churn_report() {
    {
        echo "#minutes"
        echo "$3"
        echo "#statements"
        echo "$4"
        echo "#day"
        echo "$5"
        echo "#timings"
        echo "$6"
        echo "#relations"
        echo "$7"
    } | awk -v devices="$devices" -v window="$1" -v cadence="$2" -v minutes="$churn_minutes" \
        -v batch="$churn_batch" -v stop_chunk="$(((devices + 179) / 180))" -v calls="$churn_history_calls" '
    /^#/ { section = substr($0, 2); next }
    NF == 0 { next }
    section == "minutes" {
        n++; row[n] = $0
        split($0, f, " ")
        p = f[1]; count[p]++
        for (i = 3; i <= 16; i++) sum[p, i] += f[i]
        next
    }
    section == "statements" { statement[++statements] = $0; next }
    section == "day" { split($0, day, " "); next }
    section == "timings" { timing[++timings] = $0; next }
    section == "relations" { relation[++relations] = $0; next }
    function line(label, v) {
        printf "| %-26s | %7.0f | %7.0f | %7.0f | %10.0f | %13.0f | %11.0f | %14.0f | %14.0f | %10.0f | %10.0f | %8.1f | %13.0f |\n",
            label, v[3], v[4], v[16], v[5], v[8], v[9], v[10], v[11], v[12], v[13], (v[5] > 0 ? v[13] / v[5] : 0), v[14]
    }
    END {
        printf "\nchurn: %d devices (90%% active when loaded), each live device beating once per %d s (send_heartbeats of up\n", devices, cadence
        printf "to %d), active_window %d s, the extension'"'"'s sweep_interval; two windows of %d minutes, each from a checkpoint.\n", batch, window, minutes
        printf "baseline: the same heartbeats, no liveness changes; churn: every minute %d devices stop beating (stale %d s after\n", int(stop_chunk * 0.9), window
        printf "their last heartbeat) and %d stale ones start again (revive): 1%% of the devices a minute.\n\n", int(devices / 200)
        printf "| %-26s | %7s | %7s | %7s | %10s | %13s | %11s | %14s | %14s | %10s | %10s | %8s | %13s |\n", "window, minute", "stale",
            "revived", "active", "heartbeats", "WAL intervals", "WAL history", "WAL write-back", "WAL ext. other", "WAL rest",
            "WAL total", "WAL/beat", "worker CPU ms"
        printf "|----------------------------|---------|---------|---------|------------|---------------|-------------|----------------|----------------|------------|------------|----------|---------------|\n"
        for (r = 1; r <= n; r++) {
            split(row[r], v, " ")
            line(v[1] " " v[2], v)
            if (v[6] > 0 || v[7] > 5) lateness = lateness sprintf(" %s %s: %d refused, %.1f s late;", v[1], v[2], v[6], v[7])
        }
        for (pi = 1; pi <= 2; pi++) {
            p = pi == 1 ? "baseline" : "churn"
            for (i = 3; i <= 16; i++) mean[p, i] = count[p] ? sum[p, i] / count[p] : 0
            for (i = 3; i <= 16; i++) m[i] = mean[p, i]
            line(p ", mean a minute", m)
        }
        for (i = 3; i <= 16; i++) d[i] = mean["churn", i] - mean["baseline", i]
        line("churn - baseline", d)
        changes = mean["churn", 3] + mean["churn", 4]
        printf "\nWhat churn costs a minute (churn mean - baseline mean): %.0f kB of WAL (%.0f bytes a liveness change; intervals\n", d[13] / 1024, (changes > 0 ? d[13] / changes : 0)
        printf "%.0f, history %.0f, write-back %.0f bytes a minute), %.0f ms of the worker'"'"'s CPU (%.1f%% of a core). In the churn window\n", d[8], d[9], d[10], d[14], d[14] / 600
        printf "all WAL was %.1f bytes a heartbeat (the heartbeat case'"'"'s target, <= 100, counts the whole write-back cycle).\n", (mean["churn", 5] > 0 ? mean["churn", 13] / mean["churn", 5] : 0)
        if (lateness != "") printf "Driver:%s\n", lateness
        printf "\n| %-50s | %16s | %16s |\n", "WAL by relation of the extension (bytes a minute)", "baseline", "churn"
        printf "|----------------------------------------------------|------------------|------------------|\n"
        for (r = 1; r <= relations; r++) {
            split(relation[r], q, " ")
            printf "| %-50s | %16s | %16s |\n", q[1], q[2], q[3]
        }
        printf "\n| %-64s | %10s | %10s | %10s | %10s |\n", "worker statement (pg_stat_statements)", "base /min", "base ms/min", "churn /min", "churn ms/min"
        printf "|------------------------------------------------------------------|------------|------------|------------|------------|\n"
        for (s = 1; s <= statements; s++) {
            split(statement[s], q, "|")
            printf "| %-64s | %10s | %10s | %10s | %10s |\n", q[1], q[2], q[3], q[4], q[5]
        }
        minute_day = day[2] > 0 ? day[3] * 1440 / day[2] : 0
        hour_day = day[5] > 0 ? day[6] * 24 / day[5] : 0
        printf "\nHistory: the run'"'"'s minutes copied back over the 24 hours before the last (%d minutes, %d hours present),\nthen vacuumed; get_network_history the median of %d calls in one session, as psql receives the rows.\n\n", day[2], day[5], calls
        printf "| %-52s | %22s | %-12s |\n", "history", "value", "target"
        printf "|------------------------------------------------------|------------------------|--------------|\n"
        printf "| %-52s | %22.1f | %-12s |\n", "rows a minute (network, device types, regions)", (day[2] > 0 ? day[1] / day[2] : 0), ""
        printf "| %-52s | %19.2f MB | %-12s |\n", "a day of minutes on disk (table, TOAST, indexes)", minute_day / 1048576, ""
        printf "| %-52s | %19.2f MB | %-12s |\n", "a day of hours on disk", hour_day / 1048576, ""
        printf "| %-52s | %19.1f MB | %-12s |\n", "at the defaults (30 days of minutes, 400 of hours)", (30 * minute_day + 400 * hour_day) / 1048576, ""
        for (t = 1; t <= timings; t++) {
            split(timing[t], q, "|"); split(q[2], a, " ")
            printf "| %-52s | %22s | %-12s |\n", q[1], sprintf("%.1f ms, %d rows", a[1], a[2]), "< 50 ms"
        }
    }'
}
