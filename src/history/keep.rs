//! What record_network_history() does after writing its minute: rolls completed UTC hours up
//! into hourly rows, and prunes what is past its retention, a bounded batch a call, so that no
//! call holds many row locks or writes much WAL at once (a backlog goes over the next calls).

use crate::settings;
use crate::spi::catalog;
use pgrx::spi::SpiClient;

/// At most this many rows of each history table are pruned a call. In steady state a minute
/// makes at most 11 minute rows and, once an hour, 11 hourly ones.
pub const HISTORY_BATCH: i64 = 10_000;
/// At most this many closed online intervals are pruned a call: more than a million devices
/// going stale or stopping at 1% a minute close.
pub const INTERVAL_BATCH: i64 = 50_000;
/// At most this many unknown periods (one per server restart) are pruned a call.
pub const UNKNOWN_PERIOD_BATCH: i64 = 1_000;

/// Rolls up the hours that completed since the last roll-up, and the last rolled-up hour again
/// (a minute recorded late, by a transaction that began before the hour ended and waited for
/// the lock, lands there), up to a day of new hours a call. Each hour's samples are the minutes
/// recorded for the network; a group missing from some (a region without devices then) counts 0
/// there. A row is rewritten only if it changed and its samples did not shrink (minutes pruned
/// from under an hour never lower what was rolled up).
const ROLL_UP: &str = "
    WITH last AS (
        SELECT pg_catalog.max(h.hour) AS hour
          FROM @extschema@.network_history_hours AS h
         WHERE h.kind OPERATOR(pg_catalog.=) 0
    ), next AS (
        SELECT pg_catalog.date_trunc('hour', pg_catalog.min(m.minute), 'UTC'::pg_catalog.text) AS hour
          FROM @extschema@.network_history_minutes AS m, last
         WHERE m.kind OPERATOR(pg_catalog.=) 0
           AND m.minute OPERATOR(pg_catalog.>=)
               COALESCE(last.hour OPERATOR(pg_catalog.+) '1 hour'::pg_catalog.interval,
                        '-infinity'::pg_catalog.timestamptz)
    ), span AS (
        SELECT COALESCE(last.hour, next.hour) AS from_hour,
               LEAST(pg_catalog.date_trunc('hour', pg_catalog.now(), 'UTC'::pg_catalog.text),
                     COALESCE(next.hour, last.hour) OPERATOR(pg_catalog.+)
                         '24 hours'::pg_catalog.interval) AS to_hour
          FROM last, next
    ), counted AS (
        SELECT pg_catalog.date_trunc('hour', m.minute, 'UTC'::pg_catalog.text) AS hour,
               m.kind, m.group_key, pg_catalog.count(*) AS present,
               pg_catalog.sum(m.active_nodes) AS active_nodes,
               pg_catalog.min(m.active_nodes) AS active_nodes_min,
               pg_catalog.max(m.active_nodes) AS active_nodes_max,
               pg_catalog.sum(m.total_ram_gb) AS total_ram_gb,
               pg_catalog.sum(m.total_cpu_cores) AS total_cpu_cores,
               pg_catalog.sum(m.total_storage_gb) AS total_storage_gb,
               pg_catalog.sum(m.total_compute_score) AS total_compute_score,
               pg_catalog.sum(m.total_gpus) AS total_gpus,
               pg_catalog.sum(m.total_gpu_memory_gb) AS total_gpu_memory_gb
          FROM @extschema@.network_history_minutes AS m, span
         WHERE m.minute OPERATOR(pg_catalog.>=) span.from_hour
           AND m.minute OPERATOR(pg_catalog.<) span.to_hour
         GROUP BY 1, 2, 3
    ), hours AS (
        SELECT c.hour, c.present AS samples FROM counted AS c WHERE c.kind OPERATOR(pg_catalog.=) 0
    )
    INSERT INTO @extschema@.network_history_hours AS h
           (hour, kind, group_key, samples, active_nodes_sum, active_nodes_min, active_nodes_max,
            total_ram_gb_sum, total_cpu_cores_sum, total_storage_gb_sum, total_compute_score_sum,
            total_gpus_sum, total_gpu_memory_gb_sum)
    SELECT c.hour, c.kind, c.group_key, n.samples::pg_catalog.int4,
           c.active_nodes::pg_catalog.int8,
           CASE WHEN c.present OPERATOR(pg_catalog.<) n.samples THEN 0::pg_catalog.int8
                ELSE c.active_nodes_min END,
           c.active_nodes_max, c.total_ram_gb, c.total_cpu_cores, c.total_storage_gb,
           c.total_compute_score, c.total_gpus, c.total_gpu_memory_gb
      FROM counted AS c JOIN hours AS n ON n.hour OPERATOR(pg_catalog.=) c.hour
        ON CONFLICT (hour, kind, group_key) DO UPDATE
       SET samples = excluded.samples, active_nodes_sum = excluded.active_nodes_sum,
           active_nodes_min = excluded.active_nodes_min,
           active_nodes_max = excluded.active_nodes_max,
           total_ram_gb_sum = excluded.total_ram_gb_sum,
           total_cpu_cores_sum = excluded.total_cpu_cores_sum,
           total_storage_gb_sum = excluded.total_storage_gb_sum,
           total_compute_score_sum = excluded.total_compute_score_sum,
           total_gpus_sum = excluded.total_gpus_sum,
           total_gpu_memory_gb_sum = excluded.total_gpu_memory_gb_sum
     WHERE excluded.samples OPERATOR(pg_catalog.>=) h.samples
       AND (h.samples, h.active_nodes_sum, h.active_nodes_min, h.active_nodes_max,
            h.total_ram_gb_sum, h.total_cpu_cores_sum, h.total_storage_gb_sum,
            h.total_compute_score_sum, h.total_gpus_sum, h.total_gpu_memory_gb_sum)
           IS DISTINCT FROM
           (excluded.samples, excluded.active_nodes_sum, excluded.active_nodes_min,
            excluded.active_nodes_max, excluded.total_ram_gb_sum, excluded.total_cpu_cores_sum,
            excluded.total_storage_gb_sum, excluded.total_compute_score_sum,
            excluded.total_gpus_sum, excluded.total_gpu_memory_gb_sum)";

