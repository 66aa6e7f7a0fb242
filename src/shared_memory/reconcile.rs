//! Shared memory against the table: rows written around the extension's triggers are found.
//!
//! The triggers queue every row change for its slot (slot_writes.rs), but rows can be
//! written without them: a restore with `--disable-triggers`, `session_replication_role =
//! replica` (how logical replication and many loaders apply rows), `ALTER TABLE ... DISABLE
//! TRIGGER`. The worker finds them two ways:
//!
//! - **New rows, every tick** (`NewRows`): slot numbers come from `compute_devices_slot_seq`, so
//!   one query a tick reads how far slots are numbered (the sequence, or a larger slot in the
//!   table). Slots below that which are still empty belong to transactions in flight, to rows
//!   written around the triggers, or to numbers burned by rollbacks. Their committed rows are
//!   read with the slot index and taken in; each new run of numbers is otherwise settled once
//!   every transaction that was running when it was seen has ended, so burned numbers are not
//!   read again. When nothing was numbered and no transaction ended, there is nothing to read.
//! - **Everything, every `reconcile_interval`** (`compare_all`), or at once for
//!   `resync_liveness()`: every row against its slot (state, specs, device type) and its index
//!   entry (id, owner); slots whose rows are gone are marked deleted, and index entries the
//!   table does not back are removed. The rebuild at start is the same comparison, from empty
//!   slots.
//!
//! **Why a correction never undoes a newer commit.** A committing transaction writes its slot
//! after its commit is visible, so the worker can read an older row version than the slot
//! already holds. A pass therefore reads each slot's version before it takes its snapshot, and
//! writes a slot only if that version is unchanged when it holds the slot's lock (compare and
//! set, `Shared::write_if`); a slot it had no version for only if it is still empty. Take a
//! commit C to a row whose slot the pass corrects. If C was visible to the pass's snapshot, the
//! pass writes C's row (or a later one), as C itself does. If not, C became visible after the
//! snapshot, so C's slot write came after the version was read: if before the pass's write,
//! the version differs and the pass leaves the slot alone; if after, C's newer write replaces
//! the pass's. A slot that was still empty was never written by any commit, so the same holds.
//! Index entries follow the same rule: the pass changes one only if the slot still has the
//! version it compared (or just wrote), checked under the entry's partition lock, and a commit
//! writes its slot before it changes its index entries, so either the commit's index change
//! comes after the pass's, or the pass sees the new version and does nothing.

use crate::accelerators::{accelerator_arrays, given_at};
use crate::device_type::DeviceType;
use crate::errors::internal_failure;
use crate::shared_memory::device_index;
use crate::shared_memory::inventories;
use crate::shared_memory::slots::{self, Expect, Shared, SlotState, Spec};
use crate::shared_memory::worker::{in_transaction, Outcome, TableView, BATCH_ROWS};
use crate::spi::catalog;
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

/// GB in billionths, saturated (NaN as the most), as slot_writes::nano_gb makes them at commit.
macro_rules! nano_gb {
    ($column:literal) => {
        concat!(
            "LEAST(GREATEST(",
            $column,
            " OPERATOR(pg_catalog.*) 1000000000::pg_catalog.numeric,
                        (-9223372036854775808)::pg_catalog.numeric),
               9223372036854775807::pg_catalog.numeric)::pg_catalog.int8"
        )
    };
}
pub(crate) use nano_gb;

/// A device row as a slot holds it, over `d`.
macro_rules! slot_columns {
    () => {
        concat!(
            "d.slot, d.deactivated_at IS NOT NULL, d.is_active, d.last_seen, ",
            nano_gb!("d.ram_gb"),
            ", d.cpu_cores, ",
            nano_gb!("d.storage_gb"),
            ", d.id, d.user_id, d.device_type"
        )
    };
}

/// Since 0.6.0: the row's country and accelerators (as arrays, a group per position), over `d`
/// and the lateral `acc`; before, none.
macro_rules! located_columns {
    (current) => {
        ", d.country_code, acc.vendors, acc.models, acc.memory, acc.counts"
    };
    (before_0_6_0) => {
        ", NULL::pg_catalog.text, NULL::pg_catalog.text[], NULL::pg_catalog.text[],
           NULL::pg_catalog.int4[], NULL::pg_catalog.int4[]"
    };
}

macro_rules! accelerators_of_d {
    (current) => {
        accelerator_arrays!()
    };
    (before_0_6_0) => {
        ""
    };
}

