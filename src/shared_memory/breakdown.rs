//! The worker's totals by country and by accelerator model, counted in the same pass over the
//! slots as its totals snapshot and published beside it each second, so that get_capacity's
//! unfiltered grouped questions (by country, region, sub-region or model) cost what the stats
//! do, whatever the size of the network. A reader copies what it needs under a sequence lock.
//!
//! By country: one Sums per possible code (26 × 26), and one for devices without a country. By
//! model: one Sums per model number (inventories.rs), the devices holding that model with only
//! its accelerators, and one (number 0) for devices without any.

use crate::capacity::tally::Matched;
use crate::settings;
use crate::shared_memory::inventories::{self, Inventories};
use crate::shared_memory::slots::{Snapshot, Spec};
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
    /// Model numbers below this are written.
    models: AtomicU32,
}

static mut REGION: *mut Header = std::ptr::null_mut();

fn model_capacity() -> usize {
    settings::ACCELERATOR_INVENTORIES.get().unsigned_abs() as usize + 1
}

fn words() -> usize {
    (COUNTRIES + model_capacity()) * SUMS_WORDS
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
    inventories: Option<Inventories>,
}

/// Per inventory number, its accelerators by model: inventories never change, so the worker
/// keeps this for its lifetime.
#[derive(Default)]
pub struct ModelsOfInventories(Vec<Option<Matched>>);

impl Counting {
    pub fn new() -> Counting {
        Counting {
            by_country: vec![Sums::default(); COUNTRIES],
            by_model: vec![Sums::default(); 1],
            inventories: inventories::attached(),
        }
    }

    /// Adds a live device.
    pub fn add(&mut self, spec: &Spec, kept: &mut ModelsOfInventories) {
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
        let (gpus, mib) = (models.gpus, models.gpu_memory_mib);
        self.by_country[country_index(spec.country)].add(&Sums::device(spec, gpus, mib));
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

/// A published breakdown: by country number (0 for none) and by model number (0 for none).
pub struct Breakdown {
    pub by_country: Vec<(u16, Sums)>,
    pub by_model: Vec<(u32, Sums)>,
}

/// The breakdown counted with exactly this totals snapshot, if it is the one published.
pub fn read(snapshot: &Snapshot) -> Option<Breakdown> {
    let (header, words) = region()?;
    loop {
        let before = header.seq.load(Ordering::Acquire);
        if before % 2 == 1 {
            std::hint::spin_loop();
            continue;
        }
        let same = header.taken_at.load(Ordering::Relaxed) == snapshot.taken_at as u64
            && header.window.load(Ordering::Relaxed) == snapshot.window as u64
            && header.changes.load(Ordering::Relaxed) == snapshot.changes;
        let models = header.models.load(Ordering::Relaxed) as usize;
        let sums = |index: usize| {
            let chunk = &words[index * SUMS_WORDS..(index + 1) * SUMS_WORDS];
            let values: Vec<u64> = chunk.iter().map(|w| w.load(Ordering::Relaxed)).collect();
            Sums::from_words(&values)
        };
        let by_country: Vec<(u16, Sums)> = (0..COUNTRIES)
            .map(|index| (country_of_index(index), sums(index)))
            .filter(|(_, sums)| sums.active_nodes > 0)
            .collect();
        let by_model: Vec<(u32, Sums)> = (0..models)
            .map(|model| (model as u32, sums(COUNTRIES + model)))
            .filter(|(_, sums)| sums.active_nodes > 0)
            .collect();
        fence(Ordering::Acquire);
        if header.seq.load(Ordering::Relaxed) != before {
            continue;
        }
        return same.then_some(Breakdown {
            by_country,
            by_model,
        });
    }
}
