//! A jsonb argument received as its text, which the function then parses itself.
//!
//! pgrx's own `JsonB` parses the text with serde_json and panics when serde_json cannot hold
//! a value jsonb can (a number such as 1e400), which a caller would see as an internal error.
//! Parsing it ourselves turns that into an error naming the argument. And a value larger than
//! its argument can ever need is refused before it is copied out of PostgreSQL's memory, so no
//! caller can make the backend's own allocator fail.

use pgrx::callconv::{Arg, ArgAbi};
use pgrx::pg_sys;
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin,
};
use pgrx::prelude::*;

/// The text jsonb_out writes for the argument, or the size of a value too large to read.
pub enum JsonbText {
    Text(String),
    TooLarge(usize),
}

/// The largest jsonb argument read: more than the `accelerators` argument can hold at the
/// settings' upper limits (16 groups of 1,024-character product names).
pub const MAX_BYTES: usize = 256 * 1024;

impl FromDatum for JsonbText {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _: pg_sys::Oid,
    ) -> Option<JsonbText> {
        if is_null {
            return None;
        }
        // SAFETY: the datum is a jsonb (the function's argument type says so), whose size
        // toast_raw_datum_size reads from its header; jsonb_out detoasts it and returns a
        // palloc'd C string, copied here.
        unsafe {
            let size = pg_sys::toast_raw_datum_size(datum);
            if size > MAX_BYTES {
                return Some(JsonbText::TooLarge(size));
            }
            let text =
                pgrx::direct_function_call::<&std::ffi::CStr>(pg_sys::jsonb_out, &[Some(datum)])?;
            Some(JsonbText::Text(text.to_string_lossy().into_owned()))
        }
    }
}

// SAFETY: a jsonb argument is unboxed with from_datum above, as pgrx does for its JsonB.
unsafe impl<'fcx> ArgAbi<'fcx> for JsonbText {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        // SAFETY: as the trait requires, the argument is a jsonb datum.
        unsafe { arg.unbox_arg_using_from_datum() }
            .unwrap_or_else(|| panic!("argument {index} must not be null"))
    }
}

// SAFETY: it is the SQL type jsonb, as pgrx's JsonB declares it.
unsafe impl SqlTranslatable for JsonbText {
    const TYPE_IDENT: &'static str = pgrx::pgrx_resolved_type!(JsonbText);
    const TYPE_ORIGIN: TypeOrigin = TypeOrigin::External;
    const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> = Ok(SqlMappingRef::literal("jsonb"));
    const RETURN_SQL: Result<ReturnsRef, ReturnsError> =
        Ok(ReturnsRef::One(SqlMappingRef::literal("jsonb")));
}
