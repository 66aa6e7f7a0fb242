//! Shared memory's table of distinct accelerator inventories, so a slot holds a device's
//! accelerators as one number. Devices with the same accelerators (the same groups of vendor,
//! model, memory and count) share an entry; models are kept once each, by name. Entries are
//! written once and never change while a database is served: a slot's number, or a reader's,
//! always means the same inventory. A device without accelerators has inventory 0.
//!
//! Entries are interned when a commit applies them, so a rolled-back transaction leaves none.
//! Entries no device uses any more (a device registered again with other accelerators) stay
//! until the table fills: then the inventory that does not fit is noted (`overflowed`), the
//! worker leaves the shared-memory path (the table answers, correctly, meanwhile), and its
//! rebuild empties the table (`reset`) and interns only what the rows have now. A registration
//! is never refused for it; a caller who keeps changing a device's accelerators can at most
//! send the database to the table path for a rebuild.
//!
//! Writers (commits, the worker) add entries under a spinlock held for a few hundred
//! instructions; readers take no lock: an entry is complete before the count that makes its
//! number valid is raised (release), and a reader reads only numbers below the count (acquire).

use crate::accelerators::vendor::Vendor;
use crate::settings;
use pgrx::pg_sys;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// The most groups one inventory holds: the upper limit of compute_devices.max_accelerator_groups.
pub const MAX_GROUPS: usize = 16;
/// Groups and model-name bytes are reserved for this many per inventory on average.
const GROUPS_PER_INVENTORY: usize = 4;
const MODEL_BYTES_PER_INVENTORY: usize = 32;

/// One group of identical accelerators, as an inventory keeps it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Group {
    pub model: u32,
    pub memory_mib: u32,
    pub count: u32,
    pub vendor: u32,
}

impl Group {
    pub fn vendor(&self) -> Vendor {
        Vendor::from_index(self.vendor as u8)
    }
}

#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Entry {
    hash: u64,
    first_group: u32,
    groups: u32,
    gpus: i64,
    gpu_memory_mib: i64,
}

#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Model {
    hash: u64,
    offset: u32,
    len: u32,
}

#[repr(C)]
struct Header {
    lock: AtomicBool,
    capacity: u32,
    /// Entries in use: inventory numbers 1..=inventories are valid.
    inventories: AtomicU32,
    groups: AtomicU32,
    models: AtomicU32,
    model_bytes: AtomicU32,
    /// Set when an inventory did not fit: the worker then leaves the shared-memory path and
    /// rebuilds, which starts the table again from the inventories rows have now.
    overflowed: AtomicBool,
}

/// Where each part of the region starts, for a capacity.
struct Layout {
    capacity: usize,
    index_len: usize,
    entries: usize,
    inventory_index: usize,
    groups: usize,
    models: usize,
    model_index: usize,
    model_bytes: usize,
    end: usize,
}

impl Layout {
    fn of(capacity: u32) -> Layout {
        let capacity = capacity as usize;
        let index_len = (capacity * 2).next_power_of_two();
        let entries = std::mem::size_of::<Header>().next_multiple_of(8);
        let inventory_index = entries + capacity * std::mem::size_of::<Entry>();
        let groups = (inventory_index + index_len * 4).next_multiple_of(8);
        let models = groups + capacity * GROUPS_PER_INVENTORY * std::mem::size_of::<Group>();
        let model_index = models + capacity * std::mem::size_of::<Model>();
        let model_bytes = model_index + index_len * 4;
        let end = model_bytes + capacity * MODEL_BYTES_PER_INVENTORY;
        Layout {
            capacity,
            index_len,
            entries,
            inventory_index,
            groups,
            models,
            model_index,
            model_bytes,
            end,
        }
    }
}

static mut REGION: *mut u8 = std::ptr::null_mut();

pub fn bytes() -> usize {
    Layout::of(capacity()).end
}

fn capacity() -> u32 {
    settings::ACCELERATOR_INVENTORIES.get().unsigned_abs()
}

