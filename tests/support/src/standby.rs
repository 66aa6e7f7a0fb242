//! A streaming standby of a test's `Cluster`: a copy made with pg_basebackup (recovery
//! configuration written, so it streams from the primary), run by tests/cluster.sh on a free
//! port, and promoted with pg_ctl. Used by the standby tests of the extension and the gateway's
//! failover test.

use crate::cluster::{Cluster, SCRIPT};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Standby {
    /// The data directory; the server's log is `server.log` in it.
    pub data: PathBuf,
    root: PathBuf,
    port: u16,
}

impl Standby {
    /// Copies `primary` (running) with pg_basebackup and starts the copy as its hot standby.
    pub fn of(primary: &Cluster) -> Standby {
        let mut root = primary.root().as_os_str().to_owned();
        root.push("-standby");
        let root = PathBuf::from(root);
        let copied = as_server(
            r#"rm -rf "$1"; mkdir -p "$1"; if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$1"; fi
               "${as_server[@]}" "$(pg_config --bindir)/pg_basebackup" -h localhost -p "$2" \
                   -U postgres -D "$1/data" --write-recovery-conf --wal-method=stream --checkpoint=fast"#,
            &[root.to_str().unwrap(), &primary.port().to_string()],
        );
        assert!(copied, "pg_basebackup into {root:?}");
        let started = Command::new(SCRIPT)
            .arg("start")
            .arg(&root)
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        assert!(started.status.success(), "the standby starts");
        let port = String::from_utf8(started.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        Standby {
            data: root.join("data"),
            root,
            port,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Promotes it to a primary (pg_ctl promote) and waits until it takes writes
    /// (pg_is_in_recovery() is false).
    pub fn promote(&self) {
        let promoted = as_server(
            r#""${as_server[@]}" "$(pg_config --bindir)/pg_ctl" -w -D "$1" promote >/dev/null"#,
            &[self.data.to_str().unwrap()],
        );
        assert!(promoted, "pg_ctl promote {:?}", self.data);
        let mut admin = crate::connect(self.port, "postgres", "postgres");
        let deadline = Instant::now() + Duration::from_secs(30);
        while admin
            .query_one("SELECT pg_catalog.pg_is_in_recovery()", &[])
            .unwrap()
            .get::<_, bool>(0)
        {
            assert!(Instant::now() < deadline, "the standby leaves recovery");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Standby {
    fn drop(&mut self) {
        let _ = Command::new(SCRIPT)
            .arg("stop")
            .arg(&self.root)
            .arg("immediate")
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Runs a bash `script` (arguments `$1`...) in which `"${as_server[@]}"` runs a command as the
/// server's user: `postgres` when the tests run as root (PostgreSQL refuses root), else as is.
/// True if it succeeded.
fn as_server(script: &str, args: &[&str]) -> bool {
    Command::new("bash")
        .arg("-c")
        .arg(format!(
            r#"set -e; as_server=(); if [ "$(id -u)" -eq 0 ]; then as_server=(sudo -u postgres); fi
               {script}"#
        ))
        .arg("as_server")
        .args(args)
        .status()
        .unwrap()
        .success()
}
