//! Liveness in shared memory: one fixed-size slot per device, and the network totals snapshot.
//!
//! A heartbeat is a store into its device's slot: no transaction id, no WAL. The slot number
//! is kept in the device's row (`slot`). Shared memory exists only when the library is in
//! shared_preload_libraries, and it serves the one database the worker is connected to; every
//! other case takes the table path (`shared()` is None), which stays correct on its own.
//!
//! Slots are soft state, rebuilt from the table when the worker starts and compared with it
//! again while it runs (reconcile.rs). Each slot's spec and state are guarded by a per-slot
//! sequence lock, because they are written by committing transactions and by the worker; its
//! version also lets the worker write a slot only if nothing else has since it looked
//! (`write_if`). `last_beat` only ever moves forward.

use crate::device_type::DeviceType;
use crate::settings;
use crate::shared_memory::breakdown;
use crate::shared_memory::device_index;
use crate::shared_memory::inventories;
use pgrx::pg_sys;
use std::cell::UnsafeCell;
use std::sync::atomic::{fence, AtomicBool, AtomicI32, AtomicI64, AtomicU32, AtomicU64, Ordering};

/// What a slot holds. Numbers are stored in the row (nothing else is persisted), so never
/// renumber them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum SlotState {
    /// Never written since startup (or since the table was recreated).
    Empty = 0,
    /// A registered device that is not stopped: live while its heartbeats are recent.
    Registered = 1,
    /// Deactivated by its owner: never live, whatever its heartbeats.
    Stopped = 2,
    /// The row was deleted. Kept apart from Empty so a rebuild that read the row before the
    /// delete committed cannot bring it back.
    Deleted = 3,
}

impl SlotState {
    fn from_u32(value: u32) -> SlotState {
        match value {
            1 => SlotState::Registered,
            2 => SlotState::Stopped,
            3 => SlotState::Deleted,
            _ => SlotState::Empty,
        }
    }
}

/// A device's contribution to the totals: GB in billionths (register_device allows 9 decimals), so
/// sums are exact integers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Spec {
    pub device_type: DeviceType,
    pub ram_nano_gb: i64,
    pub cpu_cores: i64,
    pub storage_nano_gb: i64,
    /// The country's two ASCII letters as a number (`country_number`), 0 for none.
    pub country: u16,
    /// The accelerators' inventory number (inventories.rs), 0 for none. None in a write: the
    /// slot keeps the one it has (a device row changes without its accelerators, which their
    /// own table's trigger writes).
    pub inventory: Option<u32>,
}

/// A country code as a slot keeps it: its two letters, 0 for none (or anything else).
pub fn country_number(code: Option<&str>) -> u16 {
    match code.map(str::as_bytes) {
        Some(&[first, second]) if first.is_ascii_uppercase() && second.is_ascii_uppercase() => {
            u16::from_be_bytes([first, second])
        }
        _ => 0,
    }
}

/// The code a slot's country number stands for.
pub fn country_code(number: u16) -> Option<String> {
    (number != 0).then(|| String::from_utf8_lossy(&number.to_be_bytes()).into_owned())
}

impl Spec {
    /// What a slot whose row is gone holds: nothing, no accelerators either.
    pub fn gone() -> Spec {
        Spec {
            inventory: Some(0),
            ..Spec::default()
        }
    }

    /// The spec as a slot holds it: cpu_cores is kept in 32 bits, and a negative count (only a
    /// row written around register_device can have one) as 0.
    pub fn stored(self) -> Spec {
        Spec {
            cpu_cores: u32::try_from(self.cpu_cores).map_or(0, i64::from),
            ..self
        }
    }
}

/// What a conditional write (`write_if`) requires of the slot when it takes the slot's lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Never written: no commit has touched it since startup.
    Empty,
    /// Not written since it had this version.
    Version(u32),
}

