//! Liveness in shared memory, for the one database the worker serves: a slot per device (slots),
//! an index from device id to owner and slot (device_index), row changes applied to them at
//! commit (slot_writes), the accelerator inventories slots name (inventories, accelerator_slots),
//! the totals by country and model (breakdown), the devices' spells online (spells),
//! and the background worker (worker) that rebuilds them from the table,
//! compares them with it (reconcile), counts the totals, writes liveness back and publishes the
//! totals for standbys (published).

pub mod accelerator_slots;
pub mod breakdown;
pub mod device_index;
pub mod inventories;
pub mod published;
pub mod reconcile;
pub mod slot_writes;
pub mod slots;
pub mod spells;
pub mod worker;
