//! The background worker: keeps shared memory and the table in step for one database.
//!
//! It exists only when the library is in shared_preload_libraries. At start (and whenever the
//! extension's table is recreated) it rebuilds the slots from the table, then serves
//! `compute_devices.database`. Every second it takes in rows written around the triggers into
//! newly numbered slots, and counts the slots into the network totals snapshot. Every
//! `reconcile_interval`, or when resync_liveness() asks, it compares the whole table with the
//! slots (reconcile.rs). Every `sweep_interval` it writes back to the table what heartbeats
//! changed: devices gone stale or revived, and each live device's last_seen once per
//! `last_seen_flush_interval`. Those writes touch only is_active and last_seen, so they are HOT
//! updates and fire no trigger. Every second it also publishes the totals into the one row of
//! `published_totals` (published.rs), which standbys read through WAL; it deletes that row when
//! its database leaves the shared-memory path.
//!
//! The first rebuild after the worker starts (a server start, a crash restart, a promotion)
//! presumes every device the table marks active to have beaten when the rebuild began
//! (reconcile::compare_all; a retry after a failed first rebuild presumes that same time): the
//! table's is_active is at most sweep_interval old, its last_seen up to
//! last_seen_flush_interval. So the totals keep what the table last said, and a device
//! goes stale only after a whole active window of silence on this server. The presumed time is
//! never written to the table as last_seen (`Shared::was_heard`).
//!
//! Each tick (`Worker::tick`) runs these as named steps: find_the_table, then rebuild (a new or
//! recreated table) or take_in_new_rows, compare_when_due, count_and_write_back (which also
//! records the devices' spells online, spells.rs), publish_totals, and each_minute (the minute's
//! network history, and every device's health into its slot). Each step is one short transaction; a tick in which nothing changed is one
//! read-only transaction that takes no transaction id, and the publication (one row updated,
//! committed without waiting for its WAL flush). In a database without the extension it idles.
//! The worker runs only once recovery has finished, so never on a standby. SIGHUP reloads the
//! settings, SIGTERM stops it, and after a crash the postmaster starts it again.

use crate::settings;
use crate::shared_memory::breakdown::{Counting, ModelsOfInventories};
use crate::shared_memory::inventories;
use crate::shared_memory::published;
use crate::shared_memory::reconcile::{self, Compared, NewRows, Seen};
use crate::shared_memory::slots::{self, Shared, SlotState, SlotView, Snapshot};
use crate::shared_memory::spells::Spells;
use crate::spi::catalog;
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

const RESTART_AFTER_CRASH: Duration = Duration::from_secs(10);
const SNAPSHOT_INTERVAL: Duration = Duration::from_secs(1);
/// How long after a failed rebuild the worker tries again.
const REBUILD_RETRY: Duration = Duration::from_secs(10);
/// Rows per write-back transaction, and per fetch while reading the table.
pub(crate) const BATCH_ROWS: usize = 10_000;

pub fn register_when_preloaded() {
    // SAFETY: a plain flag the postmaster sets while it loads shared_preload_libraries.
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    BackgroundWorkerBuilder::new("compute_devices sweeper")
        .set_type("compute_devices sweeper")
        .set_library("compute_devices")
        .set_function("compute_devices_sweeper_main")
        .enable_spi_access()
        .set_restart_time(Some(RESTART_AFTER_CRASH))
        .load();
}

/// What the worker believes the table says about a slot's device, so it writes only changes.
#[derive(Clone, Copy, Default)]
pub(crate) struct TableView {
    /// The slot version this belief follows; a registration or deactivation (which wrote the
    /// row itself) changes the version, and the belief is taken from the slot again.
    pub(crate) version: Option<u32>,
    pub(crate) is_active: bool,
    /// The table's own last_seen: never the beat presumed at the rebuild.
    pub(crate) last_seen: i64,
}

