//! Ids for new devices: version 4 UUIDs, as gen_random_uuid() makes them, from strong random
//! bytes fetched 4 KiB at a time. gen_random_uuid() asks OpenSSL once per id, and that one
//! call cost about 2% of a registration.

use std::cell::RefCell;

const POOL_BYTES: usize = 4096;

struct Pool {
    bytes: [u8; POOL_BYTES],
    /// Bytes from here on are unused.
    next: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = const {
        RefCell::new(Pool { bytes: [0; POOL_BYTES], next: POOL_BYTES })
    };
}

/// A random (version 4) UUID.
pub fn new_device_id() -> pgrx::Uuid {
    POOL.with_borrow_mut(|pool| {
        if pool.next + 16 > POOL_BYTES {
            // SAFETY: fills the pool's bytes, of the length given.
            let filled = unsafe {
                pgrx::pg_sys::pg_strong_random(pool.bytes.as_mut_ptr().cast(), POOL_BYTES)
            };
            // As gen_random_uuid() does: never the caller's doing.
            assert!(filled, "could not generate random values");
            pool.next = 0;
        }
        let mut id = [0u8; 16];
        let taken = &mut pool.bytes[pool.next..pool.next + 16];
        id.copy_from_slice(taken);
        // Used bytes are not left behind in memory.
        taken.fill(0);
        pool.next += 16;
        id[6] = (id[6] & 0x0f) | 0x40; // version 4
        id[8] = (id[8] & 0x3f) | 0x80; // RFC 4122 variant
        pgrx::Uuid::from_bytes(id)
    })
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::*;
    use pgrx::prelude::*;

    #[pg_test]
    fn test_ids_are_distinct_version_4_uuids() {
        // More than one pool's worth, so a refill is crossed.
        let ids: Vec<pgrx::Uuid> = (0..3 * POOL_BYTES / 16).map(|_| new_device_id()).collect();
        let distinct: std::collections::HashSet<[u8; 16]> =
            ids.iter().map(|id| *id.as_bytes()).collect();
        assert_eq!(distinct.len(), ids.len());
        for id in &ids {
            let text = id.to_string();
            assert_eq!(&text[14..15], "4", "version 4: {text}");
            assert!("89ab".contains(&text[19..20]), "RFC 4122 variant: {text}");
        }
        // PostgreSQL reads them as it reads gen_random_uuid()'s.
        let version =
            Spi::get_one_with_args::<String>("SELECT substr($1::text, 15, 1)", &[ids[0].into()]);
        assert_eq!(version, Ok(Some("4".to_string())));
    }
}
