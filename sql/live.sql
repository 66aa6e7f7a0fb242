-- compute_devices as readers should see it: is_active and last_seen as they are now.
-- The table's own liveness columns lag behind shared memory (is_active until the worker's next
-- sweep, last_seen until its next flush of that device); current_liveness() lays the latest
-- heartbeat over them, and applies the liveness test on either path. The internal slot number
-- is left out. It runs as its caller (security_invoker), so the table's row-level security
-- shows each caller only their own devices, and it only reads: no transaction id, and it works
-- on a standby (with the table's values there).
CREATE VIEW @extschema@.compute_devices_live WITH (security_invoker = true) AS
SELECT d.id, d.user_id, d.device_name, d.device_type, d.ram_gb, d.cpu_cores, d.storage_gb,
       d.compute_score, l.is_active, l.last_seen, d.created_at, d.updated_at, d.deactivated_at
  FROM @extschema@.compute_devices AS d
 CROSS JOIN LATERAL @extschema@.current_liveness(d.id, d.user_id, d.is_active, d.last_seen,
                                                 d.deactivated_at) AS l;

COMMENT ON VIEW @extschema@.compute_devices_live IS
    'compute_devices with live is_active and last_seen: read this one. Rows are the caller''s own.';
