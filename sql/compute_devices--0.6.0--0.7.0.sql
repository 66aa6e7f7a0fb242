\echo Use "ALTER EXTENSION compute_devices UPDATE TO '0.7.0'" to load this file. \quit
-- compute_devices 0.6.0 to 0.7.0: device health, reliability-weighted capacity, and history.
-- A device's country is checked by the table's BEFORE trigger (derive_device_columns, which runs
-- as the table's owner so it can read countries) instead of a foreign key, whose after-row
-- event cost every registration more than the rest of the trigger.
ALTER TABLE @extschema@.compute_devices DROP CONSTRAINT compute_devices_country_code_fkey;
ALTER FUNCTION @extschema@.derive_device_columns() SECURITY DEFINER;

-- Each device's spells online (sql/intervals.sql).
-- Each device's spells online (src/intervals.rs): opened when it becomes live (registered,
-- revived by a heartbeat), closed when it stops being live: stopped by its owner (at the stop),
-- gone stale (at its last heartbeat plus the active window), or deleted. The worker records them
-- on the shared-memory path, the writes themselves on the table path. No foreign key: a deleted
-- device's spells stay until the history is pruned (compute_devices.history_retention).
-- Only the extension's functions write it; readers go through the health columns.
CREATE TABLE @extschema@.online_intervals (
    device_id  uuid        NOT NULL,
    started_at timestamptz NOT NULL,
    -- NULL while the spell is open (online now, as far as recorded).
    ended_at   timestamptz,
    end_reason text        CHECK (end_reason OPERATOR(pg_catalog.=) ANY (ARRAY['stopped', 'stale', 'deleted'])),
    PRIMARY KEY (device_id, started_at),
    CHECK ((ended_at IS NULL) OPERATOR(pg_catalog.=) (end_reason IS NULL)),
    CHECK (ended_at OPERATOR(pg_catalog.>=) started_at)
);
-- At most one open spell a device; the writers' ON CONFLICT relies on it.
CREATE UNIQUE INDEX online_intervals_open_key
    ON @extschema@.online_intervals (device_id) WHERE ended_at IS NULL;
-- Pruning finds old spells by their end.
CREATE INDEX online_intervals_ended_at ON @extschema@.online_intervals (ended_at);

COMMENT ON TABLE @extschema@.online_intervals IS
    'Spells online of each device (health and reliability); written by the extension only.';

-- When nothing was recorded: the server was down, from the worker's last published second to its
-- first rebuild after the restart. Uptime counts these periods as unknown, neither online nor
-- offline, so a restart is not held against any device.
CREATE TABLE @extschema@.unknown_periods (
    started_at timestamptz PRIMARY KEY,
    ended_at   timestamptz NOT NULL CHECK (ended_at OPERATOR(pg_catalog.>) started_at)
);

COMMENT ON TABLE @extschema@.unknown_periods IS
    'Periods the registry did not record (server down); uptime leaves them out.';

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
        EXECUTE 'REVOKE ALL ON TABLE @extschema@.online_intervals, @extschema@.unknown_periods FROM '
                OPERATOR(pg_catalog.||) grantee;
    END LOOP;
END
$grants$;

-- The devices the table marks active (not stopped) are online since their last heartbeat the
-- table holds, as far as anyone recorded; one gone stale meanwhile is closed where it went stale
-- (by the worker at once, or by the next sweep on the table path).
INSERT INTO @extschema@.online_intervals (device_id, started_at)
SELECT d.id, d.last_seen FROM @extschema@.compute_devices AS d
 WHERE d.is_active AND d.deactivated_at IS NULL;

-- forget_device_slots closes a removed device's spell, whichever role removed it.
ALTER FUNCTION @extschema@.forget_device_slots() SECURITY DEFINER;

-- Device health (src/health): the type device_health() returns, the function, and the view's
-- four new columns at its end (CREATE OR REPLACE VIEW may only append).
CREATE TYPE @extschema@.device_health AS (
    uptime_1d    numeric,
    uptime_7d    numeric,
    flaps_24h    integer,
    health_score numeric
);

CREATE FUNCTION @extschema@.device_health(
    device_id pg_catalog.uuid,
    user_id pg_catalog.uuid,
    created_at pg_catalog.timestamptz
) RETURNS @extschema@.device_health
    STABLE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'device_health_wrapper';

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
CREATE OR REPLACE VIEW @extschema@.compute_devices_live WITH (security_invoker = true) AS
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

