//! A set-returning function's rows returned in materialize mode: the function is called once and
//! puts every row in a tuplestore. In value-per-call mode (pgrx's TableIterator) PostgreSQL calls
//! the function again for each row, and for a function with `SET search_path` (all of ours) each
//! call sets and restores the setting: a tenth of the time of a long result. Rows read with SPI
//! are copied across as they are, column by column, without a round trip through Rust values.

use crate::errors::internal_failure;
use pgrx::pg_sys;

/// Where this call's rows go.
pub struct ResultSet {
    store: *mut pg_sys::Tuplestorestate,
    desc: pg_sys::TupleDesc,
}

impl ResultSet {
    /// Sets this call up to return its rows in materialize mode (an error if the caller cannot
    /// take a set that way).
    ///
    /// # Safety
    /// `fcinfo` is the current call's, of a function declared to return a set of rows.
    pub unsafe fn of_call(fcinfo: pg_sys::FunctionCallInfo) -> ResultSet {
        // SAFETY: as the caller vouches; InitMaterializedSRF checks the call's resultinfo and
        // leaves the tuplestore and its descriptor there.
        unsafe {
            pg_sys::InitMaterializedSRF(fcinfo, 0);
            let info = (*fcinfo).resultinfo.cast::<pg_sys::ReturnSetInfo>();
            ResultSet {
                store: (*info).setResult,
                desc: (*info).setDesc,
            }
        }
    }

    /// Raises an internal error unless the rows of `source` (an SPI result's descriptor), less
    /// its columns `skipped` (0-based), have exactly this set's column types, so they can be
    /// copied across unconverted.
    ///
    /// # Safety
    /// `source` is a valid tuple descriptor.
    pub unsafe fn check_source(&self, source: pg_sys::TupleDesc, skipped: &[usize]) {
        // SAFETY: both descriptors are valid, their attributes as many as natts says.
        let (ours, theirs) = unsafe { (column_types(self.desc), column_types(source)) };
        let kept: Vec<pg_sys::Oid> = theirs
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !skipped.contains(i))
            .map(|(_, oid)| oid)
            .collect();
        if kept != ours {
            internal_failure(
                "result set",
                format!("the query's column types {kept:?} are not the function's {ours:?}"),
            )
        }
    }

    /// Adds a row: one datum (and null flag) per column.
    pub fn put(&self, values: &mut [pg_sys::Datum], nulls: &mut [bool]) {
        // SAFETY: the tuplestore and descriptor InitMaterializedSRF made for this call, and as
        // many values as the descriptor's columns (checked); the tuplestore copies them.
        unsafe {
            assert_eq!(values.len(), (*self.desc).natts as usize);
            assert_eq!(nulls.len(), values.len());
            pg_sys::tuplestore_putvalues(
                self.store,
                self.desc,
                values.as_mut_ptr(),
                nulls.as_mut_ptr(),
            );
        }
    }
}

/// # Safety
/// `desc` is a valid tuple descriptor.
unsafe fn column_types(desc: pg_sys::TupleDesc) -> Vec<pg_sys::Oid> {
    // SAFETY: as the caller vouches.
    unsafe {
        (0..(*desc).natts as usize)
            .map(|i| (*(*desc).attrs.as_ptr().add(i)).atttypid)
            .collect()
    }
}