/// One row to write back: slot, is_active, last_seen (None: the table keeps its own, because
/// the slot's beat is the one presumed at the rebuild).
type Change = (u32, bool, Option<i64>);

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn compute_devices_sweeper_main(_argument: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let database = settings::worker_database();
    BackgroundWorker::connect_worker_to_spi(Some(&database), None);
    let shared = slots::attached().expect("the worker runs only where shared memory was set up");
    // SAFETY: MyProc is this worker's PGPROC once it is connected, and lives as long as it.
    shared.set_worker(unsafe { (*pg_sys::MyProc).pgprocno });
    log!("compute_devices sweeper started in database \"{database}\"");

    let mut worker = Worker::new(shared, database);
    while BackgroundWorker::wait_latch(Some(SNAPSHOT_INTERVAL)) {
        reload_settings_after_sighup();
        let _ = worker.tick();
    }
    log!("compute_devices sweeper stopped");
}

fn reload_settings_after_sighup() {
    if BackgroundWorker::sighup_received() {
        // SAFETY: the documented way for a worker to reload postgresql.conf after SIGHUP, called
        // between transactions as PostgreSQL's own workers do.
        unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
    }
}

/// What the worker keeps from one tick to the next.
struct Worker {
    shared: Shared,
    database: String,
    /// The table the slots hold, once they were rebuilt from it.
    served_table: Option<u32>,
    table_views: Vec<TableView>,
    /// Each accelerator inventory's split by model, for the breakdown (inventories never change).
    models_of_inventories: ModelsOfInventories,
    /// The slots' weighed_changes when the expected sums were last counted (breakdown.rs).
    expected_counted_with: Option<u64>,
    new_rows: NewRows,
    compared_at: Instant,
    flush_cursor: FlushCursor,
    last_write_back: Instant,
    reported_missing_extension: bool,
    /// After a failed rebuild (the table outgrew compute_devices.slots, say), wait a while rather
    /// than scan the table every tick.
    retry_rebuild_at: Instant,
    /// The devices' spells online the worker has recorded (spells.rs).
    spells: Spells,
    /// The minute (of the clock, since 2000-01-01) whose history and health were last done.
    minute_done: Option<i64>,
    /// Until a first rebuild has succeeded: it presumes the devices the table marks active beat
    /// when it began serving (see the module comment). Later rebuilds follow a recreated table,
    /// or a spell on the table path whose heartbeats are in the table.
    first_rebuild: FirstRebuild,
}

/// The presumption of the worker's first rebuild, kept until a rebuild succeeds.
#[derive(Clone, Copy)]
enum FirstRebuild {
    NotTried,
    /// Tried and failed (a transient error, say): the retry presumes the same beat, when the
    /// first attempt began serving. A later time would keep devices silent since the failover
    /// for longer than an active window; none would lose the totals the table last had.
    Failed {
        presumed_beat: i64,
    },
    Done,
}

impl Worker {
    fn new(shared: Shared, database: String) -> Worker {
        Worker {
            shared,
            database,
            served_table: None,
            table_views: Vec::new(),
            models_of_inventories: ModelsOfInventories::default(),
            expected_counted_with: None,
            new_rows: NewRows::default(),
            compared_at: Instant::now(),
            flush_cursor: FlushCursor::default(),
            last_write_back: Instant::now(),
            reported_missing_extension: false,
            retry_rebuild_at: Instant::now(),
            first_rebuild: FirstRebuild::NotTried,
            spells: Spells::default(),
            minute_done: None,
        }
    }

    /// One tick, a step at a time; a step that ends the tick early breaks.
    fn tick(&mut self) -> ControlFlow<()> {
        let (table, seen) = self.find_the_table()?;
        if Some(table) == self.served_table {
            if let Some(seen) = seen {
                self.take_in_new_rows(seen)?;
            }
        } else {
            self.rebuild(table)?;
        }
        self.compare_when_due()?;
        self.rebuild_if_inventories_overflowed()?;
        let snapshot = self.count_and_write_back();
        self.publish_totals(&snapshot);
        self.each_minute();
        ControlFlow::Continue(())
    }

