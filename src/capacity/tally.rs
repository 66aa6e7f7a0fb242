//! The sums get_capacity returns: each device that passes the filters adds itself (and the
//! accelerators that meet the accelerator filters) to its group, or, grouped by model, to the
//! group of each model it holds such accelerators of: to the live sums if it is live, and to the
//! expected ones, weighted by its probability of being online (src/health), if it is registered
//! and not stopped, live or not.

use crate::capacity::query::{GroupBy, Query};
use crate::countries::Countries;
use crate::device_type::DeviceType;
use crate::health::Health;
use crate::shared_memory::inventories::Group;
use crate::shared_memory::slots::{country_code, Spec, Sums};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// What a device's accelerators come to under the query's accelerator filters.
#[derive(Clone, Debug, Default)]
pub struct Matched {
    pub gpus: i64,
    pub gpu_memory_mib: i64,
    /// By model number: (accelerators, their memory in MiB).
    pub by_model: Vec<(u32, i64, i64)>,
}

impl Matched {
    /// The groups that meet the filters (`models`: the model numbers gpu_models names).
    pub fn of(query: &Query, models: Option<&HashSet<u32>>, groups: &[Group]) -> Matched {
        Matched::all(groups.iter().filter(|group| {
            let vendor_ok = query
                .gpu_vendors
                .is_none_or(|allowed| allowed[group.vendor as usize % allowed.len()]);
            let model_ok = models.is_none_or(|models| models.contains(&group.model));
            let memory_ok = query
                .min_gpu_memory_mib
                .is_none_or(|min| i64::from(group.memory_mib) >= min);
            vendor_ok && model_ok && memory_ok
        }))
    }

    /// These groups, summed and by model.
    pub fn all<'g>(groups: impl IntoIterator<Item = &'g Group>) -> Matched {
        let mut matched = Matched::default();
        for group in groups {
            let count = i64::from(group.count);
            let memory = i64::from(group.memory_mib) * count;
            matched.gpus += count;
            matched.gpu_memory_mib += memory;
            match matched
                .by_model
                .iter_mut()
                .find(|(m, _, _)| *m == group.model)
            {
                Some((_, gpus, mib)) => {
                    *gpus += count;
                    *mib += memory;
                }
                None => matched.by_model.push((group.model, count, memory)),
            }
        }
        matched
    }
}

/// Group keys are small numbers: hashed with one multiplication, not SipHash, because a pass
/// over a million slots looks its group up once a device.
#[derive(Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        bytes
            .iter()
            .for_each(|b| self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    }

    fn write_u32(&mut self, key: u32) {
        self.0 = u64::from(key).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub type Groups = HashMap<u32, Sums, BuildHasherDefault<KeyHasher>>;

/// Sums over devices weighted by their probability p of being online, in ten-thousandths
/// (p × 10000 = P): exact integers, rounded only when returned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expected {
    /// Σ P
    pub nodes: i128,
    /// Σ P × ram in billionths of a GB
    pub ram_nano_gb: i128,
    /// Σ P × cores
    pub cpu_cores: i128,
    /// Σ P × accelerators
    pub gpus: i128,
    /// Σ P (10000 − P): the variance of the number online, in 10^-8
    pub nodes_variance: i128,
    /// Σ P (10000 − P) × accelerators²
    pub gpus_variance: i128,
}

/// An Expected's words: two per i128.
pub const EXPECTED_WORDS: usize = 12;

/// P's unit: ten-thousandths.
const SCALE: i128 = 10_000;

impl Expected {
    /// One device with `gpus` accelerators that count, online with probability p.
    pub fn device(spec: &Spec, gpus: i64, health: Health) -> Expected {
        let p = i128::from(health.p);
        let variance = p * (SCALE - p);
        let gpus = i128::from(gpus);
        Expected {
            nodes: p,
            ram_nano_gb: p * i128::from(spec.ram_nano_gb),
            cpu_cores: p * i128::from(spec.cpu_cores),
            gpus: p * gpus,
            nodes_variance: variance,
            gpus_variance: variance * gpus * gpus,
        }
    }

    /// The i128s as two words each, as the worker publishes them (breakdown.rs).
    pub fn to_words(self) -> [u64; EXPECTED_WORDS] {
        let mut words = [0; EXPECTED_WORDS];
        for (pair, value) in words.chunks_exact_mut(2).zip(self.values()) {
            pair.copy_from_slice(&[value as u64, (value >> 64) as u64]);
        }
        words
    }

    pub fn from_words(words: &[u64]) -> Expected {
        let wide =
            |i: usize| (i128::from(words[2 * i + 1] as i64) << 64) | i128::from(words[2 * i]);
        Expected {
            nodes: wide(0),
            ram_nano_gb: wide(1),
            cpu_cores: wide(2),
            gpus: wide(3),
            nodes_variance: wide(4),
            gpus_variance: wide(5),
        }
    }

    fn values(self) -> [i128; EXPECTED_WORDS / 2] {
        [
            self.nodes,
            self.ram_nano_gb,
            self.cpu_cores,
            self.gpus,
            self.nodes_variance,
            self.gpus_variance,
        ]
    }

