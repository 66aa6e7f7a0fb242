//! Device health (issue 16): each device's uptime over the last day and week, how often it went
//! stale in the last day, a health score, and the reliability get_capacity weighs it by. All of
//! it is computed from the recorded spells online (`online_intervals`, src/intervals.rs), less
//! the periods nothing was recorded (`unknown_periods`), by one SQL text (`health_of!`) that
//! every reader shares:
//!
//! - the view `compute_devices_live` (so get_user_devices and what register_device and
//!   deactivate_device return) through `device_health()` (device.rs), one device at a time;
//! - get_capacity on the table path, over every registered device that is not stopped;
//! - `refresh_health` on the shared-memory path: the worker stores each device's uptime_7d and
//!   reliability in its slot (encoded by `Health`), a fifteenth of the devices a minute, so that
//!   get_capacity's pass over the slots weighs devices without SQL.
//!
//! For a window W (1 day, 7 days) at `now` (the transaction's now()):
//! existence E = [greatest(now − W, created_at), now]; known K = E less the unknown periods;
//! online O = the device's spells [started_at, coalesce(ended_at, now)] within K, summed;
//! uptime = round(O / |K|, 4), NULL when |K| = 0. flaps_24h = the spells that ended 'stale' in
//! the last day. Reliability r = (coalesce(uptime_7d, 0)·h + 0.5·24) / (h + 24) with h = |K| of
//! the week in hours: a prior of 50% worth a day of observation. health_score =
//! round(100·r·0.9^flaps_24h, 1); get_capacity's probability p = round(r, 4).

use crate::shared_memory::slots::Shared;
use crate::spi::catalog;
use pgrx::pg_sys;
use pgrx::spi::SpiClient;

