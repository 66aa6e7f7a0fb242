-- compute_score and updated_at are derived: the Rust trigger recomputes them on every insert
-- and on every update that names a spec column or either derived column, so a direct
-- `UPDATE ... SET compute_score = 1` does not stick. It also queues the row's shared-memory
-- slot and index writes for commit, so id, user_id, device_type, deactivated_at and slot are in the
-- list too (shared memory sums by device type). Heartbeats and the
-- worker write only last_seen and is_active, so the trigger does not fire for them.
CREATE TRIGGER derive_device_columns
    BEFORE INSERT OR UPDATE OF ram_gb, cpu_cores, storage_gb, compute_score, updated_at,
                               id, user_id, device_type, deactivated_at, slot
    ON @extschema@.compute_devices
    FOR EACH ROW EXECUTE FUNCTION @extschema@.derive_device_columns();

-- Removed rows stop counting in shared memory once the removal commits.
CREATE TRIGGER forget_device_slots
    AFTER DELETE ON @extschema@.compute_devices
    FOR EACH ROW EXECUTE FUNCTION @extschema@.forget_device_slots();
CREATE TRIGGER forget_all_device_slots
    AFTER TRUNCATE ON @extschema@.compute_devices
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.forget_device_slots();

-- The triggers run no SQL, but every function of the extension pins its search_path.
ALTER FUNCTION @extschema@.derive_device_columns() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.forget_device_slots() SET search_path = pg_catalog, pg_temp;