    pub fn add(&mut self, other: &Expected) {
        self.nodes += other.nodes;
        self.ram_nano_gb += other.ram_nano_gb;
        self.cpu_cores += other.cpu_cores;
        self.gpus += other.gpus;
        self.nodes_variance += other.nodes_variance;
        self.gpus_variance += other.gpus_variance;
    }

    /// The expected values as returned: numerics rounded to 3 decimals (as text).
    pub fn nodes_text(&self) -> String {
        rounded(self.nodes, 4)
    }

    pub fn ram_gb_text(&self) -> String {
        rounded(self.ram_nano_gb, 13)
    }

    pub fn cpu_cores_text(&self) -> String {
        rounded(self.cpu_cores, 4)
    }

    pub fn gpus_text(&self) -> String {
        rounded(self.gpus, 4)
    }

    pub fn p95_floor_nodes(&self) -> i64 {
        p95_floor(self.nodes, self.nodes_variance)
    }

    pub fn p95_floor_gpus(&self) -> i64 {
        p95_floor(self.gpus, self.gpus_variance)
    }
}

/// A non-negative number of `scale` decimals as a decimal of 3, rounded half up (as
/// PostgreSQL's round(numeric, 3)).
fn rounded(value: i128, scale: u32) -> String {
    let divisor = 10_i128.pow(scale - 3);
    let thousandths = (value.max(0) + divisor / 2) / divisor;
    format!("{}.{:03}", thousandths / 1000, thousandths % 1000)
}

/// greatest(0, floor(μ − sqrt(19)·σ)) for μ = mean / 10^4 and σ² = variance / 10^8, exactly:
/// Cantelli's inequality, P(X ≤ μ − kσ) ≤ 1 / (1 + k²), is 5% for k² = 19. With s =
/// ceil(sqrt(19 × variance)) (so μ − sqrt(19)σ = (mean − sqrt(19 × variance)) / 10^4), the
/// floor is that of (mean − s) / 10^4: mean is whole, so no integer lies between the two.
pub fn p95_floor(mean: i128, variance: i128) -> i64 {
    let spread = (19 * variance.max(0)) as u128;
    let root = spread.isqrt();
    let ceiling = if root * root < spread { root + 1 } else { root };
    let floor = (mean - ceiling as i128).div_euclid(SCALE);
    i64::try_from(floor.max(0)).unwrap_or(i64::MAX)
}

/// The live and the expected sums by group key, one lookup a device.
type Both = HashMap<u32, (Sums, Expected), BuildHasherDefault<KeyHasher>>;

/// Sums by group key: a device type's index, a country number, or a model number (0: none).
pub struct Tally<'q> {
    query: &'q Query,
    groups: Both,
    /// Whether live devices are summed here (not: the live sums came from the worker's).
    count_live: bool,
    /// Whether the expected sums are wanted.
    pub count_expected: bool,
}

