//! kill -9 of the postmaster under heartbeat load, on a cluster of this test's own: nothing
//! durable is lost (every acknowledged registration and deactivation is there after the
//! restart), liveness loses at most what `last_seen_flush_interval` bounds, and as soon as the
//! worker has rebuilt the slots the network stats count every device the table marks active,
//! without a heartbeat, although the server was down for longer than the active window (short
//! here). And a first rebuild that fails keeps its presumption for the retry.

mod common;

use common::{connect, eventually, liveness_path, Caller, PostgRest, GOOD_SPECS};
use compute_devices_test_support::{Cluster, ClusterPort};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

static PORT: ClusterPort = ClusterPort::new();
const DATABASE: &str = "crash";
const FLUSH_SECONDS: u64 = 2;
const SWEEP_SECONDS: u64 = 1;
/// Long enough for the devices to beat within it under load, short enough that the heartbeats
/// the crash loses take some of them past it by the time the server is back.
const WINDOW_SECONDS: u64 = 10;

fn postgrest() -> PostgRest {
    PostgRest {
        client: connect(PORT.get(), "authenticator", DATABASE),
    }
}

fn user(n: usize) -> String {
    format!("{n:08}-0000-4000-8000-000000000000")
}

/// One cluster at a time: both tests are timed against their active windows.
static TURN: Mutex<()> = Mutex::new(());