/// Creates or attaches the region.
///
/// # Safety
/// Only from shmem_startup_hook, holding AddinShmemInitLock, after its space was requested.
pub unsafe fn attach() {
    let capacity = capacity();
    let size = Layout::of(capacity).end;
    // SAFETY: as the caller vouches; the region is zeroed and its header set only by its
    // creator, before the lock is released; REGION is written before any backend forks.
    unsafe {
        let mut found = false;
        let region: *mut u8 = pg_sys::ShmemInitStruct(
            c"compute_devices accelerator inventories".as_ptr(),
            size,
            &mut found,
        )
        .cast();
        if !found {
            std::ptr::write_bytes(region, 0, size);
            (*region.cast::<Header>()).capacity = capacity;
        }
        REGION = region;
    }
}

/// The table, if the library was preloaded.
#[derive(Clone, Copy)]
pub struct Inventories {
    region: *mut u8,
    layout_capacity: u32,
}

pub fn attached() -> Option<Inventories> {
    // SAFETY: REGION is set once in the postmaster before backends fork, or stays null.
    let region = unsafe { REGION };
    if region.is_null() {
        return None;
    }
    // SAFETY: the header is at the region's start, its capacity set before any reader.
    let capacity = unsafe { (*region.cast::<Header>()).capacity };
    Some(Inventories {
        region,
        layout_capacity: capacity,
    })
}

/// A group as it is given to `intern`: the model by name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Given {
    pub vendor: Vendor,
    pub model: String,
    pub memory_mib: i32,
    pub count: i32,
}

/// One inventory, as a reader sees it.
#[derive(Clone, Copy)]
pub struct Inventory<'a> {
    pub gpus: i64,
    pub gpu_memory_mib: i64,
    pub groups: &'a [Group],
}

impl Inventories {
    fn layout(&self) -> Layout {
        Layout::of(self.layout_capacity)
    }

    fn header(&self) -> &Header {
        // SAFETY: the region starts with its header, which lives as long as the server.
        unsafe { &*self.region.cast::<Header>() }
    }

