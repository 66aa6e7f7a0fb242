-- compute_devices 0.3.0 to 0.4.0: live values for readers, and no slot number for callers.
--
-- The view compute_devices_live is the table with is_active and last_seen as they are now
-- (current_liveness() lays shared memory's latest heartbeat over the table's lagging columns)
-- and without the internal slot number; it runs as its caller, under the table's row-level
-- security. get_user_devices returns its rows, and register_device and deactivate_device return
-- one of its rows: the seed's columns, without slot. send_heartbeats' entries carry a hint.
\echo Use "ALTER EXTENSION compute_devices UPDATE TO '0.4.0'" to load this file. \quit

-- send_heartbeats' entries carry the hint send_heartbeat would give with the error, as well.
ALTER TYPE @extschema@.heartbeat_result ADD ATTRIBUTE error_hint pg_catalog.text;

CREATE TYPE @extschema@.device_liveness AS (
    is_active pg_catalog.bool,
    last_seen pg_catalog.timestamptz
);

CREATE FUNCTION @extschema@.current_liveness(
    device_id pg_catalog.uuid,
    user_id pg_catalog.uuid,
    is_active pg_catalog.bool,
    last_seen pg_catalog.timestamptz,
    deactivated_at pg_catalog.timestamptz
) RETURNS @extschema@.device_liveness
    STABLE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'current_liveness_wrapper';

-- As a new install creates it (sql/live.sql).
CREATE VIEW @extschema@.compute_devices_live WITH (security_invoker = true) AS
SELECT d.id, d.user_id, d.device_name, d.device_type, d.ram_gb, d.cpu_cores, d.storage_gb,
       d.compute_score, l.is_active, l.last_seen, d.created_at, d.updated_at, d.deactivated_at
  FROM @extschema@.compute_devices AS d
 CROSS JOIN LATERAL @extschema@.current_liveness(d.id, d.user_id, d.is_active, d.last_seen,
                                                 d.deactivated_at) AS l;

COMMENT ON VIEW @extschema@.compute_devices_live IS
    'compute_devices with live is_active and last_seen: read this one. Rows are the caller''s own.';

-- A new return type: the functions are made again (their grants below).
DROP FUNCTION @extschema@.get_user_devices();
CREATE FUNCTION @extschema@.get_user_devices() RETURNS SETOF @extschema@.compute_devices_live
    STRICT STABLE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'get_user_devices_wrapper';

DROP FUNCTION @extschema@.register_device(pg_catalog.text, pg_catalog.text, pg_catalog.numeric,
                                          pg_catalog.int4, pg_catalog.numeric);
CREATE FUNCTION @extschema@.register_device(
    device_name pg_catalog.text,
    device_type pg_catalog.text,
    ram_gb pg_catalog.numeric,
    cpu_cores pg_catalog.int4,
    storage_gb pg_catalog.numeric
) RETURNS @extschema@.compute_devices_live
    VOLATILE SECURITY DEFINER
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'register_device_wrapper';

DROP FUNCTION @extschema@.deactivate_device(pg_catalog.uuid);
CREATE FUNCTION @extschema@.deactivate_device(device_id pg_catalog.uuid)
    RETURNS @extschema@.compute_devices_live
    VOLATILE SECURITY DEFINER
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'deactivate_device_wrapper';

-- The grants a new install gives them (sql/privileges.sql): authenticated reads its own rows
-- through the view, and registers and stops its devices; nobody else reads the view or calls
-- these functions.
DO $grants$
DECLARE
    grantee pg_catalog.text;
BEGIN
    FOR grantee IN
        SELECT 'PUBLIC'
        UNION ALL
        SELECT pg_catalog.quote_ident(rolname) FROM pg_catalog.pg_roles
         WHERE rolname OPERATOR(pg_catalog.=) ANY (ARRAY['anon', 'authenticated', 'service_role'])
    LOOP
        EXECUTE 'REVOKE ALL ON TABLE @extschema@.compute_devices_live FROM ' OPERATOR(pg_catalog.||) grantee;
        EXECUTE 'REVOKE ALL ON FUNCTION
                     @extschema@.current_liveness(pg_catalog.uuid, pg_catalog.uuid, pg_catalog.bool,
                                          pg_catalog.timestamptz, pg_catalog.timestamptz),
                     @extschema@.get_user_devices(),
                     @extschema@.register_device(pg_catalog.text, pg_catalog.text, pg_catalog.numeric,
                                                 pg_catalog.int4, pg_catalog.numeric),
                     @extschema@.deactivate_device(pg_catalog.uuid)
                 FROM ' OPERATOR(pg_catalog.||) grantee;
    END LOOP;
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'authenticated') THEN
        GRANT SELECT ON TABLE @extschema@.compute_devices_live TO authenticated;
        GRANT EXECUTE ON FUNCTION
            @extschema@.get_user_devices(),
            @extschema@.register_device(pg_catalog.text, pg_catalog.text, pg_catalog.numeric,
                                        pg_catalog.int4, pg_catalog.numeric),
            @extschema@.deactivate_device(pg_catalog.uuid),
            @extschema@.current_liveness(pg_catalog.uuid, pg_catalog.uuid, pg_catalog.bool,
                                          pg_catalog.timestamptz, pg_catalog.timestamptz)
        TO authenticated;
    END IF;
END
$grants$;
