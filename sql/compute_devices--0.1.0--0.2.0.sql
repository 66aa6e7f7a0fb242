-- compute_devices 0.1.0 to 0.2.0: the network totals by device type.
--
-- The 0.2.0 library keeps each device's type in its shared-memory slot. Where the library is
-- preloaded, install it and restart PostgreSQL before this update: the worker rebuilds the
-- slots from the table at start, so nothing is lost (see README, "Upgrading"). The library this
-- script runs with names its own objects with their schema, so the function's search_path is
-- pg_catalog's alone (as 0.3.0 sets it for every function).
\echo Use "ALTER EXTENSION compute_devices UPDATE TO '0.2.0'" to load this file. \quit

CREATE TYPE @extschema@.network_stats_by_type AS (
    device_type         text,
    active_nodes        bigint,
    total_ram_gb        numeric,
    total_cpu_cores     bigint,
    total_storage_gb    numeric,
    total_compute_score numeric
);

CREATE FUNCTION @extschema@.get_network_stats_by_type() RETURNS SETOF @extschema@.network_stats_by_type
    STRICT STABLE SECURITY DEFINER
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'get_network_stats_by_type_wrapper';

-- The slot write now carries the device type, so a change of type must reach shared memory.
DROP TRIGGER derive_device_columns ON @extschema@.compute_devices;
CREATE TRIGGER derive_device_columns
    BEFORE INSERT OR UPDATE OF ram_gb, cpu_cores, storage_gb, compute_score, updated_at,
                               id, user_id, device_type, deactivated_at, slot
    ON @extschema@.compute_devices
    FOR EACH ROW EXECUTE FUNCTION @extschema@.derive_device_columns();

-- The grants a new install gives it (sql/privileges.sql): the totals are public.
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
        EXECUTE 'REVOKE ALL ON FUNCTION @extschema@.get_network_stats_by_type() FROM ' OPERATOR(pg_catalog.||) grantee;
        IF grantee OPERATOR(pg_catalog.<>) 'PUBLIC' THEN
            EXECUTE 'GRANT EXECUTE ON FUNCTION @extschema@.get_network_stats_by_type() TO ' OPERATOR(pg_catalog.||) grantee;
        END IF;
    END LOOP;
END
$grants$;