impl<'q> Tally<'q> {
    /// The live sums, and the expected ones too if `expected`.
    pub fn new(query: &'q Query, expected: bool) -> Tally<'q> {
        Tally {
            query,
            groups: Both::default(),
            count_live: true,
            count_expected: expected,
        }
    }

    /// Whether a device's own specs and health (not its accelerators) pass the filters.
    pub fn passes(&self, spec: &Spec, health: &Health) -> bool {
        let query = self.query;
        query
            .min_uptime_7d
            .is_none_or(|min| health.uptime_7d.is_some_and(|uptime| uptime >= min))
            && query
                .device_types
                .is_none_or(|allowed| allowed[spec.device_type.index()])
            && query
                .countries
                .as_ref()
                .is_none_or(|countries| countries.contains(&spec.country))
            && query
                .min_ram_nano_gb
                .is_none_or(|min| i128::from(spec.ram_nano_gb) >= min)
            && query.min_cpu_cores.is_none_or(|min| spec.cpu_cores >= min)
            && query
                .min_storage_nano_gb
                .is_none_or(|min| i128::from(spec.storage_nano_gb) >= min)
    }

    /// Adds a registered device that is not stopped and `passes`, with what its accelerators
    /// came to: to the live sums if it is `live`, and to the expected ones.
    pub fn add(&mut self, spec: &Spec, matched: &Matched, live: bool, health: Health) {
        let query = self.query;
        if query.filters_accelerators() && matched.gpus < query.gpus_needed() {
            return;
        }
        let key = match query.group_by {
            None => 0,
            Some(GroupBy::DeviceType) => spec.device_type.index() as u32,
            Some(GroupBy::Country | GroupBy::Region | GroupBy::Subregion) => {
                u32::from(spec.country)
            }
            Some(GroupBy::GpuModel) => {
                if matched.by_model.is_empty() {
                    self.add_to(0, spec, 0, 0, live, health);
                }
                for (model, gpus, mib) in &matched.by_model {
                    self.add_to(*model, spec, *gpus, *mib, live, health);
                }
                return;
            }
        };
        self.add_to(
            key,
            spec,
            matched.gpus,
            matched.gpu_memory_mib,
            live,
            health,
        );
    }

    fn add_to(&mut self, key: u32, spec: &Spec, gpus: i64, mib: i64, live: bool, health: Health) {
        let count_live = live && self.count_live;
        if !count_live && !self.count_expected {
            return;
        }
        let group = self.groups.entry(key).or_default();
        if count_live {
            group.0.add(&Sums::device(spec, gpus, mib));
        }
        if self.count_expected {
            group.1.add(&Expected::device(spec, gpus, health));
        }
    }

    /// A tally whose live sums are already summed by key (the worker's snapshot and
    /// breakdown): only the expected ones are added, if `expected`.
    pub fn of_groups(query: &'q Query, groups: Groups, expected: bool) -> Tally<'q> {
        Tally {
            query,
            groups: groups
                .into_iter()
                .map(|(key, sums)| (key, (sums, Expected::default())))
                .collect(),
            count_live: false,
            count_expected: expected,
        }
    }

    /// A tally whose live and expected sums are both already summed by key (the worker's
    /// snapshot and breakdown): nothing is left to count.
    pub fn of_both(
        query: &'q Query,
        live: Groups,
        expected: impl IntoIterator<Item = (u32, Expected)>,
    ) -> Tally<'q> {
        let mut tally = Tally::of_groups(query, live, false);
        for (key, sums) in expected {
            tally.groups.entry(key).or_default().1 = sums;
        }
        tally
    }

    /// The groups by their labels, ordered by label with the NULL label last: one row (NULL,
    /// zeros included) when not grouped. A group is returned if it has a device live or
    /// expected (registered, not stopped).
    pub fn finish(
        self,
        countries: &Countries,
        model_name: impl Fn(u32) -> String,
    ) -> Vec<(Option<String>, Sums, Expected)> {
        let Some(group_by) = self.query.group_by else {
            let (sums, expected) = self.groups.get(&0).copied().unwrap_or_default();
            return vec![(None, sums, expected)];
        };
        let mut labelled: BTreeMap<Option<String>, (Sums, Expected)> = BTreeMap::new();
        for (key, (sums, expected)) in self.groups {
            let label = match group_by {
                GroupBy::DeviceType => Some(DeviceType::from_index(key).sql_name().to_string()),
                GroupBy::Country => country_code(key as u16),
                GroupBy::Region | GroupBy::Subregion => country_code(key as u16)
                    .and_then(|code| countries.place(&code).cloned())
                    .and_then(|place| match group_by {
                        GroupBy::Region => place.region,
                        _ => place.subregion,
                    }),
                GroupBy::GpuModel => (key != 0).then(|| model_name(key)),
            };
            let entry = labelled.entry(label).or_default();
            entry.0.add(&sums);
            entry.1.add(&expected);
        }
        let unlabelled = labelled.remove(&None);
        let mut rows: Vec<(Option<String>, Sums, Expected)> = labelled
            .into_iter()
            .map(|(label, (sums, expected))| (label, sums, expected))
            .collect();
        rows.extend(unlabelled.map(|(sums, expected)| (None, sums, expected)));
        rows
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::{p95_floor, rounded, Expected};
    use pgrx::prelude::*;

    #[pg_test]
    fn test_expected_values_round_half_up_to_three_decimals() {
        assert_eq!(rounded(0, 13), "0.000");
        assert_eq!(rounded(12_345, 4), "1.235");
        assert_eq!(rounded(12_344, 4), "1.234");
        // 0.5 × 24.5 GB: 12.25 GB.
        assert_eq!(rounded(5_000 * 24_500_000_000, 13), "12.250");
    }

    #[pg_test]
    fn test_expected_sums_round_trip_through_words() {
        let sums = Expected {
            nodes: 12_345,
            ram_nano_gb: -(1 << 90),
            cpu_cores: i128::MAX,
            gpus: i128::MIN,
            nodes_variance: 1 << 64,
            gpus_variance: (1 << 64) - 1,
        };
        assert_eq!(Expected::from_words(&sums.to_words()), sums);
    }

    #[pg_test]
    fn test_p95_floors_follow_cantelli_exactly() {
        // Certain devices: the floor is their number.
        assert_eq!(p95_floor(100 * 10_000, 0), 100);
        // 100 devices at 50%: μ 50, σ 5, μ − √19·σ = 28.2.
        assert_eq!(p95_floor(100 * 5_000, 100 * 5_000 * 5_000), 28);
        // One device at 50%: μ 0.5, far below √19·σ.
        assert_eq!(p95_floor(5_000, 5_000 * 5_000), 0);
        // 19 × variance a perfect square: μ − √19·σ exactly whole. 19 devices at 50%, weighted
        // 1: σ² = 19/4, √19·σ = 19/2 = 9.5, μ = 9.5: the floor is 0 exactly.
        assert_eq!(p95_floor(19 * 5_000, 19 * 5_000 * 5_000), 0);
    }
}
