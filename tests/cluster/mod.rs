#![allow(dead_code)] // shared by test binaries that each use a part
//! A throwaway PostgreSQL cluster of one test's own, with compute_devices preloaded, run by
//! `postgres` when the tests run as root (PostgreSQL refuses root). Used by the crash test and
//! by the gateway's end-to-end tests, which stop and kill it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Cluster {
    pub port: u16,
    pub data: PathBuf,
    bin: PathBuf,
}

impl Cluster {
    /// initdb, with `conf` appended to postgresql.conf after the port, socket and preload lines.
    pub fn init(name: &str, port: u16, conf: &str) -> Cluster {
        let bindir = Command::new("pg_config").arg("--bindir").output().unwrap();
        let bin = PathBuf::from(String::from_utf8(bindir.stdout).unwrap().trim());
        let root =
            std::env::temp_dir().join(format!("compute_devices-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        if is_root() {
            assert!(Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&root)
                .status()
                .unwrap()
                .success());
        }
        let cluster = Cluster {
            port,
            data: root.join("data"),
            bin,
        };
        let initdb = cluster
            .command("initdb")
            .args(["--auth=trust", "--username=postgres", "-D"])
            .arg(&cluster.data)
            .output()
            .unwrap();
        assert!(initdb.status.success(), "initdb: {initdb:?}");
        let conf = format!(
            "port = {port}\nlisten_addresses = 'localhost'\nunix_socket_directories = '{}'\n\
             shared_preload_libraries = 'compute_devices'\n{conf}\n",
            root.display()
        );
        append(&cluster.data.join("postgresql.conf"), &conf);
        cluster
    }

    fn command(&self, program: &str) -> Command {
        self.command_with_env(program, &[])
    }

    /// `program` with these variables in its environment (sudo would drop them: `env` sets them).
    fn command_with_env(&self, program: &str, env: &[(&str, &str)]) -> Command {
        let program = self.bin.join(program);
        let mut command = if is_root() {
            let mut command = Command::new("sudo");
            command.args(["-u", "postgres", "env"]);
            command
        } else {
            Command::new("env")
        };
        command.args(env.iter().map(|(name, value)| format!("{name}={value}")));
        command.arg(program);
        command
    }

    /// Starts the server; after a crash, old backends may hold the shared memory for a moment.
    pub fn start(&self) {
        self.start_with_env(&[]);
    }

    /// Starts the server with these variables in its environment.
    pub fn start_with_env(&self, env: &[(&str, &str)]) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let started = self
                .command_with_env("pg_ctl", env)
                .args(["-w", "-l"])
                .arg(self.data.join("server.log"))
                .arg("-D")
                .arg(&self.data)
                .arg("start")
                .status()
                .unwrap()
                .success();
            if started {
                return;
            }
            assert!(Instant::now() < deadline, "the server starts");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A clean, fast shutdown: connections are cut, nothing is lost.
    pub fn stop(&self) {
        let stopped = self
            .command("pg_ctl")
            .args(["-w", "-m", "fast", "-D"])
            .arg(&self.data)
            .arg("stop")
            .status()
            .unwrap();
        assert!(stopped.success(), "the server stops");
    }

    /// Creates `database` with Supabase's roles and the extension, and waits until the worker
    /// serves it from shared memory (the conf given to `init` names it): a superuser connection.
    pub fn serve(&self, database: &str) -> postgres::Client {
        let connect = |dbname: &str| {
            let config = format!(
                "host=localhost port={} user=postgres dbname={dbname}",
                self.port
            );
            postgres::Client::connect(&config, postgres::NoTls).unwrap()
        };
        let mut admin = connect("postgres");
        admin
            .batch_execute(
                "CREATE ROLE anon NOLOGIN; CREATE ROLE authenticated NOLOGIN;
                 CREATE ROLE service_role NOLOGIN; CREATE ROLE authenticator LOGIN NOINHERIT;
                 GRANT anon, authenticated, service_role TO authenticator;",
            )
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {database}"))
            .unwrap();
        let mut superuser = connect(database);
        superuser
            .batch_execute("CREATE EXTENSION compute_devices")
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let path: String = superuser
                .query_one("SELECT path FROM liveness_status()", &[])
                .unwrap()
                .get(0);
            if path == "shared memory" {
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
        let _ = self
            .command("pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(&self.data)
            .arg("stop")
            .output();
        if let Some(root) = self.data.parent() {
            let _ = std::fs::remove_dir_all(root);
        }
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| out.stdout == b"0\n")
        .unwrap_or(false)
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}
