-- compute_score and updated_at are derived: the Rust trigger recomputes them on every insert
-- and on every update that names a spec column or either derived column, so a direct
-- `UPDATE ... SET compute_score = 1` does not stick. Heartbeats name none of these columns,
-- so the trigger does not fire for them.
CREATE TRIGGER derive_device_columns
    BEFORE INSERT OR UPDATE OF ram_gb, cpu_cores, storage_gb, compute_score, updated_at
    ON @extschema@.compute_devices
    FOR EACH ROW EXECUTE FUNCTION @extschema@.derive_device_columns();

-- The trigger runs no SQL, but every function of the extension pins its search_path.
ALTER FUNCTION @extschema@.derive_device_columns() SET search_path = pg_catalog, pg_temp;
