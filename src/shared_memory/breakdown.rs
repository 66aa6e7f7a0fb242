//! The worker's totals by country and by accelerator model, counted in the same pass over the
//! slots as its totals snapshot and published beside it each second, so that get_capacity's
//! unfiltered grouped questions (by country, region, sub-region or model) cost what the stats
//! do, whatever the size of the network. A reader copies what it needs under a sequence lock.
//!
//! By country: one Sums per possible code (26 × 26), and one for devices without a country. By
//! model: one Sums per model number (inventories.rs), the devices holding that model with only
//! its accelerators, and one (number 0) for devices without any.
//!
//! Beside them, the expected sums (src/health: every registered device that is not stopped,
//! live or not, weighted by its probability of being online) by device type, by country and by
//! model, so that get_capacity's unfiltered questions need no pass over the slots for those
//! either. They do not depend on liveness, so the worker counts them again only when what they
//! weigh changed (the slots' `weighed_changes`: a registration, stop or deletion, new
//! accelerators, a health refresh), not every tick; a reader uses them only while that counter
//! stands where it was when they were counted.

use crate::capacity::tally::{Expected, Matched, EXPECTED_WORDS};
use crate::device_type::DeviceType;
use crate::health::Health;
use crate::settings;
use crate::shared_memory::inventories::{self, Inventories};
use crate::shared_memory::slots::{SlotState, SlotView, Snapshot, Spec};
use crate::shared_memory::slots::{Sums, SUMS_WORDS};
use pgrx::pg_sys;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

const COUNTRIES: usize = 26 * 26 + 1;

#[repr(C)]
struct Header {
    seq: AtomicU64,
    /// The totals snapshot's taken_at, window and changes this breakdown was counted with.
    taken_at: AtomicU64,
    window: AtomicU64,
    changes: AtomicU64,
    /// The slots' weighed_changes when the expected sums were counted, plus one (0: never).
    expected_counted_with: AtomicU64,
    /// Model numbers below this are written.
    models: AtomicU32,
    /// Model numbers below this have expected sums written.
    expected_models: AtomicU32,
}

static mut REGION: *mut Header = std::ptr::null_mut();

fn model_capacity() -> usize {
    settings::ACCELERATOR_INVENTORIES.get().unsigned_abs() as usize + 1
}

/// The live sums' words: by country, then by model.
fn sums_words() -> usize {
    (COUNTRIES + model_capacity()) * SUMS_WORDS
}

/// Then the expected sums' words: by device type, by country, by model.
fn words() -> usize {
    sums_words() + (DeviceType::COUNT + COUNTRIES + model_capacity()) * EXPECTED_WORDS
}

pub fn bytes() -> usize {
    std::mem::size_of::<Header>() + words() * 8
}

/// Creates or attaches the region.
///
/// # Safety
/// Only from shmem_startup_hook, holding AddinShmemInitLock, after its space was requested.
pub unsafe fn attach() {
    // SAFETY: as the caller vouches; zeroed by its creator only, before any reader.
    unsafe {
        let mut found = false;
        let region: *mut Header = pg_sys::ShmemInitStruct(
            c"compute_devices capacity breakdown".as_ptr(),
            bytes(),
            &mut found,
        )
        .cast();
        if !found {
            std::ptr::write_bytes(region.cast::<u8>(), 0, bytes());
        }
        REGION = region;
    }
}

fn region() -> Option<(&'static Header, &'static [AtomicU64])> {
    // SAFETY: REGION is set in the postmaster before backends fork, or stays null; the words
    // follow the header, as many as `words()` says (the setting is fixed at server start).
    unsafe {
        let header = REGION.as_ref()?;
        let words = std::slice::from_raw_parts(REGION.add(1).cast::<AtomicU64>(), words());
        Some((header, words))
    }
}

/// A country number (slots.rs) as its place in the breakdown: 0 for none.
fn country_index(country: u16) -> usize {
    let [first, second] = country.to_be_bytes();
    if first.is_ascii_uppercase() && second.is_ascii_uppercase() {
        usize::from(first - b'A') * 26 + usize::from(second - b'A') + 1
    } else {
        0
    }
}

fn country_of_index(index: usize) -> u16 {
    if index == 0 {
        return 0;
    }
    let index = index - 1;
    u16::from_be_bytes([b'A' + (index / 26) as u8, b'A' + (index % 26) as u8])
}