/// A consistent read of one slot.
#[derive(Clone, Copy, Debug)]
pub struct SlotView {
    pub state: SlotState,
    pub spec: Spec,
    /// Changes whenever state or spec is written, so the worker can tell a slot was rewritten.
    pub version: u32,
    /// Microseconds since 2000-01-01 (PostgreSQL's timestamptz); 0 for never.
    pub last_beat: i64,
    /// When the device's latest spell online began, and when the spell before it ended (0 if
    /// not known): what the worker records as online intervals (spells.rs).
    pub spell_start: i64,
    pub spell_end: i64,
    /// The device's health as the worker last computed it (src/health), 0 before it has.
    pub health: u32,
}

/// 64 bytes per device. cpu_cores fits 32 bits (register_device allows at most 8192, the
/// column is an integer), which leaves the device type room without growing the slot; the
/// type and the country share a word (`kind`: type in the low byte, country above).
#[repr(C)]
struct Slot {
    last_beat: AtomicI64,
    version: AtomicU32,
    state: AtomicU32,
    cpu_cores: AtomicU32,
    kind: AtomicU32,
    ram_nano_gb: AtomicI64,
    storage_nano_gb: AtomicI64,
    inventory: AtomicU32,
    health: AtomicU32,
    /// Written by the beat or commit that makes the device live when it was not (a new spell
    /// online), and by a commit that stops or removes a live one (`spell_end` only). Outside
    /// the sequence lock: beats take no lock, and the worker reads them again every tick.
    spell_start: AtomicI64,
    spell_end: AtomicI64,
}

const BYTES_PER_DEVICE: usize = std::mem::size_of::<Slot>();

/// Sums over some live devices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sums {
    pub active_nodes: i64,
    pub ram_nano_gb: i128,
    pub cpu_cores: i64,
    pub storage_nano_gb: i128,
    pub gpus: i64,
    /// Accelerator memory: each accelerator's memory_mib times its count, summed (wide, as the
    /// settings' limits allow more than an i64 holds over a whole network).
    pub gpu_memory_mib: i128,
}

/// A snapshot's words per Sums.
pub const SUMS_WORDS: usize = 9;

impl Sums {
    /// One device, with `gpus` accelerators holding `gpu_memory_mib` between them.
    pub fn device(spec: &Spec, gpus: i64, gpu_memory_mib: i64) -> Sums {
        Sums {
            active_nodes: 1,
            ram_nano_gb: i128::from(spec.ram_nano_gb),
            cpu_cores: spec.cpu_cores,
            storage_nano_gb: i128::from(spec.storage_nano_gb),
            gpus,
            gpu_memory_mib: i128::from(gpu_memory_mib),
        }
    }

    pub fn add(&mut self, other: &Sums) {
        self.active_nodes += other.active_nodes;
        self.ram_nano_gb += other.ram_nano_gb;
        self.cpu_cores += other.cpu_cores;
        self.storage_nano_gb += other.storage_nano_gb;
        self.gpus += other.gpus;
        self.gpu_memory_mib += other.gpu_memory_mib;
    }

    /// The i128s as two words each, so a snapshot is a row of u64s.
    pub fn to_words(self) -> [u64; SUMS_WORDS] {
        [
            self.active_nodes as u64,
            self.ram_nano_gb as u64,
            (self.ram_nano_gb >> 64) as u64,
            self.cpu_cores as u64,
            self.storage_nano_gb as u64,
            (self.storage_nano_gb >> 64) as u64,
            self.gpus as u64,
            self.gpu_memory_mib as u64,
            (self.gpu_memory_mib >> 64) as u64,
        ]
    }

    pub fn from_words(w: &[u64]) -> Sums {
        let wide = |low: u64, high: u64| (i128::from(high as i64) << 64) | i128::from(low);
        Sums {
            active_nodes: w[0] as i64,
            ram_nano_gb: wide(w[1], w[2]),
            cpu_cores: w[3] as i64,
            storage_nano_gb: wide(w[4], w[5]),
            gpus: w[6] as i64,
            gpu_memory_mib: wide(w[7], w[8]),
        }
    }
}

