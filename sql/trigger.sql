-- compute_score and updated_at are derived: the Rust trigger recomputes them on every insert
-- and on every update that names a spec column or either derived column, so a direct
-- `UPDATE ... SET compute_score = 1` does not stick. It also queues the row's shared-memory
-- slot and index writes for commit, so id, user_id, device_type, deactivated_at, slot and
-- country_code are in the list too (shared memory sums by device type and country). Heartbeats and the
-- worker write only last_seen and is_active, so the trigger does not fire for them.
CREATE TRIGGER derive_device_columns
    BEFORE INSERT OR UPDATE OF ram_gb, cpu_cores, storage_gb, compute_score, updated_at,
                               id, user_id, device_type, deactivated_at, slot, country_code
    ON @extschema@.compute_devices
    FOR EACH ROW EXECUTE FUNCTION @extschema@.derive_device_columns();

-- Removed rows stop counting in shared memory once the removal commits.
CREATE TRIGGER forget_device_slots
    AFTER DELETE ON @extschema@.compute_devices
    FOR EACH ROW EXECUTE FUNCTION @extschema@.forget_device_slots();
CREATE TRIGGER forget_all_device_slots
    AFTER TRUNCATE ON @extschema@.compute_devices
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.forget_device_slots();

-- A device's accelerators reach its slot at commit too: the row triggers note the devices, the
-- statement trigger reads their accelerators whole (as the table's owner, whatever role wrote
-- them and whatever it may read) and queues each device's inventory.
CREATE TRIGGER accelerator_rows
    AFTER INSERT OR UPDATE OR DELETE ON @extschema@.device_accelerators
    FOR EACH ROW EXECUTE FUNCTION @extschema@.accelerator_slots();
CREATE TRIGGER accelerator_statements
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.device_accelerators
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.accelerator_slots();
ALTER FUNCTION @extschema@.accelerator_slots() SECURITY DEFINER;

-- derive_device_columns checks country_code against countries (read once a backend), which
-- the roles that may write the table need not be able to read.
ALTER FUNCTION @extschema@.derive_device_columns() SECURITY DEFINER;
-- forget_device_slots closes the removed device's spell online (online_intervals), whichever
-- role removed it.
ALTER FUNCTION @extschema@.forget_device_slots() SECURITY DEFINER;
-- Every function of the extension pins its search_path.
ALTER FUNCTION @extschema@.derive_device_columns() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.forget_device_slots() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.accelerator_slots() SET search_path = pg_catalog, pg_temp;
