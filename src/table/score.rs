//! The compute score, `ram_gb * 2 + cpu_cores * 5 + storage_gb * 0.05`, in exact decimal
//! arithmetic, and the trigger that keeps `compute_score` and `updated_at` derived.

use crate::device_type::DeviceType;
use crate::errors::missing_object;
use crate::shared_memory::slot_writes;
use pgrx::datum::TryFromDatumError;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::{PgSqlErrorCode, PgTupleDesc};

#[pg_extern(immutable, strict, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
pub fn calculate_compute_score(
    ram_gb: AnyNumeric,
    cpu_cores: i32,
    storage_gb: AnyNumeric,
) -> AnyNumeric {
    score(ram_gb, AnyNumeric::from(cpu_cores), storage_gb)
}

/// The formula itself. It is linear, so the score of summed specs is the sum of the scores:
/// network totals use that.
pub fn score(ram_gb: AnyNumeric, cpu_cores: AnyNumeric, storage_gb: AnyNumeric) -> AnyNumeric {
    let [ram_weight, cpu_weight, storage_weight] = WEIGHTS.with(Clone::clone);
    ram_gb * ram_weight + cpu_cores * cpu_weight + storage_gb * storage_weight
}

thread_local! {
    /// The formula's weights, made once a backend: the trigger scores every registration.
    static WEIGHTS: [AnyNumeric; 3] = [
        AnyNumeric::from(2),
        AnyNumeric::from(5),
        AnyNumeric::try_from("0.05").expect("0.05 is a valid numeric literal"),
    ];
}

/// BEFORE INSERT OR UPDATE OF the spec and derived columns (see sql/trigger.sql).
///
/// It runs on every registration, so it deforms the row once and rebuilds it once. Reading
/// and setting columns by name through PgHeapTuple, which rebuilds the row for every column
/// set, made the trigger cost about twice as much.
#[pg_trigger]
pub fn derive_device_columns<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, TryFromDatumError> {
    let Some(new_row) = trigger.new() else {
        ErrorReport::new(
            PgSqlErrorCode::ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
            "derive_device_columns must run BEFORE INSERT OR UPDATE FOR EACH ROW",
            "derive_device_columns",
        )
        .report(PgLogLevel::ERROR);
        unreachable!("an ERROR report does not return");
    };
    // SAFETY: a row trigger's relation is open while it runs.
    let tupdesc =
        unsafe { PgTupleDesc::from_pg_unchecked((*trigger.trigger_data().tg_relation).rd_att) };
    let columns = Columns::of(&tupdesc);
    let tuple = new_row.into_pg();
    let row = Row::deform(tuple, &tupdesc);
    if let Some(code) = columns.country_code.and_then(|c| row.get::<&str>(c)) {
        require_shipped_country(code);
    }
    let specs = (
        row.get::<AnyNumeric>(columns.ram_gb),
        row.get::<i32>(columns.cpu_cores),
        row.get::<AnyNumeric>(columns.storage_gb),
    );
    // A NULL spec leaves the score NULL, and the column's NOT NULL constraint names the culprit.
    let score = match specs {
        (Some(ram_gb), Some(cpu_cores), Some(storage_gb)) => {
            Some(calculate_compute_score(ram_gb, cpu_cores, storage_gb))
        }
        _ => None,
    };
    let previous_id = trigger
        .old()
        .map(|old| Row::deform(old.into_pg(), &tupdesc))
        .and_then(|old| old.get::<pgrx::Uuid>(columns.id));
    let inserted = trigger.old().is_none();
    queue_slot_write(&row, &columns, previous_id, inserted);

    let derived = [
        (columns.compute_score, score.into_datum()),
        (columns.updated_at, now().into_datum()),
    ];
    let mut column_numbers = derived.map(|(column, _)| column as i32 + 1);
    let mut values = derived.map(|(_, value)| value.unwrap_or(pg_sys::Datum::from(0)));
    let mut nulls = derived.map(|(_, value)| value.is_none());
    // SAFETY: two columns of the row, replaced with datums of the types Columns::of checked.
    // The new row is palloc'd in the trigger's memory context, as PostgreSQL expects.
    unsafe {
        let modified = pg_sys::heap_modify_tuple_by_cols(
            tuple,
            tupdesc.as_ptr(),
            derived.len() as i32,
            column_numbers.as_mut_ptr(),
            values.as_mut_ptr(),
            nulls.as_mut_ptr(),
        );
        Ok(Some(PgHeapTuple::from_heap_tuple(tupdesc, modified)))
    }
}