macro_rules! every_row {
    ($version:tt) => {
        concat!(
            "SELECT ",
            slot_columns!(),
            located_columns!($version),
            " FROM @extschema@.compute_devices AS d",
            accelerators_of_d!($version)
        )
    };
}

/// Every row: for this version of the table, and for one not yet updated to 0.6.0.
const EVERY_ROW: [&str; 2] = [every_row!(current), every_row!(before_0_6_0)];

/// The rows in runs of slots, first to last, each an index range scan.
macro_rules! rows_in_runs {
    ($version:tt) => {
        concat!(
            "SELECT ",
            slot_columns!(),
            located_columns!($version),
            " FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.int4[]),
                              pg_catalog.unnest($2::pg_catalog.int4[])) AS r(first_slot, last_slot)
              JOIN @extschema@.compute_devices AS d
                ON d.slot OPERATOR(pg_catalog.>=) r.first_slot
               AND d.slot OPERATOR(pg_catalog.<=) r.last_slot",
            accelerators_of_d!($version)
        )
    };
}

const ROWS_IN_RUNS: [&str; 2] = [rows_in_runs!(current), rows_in_runs!(before_0_6_0)];

/// Of the two forms, the one for this database's version of the table.
fn for_this_version(forms: &[&'static str; 2]) -> std::rc::Rc<str> {
    let extension = catalog::extension();
    let form = usize::from(!extension.has_accelerators());
    extension.statement(forms[form])
}

/// One past the highest slot number handed out (the sequence is not transactional, so this
/// includes transactions in flight) or stored (rows may carry numbers from elsewhere, such as a
/// publisher's).
const NUMBERED: &str = "
    SELECT CASE WHEN s.is_called THEN s.last_value OPERATOR(pg_catalog.+) 1::pg_catalog.int8
                ELSE s.last_value END,
           (SELECT pg_catalog.max(d.slot) FROM @extschema@.compute_devices AS d)
      FROM @extschema@.compute_devices_slot_seq AS s";

/// A device row, as the worker reads it.
struct DeviceRow {
    slot: i32,
    state: SlotState,
    spec: Spec,
    is_active: bool,
    last_seen: i64,
    id: [u8; 16],
    owner: [u8; 16],
}

impl DeviceRow {
    fn read(row: &pgrx::spi::SpiHeapTupleData<'_>) -> spi::Result<DeviceRow> {
        let stopped = row.get::<bool>(2)?.unwrap_or(false);
        let uuid = |uuid: Option<pgrx::Uuid>| uuid.map_or([0; 16], |uuid| *uuid.as_bytes());
        Ok(DeviceRow {
            slot: row.get::<i32>(1)?.unwrap_or(-1),
            state: if stopped {
                SlotState::Stopped
            } else {
                SlotState::Registered
            },
            spec: Spec {
                device_type: DeviceType::of_row(&row.get::<String>(10)?.unwrap_or_default()),
                ram_nano_gb: row.get::<i64>(5)?.unwrap_or(0),
                cpu_cores: i64::from(row.get::<i32>(6)?.unwrap_or(0)),
                storage_nano_gb: row.get::<i64>(7)?.unwrap_or(0),
                country: slots::country_number(row.get::<String>(11)?.as_deref()),
                inventory: Some(inventory_of(row)?),
            },
            is_active: row.get::<bool>(3)?.unwrap_or(false),
            last_seen: row
                .get::<TimestampWithTimeZone>(4)?
                .map_or(0, TimestampWithTimeZone::into_inner),
            id: uuid(row.get::<pgrx::Uuid>(8)?),
            owner: uuid(row.get::<pgrx::Uuid>(9)?),
        })
    }
}

/// The inventory number of the row's accelerators (columns 12 to 15), interned if new; when
/// there is no room, 0 and the overflow noted, which sends the worker back to a rebuild
/// (inventories.rs).
fn inventory_of(row: &pgrx::spi::SpiHeapTupleData<'_>) -> spi::Result<u32> {
    let groups = given_at(row, 12)?;
    Ok(inventories::attached().map_or(0, |table| table.intern_or_overflow(groups)))
}

/// Which device a slot holds, as a number: 0 for none.
fn identity(id: &[u8; 16], owner: &[u8; 16]) -> u64 {
    let mut hasher = DefaultHasher::new();
    (id, owner).hash(&mut hasher);
    hasher.finish().max(1)
}

/// One pass over some rows, writing their slots and index entries where they differ.
struct Pass<'a> {
    shared: &'a Shared,
    /// The version of each slot below its length, read before the pass's snapshot (and moved
    /// on by the pass's own writes). Slots past it are written only while still empty.
    versions: Vec<u32>,
    /// Which device the table puts in each of those slots (`identity`), 0 for none.
    devices: Vec<u64>,
    rows: u64,
    corrections: u64,
    /// At the worker's first rebuild: the time a device the table marks active is presumed to
    /// have beaten, if it has not since (see `compare_all`).
    presumed_beat: Option<i64>,
}