    /// Once a minute, in the minute's first tick: the network's totals into its history
    /// (record_network_history(), which also rolls hours up and prunes), then the health of one
    /// part of the devices into their slots (each device's every HEALTH_PARTS minutes), for
    /// get_capacity's expected capacity. Each in its own transaction.
    fn each_minute(&mut self) {
        // SAFETY: reads the clock.
        let minute = unsafe { pg_sys::GetCurrentTimestamp() }.div_euclid(60_000_000);
        if self.minute_done == Some(minute) {
            return;
        }
        self.minute_done = Some(minute);
        let _ = in_transaction(|client, _| {
            if catalog::extension().has_intervals() {
                client.update(&*catalog::statement(RECORD_HISTORY), None, &[])?;
            }
            Ok(())
        });
        let parts = crate::health::HEALTH_PARTS;
        refresh_health(&self.shared, ((minute % i64::from(parts)) as i32, parts));
    }

    /// The extension's table, and how far its slots are numbered. Where the extension is gone,
    /// whatever the slots hold belongs to no table: they are cleared, and the worker idles.
    fn find_the_table(&mut self) -> ControlFlow<(), (u32, Option<Seen>)> {
        let (shared, new_rows) = (&self.shared, &mut self.new_rows);
        let checked =
            in_transaction(|client, table| Ok((table, new_rows.observe(client, shared, table)?)));
        match checked {
            Outcome::Done(found) => {
                self.reported_missing_extension = false;
                ControlFlow::Continue(found)
            }
            // Logged; a failed check says nothing about the table, so keep serving it.
            Outcome::Failed => ControlFlow::Break(()),
            Outcome::ExtensionMissing => {
                if self.served_table.take().is_some() {
                    self.shared.serve_database(pg_sys::Oid::INVALID);
                    self.shared.clear();
                }
                if !self.reported_missing_extension {
                    log!(
                        "compute_devices sweeper: extension not installed in \"{}\"; idle",
                        self.database
                    );
                    self.reported_missing_extension = true;
                }
                ControlFlow::Break(())
            }
        }
    }

    /// A new or recreated table: start again from it.
    fn rebuild(&mut self, table: u32) -> ControlFlow<()> {
        if Instant::now() < self.retry_rebuild_at {
            return ControlFlow::Break(());
        }
        self.shared.serve_database(pg_sys::Oid::INVALID);
        self.shared.clear();
        self.served_table = None;
        self.table_views.clear();
        // Nothing is served now: no slot holds an inventory number and no commit writes one, so
        // the inventories start again from the rows (inventories.rs).
        if let Some(inventories) = inventories::attached() {
            inventories.reset();
        }
        self.models_of_inventories = ModelsOfInventories::default();
        self.spells.reset();
        let presumed_beat = match self.first_rebuild {
            // SAFETY: reads the clock.
            FirstRebuild::NotTried => Some(unsafe { pg_sys::GetCurrentTimestamp() }),
            FirstRebuild::Failed { presumed_beat } => Some(presumed_beat),
            FirstRebuild::Done => None,
        };
        if !start_serving(&self.shared, &mut self.table_views, presumed_beat) {
            if let Some(presumed_beat) = presumed_beat {
                self.first_rebuild = FirstRebuild::Failed { presumed_beat };
            }
            return self.back_to_the_table_path();
        }
        if let Some(presumed_beat) = presumed_beat {
            record_downtime(presumed_beat);
        }
        self.first_rebuild = FirstRebuild::Done;
        self.spells.load(&self.shared);
        self.served_table = Some(table);
        self.new_rows = NewRows::default();
        self.compared_at = Instant::now();
        ControlFlow::Continue(())
    }

    /// An inventory did not fit in shared memory (inventories.rs): back to the table path, whose
    /// answers are right, until the rebuild after REBUILD_RETRY starts the inventories again.
    fn rebuild_if_inventories_overflowed(&mut self) -> ControlFlow<()> {
        if !inventories::attached().is_some_and(|t| t.overflowed()) {
            return ControlFlow::Continue(());
        }
        warning!(
            "compute_devices sweeper: compute_devices.accelerator_inventories is full; serving \
             \"{}\" from the table until the slots are rebuilt (if it happens again, raise it)",
            self.database
        );
        self.back_to_the_table_path()
    }

