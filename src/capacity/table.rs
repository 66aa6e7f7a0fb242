//! get_capacity where shared memory does not serve this database: the registered devices that
//! are not stopped are read from the table with their health (only reads: no transaction id,
//! so it works on a standby), with the filters on type and country applied there, and summed by
//! the same tally as the slots are: the live ones (by the table's liveness rule) as they are,
//! all of them weighted by their reliability.

use crate::accelerators::{accelerator_arrays, given_at};
use crate::capacity::query::Query;
use crate::capacity::tally::{Expected, Matched, Tally};
use crate::countries::Countries;
use crate::device_type::DeviceType;
use crate::errors::internal_error;
use crate::health::{health_of, Health};
use crate::settings;
use crate::shared_memory::inventories::Group;
use crate::shared_memory::reconcile::nano_gb;
use crate::shared_memory::slots::{country_code, country_number, Spec, Sums};
use crate::spi::catalog;
use crate::table::liveness::is_live;
use pgrx::prelude::*;
use std::collections::{HashMap, HashSet};

/// The devices registered and not stopped, of the types $2 and in the countries $3 (NULL: any),
/// with their accelerators, whether they are live, and (`$health`) their uptime_7d and
/// reliability in ten-thousandths.
macro_rules! devices {
    (@filters $alias:literal) => {
        concat!(
            " AND ($2::pg_catalog.text[] IS NULL OR ", $alias, ".device_type OPERATOR(pg_catalog.=) ANY ($2))
              AND ($3::pg_catalog.text[] IS NULL OR ", $alias, ".country_code OPERATOR(pg_catalog.=) ANY ($3))"
        )
    };
    ($health_columns:literal, $($health_join:tt)+) => {
        concat!(
            "SELECT d.device_type, ",
            nano_gb!("d.ram_gb"),
            ", d.cpu_cores, ",
            nano_gb!("d.storage_gb"),
            ", d.country_code, acc.vendors, acc.models, acc.memory, acc.counts, ",
            is_live!(),
            ", ",
            $health_columns,
            " FROM @extschema@.compute_devices AS d",
            accelerator_arrays!(),
            $($health_join)+,
            " WHERE d.deactivated_at IS NULL",
            devices!(@filters "d"),
        )
    };
}

/// With the health of 0.7.0 on.
const DEVICES: &str = devices!(
    "(h.uptime_7d OPERATOR(pg_catalog.*) 10000::pg_catalog.numeric)::pg_catalog.int4,
     (h.reliability OPERATOR(pg_catalog.*) 10000::pg_catalog.numeric)::pg_catalog.int4",
    concat!(
        " LEFT JOIN ",
        health_of!(
            "SELECT x.id, x.created_at FROM @extschema@.compute_devices AS x
              WHERE x.deactivated_at IS NULL",
            devices!(@filters "x")
        ),
        " AS h ON h.id OPERATOR(pg_catalog.=) d.id"
    )
);

/// Before 0.7.0 (no spells recorded): every device at the prior.
const DEVICES_WITHOUT_HEALTH: &str = devices!("NULL::pg_catalog.int4, NULL::pg_catalog.int4", "");

/// The live devices alone, without health.
const LIVE_DEVICES: &str = concat!(
    devices!("NULL::pg_catalog.int4, NULL::pg_catalog.int4", ""),
    " AND ",
    is_live!()
);

/// Model names numbered for one call, as shared memory numbers them for its lifetime.
#[derive(Default)]
struct Models {
    numbers: HashMap<String, u32>,
    names: Vec<String>,
}

impl Models {
    fn number(&mut self, name: String) -> u32 {
        if let Some(number) = self.numbers.get(&name) {
            return *number;
        }
        self.names.push(name.clone());
        let number = self.names.len() as u32;
        self.numbers.insert(name, number);
        number
    }
}

/// The live sums by group (what the history records).
pub fn capacity(query: &Query, countries: &Countries) -> Vec<(Option<String>, Sums)> {
    tally(query, countries, false)
        .into_iter()
        .map(|(key, sums, _)| (key, sums))
        .collect()
}

/// The live sums and the expected ones by group (get_capacity's answer).
pub fn reliable_capacity(
    query: &Query,
    countries: &Countries,
) -> Vec<(Option<String>, Sums, Expected)> {
    tally(query, countries, true)
}

fn tally(
    query: &Query,
    countries: &Countries,
    expected: bool,
) -> Vec<(Option<String>, Sums, Expected)> {
    let types: Option<Vec<&str>> = query.device_types.map(|allowed| {
        DeviceType::ALL
            .into_iter()
            .filter(|t| allowed[t.index()])
            .map(DeviceType::sql_name)
            .collect()
    });
    let codes: Option<Vec<String>> = query
        .countries
        .as_ref()
        .map(|numbers| numbers.iter().filter_map(|n| country_code(*n)).collect());
    let mut models = Models::default();
    let wanted: Option<HashSet<u32>> = query.gpu_models.as_ref().map(|names| {
        names
            .iter()
            .map(|name| models.number(name.clone()))
            .collect()
    });
    let mut tally = Tally::new(query, expected);
    Spi::connect(|client| {
        let statement = if !expected {
            LIVE_DEVICES
        } else if catalog::extension().has_intervals() {
            DEVICES
        } else {
            DEVICES_WITHOUT_HEALTH
        };
        let rows = client.select(
            &*catalog::statement(statement),
            None,
            &[
                settings::active_window_seconds().into(),
                types.into(),
                codes.into(),
            ],
        )?;
        for row in rows {
            let spec = Spec {
                device_type: DeviceType::of_row(&row.get::<String>(1)?.unwrap_or_default()),
                ram_nano_gb: row.get::<i64>(2)?.unwrap_or(0),
                cpu_cores: i64::from(row.get::<i32>(3)?.unwrap_or(0)),
                storage_nano_gb: row.get::<i64>(4)?.unwrap_or(0),
                country: country_number(row.get::<String>(5)?.as_deref()),
                inventory: None,
            }
            .stored();
            let live = row.get::<bool>(10)?.unwrap_or(false);
            let health = Health::of_scaled(row.get::<i32>(11)?, row.get::<i32>(12)?);
            if !tally.passes(&spec, &health) {
                continue;
            }
            let groups: Vec<Group> = given_at(&row, 6)?
                .into_iter()
                .map(|given| Group {
                    model: models.number(given.model),
                    memory_mib: given.memory_mib.max(0) as u32,
                    count: given.count.max(0) as u32,
                    vendor: given.vendor as u32,
                })
                .collect();
            tally.add(
                &spec,
                &Matched::of(query, wanted.as_ref(), &groups),
                live,
                health,
            );
        }
        Ok::<_, pgrx::spi::Error>(())
    })
    .unwrap_or_else(internal_error);
    tally.finish(countries, |number| {
        models
            .names
            .get(number as usize - 1)
            .cloned()
            .unwrap_or_default()
    })
}