impl<'a> Pass<'a> {
    /// Call before the transaction that reads the rows begins: its snapshot must come after.
    fn before(shared: &'a Shared, slots: u32) -> Pass<'a> {
        let versions = (0..slots)
            .map(|slot| shared.read(slot).map_or(0, |view| view.version))
            .collect();
        Pass {
            shared,
            versions,
            devices: vec![0; slots as usize],
            rows: 0,
            corrections: 0,
            presumed_beat: None,
        }
    }

    /// Hands every row `query` returns to `each`, with its slot. False (and a warning) at a row
    /// whose slot does not fit in shared memory: then the database cannot be served from it.
    fn read(
        &mut self,
        client: &SpiClient<'_>,
        query: &str,
        args: &[DatumWithOid<'_>],
        mut each: impl FnMut(&mut Self, u32, &DeviceRow),
    ) -> spi::Result<bool> {
        let mut cursor = client.open_cursor(query, args);
        loop {
            let rows = cursor.fetch(BATCH_ROWS as _)?;
            if rows.is_empty() {
                return Ok(true);
            }
            for row in rows {
                let row = DeviceRow::read(&row)?;
                let Some(slot) = self.fitting(row.slot) else {
                    return Ok(false);
                };
                each(self, slot, &row);
            }
        }
    }

    fn fitting(&self, slot: i32) -> Option<u32> {
        let capacity = self.shared.capacity();
        let fitting = u32::try_from(slot).ok().filter(|slot| *slot < capacity);
        if fitting.is_none() {
            warning!(
                "compute_devices: device slot {slot} does not fit in compute_devices.slots \
                 ({capacity}); heartbeats stay in the table until it is raised"
            );
        }
        fitting
    }

    /// Makes the slot say what the row says, unless a commit has written the slot since the
    /// pass's versions were read (see the module comment); a slot it rewrites gets its index
    /// entry too. Other slots' entries are checked all at once (`check_index`).
    fn take(&mut self, slot: u32, row: &DeviceRow, views: &mut Vec<TableView>) {
        let index = slot as usize;
        self.rows += 1;
        if let Some(device) = self.devices.get_mut(index) {
            *device = identity(&row.id, &row.owner);
        }
        let Some(view) = self.shared.read(slot) else {
            return;
        };
        let expect = self
            .versions
            .get(index)
            .map_or(Expect::Empty, |version| Expect::Version(*version));
        let version = if view.state == row.state && view.spec == row.spec.stored() {
            match expect {
                Expect::Version(version) => version,
                Expect::Empty => return, // written since the pass began, by a commit
            }
        } else {
            let beat = (row.is_active && row.state == SlotState::Registered).then(|| {
                self.presumed_beat
                    .map_or(row.last_seen, |at| at.max(row.last_seen))
            });
            let Some(written) = self
                .shared
                .write_if(slot, expect, row.state, row.spec, beat)
            else {
                return; // written by a commit, which is newer than this row
            };
            self.corrections += 1;
            if let Some(known) = self.versions.get_mut(index) {
                *known = written;
            }
            if device_index::slot_of(&row.id, &row.owner) != Some(slot) {
                let shared = self.shared;
                device_index::insert_if(&row.id, &row.owner, slot, || {
                    shared.version(slot) == Some(written)
                });
            }
            written
        };
        if views.len() <= index {
            views.resize(index + 1, TableView::default());
        }
        views[index] = TableView {
            version: Some(version),
            is_active: row.is_active,
            last_seen: row.last_seen,
        };
    }

    /// After reading every row: slots the table has no row for are marked deleted.
    fn mark_gone(&mut self) {
        for (slot, (device, version)) in self.devices.iter().zip(&mut self.versions).enumerate() {
            let slot = slot as u32;
            let held = self.shared.read(slot).is_some_and(|view| {
                matches!(view.state, SlotState::Registered | SlotState::Stopped)
            });
            if *device != 0 || !held {
                continue;
            }
            let deleted = Spec::gone();
            let expect = Expect::Version(*version);
            if let Some(written) =
                self.shared
                    .write_if(slot, expect, SlotState::Deleted, deleted, None)
            {
                *version = written;
                self.corrections += 1;
            }
        }
    }

    /// After reading every row, one pass over the index: entries naming a device the table
    /// does not put in that slot (deleted, or its id or owner changed) are removed, so no
    /// heartbeat trusts them. Returns the slots whose device has no entry.
    fn check_index(&mut self) -> Vec<i32> {
        if self.devices.is_empty() {
            return Vec::new(); // a pass over empty slots: every entry was made since it began
        }
        let mut indexed = vec![false; self.devices.len()];
        let mut unbacked = Vec::new();
        device_index::for_each(|id, owner, slot| {
            // Entries for slots written since the pass began are not the pass's to judge.
            let Some(device) = self.devices.get(slot as usize) else {
                return;
            };
            if *device == identity(id, owner) {
                indexed[slot as usize] = true;
            } else {
                unbacked.push((*id, *owner, slot));
            }
        });
        for (id, owner, slot) in unbacked {
            let version = self.versions[slot as usize];
            let shared = self.shared;
            if device_index::remove_if(&id, &owner, slot, || shared.version(slot) == Some(version))
            {
                self.corrections += 1;
            }
        }
        let unindexed = self.devices.iter().zip(indexed).enumerate();
        unindexed
            .filter(|(_, (device, indexed))| **device != 0 && !indexed)
            .map(|(slot, _)| slot as i32)
            .collect()
    }

    /// The index entry of a slot `check_index` found without one, from its row read again:
    /// only if it is still the device compared, in a slot no commit has written since.
    fn index(&mut self, slot: u32, row: &DeviceRow) {
        let index = slot as usize;
        let (Some(&version), Some(&device)) = (self.versions.get(index), self.devices.get(index))
        else {
            return;
        };
        let shared = self.shared;
        if device == identity(&row.id, &row.owner)
            && device_index::insert_if(&row.id, &row.owner, slot, || {
                shared.version(slot) == Some(version)
            })
        {
            self.corrections += 1;
        }
    }
}

/// What a full comparison found.
pub struct Compared {
    pub rows: u64,
    pub corrections: u64,
    pub took: Duration,
}

/// Compares every row of the table with its slot and index entry, in a transaction of its own,
/// and corrects what differs. Done(None) when a row's slot does not fit in shared memory.
///
/// `presumed_beat` is for the rebuild after the worker starts (a server start, a crash restart,
/// a promotion): the table's last_seen lags the heartbeats the slots had (by up to
/// last_seen_flush_interval), but its is_active is at most sweep_interval old. So a device the
/// table marks active (and not stopped) is presumed to have beaten at that time, if its
/// last_seen is older: it counts until it has been silent for a whole active window on this
/// server, not until it happens to beat. The presumed time is never written to the table
/// (`Shared::was_heard`).
pub fn compare_all(
    shared: &Shared,
    views: &mut Vec<TableView>,
    presumed_beat: Option<i64>,
) -> Outcome<Option<Compared>> {
    let started = Instant::now();
    let mut pass = Pass::before(shared, shared.high_water());
    pass.presumed_beat = presumed_beat;
    let read = in_transaction(|client, _| {
        let every_row = for_this_version(&EVERY_ROW);
        pass.read(client, &every_row, &[], |pass, slot, row| {
            pass.take(slot, row, views)
        })
    });
    match read {
        Outcome::Done(true) => {}
        Outcome::Done(false) => return Outcome::Done(None),
        Outcome::ExtensionMissing => return Outcome::ExtensionMissing,
        Outcome::Failed => return Outcome::Failed,
    }
    pass.mark_gone();
    let unindexed = pass.check_index();
    if !unindexed.is_empty() {
        // Normally none: an entry is missing only when the index was full, or a commit's race
        // kept this pass from writing it.
        let read = in_transaction(|client, _| {
            let runs = [unindexed.clone().into(), unindexed.into()];
            let rows = for_this_version(&ROWS_IN_RUNS);
            pass.read(client, &rows, &runs, Pass::index)
        });
        if !matches!(read, Outcome::Done(_)) {
            return Outcome::Failed;
        }
    }
    Outcome::Done(Some(Compared {
        rows: pass.rows,
        corrections: pass.corrections,
        took: started.elapsed(),
    }))
}

/// Rows written around the triggers into newly numbered slots, taken in every tick.
#[derive(Default)]
pub struct NewRows {
    /// Every slot below it is settled: written, or numbered by transactions that have all ended
    /// without a committed row in it (rolled back, or the number was never used).
    settled: u32,
    /// The transactions the numbers below `settled` and up to this wait's `below` depend on.
    wait: Option<Wait>,
    /// How far slots were numbered, and how many transactions had ended, when unwritten slots
    /// were last read: until either moves, another read would find the same rows.
    probed: Option<(u32, u64)>,
}

/// The transactions running once slots below `below` had been numbered: a number below it is
/// either used by a row committed before all of them have ended, or never.
struct Wait {
    below: u32,
    running: Vec<pg_sys::VirtualTransactionId>,
}

impl Wait {
    /// Call in a transaction, after reading `below`. Every transaction in this database, with
    /// or without a snapshot, except VACUUMs (which insert no rows).
    fn now(below: u32) -> Wait {
        let mut count = 0;
        // SAFETY: a palloc'd array of `count` entries, copied out and freed.
        let running = unsafe {
            let list = pg_sys::GetCurrentVirtualXIDs(
                pg_sys::InvalidTransactionId,
                false,
                false,
                pg_sys::PROC_IN_VACUUM as i32,
                &mut count,
            );
            let running =
                std::slice::from_raw_parts(list, usize::try_from(count).unwrap_or(0)).to_vec();
            pg_sys::pfree(list.cast());
            running
        };
        Wait { below, running }
    }

    /// Whether all have ended (forgetting those that have). Call in a transaction: for a
    /// prepared transaction this takes and releases its lock, without waiting.
    fn ended(&mut self) -> bool {
        // SAFETY: a lock-table probe that does not wait.
        self.running
            .retain(|vxid| !unsafe { pg_sys::VirtualXactLock(*vxid, false) });
        self.running.is_empty()
    }
}

/// What a tick's first transaction saw, for `NewRows::take_in`.
pub struct Seen {
    numbered: u32,
    /// Transactions with an id ended so far (PostgreSQL's own count), read before any later
    /// snapshot: while it stays the same, no row became visible.
    ended: u64,
    /// Numbers below this are settled once the rows in them have been read.
    settled_below: u32,
    /// A wait starting now, if the next one is needed.
    wait: Option<Wait>,
}

impl NewRows {
    /// In the tick's first transaction: how far slots are numbered, and whether the
    /// transactions the unwritten ones wait for have ended. One query; no more when every slot
    /// so numbered is written. None, without waiting, while someone holds a lock on the table
    /// that excludes readers (the next tick looks again).
    pub fn observe(
        &mut self,
        client: &SpiClient<'_>,
        shared: &Shared,
        table: u32,
    ) -> spi::Result<Option<Seen>> {
        // SAFETY: a lock for the rest of this transaction, or false at once.
        let locked = unsafe {
            pg_sys::ConditionalLockRelationOid(table.into(), pg_sys::AccessShareLock as _)
        };
        if !locked {
            return Ok(None);
        }
        let row = client.select(&*catalog::statement(NUMBERED), Some(1), &[])?;
        let row = row.first();
        let next = row.get::<i64>(1)?.unwrap_or(0);
        let stored = row.get::<i32>(2)?.map_or(0, |slot| i64::from(slot) + 1);
        let numbered = u32::try_from(next.max(stored).max(0)).unwrap_or(u32::MAX);
        if numbered < self.settled {
            // The sequence was set back (TRUNCATE ... RESTART IDENTITY): start from there.
            *self = NewRows {
                settled: numbered,
                ..NewRows::default()
            };
        }
        self.skip_written(shared, numbered);
        if self.settled >= numbered {
            self.wait = None;
            return Ok(Some(Seen {
                numbered,
                ended: 0,
                settled_below: 0,
                wait: None,
            }));
        }
        let settled_below =
            (self.wait.as_mut()).map_or(0, |wait| if wait.ended() { wait.below } else { 0 });
        let wait = (self.wait.is_none() || settled_below > 0).then(|| Wait::now(numbered));
        // SAFETY: ShmemVariableCache lives in shared memory as long as the server; an aligned
        // u64 load without ProcArrayLock can only be older, which reads rows once more.
        let ended = unsafe {
            std::ptr::read_volatile(&raw const (*pg_sys::ShmemVariableCache).xactCompletionCount)
        };
        Ok(Some(Seen {
            numbered,
            ended,
            settled_below,
            wait,
        }))
    }

    /// After `observe`, outside a transaction: reads the committed rows of unwritten numbered
    /// slots (in a transaction of its own, whose snapshot comes after what `observe` checked)
    /// and takes them in. How many it took in; Done(None) when a row's slot does not fit.
    pub fn take_in(
        &mut self,
        shared: &Shared,
        seen: Seen,
        views: &mut Vec<TableView>,
    ) -> Outcome<Option<u64>> {
        if self.settled >= seen.numbered {
            return Outcome::Done(Some(0));
        }
        let mut taken = 0;
        if self.probed != Some((seen.numbered, seen.ended)) {
            let (firsts, lasts) = self.unwritten_runs(shared, seen.numbered);
            let mut pass = Pass::before(shared, 0);
            let read = in_transaction(|client, _| {
                let runs = [firsts.into(), lasts.into()];
                pass.read(
                    client,
                    &for_this_version(&ROWS_IN_RUNS),
                    &runs,
                    |pass, slot, row| pass.take(slot, row, views),
                )
            });
            match read {
                Outcome::Done(true) => {}
                Outcome::Done(false) => return Outcome::Done(None),
                Outcome::ExtensionMissing => return Outcome::ExtensionMissing,
                Outcome::Failed => return Outcome::Failed,
            }
            taken = pass.corrections;
            self.probed = Some((seen.numbered, seen.ended));
        }
        // Every row committed in a slot below settled_below was visible to the latest read: its
        // snapshot was taken after the transactions waited for had ended, or no transaction
        // has ended since it was taken. What is still empty there stays so.
        if seen.settled_below > 0 {
            self.settled = self.settled.max(seen.settled_below);
            self.wait = None;
        }
        self.skip_written(shared, seen.numbered);
        if self.settled >= seen.numbered {
            self.wait = None;
        } else if self.wait.is_none() {
            self.wait = seen.wait;
        }
        Outcome::Done(Some(taken))
    }

    fn skip_written(&mut self, shared: &Shared, numbered: u32) {
        let end = numbered.min(shared.capacity());
        while self.settled < end
            && shared
                .read(self.settled)
                .is_some_and(|view| view.state != SlotState::Empty)
        {
            self.settled += 1;
        }
    }

    /// The runs of unwritten slots from `settled` on, as first and last slot numbers; numbers
    /// past the last slot are one run (a row there does not fit).
    fn unwritten_runs(&self, shared: &Shared, numbered: u32) -> (Vec<i32>, Vec<i32>) {
        let mut runs: Vec<(u32, u32)> = Vec::new();
        let end = numbered.min(shared.capacity());
        let mut open = None;
        for slot in self.settled..end {
            let unwritten = shared
                .read(slot)
                .is_some_and(|view| view.state == SlotState::Empty);
            match (unwritten, open) {
                (true, None) => open = Some(slot),
                (false, Some(first)) => {
                    runs.push((first, slot - 1));
                    open = None;
                }
                _ => {}
            }
        }
        if let Some(first) = open {
            runs.push((first, end - 1));
        }
        if numbered > end {
            runs.push((self.settled.max(end), numbered - 1));
        }
        let number = |slot: u32| i32::try_from(slot).unwrap_or(i32::MAX);
        runs.iter()
            .map(|(first, last)| (number(*first), number(*last)))
            .unzip()
    }
}

/// For the DBA: compares the whole table with shared memory now, as the worker does every
/// `compute_devices.reconcile_interval`, and returns how many corrections that made (slots
/// rewritten or marked deleted, index entries added or removed). The worker does it, in a
/// transaction of its own, while the caller waits: so it reads everything committed before the
/// call, and nothing the caller has not committed. On the table path there is nothing to
/// compare: 0.
#[pg_extern(volatile)]
#[search_path(pg_catalog, pg_temp)]
fn resync_liveness() -> i64 {
    let Some(shared) = slots::shared() else {
        return 0;
    };
    match shared.resync() {
        None => 0,
        Some(slots::RESYNC_FAILED) => internal_failure(
            "resync_liveness()",
            "the worker's comparison failed; its warning is in the server log",
        ),
        Some(corrections) => i64::try_from(corrections).unwrap_or(i64::MAX),
    }
}
