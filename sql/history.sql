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

-- Declared here rather than by pgrx: its rows are returned in materialize mode, all in one call
-- (src/spi/result_set.rs), which pgrx's declarations do not offer.
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
