//! get_capacity's work: its filters (query), the sums over the devices that pass them (tally),
//! and where the devices come from: shared memory's slots (slots) or the table (table). Both
//! feed the same tally, so both paths answer by the same rules.

pub mod query;
pub mod slots;
pub mod table;
pub mod tally;