/// The worker's count in progress.
pub struct Counting {
    by_country: Vec<Sums>,
    by_model: Vec<Sums>,
    /// Counted only when asked for.
    expected: Option<ExpectedCounting>,
    inventories: Option<Inventories>,
}

/// The expected sums in progress.
struct ExpectedCounting {
    by_type: [Expected; DeviceType::COUNT],
    by_country: Vec<Expected>,
    by_model: Vec<Expected>,
    /// The slots' weighed_changes as the count began.
    weighed_changes: u64,
}

/// Per inventory number, its accelerators by model: inventories never change, so the worker
/// keeps this for its lifetime.
#[derive(Default)]
pub struct ModelsOfInventories(Vec<Option<Matched>>);

impl Counting {
    /// A count of the live sums, and of the expected ones too if given the slots'
    /// weighed_changes as the count begins.
    pub fn new(expected_with: Option<u64>) -> Counting {
        Counting {
            by_country: vec![Sums::default(); COUNTRIES],
            by_model: vec![Sums::default(); 1],
            expected: expected_with.map(|weighed_changes| ExpectedCounting {
                by_type: [Expected::default(); DeviceType::COUNT],
                by_country: vec![Expected::default(); COUNTRIES],
                by_model: vec![Expected::default(); 1],
                weighed_changes,
            }),
            inventories: inventories::attached(),
        }
    }

    /// Adds a slot: to the expected sums (if counted) if its device is registered and not
    /// stopped, to the live ones if it is `live`.
    pub fn add(&mut self, view: &SlotView, live: bool, kept: &mut ModelsOfInventories) {
        if view.state != SlotState::Registered || !(live || self.expected.is_some()) {
            return;
        }
        let spec = &view.spec;
        let health = Health::decode(view.health);
        let number = spec.inventory.unwrap_or(0);
        let index = number as usize;
        if index >= kept.0.len() {
            kept.0.resize(index + 1, None);
        }
        let models = kept.0[index].get_or_insert_with(|| {
            let groups = self
                .inventories
                .and_then(|all| all.get(number))
                .map_or(&[][..], |inventory| inventory.groups);
            Matched::all(groups)
        });
        let country = country_index(spec.country);
        if live {
            let (gpus, mib) = (models.gpus, models.gpu_memory_mib);
            self.by_country[country].add(&Sums::device(spec, gpus, mib));
            if models.by_model.is_empty() {
                self.by_model[0].add(&Sums::device(spec, 0, 0));
            }
            for (model, gpus, mib) in &models.by_model {
                let model = *model as usize;
                if model >= self.by_model.len() {
                    self.by_model.resize(model + 1, Sums::default());
                }
                self.by_model[model].add(&Sums::device(spec, *gpus, *mib));
            }
        }
        if let Some(expected) = &mut self.expected {
            expected.add(spec, country, models, health);
        }
    }