-- get_capacity gains min_uptime_7d and the reliability-weighted columns. The 11-argument symbol
-- stays in the library for databases not updated yet.
ALTER TYPE @extschema@.network_capacity
    ADD ATTRIBUTE expected_nodes numeric,
    ADD ATTRIBUTE expected_ram_gb numeric,
    ADD ATTRIBUTE expected_cpu_cores numeric,
    ADD ATTRIBUTE expected_gpus numeric,
    ADD ATTRIBUTE p95_floor_nodes bigint,
    ADD ATTRIBUTE p95_floor_gpus bigint;

DROP FUNCTION @extschema@.get_capacity(text[], text[], text[], numeric, integer, numeric,
                                       text[], text[], integer, integer, text);
CREATE FUNCTION @extschema@.get_capacity(
    device_types pg_catalog.text[] DEFAULT NULL,
    countries pg_catalog.text[] DEFAULT NULL,
    regions pg_catalog.text[] DEFAULT NULL,
    min_ram_gb pg_catalog.numeric DEFAULT NULL,
    min_cpu_cores pg_catalog.int4 DEFAULT NULL,
    min_storage_gb pg_catalog.numeric DEFAULT NULL,
    gpu_vendors pg_catalog.text[] DEFAULT NULL,
    gpu_models pg_catalog.text[] DEFAULT NULL,
    min_gpus pg_catalog.int4 DEFAULT NULL,
    min_gpu_memory_mib pg_catalog.int4 DEFAULT NULL,
    group_by pg_catalog.text DEFAULT NULL,
    min_uptime_7d pg_catalog.numeric DEFAULT NULL
) RETURNS SETOF @extschema@.network_capacity
    STABLE SECURITY DEFINER
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'get_reliable_capacity_wrapper';

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
        EXECUTE 'REVOKE ALL ON FUNCTION @extschema@.device_health(uuid, uuid, timestamptz),
                     @extschema@.get_capacity(text[], text[], text[], numeric, integer, numeric,
                                              text[], text[], integer, integer, text, numeric)
                 FROM ' OPERATOR(pg_catalog.||) grantee;
        IF grantee OPERATOR(pg_catalog.<>) 'PUBLIC' THEN
            EXECUTE 'GRANT EXECUTE ON FUNCTION
                         @extschema@.get_capacity(text[], text[], text[], numeric, integer, numeric,
                                                  text[], text[], integer, integer, text, numeric)
                     TO ' OPERATOR(pg_catalog.||) grantee;
        END IF;
    END LOOP;
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'authenticated') THEN
        GRANT EXECUTE ON FUNCTION @extschema@.device_health(uuid, uuid, timestamptz) TO authenticated;
    END IF;
END
$grants$;

-- The network's capacity history (issue 16): once a minute record_network_history() writes the
-- totals get_network_stats() and get_capacity() answer at that moment, for the whole network, by
-- device type and by region, into network_history_minutes; it rolls each completed hour up into
-- network_history_hours and prunes both (compute_devices.history_retention and
-- history_retention_hours). Its size does not grow with the number of devices: at most
-- 1 + 4 + 6 rows a minute (the network, the four device types, the five regions and the devices
-- without one), about 2 MB a day.
-- Only the extension's SECURITY DEFINER functions read or write these tables: readers call
-- get_network_history() and get_network_stats_at().

-- kind: 0 the whole network (group_key ''), 1 by device type (group_key the type; all four
-- every minute, zeros included), 2 by region (group_key the UN M49 region, '' for devices
-- without a country or in a country without a region; only regions with active devices).
CREATE TABLE @extschema@.network_history_minutes (
    -- The minute recorded: date_trunc('minute', now(), 'UTC') of the recording transaction.
    minute              timestamptz NOT NULL,
    kind                smallint    NOT NULL CHECK (kind OPERATOR(pg_catalog.>=) 0
                                                    AND kind OPERATOR(pg_catalog.<=) 2),
    group_key           text        NOT NULL,
    active_nodes        bigint      NOT NULL,
    total_ram_gb        numeric     NOT NULL,
    total_cpu_cores     bigint      NOT NULL,
    total_storage_gb    numeric     NOT NULL,
    total_compute_score numeric     NOT NULL,
    total_gpus          bigint      NOT NULL,
    total_gpu_memory_gb numeric     NOT NULL,
    PRIMARY KEY (minute, kind, group_key),
    CHECK (kind OPERATOR(pg_catalog.<>) 0 OR group_key OPERATOR(pg_catalog.=) '')
);

