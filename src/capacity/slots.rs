//! get_capacity on the shared-memory path: one pass over the slots, no table read. Each
//! inventory's accelerators are matched against the filters once a call, not once a device.
//! Each device's health is the one the worker last stored in its slot (src/health). With no
//! filter, the worker's totals snapshot and its breakdown by country and model give the live
//! sums, and its expected sums too while they hold (nothing they weigh changed since): then no
//! pass at all; otherwise the pass adds only the expected ones.

use crate::capacity::query::{GroupBy, Query};
use crate::capacity::tally::{Expected, Groups, Matched, Tally};
use crate::countries::Countries;
use crate::device_type::DeviceType;
use crate::health::Health;
use crate::shared_memory::breakdown;
use crate::shared_memory::inventories;
use crate::shared_memory::slots::{Shared, SlotState, Snapshot, Sums};
use crate::table::liveness::live_after;
use std::collections::HashSet;

/// The live sums by group (what the history records).
pub fn capacity(
    shared: &Shared,
    query: &Query,
    countries: &Countries,
    snapshot: impl FnOnce() -> Snapshot,
) -> Vec<(Option<String>, Sums)> {
    tally(shared, query, countries, snapshot, false)
        .into_iter()
        .map(|(key, sums, _)| (key, sums))
        .collect()
}

/// The live sums and the expected ones by group (get_capacity's answer).
pub fn reliable_capacity(
    shared: &Shared,
    query: &Query,
    countries: &Countries,
    snapshot: impl FnOnce() -> Snapshot,
) -> Vec<(Option<String>, Sums, Expected)> {
    tally(shared, query, countries, snapshot, true)
}

fn tally(
    shared: &Shared,
    query: &Query,
    countries: &Countries,
    snapshot: impl FnOnce() -> Snapshot,
    expected: bool,
) -> Vec<(Option<String>, Sums, Expected)> {
    let table = inventories::attached();
    let model_name = |number: u32| {
        table
            .map(|t| t.model_name(number).to_string())
            .unwrap_or_default()
    };
    let weighed = expected.then(|| shared.weighed_changes());
    let from_worker = query
        .is_unfiltered()
        .then(|| from_snapshot(query, &snapshot(), weighed))
        .flatten();
    let mut tally = match from_worker {
        // Nothing is left to count without the expected sums, or with the worker's.
        Some((groups, _)) if !expected => {
            return Tally::of_groups(query, groups, false).finish(countries, model_name)
        }
        Some((groups, Some(expected))) => {
            return Tally::of_both(query, groups, expected).finish(countries, model_name)
        }
        Some((groups, None)) => Tally::of_groups(query, groups, true),
        None => Tally::new(query, expected),
    };
    let wanted: Option<HashSet<u32>> = query.gpu_models.as_ref().map(|names| {
        names
            .iter()
            .filter_map(|name| table.and_then(|t| t.find_model(name)))
            .collect()
    });
    // By inventory number: each inventory is matched once a call.
    let mut matched: Vec<Option<Matched>> = Vec::new();
    // SAFETY: reads the clock.
    let live_after = live_after(unsafe { pgrx::pg_sys::GetCurrentTimestamp() });
    for slot in 0..shared.high_water() {
        let Some(view) = shared.read(slot) else { break };
        let health = Health::decode(view.health);
        let live = view.last_beat > live_after;
        if view.state != SlotState::Registered
            || !(live || expected)
            || !tally.passes(&view.spec, &health)
        {
            continue;
        }
        let number = view.spec.inventory.unwrap_or(0) as usize;
        if number >= matched.len() {
            matched.resize(number + 1, None);
        }
        let device = matched[number].get_or_insert_with(|| {
            let groups = table
                .and_then(|t| t.get(number as u32))
                .map_or(&[][..], |inventory| inventory.groups);
            Matched::of(query, wanted.as_ref(), groups)
        });
        tally.add(&view.spec, device, live, health);
    }
    tally.finish(countries, model_name)
}

/// Expected sums by group key.
type ExpectedGroups = Vec<(u32, Expected)>;

/// The groups of an unfiltered question from the worker's totals snapshot and the breakdown
/// counted with it, and its expected sums if `weighed` (the slots' weighed_changes now) is given
/// and they were counted with it; None when that breakdown is not the one published (a backend
/// counted the snapshot itself): then the slots are counted.
fn from_snapshot(
    query: &Query,
    snapshot: &Snapshot,
    weighed: Option<u64>,
) -> Option<(Groups, Option<ExpectedGroups>)> {
    let totals = snapshot.totals;
    let live = match query.group_by {
        None => Groups::from_iter([(0, totals.all())]),
        Some(GroupBy::DeviceType) => DeviceType::ALL
            .into_iter()
            .map(|t| (t.index() as u32, totals.by_type[t.index()]))
            .filter(|(_, sums)| sums.active_nodes > 0)
            .collect(),
        Some(GroupBy::Country | GroupBy::Region | GroupBy::Subregion) => breakdown::read(snapshot)?
            .by_country
            .into_iter()
            .map(|(country, sums)| (u32::from(country), sums))
            .collect(),
        Some(GroupBy::GpuModel) => breakdown::read(snapshot)?.by_model.into_iter().collect(),
    };
    let expected =
        weighed
            .and_then(breakdown::read_expected)
            .map(|expected| match query.group_by {
                None => {
                    let mut all = Expected::default();
                    expected.by_type.iter().for_each(|(_, sums)| all.add(sums));
                    vec![(0, all)]
                }
                Some(GroupBy::DeviceType) => expected.by_type,
                Some(GroupBy::Country | GroupBy::Region | GroupBy::Subregion) => expected
                    .by_country
                    .into_iter()
                    .map(|(country, sums)| (u32::from(country), sums))
                    .collect(),
                Some(GroupBy::GpuModel) => expected.by_model,
            });
    Some((live, expected))
}