/// `now() - $1 seconds`.
macro_rules! before_now {
    ($seconds:literal) => {
        concat!(
            "(pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => ",
            $seconds,
            "::pg_catalog.float8))"
        )
    };
}

/// Deletes at most $2 rows of `$table` whose `$column` is before now() - $1 seconds, found
/// through the index on that column.
macro_rules! prune {
    ($table:literal, $column:literal) => {
        concat!(
            "DELETE FROM @extschema@.",
            $table,
            " AS t WHERE t.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT o.ctid FROM @extschema@.",
            $table,
            " AS o WHERE o.",
            $column,
            " OPERATOR(pg_catalog.<) ",
            before_now!("$1"),
            " LIMIT $2))"
        )
    };
}

const PRUNE_MINUTES: &str = prune!("network_history_minutes", "minute");
const PRUNE_HOURS: &str = prune!("network_history_hours", "hour");
/// Closed intervals only: an open one (ended_at NULL) is never before anything.
const PRUNE_INTERVALS: &str = prune!("online_intervals", "ended_at");
const PRUNE_UNKNOWN_PERIODS: &str = prune!("unknown_periods", "ended_at");

pub fn roll_up(client: &mut SpiClient<'_>) -> pgrx::spi::Result<()> {
    client.update(&*catalog::statement(ROLL_UP), None, &[])?;
    Ok(())
}

/// How many rows each prune removed: minutes, hours, intervals, unknown periods.
pub type Pruned = [usize; 4];

/// Prunes history past its retention: minute rows and closed online intervals older than
/// history_retention, hourly rows and unknown periods older than history_retention_hours (or
/// history_retention, if that is longer). Intervals and unknown periods only where the extension
/// has those tables.
pub fn prune(client: &mut SpiClient<'_>) -> pgrx::spi::Result<Pruned> {
    let extension = catalog::extension();
    let minutes = settings::history_retention_seconds();
    let hours = settings::history_retention_hours_seconds().max(minutes);
    let mut run = |sql: &'static str, seconds: i64, batch: i64| {
        client
            .update(
                &*extension.statement(sql),
                None,
                &[(seconds as f64).into(), batch.into()],
            )
            .map(|deleted| deleted.len())
    };
    let pruned_minutes = run(PRUNE_MINUTES, minutes, HISTORY_BATCH)?;
    let pruned_hours = run(PRUNE_HOURS, hours, HISTORY_BATCH)?;
    let pruned_intervals = if extension.has_relation(c"online_intervals") {
        run(PRUNE_INTERVALS, minutes, INTERVAL_BATCH)?
    } else {
        0
    };
    let pruned_periods = if extension.has_relation(c"unknown_periods") {
        run(PRUNE_UNKNOWN_PERIODS, hours, UNKNOWN_PERIOD_BATCH)?
    } else {
        0
    };
    Ok([
        pruned_minutes,
        pruned_hours,
        pruned_intervals,
        pruned_periods,
    ])
}