#[test]
fn a_crash_loses_only_liveness_and_stats_recover() {
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // The pgrx test framework installs the extension we are about to load.
    common::TestDb::empty("crash_install", vec![]);
    let cluster = Cluster::init(
        "crash",
        &format!(
            "compute_devices.database = '{DATABASE}'\n\
             compute_devices.active_window = '{WINDOW_SECONDS}s'\n\
             compute_devices.sweep_interval = '{SWEEP_SECONDS}s'\n\
             compute_devices.last_seen_flush_interval = '{FLUSH_SECONDS}s'"
        ),
    );
    cluster.start();
    PORT.set(&cluster);
    cluster.serve(DATABASE);

    // What the clients were told, before the crash.
    let registered = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let deactivated = Arc::new(Mutex::new(Vec::<String>::new()));
    let beats = Arc::new(Mutex::new(Vec::<(String, SystemTime)>::new()));
    let mut api = postgrest();
    for i in 0..40 {
        let owner = user(i % 8);
        let id: String = api
            .register(Caller::User(&owner), &format!("d{i}"), "laptop", GOOD_SPECS)
            .unwrap()
            .get(0);
        registered.lock().unwrap().push((owner, id));
    }

    let running = Arc::new(AtomicBool::new(true));
    let mut load = Vec::new();
    for worker in 0..3 {
        let (registered, beats, running) = (registered.clone(), beats.clone(), running.clone());
        load.push(std::thread::spawn(move || {
            let mut api = postgrest();
            let mut n = worker;
            while running.load(Ordering::Relaxed) {
                let (owner, id) = {
                    let devices = registered.lock().unwrap();
                    devices[n % devices.len()].clone()
                };
                n += 7;
                let sent = SystemTime::now();
                match api.heartbeat(Caller::User(&owner), &id) {
                    Ok(_) => {
                        beats.lock().unwrap().push((id, sent));
                    }
                    Err(error) if error.as_db_error().is_some() => {} // stopped meanwhile
                    Err(_) => return,                                 // the server is gone
                }
            }
        }));
    }
    {
        let (registered, deactivated, running) =
            (registered.clone(), deactivated.clone(), running.clone());
        load.push(std::thread::spawn(move || {
            let mut api = postgrest();
            let mut i = 100;
            while running.load(Ordering::Relaxed) {
                let owner = user(i % 8);
                let Ok(row) = api.register(
                    Caller::User(&owner),
                    &format!("late{i}"),
                    "phone",
                    GOOD_SPECS,
                ) else {
                    return;
                };
                let id: String = row.get(0);
                registered.lock().unwrap().push((owner.clone(), id.clone()));
                if i % 3 == 0 {
                    if api.deactivate(Caller::User(&owner), &id).is_err() {
                        return;
                    }
                    deactivated.lock().unwrap().push(id);
                }
                i += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
        }));
    }
    std::thread::sleep(Duration::from_secs(2 * (FLUSH_SECONDS + SWEEP_SECONDS) + 3));
    // The devices the table marks active (and not stopped) just before the crash, and how far
    // the clients had been told of registrations and deactivations before this read.
    let told_before_the_read = (
        registered.lock().unwrap().len(),
        deactivated.lock().unwrap().len(),
    );
    let read_at = SystemTime::now();
    let active_before = active_devices(&mut connect(PORT.get(), "postgres", DATABASE));
    let killed_at = SystemTime::now();
    cluster.kill_postmaster();
    std::thread::sleep(Duration::from_millis(500));
    running.store(false, Ordering::Relaxed);
    for thread in load {
        thread.join().unwrap();
    }
    // Down for a whole active window: every last_seen the table kept is out of it by the time
    // the server is back.
    std::thread::sleep(Duration::from_secs(WINDOW_SECONDS));
    let crashed_at = SystemTime::now();
    cluster.start();

    // Stats first: once the worker has rebuilt the slots, every device the table marks active
    // (and not stopped) counts, presumed to have beaten at the rebuild: what the old server last
    // wrote back, within sweep_interval of the crash. No heartbeat is needed, although every
    // last_seen the table kept is out of the window. Read within an active window of the
    // restart, before any device could go stale on this server.
    let mut superuser = connect(PORT.get(), "postgres", DATABASE);
    let serving = eventually(Duration::from_secs(WINDOW_SECONDS / 2), || {
        liveness_path(&mut superuser) == "shared memory"
    });
    assert!(serving, "the worker serves again");
    let active_after = active_devices(&mut superuser);
    let expected = active_after.len() as i64;
    let outside_the_window: i64 = superuser
        .query_one(
            "SELECT count(*) FROM compute_devices
              WHERE is_active AND deactivated_at IS NULL
                AND last_seen < now() - make_interval(secs => $1)",
            &[&(WINDOW_SECONDS as f64)],
        )
        .unwrap()
        .get(0);
    let mut api = postgrest();
    let recovered = eventually(Duration::from_secs(3), || {
        api.stats(Caller::Anon).unwrap().0 == expected
    });
    let stats = api.stats(Caller::Anon);
    assert!(
        crashed_at.elapsed().unwrap() < Duration::from_secs(WINDOW_SECONDS),
        "read within an active window of the restart"
    );
    assert!(recovered, "stats recovered: {stats:?}, expected {expected}");
    assert_eq!(outside_the_window, expected, "down for a whole window");
    // And `expected` is what the table said at the crash: the devices active before it, but
    // for those whose liveness may have changed since the read (stopped, or silent long enough
    // to go stale at the last sweeps; registered, or heard again).
    let (registered_before, deactivated_before) = told_before_the_read;
    let beat_since = |since: SystemTime| -> HashSet<String> {
        let beats = beats.lock().unwrap();
        beats
            .iter()
            .filter(|(_, sent)| *sent >= since)
            .map(|(id, _)| id.clone())
            .collect()
    };
    let kept_live = beat_since(killed_at - Duration::from_secs(WINDOW_SECONDS - SWEEP_SECONDS - 2));
    let heard_after_the_read = beat_since(read_at - Duration::from_secs(1));
    let stopped_after_the_read: HashSet<String> = deactivated.lock().unwrap()[deactivated_before..]
        .iter()
        .cloned()
        .collect();
    let registered_after_the_read: HashSet<String> = registered.lock().unwrap()
        [registered_before..]
        .iter()
        .map(|(_, id)| id.clone())
        .collect();
    let must_stay: Vec<&String> = active_before
        .iter()
        .filter(|id| kept_live.contains(*id) && !stopped_after_the_read.contains(*id))
        .collect();
    assert!(
        must_stay.len() > 10 && expected >= must_stay.len() as i64,
        "{} devices active before the crash must count, {expected} do",
        must_stay.len()
    );
    for id in &must_stay {
        assert!(active_after.contains(*id), "{id} was active at the crash");
    }
    for id in &active_after {
        assert!(
            active_before.contains(id)
                || registered_after_the_read.contains(id)
                || heard_after_the_read.contains(id),
            "{id} is active after the crash, not before"
        );
    }
    spells_survive_and_the_downtime_is_unknown(&mut superuser, &must_stay, killed_at, crashed_at);

    let rows = superuser
        .query("SELECT id::text, deactivated_at IS NOT NULL, extract(epoch FROM last_seen)::float8 FROM compute_devices", &[])
        .unwrap();
    let after: HashMap<String, (bool, f64)> = rows
        .iter()
        .map(|row| (row.get(0), (row.get(1), row.get(2))))
        .collect();
    let registered = registered.lock().unwrap().clone();
    let deactivated = deactivated.lock().unwrap().clone();
    assert!(
        registered.len() > 40 && !deactivated.is_empty(),
        "there was load to lose"
    );
    for (_, id) in &registered {
        assert!(
            after.contains_key(id),
            "acknowledged registration {id} survived"
        );
    }
    for id in &deactivated {
        assert!(after[id].0, "acknowledged deactivation of {id} survived");
    }
    // Liveness: only heartbeats of the last flush interval (plus the write-back cadence that
    // carries them, and two seconds for ticks, clocks and commit) may be lost. Every device's
    // last acknowledged heartbeat before that is in last_seen.
    let bound = Duration::from_secs(FLUSH_SECONDS + SWEEP_SECONDS + 2);
    let cutoff = killed_at - bound;
    let mut kept: HashMap<String, SystemTime> = HashMap::new();
    for (id, sent) in beats
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, sent)| *sent <= cutoff)
    {
        let latest = kept.entry(id.clone()).or_insert(*sent);
        *latest = (*latest).max(*sent);
    }
    assert!(
        kept.len() > 10,
        "heartbeats old enough to be kept: {}",
        kept.len()
    );
    for (id, sent) in &kept {
        let sent = sent
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let (stopped, last_seen) = after[id];
        if !(stopped || last_seen >= sent - 0.01) {
            let log = std::fs::read_to_string(cluster.data.join("server.log")).unwrap_or_default();
            let slot: i32 = superuser
                .query_one(
                    "SELECT slot FROM compute_devices WHERE id = $1::text::uuid",
                    &[id],
                )
                .unwrap()
                .get(0);
            let early = registered.iter().position(|(_, r)| r == id);
            panic!("{id} (slot {slot}, registered #{early:?}): the heartbeat of {sent} was lost (last_seen {last_seen}), {bound:?} before the crash at {:?}\n{}", killed_at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs_f64(), log.lines().filter(|l| l.contains("sweeper") || l.contains("WARNING")).take(40).collect::<Vec<_>>().join("\n"));
        }
    }
    assert!(crashed_at.elapsed().unwrap() < Duration::from_secs(60));
}

