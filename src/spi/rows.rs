//! The rows our statements return: at most one (`only_row`), and the rows a set-returning
//! function hands PostgreSQL, one call at a time (`set_of`).
//!
//! A `PgHeapTuple` holds a reference-counted row type, registered with the resource owner of
//! the moment it was made, and frees its memory when dropped. An SRF's iterator outlives the
//! call that made it: read through a cursor and abandoned by `ROLLBACK TO SAVEPOINT`, it is
//! dropped during the abort, after that resource owner has let go of the row type, and
//! releasing it again is an ERROR inside a destructor: the backend aborts. So the rows wait as
//! plain composite datums (no destructor), and each becomes a `PgHeapTuple` only in the call
//! that returns it.

use pgrx::prelude::*;
use pgrx::spi::SpiTupleTable;

pub type Row = PgHeapTuple<'static, AllocatedByRust>;

/// The rows, as a set-returning function's result.
pub fn set_of(rows: Vec<Row>) -> SetOfIterator<'static, Row> {
    let datums: Vec<pg_sys::Datum> = rows
        .into_iter()
        .map(|row| row.into_composite_datum().expect("a row is never NULL"))
        .collect();
    SetOfIterator::new(datums.into_iter().map(|datum| {
        // SAFETY: a composite datum made above, in the memory of the function's whole call
        // sequence (where an SRF's first call runs), which outlives every later call.
        unsafe { PgHeapTuple::from_composite_datum(datum) }
    }))
}

/// The single value of a statement that returns at most one row, or None when it returned none.
pub fn only_row<T: FromDatum + IntoDatum>(table: SpiTupleTable<'_>) -> spi::Result<Option<T>> {
    if table.is_empty() {
        Ok(None)
    } else {
        table.first().get_one::<T>()
    }
}