/// What the foreign key to `countries` checked until 0.7.0: its after-row event cost every
/// registration more than the rest of the trigger (bench/run's register case). The shipped list
/// is cached per backend (countries.rs), and the trigger runs as the table's owner, who reads it.
fn require_shipped_country(code: &str) {
    if crate::countries::all().place(code).is_none() {
        ErrorReport::new(
            PgSqlErrorCode::ERRCODE_FOREIGN_KEY_VIOLATION,
            format!(
                "country_code {:?} is not a country of the extension's countries table",
                crate::api::validate::shortened(code)
            ),
            "derive_device_columns",
        )
        .set_hint("use an ISO 3166-1 alpha-2 code in upper case, such as \"DE\"")
        .report(PgLogLevel::ERROR);
    }
}

/// Where the trigger's columns are in a row of the device table, found by name and checked
/// by type once a call (a column dropped and added again moves).
struct Columns {
    id: usize,
    user_id: usize,
    device_type: usize,
    ram_gb: usize,
    cpu_cores: usize,
    storage_gb: usize,
    compute_score: usize,
    is_active: usize,
    last_seen: usize,
    updated_at: usize,
    deactivated_at: usize,
    slot: usize,
    /// Since 0.6.0 (a database not updated yet has no such column).
    country_code: Option<usize>,
}

impl Columns {
    fn of(tupdesc: &PgTupleDesc<'_>) -> Columns {
        let find = |name: &str| {
            tupdesc.iter().position(|column| {
                // SAFETY: attname is a NUL-terminated NameData.
                let column_name = unsafe { std::ffi::CStr::from_ptr(column.attname.data.as_ptr()) };
                !column.is_dropped() && column_name.to_bytes() == name.as_bytes()
            })
        };
        let position = |name: &str, type_oid: pg_sys::Oid| match find(name) {
            Some(index) if tupdesc.get(index).map(|column| column.atttypid) == Some(type_oid) => {
                index
            }
            _ => missing_object(&format!("the compute_devices.{name} column of its type")),
        };
        Columns {
            id: position("id", pg_sys::UUIDOID),
            user_id: position("user_id", pg_sys::UUIDOID),
            device_type: position("device_type", pg_sys::TEXTOID),
            ram_gb: position("ram_gb", pg_sys::NUMERICOID),
            cpu_cores: position("cpu_cores", pg_sys::INT4OID),
            storage_gb: position("storage_gb", pg_sys::NUMERICOID),
            compute_score: position("compute_score", pg_sys::NUMERICOID),
            is_active: position("is_active", pg_sys::BOOLOID),
            last_seen: position("last_seen", pg_sys::TIMESTAMPTZOID),
            updated_at: position("updated_at", pg_sys::TIMESTAMPTZOID),
            deactivated_at: position("deactivated_at", pg_sys::TIMESTAMPTZOID),
            slot: position("slot", pg_sys::INT4OID),
            country_code: find("country_code").map(|_| position("country_code", pg_sys::TEXTOID)),
        }
    }
}

/// A row of the device table, deformed once.
struct Row {
    values: Vec<pg_sys::Datum>,
    nulls: Vec<bool>,
}

impl Row {
    fn deform(tuple: pg_sys::HeapTuple, tupdesc: &PgTupleDesc<'_>) -> Row {
        let mut row = Row {
            values: vec![pg_sys::Datum::from(0); tupdesc.len()],
            nulls: vec![true; tupdesc.len()],
        };
        // SAFETY: a row of the relation this descriptor describes, into arrays of its width.
        unsafe {
            pg_sys::heap_deform_tuple(
                tuple,
                tupdesc.as_ptr(),
                row.values.as_mut_ptr(),
                row.nulls.as_mut_ptr(),
            );
        }
        row
    }

    /// The column at `index`, whose type Columns::of checked is the one T reads.
    fn get<T: FromDatum>(&self, index: usize) -> Option<T> {
        // SAFETY: see above; the datum lives as long as the row it was deformed from.
        unsafe { T::from_datum(self.values[index], self.nulls[index]) }
    }
}

