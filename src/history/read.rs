//! The history's answers, read from the history tables only (so their cost does not depend on
//! the number of devices), in one statement each: no transaction id, no writes.

use crate::errors::internal_error;
use crate::history::Kind;
use crate::spi::catalog;
use pgrx::prelude::*;

/// A bucket's average of a group's column `$x`, over the bucket's `total` samples (the minutes
/// recorded for the network; a group missing from some counts 0 there): the value itself over
/// one sample, else rounded to 3 decimals.
macro_rules! average {
    ($x:literal) => {
        concat!(
            "CASE WHEN g.total OPERATOR(pg_catalog.=) 1::pg_catalog.numeric THEN g.",
            $x,
            " ELSE pg_catalog.trim_scale(pg_catalog.round(g.",
            $x,
            " OPERATOR(pg_catalog./) g.total, 3)) END"
        )
    };
}

/// The buckets of `$3` ('hour' or 'day', UTC; minutes are `MINUTES`) from the one holding $1 to
/// the one holding $2, with $4 the bucket as an interval; the groups of kind $5 (0: the network
/// alone). Hours before the first one not rolled up are read from the hourly rows, the rest from
/// the minute rows. One row per bucket the network has a
/// sample in and group present in it, with the network's own row (kind 0) for each bucket, in
/// time order, then kind, then group key (byte order), the NULL group (no region) last: `history`
/// adds the zero rows of groups missing from a bucket. (Zero-filling in SQL, a cross join of
/// buckets and keys joined back to the groups, was planned as a merge join filtering millions
/// of pairs: 400 ms for a day of minutes.)
const HISTORY: &str = concat!(
    "
    WITH bounds AS (
        SELECT pg_catalog.date_trunc($3, $1, 'UTC'::pg_catalog.text) AS from_time,
               pg_catalog.date_trunc($3, $2, 'UTC'::pg_catalog.text)
                   OPERATOR(pg_catalog.+) $4::pg_catalog.interval AS to_time,
               COALESCE((SELECT pg_catalog.max(h.hour)
                           FROM @extschema@.network_history_hours AS h
                          WHERE h.kind OPERATOR(pg_catalog.=) 0)
                        OPERATOR(pg_catalog.+) '1 hour'::pg_catalog.interval,
                        '-infinity'::pg_catalog.timestamptz) AS unrolled
    ), samples AS (
        SELECT h.kind, h.group_key,
               pg_catalog.date_trunc($3, h.hour, 'UTC'::pg_catalog.text) AS bucket,
               h.samples::pg_catalog.numeric AS n,
               h.active_nodes_sum::pg_catalog.numeric AS active_nodes,
               h.active_nodes_min AS active_nodes_min, h.active_nodes_max AS active_nodes_max,
               h.total_ram_gb_sum AS total_ram_gb, h.total_cpu_cores_sum AS total_cpu_cores,
               h.total_storage_gb_sum AS total_storage_gb,
               h.total_compute_score_sum AS total_compute_score, h.total_gpus_sum AS total_gpus,
               h.total_gpu_memory_gb_sum AS total_gpu_memory_gb
          FROM @extschema@.network_history_hours AS h, bounds
         WHERE h.hour OPERATOR(pg_catalog.>=) bounds.from_time
           AND h.hour OPERATOR(pg_catalog.<) bounds.to_time
           AND h.hour OPERATOR(pg_catalog.<) bounds.unrolled
           AND (h.kind OPERATOR(pg_catalog.=) 0 OR h.kind OPERATOR(pg_catalog.=) $5)
        UNION ALL
        SELECT m.kind, m.group_key,
               pg_catalog.date_trunc($3, m.minute, 'UTC'::pg_catalog.text),
               1::pg_catalog.numeric, m.active_nodes::pg_catalog.numeric, m.active_nodes,
               m.active_nodes, m.total_ram_gb, m.total_cpu_cores::pg_catalog.numeric,
               m.total_storage_gb, m.total_compute_score, m.total_gpus::pg_catalog.numeric,
               m.total_gpu_memory_gb
          FROM @extschema@.network_history_minutes AS m, bounds
         WHERE m.minute OPERATOR(pg_catalog.>=) GREATEST(bounds.from_time, bounds.unrolled)
           AND m.minute OPERATOR(pg_catalog.<) bounds.to_time
           AND (m.kind OPERATOR(pg_catalog.=) 0 OR m.kind OPERATOR(pg_catalog.=) $5)
    ), grouped AS (
        SELECT s.bucket, s.kind, s.group_key, pg_catalog.sum(s.n) AS n,
               pg_catalog.sum(s.active_nodes) AS active_nodes,
               pg_catalog.min(s.active_nodes_min) AS active_nodes_min,
               pg_catalog.max(s.active_nodes_max) AS active_nodes_max,
               pg_catalog.sum(s.total_ram_gb) AS total_ram_gb,
               pg_catalog.sum(s.total_cpu_cores) AS total_cpu_cores,
               pg_catalog.sum(s.total_storage_gb) AS total_storage_gb,
               pg_catalog.sum(s.total_compute_score) AS total_compute_score,
               pg_catalog.sum(s.total_gpus) AS total_gpus,
               pg_catalog.sum(s.total_gpu_memory_gb) AS total_gpu_memory_gb
          FROM samples AS s
         GROUP BY s.bucket, s.kind, s.group_key
    )
    SELECT g.bucket, g.kind, NULLIF(g.group_key, ''), ",
    average!("active_nodes"),
    ",
           CASE WHEN g.n OPERATOR(pg_catalog.<) g.total THEN 0::pg_catalog.int8
                ELSE g.active_nodes_min END,
           g.active_nodes_max, ",
    average!("total_ram_gb"),
    ", ",
    average!("total_cpu_cores"),
    ", ",
    average!("total_storage_gb"),
    ", ",
    average!("total_compute_score"),
    ", ",
    average!("total_gpus"),
    ", ",
    average!("total_gpu_memory_gb"),
    "
      FROM (SELECT g.*,
                   pg_catalog.max(CASE WHEN g.kind OPERATOR(pg_catalog.=) 0 THEN g.n END)
                       OVER (PARTITION BY g.bucket) AS total
              FROM grouped AS g) AS g
     WHERE g.total IS NOT NULL
     ORDER BY g.bucket, g.kind, NULLIF(g.group_key, '') COLLATE pg_catalog.\"C\" NULLS LAST"
);