COMMENT ON TABLE @extschema@.network_history_minutes IS
    'Network totals recorded once a minute by record_network_history(); read them with get_network_history().';

-- One row per UTC hour and group: the sums of the hour's minute rows (an average is the sum
-- divided by samples), the minimum and maximum of active_nodes. samples is the number of minutes
-- recorded in that hour for the whole network; a group missing from some of them (a region
-- without devices then) counted 0 there, so its minimum is 0.
CREATE TABLE @extschema@.network_history_hours (
    hour                    timestamptz NOT NULL,
    kind                    smallint    NOT NULL CHECK (kind OPERATOR(pg_catalog.>=) 0
                                                        AND kind OPERATOR(pg_catalog.<=) 2),
    group_key               text        NOT NULL,
    samples                 integer     NOT NULL CHECK (samples OPERATOR(pg_catalog.>) 0),
    active_nodes_sum        bigint      NOT NULL,
    active_nodes_min        bigint      NOT NULL,
    active_nodes_max        bigint      NOT NULL,
    total_ram_gb_sum        numeric     NOT NULL,
    total_cpu_cores_sum     numeric     NOT NULL,
    total_storage_gb_sum    numeric     NOT NULL,
    total_compute_score_sum numeric     NOT NULL,
    total_gpus_sum          numeric     NOT NULL,
    total_gpu_memory_gb_sum numeric     NOT NULL,
    PRIMARY KEY (hour, kind, group_key),
    CHECK (kind OPERATOR(pg_catalog.<>) 0 OR group_key OPERATOR(pg_catalog.=) '')
);

COMMENT ON TABLE @extschema@.network_history_hours IS
    'Hourly sums, minimum and maximum of the minute history; read them with get_network_history().';

-- History is data: pg_dump keeps it.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.network_history_minutes', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.network_history_hours', '');

-- The functions (src/api/history.rs).
CREATE FUNCTION @extschema@.record_network_history() RETURNS pg_catalog.timestamptz
    STRICT VOLATILE SECURITY DEFINER
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'record_network_history_wrapper';

CREATE FUNCTION @extschema@.get_network_history(
    since pg_catalog.timestamptz,
    until pg_catalog.timestamptz,
    bucket pg_catalog.text DEFAULT '1 minute',
    group_by pg_catalog.text DEFAULT NULL
) RETURNS TABLE (
    bucket_start pg_catalog.timestamptz,
    group_key pg_catalog.text,
    active_nodes pg_catalog.numeric,
    active_nodes_min pg_catalog.int8,
    active_nodes_max pg_catalog.int8,
    total_ram_gb pg_catalog.numeric,
    total_cpu_cores pg_catalog.numeric,
    total_storage_gb pg_catalog.numeric,
    total_compute_score pg_catalog.numeric,
    total_gpus pg_catalog.numeric,
    total_gpu_memory_gb pg_catalog.numeric
)
    STABLE SECURITY DEFINER
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'get_network_history_wrapper';

CREATE FUNCTION @extschema@.get_network_stats_at(at pg_catalog.timestamptz)
    RETURNS @extschema@.network_stats
    STABLE SECURITY DEFINER
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'get_network_stats_at_wrapper';

-- The grants (the same lines go into sql/privileges.sql's loop and its service_role block):
-- nobody but the owner touches the tables; the readers are public like get_network_stats();
-- only service_role records.
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
        EXECUTE 'REVOKE ALL ON TABLE @extschema@.network_history_minutes,
                                     @extschema@.network_history_hours FROM ' OPERATOR(pg_catalog.||) grantee;
        EXECUTE 'REVOKE ALL ON FUNCTION @extschema@.record_network_history(),
                     @extschema@.get_network_history(timestamptz, timestamptz, text, text),
                     @extschema@.get_network_stats_at(timestamptz)
                 FROM ' OPERATOR(pg_catalog.||) grantee;
        IF grantee OPERATOR(pg_catalog.<>) 'PUBLIC' THEN
            EXECUTE 'GRANT EXECUTE ON FUNCTION
                         @extschema@.get_network_history(timestamptz, timestamptz, text, text),
                         @extschema@.get_network_stats_at(timestamptz)
                     TO ' OPERATOR(pg_catalog.||) grantee;
        END IF;
    END LOOP;
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'service_role') THEN
        GRANT EXECUTE ON FUNCTION @extschema@.record_network_history() TO service_role;
    END IF;
END
$grants$;