/// Sums over live devices, by device type (in DeviceType::ALL order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub by_type: [Sums; DeviceType::COUNT],
}

impl Totals {
    pub fn add(&mut self, device_type: DeviceType, device: &Sums) {
        self.by_type[device_type.index()].add(device);
    }

    /// Every type together: the network.
    pub fn all(&self) -> Sums {
        let mut all = Sums::default();
        for sums in &self.by_type {
            all.add(sums);
        }
        all
    }
}

const SNAPSHOT_WORDS: usize = 3 + SUMS_WORDS * DeviceType::COUNT;

/// The totals as of `taken_at`, counted with an active window of `window` (microseconds),
/// when the change counter stood at `changes`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Snapshot {
    pub taken_at: i64,
    pub window: i64,
    pub changes: u64,
    pub totals: Totals,
}

#[repr(C)]
struct Header {
    capacity: u32,
    /// The database whose devices the slots hold; 0 until the worker connects.
    database: AtomicU32,
    /// True once the worker has rebuilt the slots from the table.
    ready: AtomicBool,
    /// The time the worker's first rebuild after its start presumed every device the table
    /// marks active to have beaten (`presume_beat`); 0 for none. A slot whose last_beat is
    /// this time has not been heard from since: the table keeps its own last_seen.
    presumed_beat: AtomicI64,
    /// One past the highest slot number written.
    high_water: AtomicU32,
    /// Counts committed registrations, deactivations, deletions and revivals: a snapshot
    /// taken before the latest one is out of date at once, whatever its age.
    changes: AtomicU64,
    /// Counts changes of what the expected sums weigh (breakdown.rs): a slot's state, spec or
    /// inventory written, a health refresh begun, a clear. Unlike `changes`, not a revival: the
    /// sums the worker published hold while this has not moved since it counted them.
    weighed_changes: AtomicU64,
    snapshot_seq: AtomicU64,
    snapshot_words: [AtomicU64; SNAPSHOT_WORDS],
    /// The worker's PGPROC number, so resync_liveness() can wake it; -1 before it starts.
    worker: AtomicI32,
    /// resync_liveness() calls so far; each waits for a full comparison that starts after it.
    resyncs_requested: AtomicU64,
    /// The calls the latest finished comparison served, and what it corrected (or RESYNC_FAILED).
    resyncs_served: AtomicU64,
    resync_corrections: AtomicU64,
    resync_finished: UnsafeCell<pg_sys::ConditionVariable>,
}

/// What a comparison that failed (its warning is in the log) reports to resync_liveness().
pub const RESYNC_FAILED: u64 = u64::MAX;

static mut HEADER: *mut Header = std::ptr::null_mut();
static mut PREVIOUS_REQUEST_HOOK: Option<unsafe extern "C-unwind" fn()> = None;
static mut PREVIOUS_STARTUP_HOOK: Option<unsafe extern "C-unwind" fn()> = None;

fn bytes_for(capacity: u32) -> usize {
    std::mem::size_of::<Header>() + BYTES_PER_DEVICE * capacity as usize
}

/// All the shared memory the library takes: slots, snapshot, the device index, the accelerator
/// inventories and the totals' breakdown by country and model.
pub fn total_bytes(capacity: u32) -> usize {
    bytes_for(capacity) + device_index::bytes(capacity) + inventories::bytes() + breakdown::bytes()
}