/// Hands the row to its shared-memory slot, which takes it when the transaction commits.
/// A row with a NULL where NOT NULL belongs is left to the constraint that rejects it.
fn queue_slot_write(row: &Row, columns: &Columns, previous_id: Option<pgrx::Uuid>, inserted: bool) {
    let (Some(device_id), Some(owner)) = (
        row.get::<pgrx::Uuid>(columns.id),
        row.get::<pgrx::Uuid>(columns.user_id),
    ) else {
        return;
    };
    let stored = (
        row.get::<i32>(columns.slot),
        row.get::<&str>(columns.device_type),
        row.get::<bool>(columns.is_active),
        row.get::<TimestampWithTimeZone>(columns.last_seen),
        row.get::<AnyNumeric>(columns.ram_gb),
        row.get::<i32>(columns.cpu_cores),
        row.get::<AnyNumeric>(columns.storage_gb),
    );
    if let (
        Some(slot),
        Some(device_type),
        Some(is_active),
        Some(last_seen),
        Some(ram_gb),
        Some(cpu_cores),
        Some(storage_gb),
    ) = stored
    {
        slot_writes::device_written(slot_writes::DeviceRow {
            device_id,
            owner,
            previous_id,
            slot,
            stopped: !row.nulls[columns.deactivated_at],
            device_type: DeviceType::of_row(device_type),
            is_active,
            last_seen,
            ram_gb,
            cpu_cores,
            storage_gb,
            country_code: columns
                .country_code
                .and_then(|column| row.get::<String>(column)),
            inserted,
        });
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use super::*;

    fn numeric(text: &str) -> AnyNumeric {
        AnyNumeric::try_from(text).unwrap()
    }

    #[pg_test]
    fn test_score_is_exact_decimal() {
        let score = calculate_compute_score(numeric("16"), 8, numeric("512"));
        assert_eq!(score.to_string(), "97.60");
        let score = calculate_compute_score(numeric("0.1"), 0, numeric("0.3"));
        assert_eq!(score.to_string(), "0.215");
    }

    #[pg_test]
    fn test_score_from_sql_is_immutable_strict_parallel_safe() {
        let score = Spi::get_one::<String>("SELECT calculate_compute_score(16, 8, 512)::text");
        assert_eq!(score, Ok(Some("97.60".to_string())));
        let null = Spi::get_one::<AnyNumeric>("SELECT calculate_compute_score(NULL, 8, 512)");
        assert_eq!(null, Ok(None));
        let attributes = Spi::get_one::<String>(
            "SELECT provolatile::text || proisstrict::text || proparallel::text
               FROM pg_catalog.pg_proc WHERE proname = 'calculate_compute_score'",
        );
        assert_eq!(attributes, Ok(Some("itrues".to_string())));
    }

    const INSERT_DEVICE: &str = "INSERT INTO compute_devices (user_id, device_name, device_type, ram_gb, cpu_cores, storage_gb, updated_at)
         VALUES (gen_random_uuid(), 'box', 'server', 16, 8, 512, '2000-01-01') RETURNING id";

    fn score_and_updated_at(id: pgrx::Uuid) -> (String, bool) {
        let (score, fresh) = Spi::get_two_with_args::<String, bool>(
            "SELECT compute_score::text, updated_at = now() FROM compute_devices WHERE id = $1",
            &[id.into()],
        )
        .unwrap();
        (score.unwrap(), fresh.unwrap())
    }

    #[pg_test]
    fn test_trigger_derives_score_and_updated_at_on_insert() {
        let id = Spi::get_one::<pgrx::Uuid>(INSERT_DEVICE).unwrap().unwrap();
        assert_eq!(score_and_updated_at(id), ("97.60".to_string(), true));
    }

    #[pg_test]
    fn test_trigger_recomputes_on_spec_update_and_ignores_forged_score() {
        let id = Spi::get_one::<pgrx::Uuid>(INSERT_DEVICE).unwrap().unwrap();
        Spi::run_with_args(
            "UPDATE compute_devices SET ram_gb = 32 WHERE id = $1",
            &[id.into()],
        )
        .unwrap();
        assert_eq!(score_and_updated_at(id).0, "129.60");
        Spi::run_with_args(
            "UPDATE compute_devices SET compute_score = 1, updated_at = '2000-01-01' WHERE id = $1",
            &[id.into()],
        )
        .unwrap();
        assert_eq!(score_and_updated_at(id), ("129.60".to_string(), true));
    }

    #[pg_test]
    fn test_trigger_does_not_fire_on_heartbeat_columns() {
        let id = Spi::get_one::<pgrx::Uuid>(INSERT_DEVICE).unwrap().unwrap();
        // Plant a wrong score with triggers off, so only a firing trigger could correct it.
        Spi::run("SET LOCAL session_replication_role = replica").unwrap();
        Spi::run_with_args(
            "UPDATE compute_devices SET compute_score = 1 WHERE id = $1",
            &[id.into()],
        )
        .unwrap();
        Spi::run("SET LOCAL session_replication_role = origin").unwrap();
        Spi::run_with_args(
            "UPDATE compute_devices SET last_seen = now(), is_active = true WHERE id = $1",
            &[id.into()],
        )
        .unwrap();
        assert_eq!(score_and_updated_at(id).0, "1");
    }
}