    /// # Safety
    /// `offset` and `len` lie within the region, at a multiple of T's alignment.
    unsafe fn slice<T>(&self, offset: usize, len: usize) -> &'static [T] {
        // SAFETY: as the caller vouches; the region lives as long as the server.
        unsafe { std::slice::from_raw_parts(self.region.add(offset).cast::<T>(), len) }
    }

    /// Writes `values` at element `index` of the part starting at `offset`: no reference to
    /// memory that readers read is made.
    ///
    /// # Safety
    /// The elements lie within the part, and only under the lock, past the counts readers go by
    /// (no reader looks at them yet).
    unsafe fn write<T: Copy>(&self, offset: usize, index: usize, values: &[T]) {
        // SAFETY: as the caller vouches; the source is a distinct local slice.
        unsafe {
            let target = self.region.add(offset).cast::<T>().add(index);
            std::ptr::copy_nonoverlapping(values.as_ptr(), target, values.len());
        }
    }

    fn entries(&self) -> &'static [Entry] {
        let layout = self.layout();
        // SAFETY: the entries' part of the region, as Layout lays it out.
        unsafe { self.slice(layout.entries, layout.capacity) }
    }

    fn groups(&self) -> &'static [Group] {
        let layout = self.layout();
        // SAFETY: as above.
        unsafe { self.slice(layout.groups, layout.capacity * GROUPS_PER_INVENTORY) }
    }

    fn models(&self) -> &'static [Model] {
        let layout = self.layout();
        // SAFETY: as above.
        unsafe { self.slice(layout.models, layout.capacity) }
    }

    fn model_bytes(&self) -> &'static [u8] {
        let layout = self.layout();
        // SAFETY: as above.
        unsafe {
            self.slice(
                layout.model_bytes,
                layout.capacity * MODEL_BYTES_PER_INVENTORY,
            )
        }
    }

    fn index(&self, models: bool) -> &'static [AtomicU32] {
        let layout = self.layout();
        let start = if models {
            layout.model_index
        } else {
            layout.inventory_index
        };
        // SAFETY: as above; AtomicU32 has u32's layout, and zeroed memory is 0s.
        unsafe { self.slice(start, layout.index_len) }
    }

    /// Inventory `number` (0: none), or None for a number not (yet) in use.
    pub fn get(&self, number: u32) -> Option<Inventory<'static>> {
        if number == 0 {
            return Some(Inventory {
                gpus: 0,
                gpu_memory_mib: 0,
                groups: &[],
            });
        }
        if number > self.header().inventories.load(Ordering::Acquire) {
            return None;
        }
        let entry = self.entries().get(number as usize - 1)?;
        let first = entry.first_group as usize;
        let groups = self.groups().get(first..first + entry.groups as usize)?;
        Some(Inventory {
            gpus: entry.gpus,
            gpu_memory_mib: entry.gpu_memory_mib,
            groups,
        })
    }

    /// The name of model `number` (as Group::model holds it).
    pub fn model_name(&self, number: u32) -> &'static str {
        let Some(model) = number
            .checked_sub(1)
            .filter(|_| number <= self.header().models.load(Ordering::Acquire))
            .and_then(|index| self.models().get(index as usize))
        else {
            return "";
        };
        let bytes = self
            .model_bytes()
            .get(model.offset as usize..(model.offset + model.len) as usize)
            .unwrap_or_default();
        std::str::from_utf8(bytes).unwrap_or_default()
    }

    /// The number of the model of this name, if any inventory has it.
    pub fn find_model(&self, name: &str) -> Option<u32> {
        let hash = hash_bytes(name.as_bytes());
        self.probe(true, hash, |number| self.is_model(number, hash, name))
            .ok()
    }

    fn is_model(&self, number: u32, hash: u64, name: &str) -> bool {
        let kept = self.models().get(number as usize - 1);
        kept.is_some_and(|model| model.hash == hash) && self.model_name(number) == name
    }

    /// Follows the index from `hash` until `same` says yes (Ok(number)) or an empty place is
    /// found (Err(place)).
    fn probe(&self, models: bool, hash: u64, same: impl Fn(u32) -> bool) -> Result<u32, usize> {
        let index = self.index(models);
        let mask = index.len() - 1;
        let mut place = hash as usize & mask;
        loop {
            let number = index[place].load(Ordering::Acquire);
            if number == 0 {
                return Err(place);
            }
            if same(number) {
                return Ok(number);
            }
            place = (place + 1) & mask;
        }
    }

    /// The number of the inventory made of these groups (in any order), added if it is new: 0
    /// for none. None only when the table is full.
    fn intern(&self, mut given: Vec<Given>) -> Option<u32> {
        if given.is_empty() {
            return Some(0);
        }
        given.sort();
        let given = given.as_slice();
        if given.len() > MAX_GROUPS {
            return None;
        }
        let hash = given.iter().fold(0xcbf2_9ce4_8422_2325, |hash, g| {
            let hash = mix(hash, hash_bytes(g.model.as_bytes()));
            mix(
                mix(mix(hash, g.vendor as u64), g.memory_mib as u64),
                g.count as u64,
            )
        });
        let same = |number: u32| {
            let Some(inventory) = self.get(number) else {
                return false;
            };
            self.entries()[number as usize - 1].hash == hash
                && inventory.groups.len() == given.len()
                && inventory.groups.iter().zip(given).all(|(kept, g)| {
                    kept.vendor() == g.vendor
                        && kept.memory_mib == g.memory_mib as u32
                        && kept.count == g.count as u32
                        && self.model_name(kept.model) == g.model.as_str()
                })
        };
        if let Ok(number) = self.probe(false, hash, same) {
            return Some(number);
        }
        let _locked = self.lock();
        // Again under the lock: another writer may have added it since.
        let place = match self.probe(false, hash, same) {
            Ok(number) => return Some(number),
            Err(place) => place,
        };
        let header = self.header();
        let number = header.inventories.load(Ordering::Relaxed) + 1;
        let first = header.groups.load(Ordering::Relaxed) as usize;
        if number as usize > self.layout().capacity || first + given.len() > self.groups().len() {
            return None;
        }
        let mut groups = [Group::default(); MAX_GROUPS];
        for (group, g) in groups.iter_mut().zip(given) {
            *group = Group {
                model: self.model_number(&g.model)?,
                memory_mib: g.memory_mib as u32,
                count: g.count as u32,
                vendor: g.vendor as u32,
            };
        }
        let layout = self.layout();
        // SAFETY: under the lock; the groups and the entry written are past the counts, where
        // no reader looks until the counts are raised below.
        let entry = Entry {
            hash,
            first_group: first as u32,
            groups: given.len() as u32,
            gpus: given.iter().map(|g| i64::from(g.count)).sum(),
            gpu_memory_mib: given
                .iter()
                .map(|g| i64::from(g.memory_mib) * i64::from(g.count))
                .sum(),
        };
        unsafe {
            self.write(layout.groups, first, &groups[..given.len()]);
            self.write(layout.entries, number as usize - 1, &[entry]);
        }
        header
            .groups
            .store((first + given.len()) as u32, Ordering::Release);
        header.inventories.store(number, Ordering::Release);
        self.index(false)[place].store(number, Ordering::Release);
        Some(number)
    }

    /// The model's number, added if new; None when the table is full. Only under the lock.
    fn model_number(&self, name: &str) -> Option<u32> {
        let hash = hash_bytes(name.as_bytes());
        let place = match self.probe(true, hash, |number| self.is_model(number, hash, name)) {
            Ok(number) => return Some(number),
            Err(place) => place,
        };
        let header = self.header();
        let number = header.models.load(Ordering::Relaxed) + 1;
        let offset = header.model_bytes.load(Ordering::Relaxed) as usize;
        if number as usize > self.layout().capacity
            || offset + name.len() > self.model_bytes().len()
        {
            return None;
        }
        let layout = self.layout();
        // SAFETY: under the lock, past the counts, as in intern.
        let model = Model {
            hash,
            offset: offset as u32,
            len: name.len() as u32,
        };
        unsafe {
            self.write(layout.model_bytes, offset, name.as_bytes());
            self.write(layout.models, number as usize - 1, &[model]);
        }
        header
            .model_bytes
            .store((offset + name.len()) as u32, Ordering::Release);
        header.models.store(number, Ordering::Release);
        self.index(true)[place].store(number, Ordering::Release);
        Some(number)
    }

    /// Whether an inventory did not fit since the last `reset`.
    pub fn overflowed(&self) -> bool {
        self.header().overflowed.load(Ordering::Acquire)
    }

    /// `intern`, or where the table is full, inventory 0 for now and the overflow noted: what
    /// a commit (which cannot fail any more) and the worker's comparisons do. The worker then
    /// rebuilds from the table (see the module comment), so a full table never refuses a
    /// registration and never leaves a slot wrong for long.
    pub fn intern_or_overflow(&self, given: Vec<Given>) -> u32 {
        self.intern(given).unwrap_or_else(|| {
            self.header().overflowed.store(true, Ordering::Release);
            0
        })
    }

    /// Empties the table. Only the worker, while no database is served from shared memory (no
    /// slot holds a number, no commit writes one), right before it rebuilds the slots.
    pub fn reset(&self) {
        let _locked = self.lock();
        let header = self.header();
        for count in [
            &header.inventories,
            &header.groups,
            &header.models,
            &header.model_bytes,
        ] {
            count.store(0, Ordering::Release);
        }
        for index in [self.index(false), self.index(true)] {
            index
                .iter()
                .for_each(|place| place.store(0, Ordering::Release));
        }
        header.overflowed.store(false, Ordering::Release);
    }

    fn lock(&self) -> Locked<'_> {
        let lock = &self.header().lock;
        while lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        Locked(lock)
    }
}

/// Holds the writers' lock until dropped.
struct Locked<'a>(&'a AtomicBool);

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

fn mix(hash: u64, value: u64) -> u64 {
    (hash ^ value).wrapping_mul(0x0000_0100_0000_01b3)
}

fn hash_bytes(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, b| mix(hash, u64::from(*b)))
}
