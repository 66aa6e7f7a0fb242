-- compute_devices 0.2.0 to 0.3.0: trust under attack.
--
-- Every function now runs with search_path = pg_catalog, pg_temp, and our SQL names our own
-- objects with their schema: no object another role creates, even in the extension's schema,
-- can stand in for a function, operator or type we use. The row-level security policy reads
-- the caller through caller_user_id(), the API's own reading of the claims. resync_liveness()
-- lets the DBA make shared memory re-read the table at once.
\echo Use "ALTER EXTENSION compute_devices UPDATE TO '0.3.0'" to load this file. \quit

ALTER FUNCTION @extschema@.register_device(pg_catalog.text, pg_catalog.text, pg_catalog.numeric,
                                           pg_catalog.int4, pg_catalog.numeric)
    SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.deactivate_device(pg_catalog.uuid) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.get_user_devices() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.send_heartbeat(pg_catalog.uuid) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.send_heartbeats(pg_catalog.uuid[], pg_catalog.uuid[])
    SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.get_network_stats() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.get_network_stats_by_type() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.sweep_stale_devices() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.liveness_status() SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION @extschema@.caller_user_id() RETURNS pg_catalog.uuid
    STRICT STABLE PARALLEL SAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'caller_user_id_wrapper';

CREATE FUNCTION @extschema@.resync_liveness() RETURNS pg_catalog.int8
    STRICT VOLATILE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'resync_liveness_wrapper';

DROP POLICY compute_devices_owner_reads ON @extschema@.compute_devices;
CREATE POLICY compute_devices_owner_reads ON @extschema@.compute_devices
    FOR SELECT
    USING (user_id OPERATOR(pg_catalog.=) (SELECT @extschema@.caller_user_id()));

-- The grants a new install gives them (sql/privileges.sql): authenticated's reads of its own
-- rows call caller_user_id(); resync_liveness() is the DBA's alone.
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
        EXECUTE 'REVOKE ALL ON FUNCTION @extschema@.caller_user_id(), @extschema@.resync_liveness()
                 FROM ' OPERATOR(pg_catalog.||) grantee;
    END LOOP;
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'authenticated') THEN
        GRANT EXECUTE ON FUNCTION @extschema@.caller_user_id() TO authenticated;
    END IF;
END
$grants$;
