//! A streaming standby of a test's `Cluster`: a copy made with pg_basebackup, set to stream from
//! it, run by tests/cluster.sh on a free port, and promoted with it. Used by the extension's
//! standby test and the gateway's failover test.

use crate::cluster::{self, Cluster};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub struct Standby {
    /// The data directory; the server's log is `server.log` in it.
    pub data: PathBuf,
    root: PathBuf,
    port: u16,
}

impl Standby {
    /// Copies `primary` (running) and starts the copy as its hot standby.
    pub fn of(primary: &Cluster) -> Standby {
        let mut root = primary.root().as_os_str().to_owned();
        root.push("-standby");
        let root = PathBuf::from(root);
        let primary_port = primary.port().to_string();
        let copied = cluster::script("standby", &root, &[&primary_port]);
        assert!(copied.status.success(), "pg_basebackup into {root:?}");
        let port = cluster::start(&root, &[]);
        Standby {
            data: root.join("data"),
            root,
            port,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Promotes it to a primary and waits until it takes writes (pg_is_in_recovery() is false).
    pub fn promote(&self) {
        let promoted = cluster::script("promote", &self.root, &[]);
        assert!(promoted.status.success(), "{:?} is promoted", self.root);
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
        cluster::stop(&self.root, "immediate");
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
