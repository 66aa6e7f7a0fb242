//! The network's capacity history (sql/history.sql): what record_network_history() writes once a
//! minute (record), the completed hours it rolls up and what it prunes (keep), and the questions
//! get_network_history() and get_network_stats_at() ask of it (read).
//!
//! Rows are keyed by a kind and a group key: the whole network (kind 0, key ''), each device
//! type (kind 1, all four every minute) and each region (kind 2; '' for devices without one). The
//! numbers are get_capacity's, grouped by device type and by region, from shared memory or the
//! table as it answers now: the network's are the types' sums, which is what get_network_stats()
//! answers. Times are UTC minutes, hours and days.

pub mod keep;
pub mod read;
pub mod record;

/// The `kind` of a history row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i16)]
pub enum Kind {
    Network = 0,
    DeviceType = 1,
    Region = 2,
}
