#![allow(dead_code)] // shared by the fuzz and sqlsmith test binaries, which each use a part
//! What the fuzz tests share: a small seeded PRNG, and reading a server log (written with
//! `SERVER_LOG_CONF`) for crashed backends and for internal errors the extension raised.

/// postgresql.conf lines for a cluster whose log is read by `server_log_problems`: every
/// error with its SQLSTATE, its source location and the statement that caused it.
pub const SERVER_LOG_CONF: &str = "log_error_verbosity = verbose\n\
     log_min_error_statement = error\n\
     log_line_prefix = '%m [%p] '";

/// SplitMix64: tiny, fast, and the same sequence for the same seed on every platform.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True once in `n` times.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// An index chosen by weight: `weights[i]` in `sum(weights)` times.
    pub fn weighted(&mut self, weights: &[usize]) -> usize {
        let mut roll = self.below(weights.iter().sum());
        for (i, weight) in weights.iter().enumerate() {
            if roll < *weight {
                return i;
            }
            roll -= weight;
        }
        unreachable!("roll < sum(weights)")
    }
}

/// The seed: `var` from the environment (decimal, or hex with 0x), or `default`.
pub fn seed_from_env(var: &str, default: u64) -> u64 {
    match std::env::var(var) {
        Ok(text) => {
            let text = text.trim();
            let parsed = match text.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => text.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("{var}={text} is not a u64"))
        }
        Err(_) => default,
    }
}

/// What went wrong in a server log: a backend that died of a signal (or a PANIC and the
/// restart it forces), and every XX000 error raised by the extension's Rust code. PostgreSQL's
/// own XX000 errors (its locations are C files) are returned separately: sqlsmith's absurd
/// queries can raise them, and they are not the extension's.
#[derive(Debug, Default)]
pub struct LogProblems {
    pub crashes: Vec<String>,
    pub internal_errors: Vec<String>,
    pub postgres_internal_errors: Vec<String>,
}

impl LogProblems {
    /// Crashes and the extension's internal errors; PostgreSQL's own are not counted.
    pub fn is_clean(&self) -> bool {
        self.crashes.is_empty() && self.internal_errors.is_empty()
    }
}

/// Reads a log written with `SERVER_LOG_CONF`. An error's entry is its ERROR or FATAL line
/// and the DETAIL, HINT, CONTEXT, LOCATION and STATEMENT lines its backend writes after it.
pub fn server_log_problems(log: &str) -> LogProblems {
    let mut problems = LogProblems::default();
    let lines: Vec<&str> = log.lines().collect();
    for (at, line) in lines.iter().enumerate() {
        if line.contains("terminated by signal")
            || line.contains("PANIC:")
            || line.contains("was terminated by exception")
        {
            // With the statement the process was running, from the DETAIL line after it.
            let detail = lines.get(at + 1).filter(|next| {
                backend_pid(next) == backend_pid(line) && next.contains("] DETAIL:")
            });
            problems.crashes.push(match detail {
                Some(detail) => format!("{line}\n{detail}"),
                None => line.to_string(),
            });
        }
        if !(line.contains("ERROR:  XX000:") || line.contains("FATAL:  XX000:")) {
            continue;
        }
        let pid = backend_pid(line);
        let mut entry = vec![*line];
        // Whether the line before was this entry's: a line without a prefix continues it.
        let mut in_entry = true;
        for next in lines[at + 1..].iter().take(500) {
            if !next.starts_with(|c: char| c.is_ascii_digit()) {
                if in_entry {
                    entry.push(next);
                }
                continue;
            }
            if backend_pid(next) != pid {
                in_entry = false;
                continue;
            }
            in_entry = true;
            let after_prefix = next.split_once("] ").map_or("", |(_, rest)| rest);
            let detail = ["DETAIL:", "HINT:", "CONTEXT:", "LOCATION:", "STATEMENT:"]
                .iter()
                .any(|tag| after_prefix.starts_with(tag));
            if !detail {
                break;
            }
            entry.push(next);
        }
        let text = entry.join("\n");
        let location = entry
            .iter()
            .find(|line| line.contains("] LOCATION:"))
            .copied()
            .unwrap_or("");
        if line.contains("compute_devices") || location.contains(".rs:") {
            problems.internal_errors.push(text);
        } else {
            problems.postgres_internal_errors.push(text);
        }
    }
    problems
}

/// The `[pid]` of a line written with `log_line_prefix = '%m [%p] '`.
fn backend_pid(line: &str) -> Option<&str> {
    let start = line.find(" [")? + 2;
    let end = start + line[start..].find(']')?;
    Some(&line[start..end])
}

/// At most `max` characters of `text`, saying how much was left out.
pub fn shorten(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max).collect();
    format!("{head}... ({count} characters)")
}

#[test]
fn the_log_reader_tells_the_extensions_internal_errors_from_postgresqls() {
    let log = "\
2026-01-01 00:00:00.000 UTC [10] ERROR:  XX000: compute_devices internal error: boom
2026-01-01 00:00:00.000 UTC [10] LOCATION:  <unknown>, src/api.rs:1:1
2026-01-01 00:00:00.000 UTC [10] STATEMENT:  SELECT register_device(
\t  'a')
2026-01-01 00:00:00.000 UTC [11] ERROR:  XX000: could not find pathkey item to sort
2026-01-01 00:00:00.000 UTC [11] LOCATION:  prepare_sort_from_pathkeys, createplan.c:6200
2026-01-01 00:00:00.000 UTC [12] ERROR:  XX000: index out of bounds
2026-01-01 00:00:00.000 UTC [12] LOCATION:  src/heartbeats.rs:9:9
2026-01-01 00:00:00.000 UTC [12] ERROR:  42501: permission denied
2026-01-01 00:00:00.000 UTC [1] LOG:  00000: server process (PID 13) was terminated by signal 11: Segmentation fault
2026-01-01 00:00:00.000 UTC [1] DETAIL:  Failed process was running: SELECT 1
";
    let problems = server_log_problems(log);
    assert_eq!(problems.crashes.len(), 1);
    assert!(problems.crashes[0].ends_with("running: SELECT 1"));
    assert_eq!(problems.internal_errors.len(), 2, "{problems:#?}");
    assert!(problems.internal_errors[0].contains("'a')"));
    assert!(!problems.internal_errors[1].contains("42501"));
    assert_eq!(problems.postgres_internal_errors.len(), 1);
    assert!(!problems.is_clean());
}

/// Keeps a copy of a failed test's server log (the cluster's directory goes with the test), in
/// cargo's temporary directory for tests; returns where.
pub fn keep_log(name: &str, log: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.log"));
    match std::fs::write(&path, log) {
        Ok(()) => path.display().to_string(),
        Err(error) => format!("(not kept: {error})"),
    }
}