    /// Publishes the breakdown, counted with the totals `snapshot`. The worker alone writes it.
    pub fn publish(self, snapshot: &Snapshot) {
        let Some((header, words)) = region() else {
            return;
        };
        let models = self.by_model.len().min(model_capacity());
        let seq = header.seq.load(Ordering::Relaxed);
        header.seq.store(seq + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        let all = self.by_country.iter().chain(&self.by_model[..models]);
        for (chunk, sums) in words.chunks_exact(SUMS_WORDS).zip(all) {
            for (word, value) in chunk.iter().zip(sums.to_words()) {
                word.store(value, Ordering::Relaxed);
            }
        }
        if let Some(expected) = &self.expected {
            let models = expected.by_model.len().min(model_capacity());
            let all = expected
                .by_type
                .iter()
                .chain(&expected.by_country)
                .chain(&expected.by_model[..models]);
            let expected_words = words[sums_words()..].chunks_exact(EXPECTED_WORDS);
            for (chunk, sums) in expected_words.zip(all) {
                for (word, value) in chunk.iter().zip(sums.to_words()) {
                    word.store(value, Ordering::Relaxed);
                }
            }
            header
                .expected_counted_with
                .store(expected.weighed_changes + 1, Ordering::Relaxed);
            header
                .expected_models
                .store(models as u32, Ordering::Relaxed);
        }
        header
            .taken_at
            .store(snapshot.taken_at as u64, Ordering::Relaxed);
        header
            .window
            .store(snapshot.window as u64, Ordering::Relaxed);
        header.changes.store(snapshot.changes, Ordering::Relaxed);
        header.models.store(models as u32, Ordering::Relaxed);
        header.seq.store(seq + 2, Ordering::Release);
    }
}

impl ExpectedCounting {
    /// A registered device that is not stopped, in `country` (its index), holding `models`.
    fn add(&mut self, spec: &Spec, country: usize, models: &Matched, health: Health) {
        let expected = Expected::device(spec, models.gpus, health);
        self.by_type[spec.device_type.index()].add(&expected);
        self.by_country[country].add(&expected);
        if models.by_model.is_empty() {
            self.by_model[0].add(&Expected::device(spec, 0, health));
        }
        for (model, gpus, _) in &models.by_model {
            let model = *model as usize;
            if model >= self.by_model.len() {
                self.by_model.resize(model + 1, Expected::default());
            }
            self.by_model[model].add(&Expected::device(spec, *gpus, health));
        }
    }
}

/// A published breakdown: by country number (0 for none) and by model number (0 for none).
pub struct Breakdown {
    pub by_country: Vec<(u16, Sums)>,
    pub by_model: Vec<(u32, Sums)>,
}

/// The expected sums by device type index, country number and model number.
pub struct ExpectedBreakdown {
    pub by_type: Vec<(u32, Expected)>,
    pub by_country: Vec<(u16, Expected)>,
    pub by_model: Vec<(u32, Expected)>,
}

/// The breakdown counted with exactly this totals snapshot, if it is the one published.
pub fn read(snapshot: &Snapshot) -> Option<Breakdown> {
    let (header, words) = region()?;
    consistent(header, || {
        let same = header.taken_at.load(Ordering::Relaxed) == snapshot.taken_at as u64
            && header.window.load(Ordering::Relaxed) == snapshot.window as u64
            && header.changes.load(Ordering::Relaxed) == snapshot.changes;
        let models = header.models.load(Ordering::Relaxed) as usize;
        let sums = |index: usize| Sums::from_words(&loaded(words, index * SUMS_WORDS, SUMS_WORDS));
        same.then(|| Breakdown {
            by_country: (0..COUNTRIES)
                .map(|index| (country_of_index(index), sums(index)))
                .filter(|(_, sums)| sums.active_nodes > 0)
                .collect(),
            by_model: (0..models)
                .map(|model| (model as u32, sums(COUNTRIES + model)))
                .filter(|(_, sums)| sums.active_nodes > 0)
                .collect(),
        })
    })
}

/// The expected sums published, if they were counted when the slots' weighed_changes stood at
/// `weighed_changes` (its value now).
pub fn read_expected(weighed_changes: u64) -> Option<ExpectedBreakdown> {
    let (header, words) = region()?;
    consistent(header, || {
        let current = header.expected_counted_with.load(Ordering::Relaxed) == weighed_changes + 1;
        let models = header.expected_models.load(Ordering::Relaxed) as usize;
        let sums = |index: usize| {
            let at = sums_words() + index * EXPECTED_WORDS;
            Expected::from_words(&loaded(words, at, EXPECTED_WORDS))
        };
        // p is never 0: a group with a registered device has nodes > 0.
        current.then(|| ExpectedBreakdown {
            by_type: (0..DeviceType::COUNT)
                .map(|t| (t as u32, sums(t)))
                .filter(|(_, sums)| sums.nodes > 0)
                .collect(),
            by_country: (0..COUNTRIES)
                .map(|c| (country_of_index(c), sums(DeviceType::COUNT + c)))
                .filter(|(_, sums)| sums.nodes > 0)
                .collect(),
            by_model: (0..models)
                .map(|m| (m as u32, sums(DeviceType::COUNT + COUNTRIES + m)))
                .filter(|(_, sums)| sums.nodes > 0)
                .collect(),
        })
    })
}

/// What `read` reads, read again until no publish overlapped it (the sequence lock).
fn consistent<T>(header: &Header, read: impl Fn() -> T) -> T {
    loop {
        let before = header.seq.load(Ordering::Acquire);
        if before % 2 == 1 {
            std::hint::spin_loop();
            continue;
        }
        let value = read();
        fence(Ordering::Acquire);
        if header.seq.load(Ordering::Relaxed) == before {
            return value;
        }
    }
}

/// `count` words from `at`.
fn loaded(words: &[AtomicU64], at: usize, count: usize) -> Vec<u64> {
    words[at..at + count]
        .iter()
        .map(|word| word.load(Ordering::Relaxed))
        .collect()
}
