//! The sums get_capacity returns: each device that passes the filters adds itself (and the
//! accelerators that meet the accelerator filters) to its group, or, grouped by model, to the
//! group of each model it holds such accelerators of.

use crate::capacity::query::{GroupBy, Query};
use crate::countries::Countries;
use crate::device_type::DeviceType;
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

/// Sums by group key: a device type's index, a country number, or a model number (0: none).
pub struct Tally<'q> {
    query: &'q Query,
    groups: Groups,
}

impl<'q> Tally<'q> {
    pub fn new(query: &'q Query) -> Tally<'q> {
        Tally {
            query,
            groups: Groups::default(),
        }
    }

    /// Whether a device's own specs (not its accelerators) pass the filters.
    pub fn passes(&self, spec: &Spec) -> bool {
        let query = self.query;
        query
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

    /// Adds a device that `passes`, with what its accelerators came to.
    pub fn add(&mut self, spec: &Spec, matched: &Matched) {
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
                    self.group(0).add(&Sums::device(spec, 0, 0));
                }
                for (model, gpus, mib) in &matched.by_model {
                    self.group(*model).add(&Sums::device(spec, *gpus, *mib));
                }
                return;
            }
        };
        let device = Sums::device(spec, matched.gpus, matched.gpu_memory_mib);
        self.group(key).add(&device);
    }

    /// A tally already summed by key (the worker's breakdown).
    pub fn of_groups(query: &'q Query, groups: Groups) -> Tally<'q> {
        Tally { query, groups }
    }

    fn group(&mut self, key: u32) -> &mut Sums {
        self.groups.entry(key).or_default()
    }

    /// The groups by their labels, ordered by label with the NULL label last: one row (NULL,
    /// zeros included) when not grouped.
    pub fn finish(
        self,
        countries: &Countries,
        model_name: impl Fn(u32) -> String,
    ) -> Vec<(Option<String>, Sums)> {
        let Some(group_by) = self.query.group_by else {
            return vec![(None, self.groups.get(&0).copied().unwrap_or_default())];
        };
        let mut labelled: BTreeMap<Option<String>, Sums> = BTreeMap::new();
        for (key, sums) in self.groups {
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
            labelled.entry(label).or_default().add(&sums);
        }
        let unlabelled = labelled.remove(&None);
        let mut rows: Vec<(Option<String>, Sums)> = labelled.into_iter().collect();
        rows.extend(unlabelled.map(|sums| (None, sums)));
        rows
    }
}
