-- compute_devices as readers should see it: is_active and last_seen as they are now.
-- The table's own liveness columns lag behind shared memory (is_active until the worker's next
-- sweep, last_seen until its next flush of that device); current_liveness() lays the latest
-- heartbeat over them, and applies the liveness test on either path. The internal slot number
-- is left out. The device's accelerators (a jsonb array, [] for none) and its country's
-- region and sub-region follow, then its health (device_health(), src/health: uptime over the
-- last day and week, how often it went stale in the last day, the health score). Each health
-- column is a scalar expression: a query that does not read it does not compute it.
-- It runs as its caller (security_invoker), so the table's row-level security
-- shows each caller only their own devices, and it only reads: no transaction id, and it works
-- on a standby (with the table's values there).
CREATE VIEW @extschema@.compute_devices_live WITH (security_invoker = true) AS
SELECT d.id, d.user_id, d.device_name, d.device_type, d.ram_gb, d.cpu_cores, d.storage_gb,
       d.compute_score, l.is_active, l.last_seen, d.created_at, d.updated_at, d.deactivated_at,
       COALESCE((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                            'vendor', a.vendor, 'product_name', a.product_name, 'model', a.model,
                            'memory_mib', a.memory_mib, 'count', a.count)
                        ORDER BY a.vendor COLLATE pg_catalog."C", a.model COLLATE pg_catalog."C",
                                 a.memory_mib)
                   FROM @extschema@.device_accelerators AS a
                  WHERE a.device_id OPERATOR(pg_catalog.=) d.id),
                '[]'::pg_catalog.jsonb) AS accelerators,
       d.country_code, c.region, c.subregion,
       (@extschema@.device_health(d.id, d.user_id, d.created_at)).uptime_1d AS uptime_1d,
       (@extschema@.device_health(d.id, d.user_id, d.created_at)).uptime_7d AS uptime_7d,
       (@extschema@.device_health(d.id, d.user_id, d.created_at)).flaps_24h AS flaps_24h,
       (@extschema@.device_health(d.id, d.user_id, d.created_at)).health_score AS health_score
  FROM @extschema@.compute_devices AS d
  LEFT JOIN @extschema@.countries AS c ON c.country_code OPERATOR(pg_catalog.=) d.country_code
 CROSS JOIN LATERAL @extschema@.current_liveness(d.id, d.user_id, d.is_active, d.last_seen,
                                                 d.deactivated_at) AS l;

COMMENT ON VIEW @extschema@.compute_devices_live IS
    'compute_devices with live is_active and last_seen: read this one. Rows are the caller''s own.';
