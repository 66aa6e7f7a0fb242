\echo Use "ALTER EXTENSION compute_devices UPDATE TO '0.5.0'" to load this file. \quit
-- compute_devices 0.4.0 to 0.5.0: replicas. The worker publishes its network totals once a
-- second into the one row of published_totals, so they reach standbys through WAL; the stats
-- read it there (and on a primary whose shared memory is not ready yet). liveness_status()
-- says so: its path may be 'published totals', and it gains in_recovery and
-- snapshot_age_seconds.

-- As a new install creates it (sql/schema.sql).
CREATE TABLE @extschema@.published_totals (
    singleton             pg_catalog.bool        PRIMARY KEY DEFAULT true CHECK (singleton),
    taken_at              pg_catalog.timestamptz NOT NULL,
    active_window_seconds pg_catalog.int4        NOT NULL,
    by_type               pg_catalog.jsonb       NOT NULL
);

ALTER TABLE @extschema@.published_totals SET (fillfactor = 10);

COMMENT ON TABLE @extschema@.published_totals IS
    'The worker''s network totals for standbys; written by the extension only.';

-- New columns: the function is made again (its grants below).
DROP FUNCTION @extschema@.liveness_status();
CREATE FUNCTION @extschema@.liveness_status() RETURNS TABLE (
    path pg_catalog.text,
    slots pg_catalog.int8,
    slots_used pg_catalog.int8,
    shared_memory_bytes pg_catalog.int8,
    snapshot_taken_at pg_catalog.timestamptz,
    in_recovery pg_catalog.bool,
    snapshot_age_seconds pg_catalog.float8
)
    STRICT VOLATILE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'liveness_status_wrapper';

-- The grants a new install gives them (sql/privileges.sql): nobody but its owner reads the
-- table, and liveness_status() is for superusers.
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
        EXECUTE 'REVOKE ALL ON TABLE @extschema@.published_totals FROM ' OPERATOR(pg_catalog.||) grantee;
        EXECUTE 'REVOKE ALL ON FUNCTION @extschema@.liveness_status() FROM ' OPERATOR(pg_catalog.||) grantee;
    END LOOP;
END
$grants$;