/// Online intervals and the server's downtime (README, Durability): a device live across the
/// crash keeps its spell open (the crash does not end it), and the time the server was down is
/// recorded as unknown, from the worker's last published second before the kill to its first
/// rebuild after the restart, so uptime does not count it against anyone.
fn spells_survive_and_the_downtime_is_unknown(
    superuser: &mut postgres::Client,
    live_across: &[&String],
    killed_at: SystemTime,
    restarted_at: SystemTime,
) {
    let epoch = |at: SystemTime| {
        at.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let ids: Vec<String> = live_across.iter().map(|id| id.to_string()).collect();
    let mut open = || -> i64 {
        superuser
            .query_one(
                "SELECT count(DISTINCT device_id) FROM online_intervals
                  WHERE device_id = ANY ($1::text[]::uuid[]) AND ended_at IS NULL",
                &[&ids],
            )
            .unwrap()
            .get(0)
    };
    // (A device registered in the crash's last second has its spell opened by the first tick
    // after the rebuild.)
    let all_open = eventually(Duration::from_secs(3), || open() == ids.len() as i64);
    assert!(
        all_open,
        "live across the crash, spells still open: {} of {}",
        open(),
        ids.len()
    );
    let closed_by_the_crash: i64 = superuser
        .query_one(
            "SELECT count(*) FROM online_intervals
              WHERE device_id = ANY ($1::text[]::uuid[])
                AND ended_at BETWEEN to_timestamp($2) AND to_timestamp($3)",
            &[&ids, &(epoch(killed_at) - 1.0), &epoch(restarted_at)],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        closed_by_the_crash, 0,
        "no spell of theirs ends at the crash"
    );
    let unknown = superuser
        .query(
            "SELECT extract(epoch FROM started_at)::float8, extract(epoch FROM ended_at)::float8
               FROM unknown_periods",
            &[],
        )
        .unwrap();
    assert_eq!(unknown.len(), 1, "one unknown period: the downtime");
    let (from, until): (f64, f64) = (unknown[0].get(0), unknown[0].get(1));
    // The totals are published every second, committed without waiting for their WAL flush
    // (which the WAL writer does within a fraction of a second).
    assert!(
        (epoch(killed_at) - 3.0..=epoch(killed_at)).contains(&from),
        "unknown from the last second published before the kill: {from} vs {:?}",
        epoch(killed_at)
    );
    assert!(
        (epoch(restarted_at)..=epoch(restarted_at) + 10.0).contains(&until),
        "unknown until the first rebuild after the restart: {until} vs {:?}",
        epoch(restarted_at)
    );
}

/// The worker's first rebuild after a restart fails (a row's slot does not fit the slots the
/// server now has, until that row is deleted): its retry, REBUILD_RETRY later, still presumes
/// the devices the table marks active to have beaten when the first attempt began serving.
/// Their last_seen (set an hour back before the restart) is out of the window; with no
/// presumption they would not count.
#[test]
fn a_failed_first_rebuild_keeps_its_presumption() {
    const SERVED: &str = "first_rebuild";
    const DEVICES: usize = 5;
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    common::TestDb::empty("first_rebuild_install", vec![]);
    let cluster = Cluster::init(
        "first_rebuild",
        &format!(
            "compute_devices.database = '{SERVED}'\n\
             compute_devices.active_window = '60s'"
        ),
    );
    cluster.start();
    let port = cluster.port();
    let mut superuser = cluster.serve(SERVED);
    let mut api = PostgRest {
        client: connect(port, "authenticator", SERVED),
    };
    for i in 0..=DEVICES {
        api.register(
            Caller::User(&user(i)),
            &format!("d{i}"),
            "laptop",
            GOOD_SPECS,
        )
        .unwrap();
    }
    // Slots are numbered from 0: the last device's does not fit once the server has DEVICES.
    superuser
        .batch_execute("UPDATE compute_devices SET last_seen = now() - interval '1 hour'")
        .unwrap();
    superuser
        .batch_execute(&format!(
            "ALTER SYSTEM SET compute_devices.slots = {DEVICES}"
        ))
        .unwrap();
    drop((api, superuser));
    let log = cluster.data.join("server.log");
    let before_restart = std::fs::read_to_string(&log).unwrap().len();
    cluster.stop();
    cluster.start();
    let since_restart = || std::fs::read_to_string(&log).unwrap()[before_restart..].to_string();
    let failed = eventually(Duration::from_secs(30), || {
        since_restart().contains(&format!("device slot {DEVICES} does not fit"))
    });
    assert!(failed, "the first rebuild failed:\n{}", since_restart());
    let mut superuser = connect(port, "postgres", SERVED);
    let deleted = superuser
        .execute(
            "DELETE FROM compute_devices WHERE slot >= $1",
            &[&(DEVICES as i32)],
        )
        .unwrap();
    assert_eq!(deleted, 1);
    let stale_in_the_table: i64 = superuser
        .query_one(
            "SELECT count(*) FROM compute_devices
              WHERE is_active AND last_seen < now() - interval '1 minute'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(stale_in_the_table, DEVICES as i64);
    // The retry comes REBUILD_RETRY (10 s) after the failure.
    let served = eventually(Duration::from_secs(30), || {
        liveness_path(&mut superuser) == "shared memory"
    });
    assert!(served, "the retry serves:\n{}", since_restart());
    let mut api = PostgRest {
        client: connect(port, "authenticator", SERVED),
    };
    let counted = eventually(Duration::from_secs(3), || {
        api.stats(Caller::Anon).unwrap().0 == DEVICES as i64
    });
    assert!(
        counted,
        "the retry presumed the beat: {:?}\n{}",
        api.stats(Caller::Anon),
        since_restart()
    );
    cluster.stop();
}

/// The devices the table marks active and not stopped.
fn active_devices(superuser: &mut postgres::Client) -> HashSet<String> {
    superuser
        .query(
            "SELECT id::text FROM compute_devices WHERE is_active AND deactivated_at IS NULL",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}