/// Asks the postmaster for the slots. Call from _PG_init, after the settings are defined.
pub fn request_when_preloaded() {
    // SAFETY: plain flags and hook pointers, touched only while the postmaster loads us.
    unsafe {
        if !pg_sys::process_shared_preload_libraries_in_progress {
            return;
        }
        PREVIOUS_REQUEST_HOOK = pg_sys::shmem_request_hook;
        pg_sys::shmem_request_hook = Some(request_space);
        PREVIOUS_STARTUP_HOOK = pg_sys::shmem_startup_hook;
        pg_sys::shmem_startup_hook = Some(attach);
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn request_space() {
    // SAFETY: runs as shmem_request_hook, in the postmaster, the one place shared memory and
    // LWLock tranches may be requested; the previous hook was saved by request_when_preloaded.
    unsafe {
        if let Some(previous) = PREVIOUS_REQUEST_HOOK {
            previous();
        }
        device_index::request_locks();
        pg_sys::RequestAddinShmemSpace(total_bytes(settings::slot_capacity()));
    }
}

/// Runs in the postmaster at startup and after every crash restart; backends inherit HEADER.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn attach() {
    // SAFETY: runs as shmem_startup_hook, in the postmaster, where ShmemInitStruct may be called
    // under AddinShmemInitLock (MainLWLockArray entry 21). The region is zeroed and its header initialised only by its
    // creator (found is false), before the lock is released and anyone else can attach; HEADER
    // is written before any backend that reads it forks.
    unsafe {
        if let Some(previous) = PREVIOUS_STARTUP_HOOK {
            previous();
        }
        let capacity = settings::slot_capacity();
        let size = bytes_for(capacity);
        let init_lock = &raw mut (*pg_sys::MainLWLockArray.add(21)).lock; // AddinShmemInitLock
        pg_sys::LWLockAcquire(init_lock, pg_sys::LWLockMode::LW_EXCLUSIVE);
        let mut found = false;
        let header: *mut Header =
            pg_sys::ShmemInitStruct(c"compute_devices slots".as_ptr(), size, &mut found).cast();
        if !found {
            std::ptr::write_bytes(header.cast::<u8>(), 0, size);
            (*header).capacity = capacity;
            (*header).worker = AtomicI32::new(-1);
            pg_sys::ConditionVariableInit((*header).resync_finished.get());
        }
        HEADER = header;
        device_index::attach(capacity);
        inventories::attach();
        breakdown::attach();
        pg_sys::LWLockRelease(init_lock);
    }
}

/// The slots and snapshot of this process's database.
#[derive(Clone, Copy)]
pub struct Shared {
    header: &'static Header,
    slots: &'static [Slot],
}

/// Shared memory, if the library was preloaded (whether or not a worker serves it).
pub fn attached() -> Option<Shared> {
    // SAFETY: HEADER is set once in the postmaster before any backend forks, and the region
    // it points to lives as long as the server; it is capacity slots long.
    unsafe {
        let header = HEADER.as_ref()?;
        let first_slot = HEADER.add(1).cast::<Slot>();
        let slots = std::slice::from_raw_parts(first_slot, header.capacity as usize);
        Some(Shared { header, slots })
    }
}

/// Shared memory, when it serves this database: the shared-memory path.
pub fn shared() -> Option<Shared> {
    let shared = attached()?;
    // SAFETY: MyDatabaseId is set once when the backend connects.
    let database = unsafe { pg_sys::MyDatabaseId }.to_u32();
    (database != 0 && shared.header.database.load(Ordering::SeqCst) == database).then_some(shared)
}

impl Shared {
    pub fn capacity(&self) -> u32 {
        self.header.capacity
    }

    pub fn high_water(&self) -> u32 {
        self.header.high_water.load(Ordering::Acquire)
    }

    pub fn is_ready(&self) -> bool {
        self.header.ready.load(Ordering::Acquire)
    }

    pub fn set_ready(&self, ready: bool) {
        self.header.ready.store(ready, Ordering::Release);
    }

    /// The beat presumed at the rebuild (see `Header::presumed_beat`), 0 for none.
    pub fn presumed_beat(&self) -> i64 {
        self.header.presumed_beat.load(Ordering::Acquire)
    }

    pub fn set_presumed_beat(&self, at: i64) {
        self.header.presumed_beat.store(at, Ordering::Release);
    }

    /// A beat somebody sent, not the one presumed at the rebuild.
    pub fn was_heard(&self, beat: i64) -> bool {
        beat != self.presumed_beat()
    }

    /// The worker claims the slots for its database: from now on backends there write them.
    pub fn serve_database(&self, database: pg_sys::Oid) {
        self.header
            .database
            .store(database.to_u32(), Ordering::SeqCst);
    }

    fn slot(&self, slot: u32) -> Option<&'static Slot> {
        self.slots.get(slot as usize)
    }

    /// A heartbeat. Never moves last_beat backwards. A beat that revives a device silent since
    /// `live_after` counts as a change.
    pub fn beat(&self, slot: u32, at: i64, live_after: i64) {
        if let Some(slot) = self.slot(slot) {
            let previous = slot.last_beat.fetch_max(at, Ordering::Relaxed);
            if previous <= live_after {
                // A new spell: the silence began a window after the previous beat.
                if previous > 0 {
                    let window = at - live_after;
                    slot.spell_end.store(previous + window, Ordering::Relaxed);
                }
                slot.spell_start.store(at, Ordering::Release);
                self.header.changes.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    pub fn changes(&self) -> u64 {
        self.header.changes.load(Ordering::Acquire)
    }

    pub fn weighed_changes(&self) -> u64 {
        self.header.weighed_changes.load(Ordering::Acquire)
    }

    /// The worker is about to store new health words (`set_health`) in some slots.
    pub fn health_refreshed(&self) {
        self.header.weighed_changes.fetch_add(1, Ordering::AcqRel);
    }

    /// Writes state and spec (and a beat, if any), whatever the slot held: what a commit does.
    pub fn write(&self, slot: u32, state: SlotState, spec: Spec, beat: Option<i64>) {
        self.store(slot, None, state, spec, beat);
    }

    /// Writes state and spec (and a beat, if any) only if the slot is as `expect`ed when its lock
    /// is taken: what the worker does with what it read from the table, which a commit since may
    /// have made out of date (reconcile.rs). The slot's new version, or None if it was not
    /// as expected and is left alone.
    pub fn write_if(
        &self,
        slot: u32,
        expect: Expect,
        state: SlotState,
        spec: Spec,
        beat: Option<i64>,
    ) -> Option<u32> {
        self.store(slot, Some(expect), state, spec, beat)
    }

    fn store(
        &self,
        slot: u32,
        expect: Option<Expect>,
        state: SlotState,
        spec: Spec,
        beat: Option<i64>,
    ) -> Option<u32> {
        let entry = self.slot(slot)?;
        let locked = lock(entry);
        let as_expected = match expect {
            None => true,
            Some(Expect::Empty) => {
                SlotState::from_u32(entry.state.load(Ordering::Relaxed)) == SlotState::Empty
            }
            Some(Expect::Version(version)) => locked.wrapping_sub(1) == version,
        };
        if !as_expected {
            // Unlocked as it was: nothing changed, so its version does not either.
            entry
                .version
                .store(locked.wrapping_sub(1), Ordering::Release);
            return None;
        }
        let spec = spec.stored();
        let spell = SpellWatch::before(entry);
        entry.state.store(state as u32, Ordering::Relaxed);
        let kind = spec.device_type as u32 | u32::from(spec.country) << 8;
        entry.kind.store(kind, Ordering::Relaxed);
        if let Some(inventory) = spec.inventory {
            entry.inventory.store(inventory, Ordering::Relaxed);
        }
        entry
            .cpu_cores
            .store(spec.cpu_cores as u32, Ordering::Relaxed);
        entry.ram_nano_gb.store(spec.ram_nano_gb, Ordering::Relaxed);
        entry
            .storage_nano_gb
            .store(spec.storage_nano_gb, Ordering::Relaxed);
        let version = locked.wrapping_add(1);
        entry.version.store(version, Ordering::Release);
        if let Some(at) = beat {
            entry.last_beat.fetch_max(at, Ordering::Relaxed);
        }
        spell.after(entry, beat);
        self.header.high_water.fetch_max(slot + 1, Ordering::AcqRel);
        self.header.changes.fetch_add(1, Ordering::AcqRel);
        self.header.weighed_changes.fetch_add(1, Ordering::AcqRel);
        Some(version)
    }

    /// Writes the slot's inventory alone: what a commit that changed the device's accelerators
    /// does.
    pub fn set_inventory(&self, slot: u32, inventory: u32) {
        let Some(entry) = self.slot(slot) else {
            return;
        };
        let locked = lock(entry);
        entry.inventory.store(inventory, Ordering::Relaxed);
        entry
            .version
            .store(locked.wrapping_add(1), Ordering::Release);
        self.header.changes.fetch_add(1, Ordering::AcqRel);
        self.header.weighed_changes.fetch_add(1, Ordering::AcqRel);
    }

    /// The device's health, as src/health encodes it: the worker's, once a minute. Not a change
    /// of the slot (its version stays): no commit wrote it.
    pub fn set_health(&self, slot: u32, health: u32) {
        if let Some(entry) = self.slot(slot) {
            entry.health.store(health, Ordering::Relaxed);
        }
    }

    /// The slot's version now: odd while a writer holds it.
    pub fn version(&self, slot: u32) -> Option<u32> {
        Some(self.slot(slot)?.version.load(Ordering::Acquire))
    }

    /// Marks every written slot deleted (TRUNCATE), then empties the index: in that order, an
    /// entry the worker adds meanwhile (reconcile.rs) is removed with the others.
    pub fn forget_all(&self) {
        for slot in 0..self.high_water() {
            self.write(slot, SlotState::Deleted, Spec::gone(), None);
        }
        device_index::clear();
    }

    /// Empties every slot and the snapshot: the table was dropped or recreated.
    pub fn clear(&self) {
        self.set_ready(false);
        self.set_presumed_beat(0);
        device_index::clear();
        self.publish(None);
        for entry in &self.slots[..self.high_water() as usize] {
            let version = lock(entry);
            entry
                .state
                .store(SlotState::Empty as u32, Ordering::Relaxed);
            entry.last_beat.store(0, Ordering::Relaxed);
            entry.spell_start.store(0, Ordering::Relaxed);
            entry.spell_end.store(0, Ordering::Relaxed);
            entry.health.store(0, Ordering::Relaxed);
            entry
                .version
                .store(version.wrapping_add(1), Ordering::Release);
        }
        self.header.high_water.store(0, Ordering::Release);
        self.header.changes.fetch_add(1, Ordering::AcqRel);
        self.header.weighed_changes.fetch_add(1, Ordering::AcqRel);
    }

    pub fn read(&self, slot: u32) -> Option<SlotView> {
        let entry = self.slot(slot)?;
        loop {
            let before = entry.version.load(Ordering::Acquire);
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let state = SlotState::from_u32(entry.state.load(Ordering::Relaxed));
            let kind = entry.kind.load(Ordering::Relaxed);
            let spec = Spec {
                device_type: DeviceType::from_index(kind & 0xFF),
                ram_nano_gb: entry.ram_nano_gb.load(Ordering::Relaxed),
                cpu_cores: i64::from(entry.cpu_cores.load(Ordering::Relaxed)),
                storage_nano_gb: entry.storage_nano_gb.load(Ordering::Relaxed),
                country: (kind >> 8) as u16,
                inventory: Some(entry.inventory.load(Ordering::Relaxed)),
            };
            fence(Ordering::Acquire);
            if entry.version.load(Ordering::Relaxed) == before {
                let last_beat = entry.last_beat.load(Ordering::Relaxed);
                return Some(SlotView {
                    state,
                    spec,
                    version: before,
                    last_beat,
                    spell_start: entry.spell_start.load(Ordering::Acquire),
                    spell_end: entry.spell_end.load(Ordering::Relaxed),
                    health: entry.health.load(Ordering::Relaxed),
                });
            }
        }
    }

    /// Exact totals over every slot now: registered and beating since `live_after`.
    pub fn count(&self, live_after: i64, mut visit: impl FnMut(u32, &SlotView, bool)) -> Totals {
        let mut totals = Totals::default();
        let inventories = inventories::attached();
        for slot in 0..self.high_water() {
            let Some(view) = self.read(slot) else { break };
            let live = view.state == SlotState::Registered && view.last_beat > live_after;
            if live {
                let inventory =
                    inventories.and_then(|all| all.get(view.spec.inventory.unwrap_or(0)));
                let (gpus, memory) = inventory.map_or((0, 0), |i| (i.gpus, i.gpu_memory_mib));
                totals.add(
                    view.spec.device_type,
                    &Sums::device(&view.spec, gpus, memory),
                );
            }
            visit(slot, &view, live);
        }
        totals
    }

    /// Publishes a snapshot, or withdraws it (None). The worker and backends that had to count
    /// may both publish; if another is publishing at this moment, this one is dropped.
    pub fn publish(&self, snapshot: Option<Snapshot>) {
        let Snapshot {
            taken_at,
            window,
            changes,
            totals,
        } = snapshot.unwrap_or_default();
        let mut words = [0; SNAPSHOT_WORDS];
        words[..3].copy_from_slice(&[taken_at as u64, window as u64, changes]);
        for (chunk, sums) in words[3..].chunks_exact_mut(SUMS_WORDS).zip(totals.by_type) {
            chunk.copy_from_slice(&sums.to_words());
        }
        let seq = self.header.snapshot_seq.load(Ordering::Relaxed);
        if !seq.is_multiple_of(2)
            || self
                .header
                .snapshot_seq
                .compare_exchange(seq, seq + 1, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        fence(Ordering::Release);
        for (word, value) in self.header.snapshot_words.iter().zip(words) {
            word.store(value, Ordering::Relaxed);
        }
        self.header.snapshot_seq.store(seq + 2, Ordering::Release);
    }

    /// The latest snapshot, if one is published.
    pub fn snapshot(&self) -> Option<Snapshot> {
        loop {
            let before = self.header.snapshot_seq.load(Ordering::Acquire);
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let w: [u64; SNAPSHOT_WORDS] =
                std::array::from_fn(|i| self.header.snapshot_words[i].load(Ordering::Relaxed));
            fence(Ordering::Acquire);
            if self.header.snapshot_seq.load(Ordering::Relaxed) != before {
                continue;
            }
            let snapshot = Snapshot {
                taken_at: w[0] as i64,
                window: w[1] as i64,
                changes: w[2],
                totals: Totals {
                    by_type: std::array::from_fn(|t| {
                        Sums::from_words(&w[3 + SUMS_WORDS * t..3 + SUMS_WORDS * (t + 1)])
                    }),
                },
            };
            return (snapshot.taken_at != 0).then_some(snapshot);
        }
    }
}

/// resync_liveness() and the worker: a call asks for a full comparison of the table with the
/// slots that starts after it, wakes the worker, and waits for it.
impl Shared {
    /// The worker says where it is (its PGPROC number), so calls can wake it.
    pub fn set_worker(&self, procno: i32) {
        self.header.worker.store(procno, Ordering::Release);
    }

    /// Asks the worker for a comparison and waits for it (interruptibly): what it corrected, or
    /// RESYNC_FAILED. None when the worker stops serving this database meanwhile.
    pub fn resync(&self) -> Option<u64> {
        let ticket = self.header.resyncs_requested.fetch_add(1, Ordering::AcqRel) + 1;
        let procno = self.header.worker.load(Ordering::Acquire);
        let finished = self.header.resync_finished.get();
        // SAFETY: the worker's PGPROC lives in shared memory as long as the server (a stale
        // number wakes some other process, which latches allow); the condition variable was
        // initialised with the header, and an error while sleeping cancels the sleep at abort.
        unsafe {
            if let Ok(procno) = usize::try_from(procno) {
                pg_sys::SetLatch(&raw mut (*(*pg_sys::ProcGlobal).allProcs.add(procno)).procLatch);
            }
            pg_sys::ConditionVariablePrepareToSleep(finished);
        }
        let result = loop {
            if self.header.resyncs_served.load(Ordering::Acquire) >= ticket {
                break Some(self.header.resync_corrections.load(Ordering::Acquire));
            }
            if shared().is_none() {
                break None;
            }
            // SAFETY: as above; the timeout notices a worker that stopped serving.
            unsafe {
                pg_sys::ConditionVariableTimedSleep(finished, 1000, pg_sys::PG_WAIT_EXTENSION)
            };
        };
        // SAFETY: ends the sleep prepared above.
        unsafe { pg_sys::ConditionVariableCancelSleep() };
        result
    }

    /// The calls a comparison starting now serves, if any are waiting.
    pub fn resyncs_waiting(&self) -> Option<u64> {
        let requested = self.header.resyncs_requested.load(Ordering::Acquire);
        (requested > self.header.resyncs_served.load(Ordering::Acquire)).then_some(requested)
    }

    /// The worker finished a comparison that started when `requested` calls had been made.
    pub fn finish_resyncs(&self, requested: u64, corrections: u64) {
        self.header
            .resync_corrections
            .store(corrections, Ordering::Release);
        self.header
            .resyncs_served
            .fetch_max(requested, Ordering::AcqRel);
        // SAFETY: initialised with the header.
        unsafe { pg_sys::ConditionVariableBroadcast(self.header.resync_finished.get()) };
    }
}

/// Whether a commit's write (under the slot's lock) starts or ends a spell online: the device
/// was not live and now is (a registration, a correction by the worker), or was and now is not
/// (stopped, removed).
struct SpellWatch {
    was_live: bool,
    was_registered: bool,
    previous_beat: i64,
    now: i64,
    window: i64,
}

impl SpellWatch {
    fn before(entry: &Slot) -> SpellWatch {
        // SAFETY: reads the clock.
        let now = unsafe { pg_sys::GetCurrentTimestamp() };
        let window = settings::active_window_micros();
        let was_registered =
            SlotState::from_u32(entry.state.load(Ordering::Relaxed)) == SlotState::Registered;
        let previous_beat = entry.last_beat.load(Ordering::Relaxed);
        SpellWatch {
            was_live: was_registered && previous_beat > now - window,
            was_registered,
            previous_beat,
            now,
            window,
        }
    }

    fn after(self, entry: &Slot, beat: Option<i64>) {
        let last_beat = entry.last_beat.load(Ordering::Relaxed);
        let registered =
            SlotState::from_u32(entry.state.load(Ordering::Relaxed)) == SlotState::Registered;
        let live = registered && last_beat > self.now - self.window;
        if live && !self.was_live {
            if self.was_registered && self.previous_beat > 0 {
                entry
                    .spell_end
                    .store(self.previous_beat + self.window, Ordering::Relaxed);
            }
            entry
                .spell_start
                .store(beat.unwrap_or(last_beat), Ordering::Release);
        } else if self.was_live && !live {
            entry.spell_end.store(self.now, Ordering::Relaxed);
        }
    }
}

/// Takes a slot's sequence lock, returning the odd version it holds; storing that plus one
/// releases it.
fn lock(entry: &Slot) -> u32 {
    loop {
        let version = entry.version.load(Ordering::Relaxed);
        if version.is_multiple_of(2)
            && entry
                .version
                .compare_exchange_weak(version, version + 1, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            fence(Ordering::Release);
            return version + 1;
        }
        std::hint::spin_loop();
    }
}