/// `HISTORY` for '1 minute' buckets: a bucket is one recorded minute, so its averages are the
/// minute's own values, and the rows are read in the primary key's order, with no grouping
/// (which cost a day of minutes most of its 50 ms budget). The bounds are subqueries, computed
/// once: date_trunc in a time zone, evaluated for each row, was half the rest. The same columns,
/// in the same order.
const MINUTES: &str = "
    SELECT m.minute, m.kind, NULLIF(m.group_key, ''), m.active_nodes::pg_catalog.numeric,
           m.active_nodes, m.active_nodes, m.total_ram_gb, m.total_cpu_cores::pg_catalog.numeric,
           m.total_storage_gb, m.total_compute_score, m.total_gpus::pg_catalog.numeric,
           m.total_gpu_memory_gb
      FROM @extschema@.network_history_minutes AS m
     WHERE m.minute OPERATOR(pg_catalog.>=)
           (SELECT pg_catalog.date_trunc('minute', $1, 'UTC'::pg_catalog.text))
       AND m.minute OPERATOR(pg_catalog.<)
           (SELECT pg_catalog.date_trunc('minute', $2, 'UTC'::pg_catalog.text)
                   OPERATOR(pg_catalog.+) '1 minute'::pg_catalog.interval)
       AND (m.kind OPERATOR(pg_catalog.=) 0 OR m.kind OPERATOR(pg_catalog.=) $3)
     ORDER BY m.minute, m.kind, NULLIF(m.group_key, '') COLLATE pg_catalog.\"C\" NULLS LAST";

/// The network's row of the minute holding $1, as get_network_stats() returns it.
const STATS_AT: &str = "
    SELECT ROW(m.active_nodes, m.total_ram_gb, m.total_cpu_cores, m.total_storage_gb,
               m.total_compute_score, m.total_gpus, m.total_gpu_memory_gb)::@extschema@.network_stats
      FROM @extschema@.network_history_minutes AS m
     WHERE m.minute OPERATOR(pg_catalog.=) pg_catalog.date_trunc('minute', $1, 'UTC'::pg_catalog.text)
       AND m.kind OPERATOR(pg_catalog.=) 0";

/// A bucket's length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucket {
    Minute,
    Hour,
    Day,
}

impl Bucket {
    /// The names get_network_history accepts, with their buckets.
    pub const ALL: [(&'static str, Bucket); 3] = [
        ("1 minute", Bucket::Minute),
        ("1 hour", Bucket::Hour),
        ("1 day", Bucket::Day),
    ];

    fn unit(self) -> &'static str {
        match self {
            Bucket::Minute => "minute",
            Bucket::Hour => "hour",
            Bucket::Day => "day",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Bucket::Minute => "1 minute",
            Bucket::Hour => "1 hour",
            Bucket::Day => "1 day",
        }
    }
}

