//! A throwaway PostgreSQL cluster of one test's own, with compute_devices preloaded, made and run
//! by tests/cluster.sh (as `postgres` when the tests run as root: PostgreSQL refuses root). It
//! starts on a free port, so test runs side by side do not collide. Used by the crash, slots and
//! other cluster tests, the gateway's end-to-end tests and the agent's.

use std::cell::Cell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../cluster.sh");

pub struct Cluster {
    /// The data directory; the server's log is `server.log` in it.
    pub data: PathBuf,
    root: PathBuf,
    /// 0 until the first start, which picks it; a restart keeps it.
    port: Cell<u16>,
}

impl Cluster {
    /// A new cluster in a directory of this process's own, with `conf` appended to
    /// postgresql.conf after the common lines (listen, socket, preload).
    pub fn init(name: &str, conf: &str) -> Cluster {
        let root =
            std::env::temp_dir().join(format!("compute_devices-{name}-{}", std::process::id()));
        let mut init = Command::new(SCRIPT)
            .arg("init")
            .arg(&root)
            .arg("/dev/stdin")
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        init.stdin
            .take()
            .unwrap()
            .write_all(format!("{conf}\n").as_bytes())
            .unwrap();
        assert!(init.wait().unwrap().success(), "initdb in {root:?}");
        Cluster {
            data: root.join("data"),
            root,
            port: Cell::new(0),
        }
    }

    /// The port it listens on, once started.
    pub fn port(&self) -> u16 {
        let port = self.port.get();
        assert_ne!(port, 0, "the cluster has started");
        port
    }

    /// The directory it lives in (its data directory is `data` in it).
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Starts the server (the first time on a free port, then on the same one); after a
    /// crash, old backends may hold the shared memory for a moment: it waits for them.
    pub fn start(&self) {
        self.start_with_env(&[]);
    }

    /// Starts the server with these variables in its environment.
    pub fn start_with_env(&self, env: &[(&str, &str)]) {
        self.port.set(start(&self.root, env));
    }

    /// A clean, fast shutdown: connections are cut, nothing is lost.
    pub fn stop(&self) {
        assert!(stop(&self.root, "fast").success(), "the server stops");
    }

    /// A crash as far as the data is concerned (pg_ctl stop -m immediate): the server stops at
    /// once, without a checkpoint, and a restart recovers from the WAL.
    pub fn stop_immediate(&self) {
        assert!(stop(&self.root, "immediate").success(), "the server stops");
    }

    /// Creates `database` with Supabase's roles and the extension, and waits until the worker
    /// serves it from shared memory (the conf given to `init` names it): a superuser connection.
    pub fn serve(&self, database: &str) -> postgres::Client {
        let mut admin = crate::connect(self.port(), "postgres", "postgres");
        admin.batch_execute(crate::SUPABASE_ROLES).unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {database}"))
            .unwrap();
        let mut superuser = crate::connect(self.port(), "postgres", database);
        superuser
            .batch_execute("CREATE EXTENSION compute_devices")
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if crate::liveness_path(&mut superuser) == "shared memory" {
                return superuser;
            }
            assert!(Instant::now() < deadline, "the worker serves {database}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn kill_postmaster(&self) {
        let pid_file = std::fs::read_to_string(self.data.join("postmaster.pid")).unwrap();
        let pid = pid_file.lines().next().unwrap().trim().to_string();
        assert!(Command::new("kill")
            .args(["-9", &pid])
            .status()
            .unwrap()
            .success());
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        stop(&self.root, "immediate");
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Runs tests/cluster.sh `action` on the cluster in `root` with these arguments: its output.
pub(crate) fn script(action: &str, root: &Path, args: &[&str]) -> Output {
    Command::new(SCRIPT)
        .arg(action)
        .arg(root)
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .unwrap()
}

/// Starts the server in `root` with these variables in its environment: its port.
pub(crate) fn start(root: &Path, env: &[(&str, &str)]) -> u16 {
    let env: Vec<String> = env
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    let env: Vec<&str> = env.iter().map(String::as_str).collect();
    let started = script("start", root, &env);
    assert!(started.status.success(), "the server in {root:?} starts");
    String::from_utf8(started.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Stops the server in `root` (pg_ctl's `mode`), quietly: a stopped one stays so.
pub(crate) fn stop(root: &Path, mode: &str) -> ExitStatus {
    Command::new(SCRIPT)
        .arg("stop")
        .arg(root)
        .arg(mode)
        .stderr(Stdio::null())
        .status()
        .unwrap()
}

/// The port of a test binary's one cluster, for the helpers that connect to it: a static, set
/// once the cluster has started (only then is its port known).
pub struct ClusterPort(OnceLock<u16>);

impl ClusterPort {
    pub const fn new() -> ClusterPort {
        ClusterPort(OnceLock::new())
    }

    pub fn set(&self, cluster: &Cluster) {
        let port = *self.0.get_or_init(|| cluster.port());
        assert_eq!(port, cluster.port(), "one cluster per ClusterPort");
    }

    pub fn get(&self) -> u16 {
        *self.0.get().expect("the cluster has started")
    }
}

impl Default for ClusterPort {
    fn default() -> ClusterPort {
        ClusterPort::new()
    }
}
