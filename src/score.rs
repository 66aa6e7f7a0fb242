//! The compute score, `ram_gb * 2 + cpu_cores * 5 + storage_gb * 0.05`, in exact decimal
//! arithmetic, and the trigger that keeps `compute_score` and `updated_at` derived.

use crate::slot_writes;
use crate::validate;
use pgrx::datum::TryFromDatumError;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

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
    let storage_weight = AnyNumeric::try_from("0.05").expect("0.05 is a valid numeric literal");
    ram_gb * AnyNumeric::from(2) + cpu_cores * AnyNumeric::from(5) + storage_gb * storage_weight
}

/// BEFORE INSERT OR UPDATE OF the spec and derived columns (see sql/trigger.sql).
#[pg_trigger]
pub fn derive_device_columns<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByRust>>, TryFromDatumError> {
    let Some(new_row) = trigger.new() else {
        ErrorReport::new(
            PgSqlErrorCode::ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
            "derive_device_columns must run BEFORE INSERT OR UPDATE FOR EACH ROW",
            "derive_device_columns",
        )
        .report(PgLogLevel::ERROR);
        unreachable!("an ERROR report does not return");
    };
    let mut row = new_row.into_owned();
    let specs = (
        row.get_by_name::<AnyNumeric>("ram_gb")?,
        row.get_by_name::<i32>("cpu_cores")?,
        row.get_by_name::<AnyNumeric>("storage_gb")?,
    );
    // A NULL spec leaves the score NULL, and the column's NOT NULL constraint names the culprit.
    let score = match specs {
        (Some(ram_gb), Some(cpu_cores), Some(storage_gb)) => {
            Some(calculate_compute_score(ram_gb, cpu_cores, storage_gb))
        }
        _ => None,
    };
    row.set_by_name("compute_score", score)?;
    row.set_by_name("updated_at", now())?;
    let previous_id = match trigger.old() {
        Some(old) => old.get_by_name::<pgrx::Uuid>("id")?,
        None => None,
    };
    queue_slot_write(&row, previous_id)?;
    Ok(Some(row))
}

/// Hands the row to its shared-memory slot, which takes it when the transaction commits.
/// A row with a NULL where NOT NULL belongs is left to the constraint that rejects it.
fn queue_slot_write(
    row: &PgHeapTuple<'_, AllocatedByRust>,
    previous_id: Option<pgrx::Uuid>,
) -> Result<(), TryFromDatumError> {
    let (Some(device_id), Some(owner)) = (
        row.get_by_name::<pgrx::Uuid>("id")?,
        row.get_by_name::<pgrx::Uuid>("user_id")?,
    ) else {
        return Ok(());
    };
    let stored = (
        row.get_by_name::<i32>("slot")?,
        row.get_by_name::<String>("device_type")?,
        row.get_by_name::<bool>("is_active")?,
        row.get_by_name::<TimestampWithTimeZone>("last_seen")?,
        row.get_by_name::<AnyNumeric>("ram_gb")?,
        row.get_by_name::<i32>("cpu_cores")?,
        row.get_by_name::<AnyNumeric>("storage_gb")?,
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
            stopped: row
                .get_by_name::<TimestampWithTimeZone>("deactivated_at")?
                .is_some(),
            device_type: validate::device_type_position(&device_type),
            is_active,
            last_seen,
            ram_gb,
            cpu_cores,
            storage_gb,
        });
    }
    Ok(())
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