/// One row of get_network_history.
pub type HistoryRow = (
    TimestampWithTimeZone,
    Option<String>,
    AnyNumeric,
    i64,
    i64,
    AnyNumeric,
    AnyNumeric,
    AnyNumeric,
    AnyNumeric,
    AnyNumeric,
    AnyNumeric,
);

/// The buckets from the one holding `since` to the one holding `until`, for these groups: every
/// group seen in the range has a row in every bucket, zeros where it had none.
pub fn history(
    since: TimestampWithTimeZone,
    until: TimestampWithTimeZone,
    bucket: Bucket,
    kind: Kind,
) -> Vec<HistoryRow> {
    let read = Spi::connect(|client| {
        let rows = if bucket == Bucket::Minute {
            client.select(
                &*catalog::statement(MINUTES),
                None,
                &[since.into(), until.into(), (kind as i16).into()],
            )?
        } else {
            client.select(
                &*catalog::statement(HISTORY),
                None,
                &[
                    since.into(),
                    until.into(),
                    bucket.unit().into(),
                    bucket.name().into(),
                    (kind as i16).into(),
                ],
            )?
        };
        rows.map(|row| {
            let number = |column: usize| {
                row.get::<AnyNumeric>(column)
                    .map(|value| value.unwrap_or_default())
            };
            let start = row
                .get::<TimestampWithTimeZone>(1)?
                .expect("a bucket has a start");
            let row_kind = row.get::<i16>(2)?.unwrap_or(0);
            Ok((
                row_kind,
                (
                    start,
                    row.get::<String>(3)?,
                    number(4)?,
                    row.get::<i64>(5)?.unwrap_or(0),
                    row.get::<i64>(6)?.unwrap_or(0),
                    number(7)?,
                    number(8)?,
                    number(9)?,
                    number(10)?,
                    number(11)?,
                    number(12)?,
                ),
            ))
        })
        .collect::<pgrx::spi::Result<Vec<_>>>()
    })
    .unwrap_or_else(internal_error);
    fill(read, kind as i16)
}

/// The rows of `kind` with a zero row for every group seen in the range but missing from a
/// bucket; `read` is in bucket order, each bucket's network row (kind 0) first, then its groups
/// in key order (NULL last).
fn fill(read: Vec<(i16, HistoryRow)>, kind: i16) -> Vec<HistoryRow> {
    if kind == 0 {
        return read.into_iter().map(|(_, row)| row).collect();
    }
    let mut keys: Vec<Option<String>> = read
        .iter()
        .filter(|(row_kind, _)| *row_kind == kind)
        .map(|(_, row)| row.1.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    // BTreeSet orders None first; NULL goes last.
    if keys.first() == Some(&None) {
        keys.rotate_left(1);
    }
    let mut filled = Vec::with_capacity(read.len());
    let mut rows = read.into_iter().peekable();
    while let Some((_, network)) = rows.next() {
        let start = network.0;
        let mut present = Vec::new();
        while let Some((row_kind, row)) = rows.next_if(|(row_kind, _)| *row_kind != 0) {
            if row_kind == kind {
                present.push(row);
            }
        }
        let mut present = present.into_iter().peekable();
        for key in &keys {
            match present.next_if(|row| &row.1 == key) {
                Some(row) => filled.push(row),
                None => filled.push(zero(start, key.clone())),
            }
        }
    }
    filled
}

/// A group's row in a bucket it had no sample in.
fn zero(start: TimestampWithTimeZone, key: Option<String>) -> HistoryRow {
    let zero = AnyNumeric::from(0);
    (
        start,
        key,
        zero.clone(),
        0,
        0,
        zero.clone(),
        zero.clone(),
        zero.clone(),
        zero.clone(),
        zero.clone(),
        zero,
    )
}

/// The network's totals recorded for the minute holding `at`, if any.
pub fn stats_at(
    at: TimestampWithTimeZone,
) -> Option<pgrx::composite_type!('static, "network_stats")> {
    Spi::connect(|client| {
        let rows = client.select(&*catalog::statement(STATS_AT), Some(1), &[at.into()])?;
        crate::spi::rows::only_row::<pgrx::composite_type!('static, "network_stats")>(rows)
    })
    .unwrap_or_else(internal_error)
}