    /// Rows written around the triggers into newly numbered slots.
    fn take_in_new_rows(&mut self, seen: Seen) -> ControlFlow<()> {
        match self
            .new_rows
            .take_in(&self.shared, seen, &mut self.table_views)
        {
            // A row's slot does not fit: back to the table path, as a rebuild would be.
            Outcome::Done(None) => return self.back_to_the_table_path(),
            Outcome::Done(Some(taken)) if taken > 0 => {
                log!(
                    "compute_devices sweeper: took in {taken} new rows missing from shared \
                     memory (written without the extension's triggers)"
                );
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    /// The whole table against the slots, every reconcile_interval or when resync_liveness()
    /// asks.
    fn compare_when_due(&mut self) -> ControlFlow<()> {
        if self.shared.resyncs_waiting().is_none()
            && self.compared_at.elapsed() < settings::reconcile_interval()
        {
            return ControlFlow::Continue(());
        }
        self.compared_at = Instant::now();
        match compare(&self.shared, &mut self.table_views, None) {
            Outcome::Done(None) => return self.back_to_the_table_path(),
            Outcome::Done(Some(compared)) => report(&compared),
            _ => {}
        }
        ControlFlow::Continue(())
    }

    /// Counts the slots into the totals snapshot and, every sweep_interval, writes back to the
    /// table what heartbeats changed. Returns the snapshot.
    fn count_and_write_back(&mut self) -> Snapshot {
        // Half a tick early rather than a whole tick late: ticks are a second apart, give or take.
        let write_back_due =
            self.last_write_back.elapsed() + SNAPSHOT_INTERVAL / 2 >= settings::sweep_interval();
        let flushing = if write_back_due {
            self.flush_cursor
                .advance(self.shared.high_water(), self.last_write_back.elapsed())
        } else {
            FlushWindow::default()
        };
        // SAFETY: reads the clock.
        let now = unsafe { pg_sys::GetCurrentTimestamp() };
        let changes_counted = self.shared.changes();
        let mut changes = Vec::new();
        let (shared, table_views) = (&self.shared, &mut self.table_views);
        // The expected sums only when what they weigh changed since they were last counted.
        let weighed = shared.weighed_changes();
        let count_expected = self.expected_counted_with != Some(weighed);
        let mut breakdown = Counting::new(count_expected.then_some(weighed));
        let kept = &mut self.models_of_inventories;
        let spells = &mut self.spells;
        let window = settings::active_window_micros();
        let totals = shared.count(now - window, |slot, view, live| {
            breakdown.add(view, live, kept);
            spells.observe(slot, view, live, window);
            let heard = shared.was_heard(view.last_beat).then_some(view.last_beat);
            let belief = view_of(table_views, slot, view, heard);
            if write_back_due {
                let flush = flushing.contains(slot);
                changes.extend(change_for(slot, view, live, belief, heard, flush));
            }
        });
        let snapshot = Snapshot {
            taken_at: now,
            window: settings::active_window_micros(),
            changes: changes_counted,
            totals,
        };
        self.shared.publish(Some(snapshot));
        breakdown.publish(&snapshot);
        if count_expected {
            self.expected_counted_with = Some(weighed);
        }
        self.spells.record(&self.shared);
        if write_back_due {
            self.last_write_back = Instant::now();
            write_back(&mut changes, &mut self.table_views);
        }
        snapshot
    }

    /// The totals into published_totals, for standbys (and for this server's stats until its
    /// slots are ready after a restart or promotion).
    fn publish_totals(&self, snapshot: &Snapshot) {
        let _ = in_transaction(|client, _| published::publish(client, snapshot));
    }

    /// Shared memory no longer serves this database (the slots do not fit the table); the
    /// rebuild is tried again after REBUILD_RETRY. Ends the tick.
    fn back_to_the_table_path(&mut self) -> ControlFlow<()> {
        self.shared.serve_database(pg_sys::Oid::INVALID);
        // The writes record spells from now on; a rebuild reads them back.
        self.spells.reset();
        self.served_table = None;
        let _ = in_transaction(|client, _| published::withdraw(client));
        self.retry_rebuild_at = Instant::now() + REBUILD_RETRY;
        ControlFlow::Break(())
    }
}

/// Claims the slots for this database and rebuilds them: a full comparison with empty slots.
/// Backends use the slots from the claim on, so a registration committing meanwhile is either
/// in the comparison's snapshot or in its slot. With `presumed_beat`, the devices the table
/// marks active count as if they had beaten then (reconcile::compare_all).
fn start_serving(shared: &Shared, views: &mut Vec<TableView>, presumed_beat: Option<i64>) -> bool {
    shared.set_presumed_beat(presumed_beat.unwrap_or(0));
    // SAFETY: MyDatabaseId is set once the worker is connected.
    shared.serve_database(unsafe { pg_sys::MyDatabaseId });
    match compare(shared, views, presumed_beat) {
        Outcome::Done(Some(compared)) => {
            shared.set_ready(true);
            log!(
                "compute_devices sweeper: rebuilt {} device slots in {} ms",
                compared.rows,
                compared.took.as_millis()
            );
            true
        }
        _ => {
            // Retried later, after clearing the slots first.
            shared.serve_database(pg_sys::Oid::INVALID);
            false
        }
    }
}

const RECORD_HISTORY: &str = "SELECT @extschema@.record_network_history()";

/// The health of one part of the devices (`part` of `parts`, src/health) into their slots, in
/// a transaction of its own.
fn refresh_health(shared: &Shared, part: (i32, i32)) {
    let _ = in_transaction(|client, _| crate::health::refresh_health(client, shared, part));
}

/// The first rebuild after a start: the server (or this worker) recorded nothing between the
/// totals it last published before it stopped and now (`presumed_beat`, when the rebuild began),
/// so that time is unknown to uptime (intervals.rs), not held against the devices.
fn record_downtime(presumed_beat: i64) {
    let _ = in_transaction(|client, _| {
        if !catalog::extension().has_intervals() {
            return Ok(());
        }
        let last = client
            .select(&*catalog::statement(published::LAST_PUBLISHED), None, &[])?
            .first()
            .get_one::<TimestampWithTimeZone>()?;
        let Ok(restarted) = TimestampWithTimeZone::try_from(presumed_beat) else {
            return Ok(());
        };
        if let Some(last) = last.filter(|last| last.into_inner() < presumed_beat) {
            client.update(
                &*catalog::statement(crate::intervals::UNKNOWN_PERIOD),
                None,
                &[last.into(), restarted.into()],
            )?;
        }
        Ok(())
    });
}

/// A full comparison of the table with the slots, which also answers the resync_liveness()
/// calls made before it began. When a row's slot does not fit (Done(None)), the database is no
/// longer served from shared memory, before the callers are answered.
fn compare(
    shared: &Shared,
    views: &mut Vec<TableView>,
    presumed_beat: Option<i64>,
) -> Outcome<Option<Compared>> {
    let waiting = shared.resyncs_waiting();
    let compared = reconcile::compare_all(shared, views, presumed_beat);
    let corrections = match &compared {
        Outcome::Done(Some(compared)) => compared.corrections,
        Outcome::Done(None) => {
            shared.serve_database(pg_sys::Oid::INVALID);
            0
        }
        _ => slots::RESYNC_FAILED,
    };
    if let Some(requested) = waiting {
        // A caller of resync_liveness() reads every device's health as of its call too.
        refresh_health(shared, (0, 1));
        shared.finish_resyncs(requested, corrections);
    }
    compared
}

fn report(compared: &Compared) {
    if compared.corrections > 0 {
        log!(
            "compute_devices sweeper: compared {} rows with shared memory in {} ms; {} corrections \
             (rows written without the triggers)",
            compared.rows,
            compared.took.as_millis(),
            compared.corrections
        );
    } else {
        debug1!(
            "compute_devices sweeper: compared {} rows with shared memory in {} ms",
            compared.rows,
            compared.took.as_millis()
        );
    }
}

/// What one of the worker's transactions came to.
pub(crate) enum Outcome<R> {
    Done(R),
    ExtensionMissing,
    /// The transaction failed; the warning is logged.
    Failed,
}

/// Runs one transaction with the search_path pinned to pg_catalog (our own objects are named
/// with their schema), handing the work the extension table's oid.
pub(crate) fn in_transaction<R>(
    work: impl FnOnce(&mut SpiClient<'_>, u32) -> spi::Result<R>,
) -> Outcome<R>
where
    R: 'static,
{
    let work = std::panic::AssertUnwindSafe(work);
    // An ERROR inside (a statement that fails, a lock timeout) aborts the transaction, as
    // PostgreSQL's own workers do, and the tick goes on: the worker does not exit over it.
    let result = PgTryBuilder::new(move || {
        BackgroundWorker::transaction(move || {
            let work = work; // the whole wrapper, not its field, crosses the unwind boundary
            Spi::connect_mut(|client| match extension_table(client)? {
                Some(table) => (work.0)(client, table).map(Outcome::Done),
                None => Ok(Outcome::ExtensionMissing),
            })
        })
        .map_err(|error| error.to_string())
    })
    .catch_others(|caught| {
        // SAFETY: out of the failed transaction, as PostgreSQL's workers do in their PG_CATCH.
        unsafe { pg_sys::AbortOutOfAnyTransaction() };
        Err(match caught {
            pgrx::pg_sys::panic::CaughtError::PostgresError(report)
            | pgrx::pg_sys::panic::CaughtError::ErrorReport(report)
            | pgrx::pg_sys::panic::CaughtError::RustPanic {
                ereport: report, ..
            } => report.message().to_string(),
        })
    })
    .execute();
    result.unwrap_or_else(|error| {
        warning!("compute_devices sweeper: {error}");
        Outcome::Failed
    })
}

/// The extension table's oid, after pinning this transaction's search_path: the worker runs as
/// the bootstrap superuser, so nothing anyone creates may resolve in its statements. A select,
/// not an update: SPI would give the transaction an id (and its commit a WAL flush) for nothing.
fn extension_table(client: &mut SpiClient<'_>) -> spi::Result<Option<u32>> {
    client.select(
        "SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true)",
        None,
        &[],
    )?;
    Ok(catalog::find().map(|extension| extension.table.to_u32()))
}

/// The worker's belief about a slot's row, renewed when someone else rewrote the slot (and the
/// row: its last_seen is the slot's beat, unless that beat is the presumed one, which no writer
/// puts in the row).
fn view_of(
    views: &mut Vec<TableView>,
    slot: u32,
    view: &SlotView,
    heard: Option<i64>,
) -> TableView {
    let index = slot as usize;
    if views.len() <= index {
        views.resize(index + 1, TableView::default());
    }
    let belief = &mut views[index];
    if belief.version != Some(view.version) {
        *belief = TableView {
            version: Some(view.version),
            is_active: view.state == SlotState::Registered,
            last_seen: heard.unwrap_or(belief.last_seen),
        };
    }
    *belief
}

/// Which slots get their last_seen written back: a window that sweeps every slot once per
/// `last_seen_flush_interval`, a slice each write-back sized by the time since the last one (so
/// a slow tick takes a bigger slice). Slots follow insertion order, and so roughly the table's
/// pages: each page is rewritten (and after a checkpoint, logged whole) about once per interval,
/// not once per device on it.
#[derive(Default)]
struct FlushCursor {
    next: u32,
}

impl FlushCursor {
    /// The next window, wrapping around past the last slot (new slots keep being added there,
    /// and the window must still come back to the first ones).
    fn advance(&mut self, slots: u32, elapsed: Duration) -> FlushWindow {
        let interval = settings::last_seen_flush_interval().as_millis().max(1);
        let share = (u128::from(slots) * elapsed.as_millis()).div_ceil(interval);
        let len = u32::try_from(share.max(1)).unwrap_or(u32::MAX).min(slots);
        let start = if slots == 0 { 0 } else { self.next % slots };
        self.next = if slots == 0 {
            0
        } else {
            ((u64::from(start) + u64::from(len)) % u64::from(slots)) as u32
        };
        FlushWindow { start, len, slots }
    }
}

/// `len` slots from `start`, modulo `slots`.
#[derive(Default)]
struct FlushWindow {
    start: u32,
    len: u32,
    slots: u32,
}

impl FlushWindow {
    fn contains(&self, slot: u32) -> bool {
        slot < self.slots && (slot + self.slots - self.start) % self.slots < self.len
    }
}

/// What, if anything, the table needs for this slot: a liveness change, or (when its turn to
/// `flush` has come) a fresher last_seen. `heard` is the slot's beat, unless it is the one
/// presumed at the rebuild: that one is never written.
fn change_for(
    slot: u32,
    view: &SlotView,
    live: bool,
    table: TableView,
    heard: Option<i64>,
    flush: bool,
) -> Option<Change> {
    if view.state != SlotState::Registered {
        return None; // stopped or gone: the writer that did it also wrote the row
    }
    let stale_last_seen = flush && live && heard.is_some_and(|at| at > table.last_seen);
    (live != table.is_active || stale_last_seen).then_some((slot, live, heard))
}

/// A NULL last_seen keeps the row's (GREATEST ignores NULLs).
const WRITE_BACK: &str = "
    UPDATE @extschema@.compute_devices AS d
       SET is_active = c.is_active, last_seen = GREATEST(d.last_seen, c.last_seen)
      FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.int4[]),
                      pg_catalog.unnest($2::pg_catalog.bool[]),
                      pg_catalog.unnest($3::pg_catalog.timestamptz[]))
           AS c(slot, is_active, last_seen)
     WHERE d.slot OPERATOR(pg_catalog.=) c.slot AND d.deactivated_at IS NULL";

/// Writes the changes in short transactions, and remembers what each one wrote. Each
/// transaction takes every STRIDE-th slot only: a page holds a few dozen consecutive slots, and
/// it has room (fillfactor) for only a few new row versions before the transaction that made
/// them ends. More than that on one page, and the rest stop being HOT updates.
fn write_back(changes: &mut [Change], views: &mut [TableView]) {
    const STRIDE: u32 = 16;
    changes.sort_unstable_by_key(|(slot, ..)| (slot % STRIDE, *slot));
    let strided = changes.chunk_by(|(a, ..), (b, ..)| a % STRIDE == b % STRIDE);
    for batch in strided.flat_map(|group| group.chunks(BATCH_ROWS)) {
        let slots: Vec<i32> = batch.iter().map(|(slot, ..)| *slot as i32).collect();
        let active: Vec<bool> = batch.iter().map(|(_, live, _)| *live).collect();
        let seen: Vec<Option<TimestampWithTimeZone>> = batch
            .iter()
            .map(|(.., at)| at.and_then(|at| TimestampWithTimeZone::try_from(at).ok()))
            .collect();
        let written = in_transaction(move |client, _| {
            client.update(
                &*catalog::statement(WRITE_BACK),
                None,
                &[slots.into(), active.into(), seen.into()],
            )?;
            Ok(())
        });
        if !matches!(written, Outcome::Done(())) {
            return; // retried at the next write-back, from the same beliefs
        }
        for (slot, live, at) in batch {
            if let Some(view) = views.get_mut(*slot as usize) {
                view.is_active = *live;
                view.last_seen = view.last_seen.max(at.unwrap_or(i64::MIN));
            }
        }
        debug1!(
            "compute_devices sweeper wrote {} liveness changes",
            batch.len()
        );
    }
}
