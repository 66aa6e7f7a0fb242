//! The history's answers, read from the history tables only (so their cost does not depend on
//! the number of devices), in one statement each: no transaction id, no writes.

use crate::errors::internal_error;
use crate::history::Kind;
use crate::spi::catalog;
use crate::spi::result_set::ResultSet;
use pgrx::prelude::*;
use pgrx::{pg_sys, FromDatum, IntoDatum};

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

/// The statements' columns: bucket, kind, group key, then the rest of get_network_history's.
const KIND: usize = 1;
const GROUP_KEY: usize = 2;
const COLUMNS: usize = 12;

/// Puts into `rows` the buckets from the one holding `since` to the one holding `until`, for
/// these groups: every group seen in the range has a row in every bucket, zeros where it had
/// none. The statement's values are copied across as they are.
pub fn history(
    since: TimestampWithTimeZone,
    until: TimestampWithTimeZone,
    bucket: Bucket,
    kind: Kind,
    rows: &ResultSet,
) {
    Spi::connect(|client| {
        let read = if bucket == Bucket::Minute {
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
        // SAFETY: the result the select just left in SPI_tuptable, read before anything else
        // runs through SPI; its descriptor checked against the function's.
        unsafe {
            let table = pg_sys::SPI_tuptable;
            if table.is_null() || read.is_empty() {
                return Ok(());
            }
            rows.check_source((*table).tupdesc, &[KIND]);
            let read: Vec<Read> = (0..read.len())
                .map(|i| Read::of(*(*table).vals.add(i), (*table).tupdesc))
                .collect();
            fill(read, kind as i16, rows);
        }
        Ok::<_, pgrx::spi::Error>(())
    })
    .unwrap_or_else(internal_error)
}

/// One row the statement read, deformed.
struct Read {
    values: [pg_sys::Datum; COLUMNS],
    nulls: [bool; COLUMNS],
}

impl Read {
    /// # Safety
    /// `tuple` is a valid tuple of `desc`, a descriptor of COLUMNS columns.
    unsafe fn of(tuple: pg_sys::HeapTuple, desc: pg_sys::TupleDesc) -> Read {
        let mut read = Read {
            values: [pg_sys::Datum::from(0); COLUMNS],
            nulls: [true; COLUMNS],
        };
        // SAFETY: as the caller vouches; the values point into the tuple, which SPI keeps
        // until it disconnects.
        unsafe {
            pg_sys::heap_deform_tuple(
                tuple,
                desc,
                read.values.as_mut_ptr(),
                read.nulls.as_mut_ptr(),
            )
        };
        read
    }

    fn kind(&self) -> i16 {
        // SAFETY: the kind column is a smallint, never null.
        unsafe { i16::from_datum(self.values[KIND], self.nulls[KIND]).unwrap_or(0) }
    }

    fn group_key(&self) -> Option<String> {
        // SAFETY: the group key column is text.
        unsafe { String::from_datum(self.values[GROUP_KEY], self.nulls[GROUP_KEY]) }
    }

    /// The row as get_network_history returns it: every column but the kind.
    fn put(&self, rows: &ResultSet) {
        let keep = |i: &usize| *i != KIND;
        let mut values: Vec<pg_sys::Datum> =
            (0..COLUMNS).filter(keep).map(|i| self.values[i]).collect();
        let mut nulls: Vec<bool> = (0..COLUMNS).filter(keep).map(|i| self.nulls[i]).collect();
        rows.put(&mut values, &mut nulls);
    }
}

/// The rows of `kind` with a zero row for every group seen in the range but missing from a
/// bucket; `read` is in bucket order, each bucket's network row (kind 0) first, then its groups
/// in key order (NULL last).
fn fill(read: Vec<Read>, kind: i16, rows: &ResultSet) {
    if kind == 0 {
        read.iter().for_each(|row| row.put(rows));
        return;
    }
    let mut keys: Vec<Option<String>> = read
        .iter()
        .filter(|row| row.kind() == kind)
        .map(Read::group_key)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    // BTreeSet orders None first; NULL goes last.
    if keys.first() == Some(&None) {
        keys.rotate_left(1);
    }
    let key_datums: Vec<Option<pg_sys::Datum>> =
        keys.iter().map(|key| key.clone().into_datum()).collect();
    let zero = AnyNumeric::from(0).into_datum();
    let mut rows_read = read.iter().peekable();
    while let Some(network) = rows_read.next() {
        let mut present = Vec::new();
        while let Some(row) = rows_read.next_if(|row| row.kind() != 0) {
            if row.kind() == kind {
                present.push((row.group_key(), row));
            }
        }
        let mut present = present.into_iter().peekable();
        for (key, key_datum) in keys.iter().zip(&key_datums) {
            match present.next_if(|(row_key, _)| row_key == key) {
                Some((_, row)) => row.put(rows),
                None => {
                    // A group's row in a bucket it had no sample in: zeros.
                    let mut missing = Read {
                        values: [zero.unwrap_or(pg_sys::Datum::from(0)); COLUMNS],
                        nulls: [false; COLUMNS],
                    };
                    missing.values[0] = network.values[0];
                    missing.values[GROUP_KEY] = key_datum.unwrap_or(pg_sys::Datum::from(0));
                    missing.nulls[GROUP_KEY] = key_datum.is_none();
                    // active_nodes_min and active_nodes_max are bigints.
                    missing.values[4] = pg_sys::Datum::from(0_i64);
                    missing.values[5] = pg_sys::Datum::from(0_i64);
                    missing.put(rows);
                }
            }
        }
    }
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