/// The health of the devices a source query gives (columns `id uuid, created_at timestamptz`),
/// as a parenthesised subquery with the columns `id, uptime_1d, uptime_7d, flaps_24h,
/// health_score, reliability` (numerics: uptimes and reliability with 4 decimals, the score
/// with 1), one row per source row. Lengths are summed as intervals (exact microseconds) and
/// turned into seconds once a device. A spell that overlaps others is not merged with them; an
/// uptime is at most 1.
macro_rules! health_of {
    // A spell `p`'s time online since `from` (an interval), less the unknown periods in it
    // (looked for only when there are any: the uncorrelated test runs once a statement).
    (@spell $from:literal) => {
        concat!(
            "GREATEST(p.until OPERATOR(pg_catalog.-) GREATEST(p.started_at, ", $from, "),
                      '0'::pg_catalog.interval)
             OPERATOR(pg_catalog.-) CASE WHEN (SELECT NOT EXISTS (SELECT FROM unknown))
                                         THEN '0'::pg_catalog.interval ELSE COALESCE((
                 SELECT pg_catalog.sum(GREATEST(LEAST(p.until, k.ended_at) OPERATOR(pg_catalog.-)
                                                GREATEST(p.started_at, ", $from, ", k.started_at),
                                                '0'::pg_catalog.interval))
                   FROM unknown AS k
                  WHERE k.started_at OPERATOR(pg_catalog.<) p.until
                    AND k.ended_at OPERATOR(pg_catalog.>) p.started_at), '0'::pg_catalog.interval) END"
        )
    };
    // The known time from `from` to now (an interval): that time less the unknown periods in it.
    (@known $from:literal) => {
        concat!(
            "GREATEST(pg_catalog.now() OPERATOR(pg_catalog.-) ", $from, ", '0'::pg_catalog.interval)
             OPERATOR(pg_catalog.-) CASE WHEN (SELECT NOT EXISTS (SELECT FROM unknown))
                                         THEN '0'::pg_catalog.interval ELSE COALESCE((
                 SELECT pg_catalog.sum(GREATEST(LEAST(pg_catalog.now(), k.ended_at) OPERATOR(pg_catalog.-)
                                                GREATEST(", $from, ", k.started_at),
                                                '0'::pg_catalog.interval))
                   FROM unknown AS k), '0'::pg_catalog.interval) END"
        )
    };
    ($($source:tt)+) => {
        concat!(
            "(WITH unknown AS MATERIALIZED (
                  -- The periods nothing was recorded that reach into the last week, merged
                  -- into disjoint ranges.
                  SELECT pg_catalog.lower(m.r) AS started_at, pg_catalog.upper(m.r) AS ended_at
                    FROM pg_catalog.unnest((
                           SELECT pg_catalog.range_agg(pg_catalog.tstzrange(u.started_at, u.ended_at))
                             FROM @extschema@.unknown_periods AS u
                            WHERE u.ended_at OPERATOR(pg_catalog.>)
                                  (pg_catalog.now() OPERATOR(pg_catalog.-) '7 days'::pg_catalog.interval)
                         )) AS m(r)
              ), windows AS (
                  SELECT s.id,
                         GREATEST(pg_catalog.now() OPERATOR(pg_catalog.-) '1 day'::pg_catalog.interval,
                                  s.created_at) AS from_1d,
                         GREATEST(pg_catalog.now() OPERATOR(pg_catalog.-) '7 days'::pg_catalog.interval,
                                  s.created_at) AS from_7d
                    FROM (",
            $($source)+,
            ") AS s
              ), spells AS (
                  SELECT w.id, w.from_1d, w.from_7d, i.started_at, i.ended_at, i.end_reason,
                         LEAST(COALESCE(i.ended_at, pg_catalog.now()), pg_catalog.now()) AS until
                    FROM windows AS w
                    JOIN @extschema@.online_intervals AS i ON i.device_id OPERATOR(pg_catalog.=) w.id
                   WHERE i.ended_at IS NULL
                      OR i.ended_at OPERATOR(pg_catalog.>)
                         (pg_catalog.now() OPERATOR(pg_catalog.-) '7 days'::pg_catalog.interval)
              ), online AS (
                  SELECT p.id,
                         pg_catalog.sum(",
            health_of!(@spell "p.from_1d"),
            ") AS online_1d,
                         pg_catalog.sum(",
            health_of!(@spell "p.from_7d"),
            ") AS online_7d,
                         pg_catalog.count(*) FILTER (
                             WHERE p.end_reason OPERATOR(pg_catalog.=) 'stale'
                               AND p.ended_at OPERATOR(pg_catalog.>)
                                   (pg_catalog.now() OPERATOR(pg_catalog.-) '1 day'::pg_catalog.interval)
                         ) AS flaps
                    FROM spells AS p
                   GROUP BY p.id
              ), measured AS (
                  SELECT w.id, COALESCE(o.flaps, 0) AS flaps,
                         EXTRACT(EPOCH FROM ",
            health_of!(@known "w.from_1d"),
            ") AS known_1d,
                         EXTRACT(EPOCH FROM ",
            health_of!(@known "w.from_7d"),
            ") AS known_7d,
                         COALESCE(EXTRACT(EPOCH FROM o.online_1d), 0) AS online_1d,
                         COALESCE(EXTRACT(EPOCH FROM o.online_7d), 0) AS online_7d
                    FROM windows AS w
                    LEFT JOIN online AS o ON o.id OPERATOR(pg_catalog.=) w.id
              ), uptime AS (
                  SELECT m.id, m.flaps, m.known_7d OPERATOR(pg_catalog./) 3600::pg_catalog.numeric AS hours,
                         CASE WHEN m.known_1d OPERATOR(pg_catalog.>) 0::pg_catalog.numeric
                              THEN pg_catalog.round(LEAST(m.online_1d OPERATOR(pg_catalog./) m.known_1d,
                                                          1::pg_catalog.numeric), 4) END AS uptime_1d,
                         CASE WHEN m.known_7d OPERATOR(pg_catalog.>) 0::pg_catalog.numeric
                              THEN pg_catalog.round(LEAST(m.online_7d OPERATOR(pg_catalog./) m.known_7d,
                                                          1::pg_catalog.numeric), 4) END AS uptime_7d
                    FROM measured AS m
              ), reliable AS (
                  SELECT u.id, u.flaps, u.uptime_1d, u.uptime_7d,
                         (COALESCE(u.uptime_7d, 0::pg_catalog.numeric) OPERATOR(pg_catalog.*) u.hours
                          OPERATOR(pg_catalog.+) 12::pg_catalog.numeric)
                         OPERATOR(pg_catalog./) (u.hours OPERATOR(pg_catalog.+) 24::pg_catalog.numeric) AS r
                    FROM uptime AS u
              )
              SELECT r.id, r.uptime_1d, r.uptime_7d, r.flaps::pg_catalog.int4 AS flaps_24h,
                     pg_catalog.round(100::pg_catalog.numeric OPERATOR(pg_catalog.*) r.r
                                      OPERATOR(pg_catalog.*) (0.9::pg_catalog.numeric
                                          OPERATOR(pg_catalog.^) r.flaps::pg_catalog.numeric), 1)
                         AS health_score,
                     pg_catalog.round(r.r, 4) AS reliability
                FROM reliable AS r)"
        )
    };
}
pub(crate) use health_of;

/// `health_of!`'s columns `uptime_1d, uptime_7d, flaps_24h, health_score` for a device the
/// statement itself creates (created_at = now()): no known time in either window, so no uptime;
/// no spell, so no flap; r = (0·0 + 0.5·24) / (0 + 24), the prior, so a score of 50.0. Written
/// out so that a registration returns a new device without running the query (a tenth of its
/// cost); tests/api/health.rs checks it against the query's answer.
macro_rules! new_device_health {
    () => {
        "NULL::pg_catalog.numeric, NULL::pg_catalog.numeric, 0::pg_catalog.int4,
         50.0::pg_catalog.numeric"
    };
}
pub(crate) use new_device_health;

/// The registered devices that are not stopped, as `health_of!`'s source.
macro_rules! not_stopped {
    () => {
        "SELECT x.id, x.created_at FROM @extschema@.compute_devices AS x
          WHERE x.deactivated_at IS NULL"
    };
}

// device_health(), after the macros it uses.
mod device;

/// What get_capacity needs of a device's health, as a slot keeps it (`encode`): uptime_7d and
/// the probability p = round(r, 4), both in ten-thousandths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Health {
    /// uptime_7d × 10000; None when the device has no known time in the week.
    pub uptime_7d: Option<u16>,
    /// p × 10000: never 0 (r is at least 12 / (168 + 24)).
    pub p: u16,
}

/// ten-thousandths
const ONE: u16 = 10_000;
const NO_UPTIME: u16 = 0xFFFF;

impl Health {
    /// A device nothing is known of: no uptime, the prior's 50%.
    pub const PRIOR: Health = Health {
        uptime_7d: None,
        p: ONE / 2,
    };

    /// From the SQL's uptime_7d and reliability scaled by 10000 (NULL reliability: the prior).
    pub fn of_scaled(uptime_7d: Option<i32>, reliability: Option<i32>) -> Health {
        let clamp = |value: i32| value.clamp(0, i32::from(ONE)) as u16;
        match reliability {
            Some(p) if p > 0 => Health {
                uptime_7d: uptime_7d.map(clamp),
                p: clamp(p),
            },
            _ => Health::PRIOR,
        }
    }

    /// A slot's health word: p in the high 16 bits, uptime_7d (0xFFFF for none) in the low.
    /// 0, a slot never refreshed, reads as the prior.
    pub fn encode(self) -> u32 {
        (u32::from(self.p) << 16) | u32::from(self.uptime_7d.unwrap_or(NO_UPTIME))
    }

    pub fn decode(word: u32) -> Health {
        let p = (word >> 16) as u16;
        if p == 0 || p > ONE {
            return Health::PRIOR;
        }
        let uptime = (word & 0xFFFF) as u16;
        Health {
            uptime_7d: (uptime <= ONE).then_some(uptime),
            p,
        }
    }
}

/// Every not stopped device's slot with its uptime_7d and reliability, in ten-thousandths: of
/// the devices whose slot is $2 modulo $1 (one part of $1).
const REFRESH: &str = concat!(
    "SELECT d.slot,
            (h.uptime_7d OPERATOR(pg_catalog.*) 10000::pg_catalog.numeric)::pg_catalog.int4,
            (h.reliability OPERATOR(pg_catalog.*) 10000::pg_catalog.numeric)::pg_catalog.int4
       FROM @extschema@.compute_devices AS d
       JOIN ",
    health_of!(
        not_stopped!(),
        " AND x.slot OPERATOR(pg_catalog.%) $1 OPERATOR(pg_catalog.=) $2"
    ),
    " AS h ON h.id OPERATOR(pg_catalog.=) d.id
      WHERE d.slot IS NOT NULL"
);

/// How the devices are split for the worker's minutes: computing health costs tens of
/// microseconds a device (bench/churn.sh), so at a million devices the whole network would hold
/// the worker for over a minute; a part a minute holds it for a few seconds, and each device is
/// refreshed every `HEALTH_PARTS` minutes (uptime over a week moves slowly). resync_liveness()
/// refreshes them all.
pub const HEALTH_PARTS: i32 = 15;

/// Rows fetched at a time: the statement's result never sits whole in memory.
const BATCH: i64 = 10_000;

/// The worker's step: computes the uptime_7d and reliability of the not stopped devices of one
/// part (`part` of `parts`: slot modulo parts) in one statement and stores them in their slots
/// (`Health::encode`), for get_capacity's pass over the slots. Stopped devices keep what they
/// had (they do not count); a device registered since reads as the prior until its part is
/// refreshed. Nothing before the database is at 0.7.0.
pub fn refresh_health(
    client: &mut SpiClient<'_>,
    shared: &Shared,
    (part, parts): (i32, i32),
) -> pgrx::spi::Result<()> {
    if !catalog::find().is_some_and(|extension| extension.has_intervals()) {
        return Ok(());
    }
    // Before any word changes (an error may stop the refresh halfway): the expected sums the
    // worker published before it no longer hold. The worker alone refreshes, and counts only
    // between refreshes.
    shared.health_refreshed();
    // Its source's estimate (a slot modulo filter) is a fraction of the real part, and with it
    // the planner joined the statement's CTEs in nested loops: at a million devices a refresh
    // rescanned a spilled CTE per device and did not finish in fifteen minutes. Hash joins
    // whatever the estimate, for this transaction only (the worker's own).
    // SAFETY: a planner setting, set as SET LOCAL would, undone when the transaction ends.
    unsafe {
        pg_sys::set_config_option(
            c"enable_nestloop".as_ptr(),
            c"off".as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_LOCAL,
            true,
            pgrx::PgLogLevel::ERROR as i32,
            false,
        );
    }
    let statement = catalog::statement(REFRESH);
    let mut cursor = client.try_open_cursor(&*statement, &[parts.into(), part.into()])?;
    loop {
        let rows = cursor.fetch(BATCH)?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            let Some(slot) = row.get::<i32>(1)? else {
                continue;
            };
            let health = Health::of_scaled(row.get::<i32>(2)?, row.get::<i32>(3)?);
            if let Ok(slot) = u32::try_from(slot) {
                shared.set_health(slot, health.encode());
            }
        }
    }
    Ok(())
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::Health;
    use pgrx::prelude::*;

    #[pg_test]
    fn test_health_words_round_trip_and_zero_is_the_prior() {
        for health in [
            Health::PRIOR,
            Health {
                uptime_7d: Some(0),
                p: 625,
            },
            Health {
                uptime_7d: Some(10_000),
                p: 10_000,
            },
            Health {
                uptime_7d: Some(1234),
                p: 3456,
            },
        ] {
            assert_eq!(Health::decode(health.encode()), health);
        }
        assert_eq!(Health::decode(0), Health::PRIOR);
        assert_eq!(Health::of_scaled(None, None), Health::PRIOR);
    }
}
