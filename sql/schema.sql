-- The device table and the row types the API returns.
-- Loaded first (bootstrap): the Rust functions name these types in their signatures.

-- ISO 3166-1 countries with their UN M49 region and sub-region, shipped with the extension (data:
-- sql/countries.sql, loaded with it). A device names its country; its region and sub-region are
-- read from here, never stored with the device, so the labels cannot drift.
CREATE TABLE @extschema@.countries (
    country_code text PRIMARY KEY CHECK (country_code OPERATOR(pg_catalog.~) '^[A-Z]{2}$'),
    -- ISO 3166-1 numeric (the UN M49 code), three digits: what maps (world-atlas) key shapes by.
    numeric_code text NOT NULL UNIQUE CHECK (numeric_code OPERATOR(pg_catalog.~) '^[0-9]{3}$'),
    country_name text NOT NULL,
    -- Africa, Americas, Asia, Europe or Oceania; NULL where M49 places none (Antarctica).
    region       text,
    -- The M49 sub-region, e.g. 'Western Europe'.
    subregion    text,
    CHECK (subregion IS NULL OR region IS NOT NULL)
);

COMMENT ON TABLE @extschema@.countries IS
    'ISO 3166-1 countries with their UN M49 region and sub-region; shipped with the extension.';

-- Each device's slot in shared memory (see src/shared_memory/slots.rs): dense, never reused, never changed.
CREATE SEQUENCE @extschema@.compute_devices_slot_seq AS integer MINVALUE 0 START WITH 0;

CREATE TABLE @extschema@.compute_devices (
    id             uuid        PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    user_id        uuid        NOT NULL,
    device_name    text        NOT NULL,
    device_type    text        NOT NULL
                   CHECK (device_type OPERATOR(pg_catalog.=)
                          ANY (ARRAY['phone', 'laptop', 'desktop', 'server']::pg_catalog.text[])),
    -- register_device allows at most 9 decimals (GB to the byte), which shared memory sums
    -- exactly; it rounds anything finer written here by hand.
    ram_gb         numeric     NOT NULL DEFAULT 0,
    cpu_cores      integer     NOT NULL DEFAULT 0,
    storage_gb     numeric     NOT NULL DEFAULT 0,
    compute_score  numeric     NOT NULL DEFAULT 0,
    is_active      boolean     NOT NULL DEFAULT false,
    last_seen      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- Set when the owner deactivates the device ("stopped"), cleared when it registers again.
    -- A stale device (silent past the active window) keeps this NULL, so a heartbeat revives it.
    deactivated_at timestamptz,
    slot           integer     NOT NULL
                   DEFAULT pg_catalog.nextval('@extschema@.compute_devices_slot_seq'::pg_catalog.regclass),
    -- Heartbeats find their device's slot through this index; the slot never changes, so
    -- heartbeat writes stay HOT.
    CONSTRAINT compute_devices_slot_key UNIQUE (slot),
    -- One row per (owner, name): register_device upserts on this key, and it serves
    -- get_user_devices' lookup by owner.
    CONSTRAINT compute_devices_user_id_device_name_key UNIQUE (user_id, device_name),
    -- Where the device is (ISO 3166-1 alpha-2), as its owner registered it; NULL for unknown.
    -- One of countries' codes: derive_device_columns checks it (a foreign key's after-row event
    -- cost every registration more than the whole trigger).
    country_code   text
);

-- Heartbeats rewrite last_seen and is_active many times a minute. No index contains either
-- column, so each heartbeat can be a HOT update; the free space left on each page gives the
-- new row version room on the same page.
ALTER TABLE @extschema@.compute_devices SET (fillfactor = 80);

COMMENT ON TABLE @extschema@.compute_devices IS
    'Shared compute devices. Write through register_device, send_heartbeat and deactivate_device.';

-- pg_dump keeps the device rows; the table itself is recreated by CREATE EXTENSION.
ALTER SEQUENCE @extschema@.compute_devices_slot_seq OWNED BY @extschema@.compute_devices.slot;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.compute_devices', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.compute_devices_slot_seq', '');

-- Row-level security: a caller sees only the devices whose owner is the `sub` of the JWT
-- claims PostgREST sets (the policy, in sql/policy.sql, reads it as the API functions do).
ALTER TABLE @extschema@.compute_devices ENABLE ROW LEVEL SECURITY;

-- A device's accelerators (GPUs and the like): one row per group of identical ones, as
-- register_device was given them (it replaces them all on every registration). model is derived
-- from product_name by register_device (src/accelerators/model.rs), so filters match and unknown
-- models stay apart. Deleted with the device.
CREATE TABLE @extschema@.device_accelerators (
    device_id    uuid    NOT NULL REFERENCES @extschema@.compute_devices (id)
                         ON DELETE CASCADE ON UPDATE CASCADE,
    vendor       text    NOT NULL
                 CHECK (vendor OPERATOR(pg_catalog.=) ANY (ARRAY['nvidia', 'amd', 'intel', 'apple',
                                                                 'qualcomm', 'other']::pg_catalog.text[])),
    product_name text    NOT NULL,
    model        text    NOT NULL,
    -- Per accelerator; 0 when it shares the system's memory.
    memory_mib   integer NOT NULL CHECK (memory_mib OPERATOR(pg_catalog.>=) 0),
    count        integer NOT NULL CHECK (count OPERATOR(pg_catalog.>=) 1),
    PRIMARY KEY (device_id, vendor, model, memory_mib)
);

COMMENT ON TABLE @extschema@.device_accelerators IS
    'Accelerators of each device, a row per group of identical ones. Written by register_device.';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.device_accelerators', '');

-- The owner reads their devices' accelerators (sql/policy.sql).
ALTER TABLE @extschema@.device_accelerators ENABLE ROW LEVEL SECURITY;

CREATE TYPE @extschema@.heartbeat AS (
    device_id                 uuid,
    is_active                 boolean,
    last_seen                 timestamptz,
    next_heartbeat_in_seconds integer
);

-- One entry of send_heartbeats: the heartbeat, or the error (SQLSTATE, message and hint)
-- send_heartbeat would raise.
CREATE TYPE @extschema@.heartbeat_result AS (
    user_id                   uuid,
    device_id                 uuid,
    is_active                 boolean,
    last_seen                 timestamptz,
    next_heartbeat_in_seconds integer,
    error_code                text,
    error_message             text,
    error_hint                text
);

-- A device's liveness as it is now (current_liveness(), for the compute_devices_live view).
CREATE TYPE @extschema@.device_liveness AS (
    is_active boolean,
    last_seen timestamptz
);

-- A device's health as it is now (device_health(), for the compute_devices_live view): see
-- src/health. NULL uptimes: no known time in the window.
CREATE TYPE @extschema@.device_health AS (
    uptime_1d    numeric,
    uptime_7d    numeric,
    flaps_24h    integer,
    health_score numeric
);

CREATE TYPE @extschema@.network_stats AS (
    active_nodes        bigint,
    total_ram_gb        numeric,
    total_cpu_cores     bigint,
    total_storage_gb    numeric,
    total_compute_score numeric,
    total_gpus          bigint,
    total_gpu_memory_gb numeric
);

-- get_network_stats_by_type: one row per device type, in the order of the type's CHECK.
CREATE TYPE @extschema@.network_stats_by_type AS (
    device_type         text,
    active_nodes        bigint,
    total_ram_gb        numeric,
    total_cpu_cores     bigint,
    total_storage_gb    numeric,
    total_compute_score numeric,
    total_gpus          bigint,
    total_gpu_memory_gb numeric
);

-- get_capacity: the active devices that match its filters, one row per group (or one row);
-- then the registered devices that are not stopped, each weighted by its reliability (the
-- expected_ columns), and the lower bounds met with at least 95% probability (src/health).
CREATE TYPE @extschema@.network_capacity AS (
    group_key           text,
    active_nodes        bigint,
    total_ram_gb        numeric,
    total_cpu_cores     bigint,
    total_storage_gb    numeric,
    total_compute_score numeric,
    total_gpus          bigint,
    total_gpu_memory_gb numeric,
    expected_nodes      numeric,
    expected_ram_gb     numeric,
    expected_cpu_cores  numeric,
    expected_gpus       numeric,
    p95_floor_nodes     bigint,
    p95_floor_gpus      bigint
);

-- The worker's network totals, published once a second so that they reach standbys through WAL
-- (one row, whatever the number of devices): stats on a standby, or on a primary whose shared
-- memory is not ready yet, read it while it is younger than the active window. by_type holds,
-- per device type, active_nodes, total_ram_gb, total_cpu_cores, total_storage_gb, total_gpus and
-- total_gpu_memory_gb, exact.
-- Only the worker writes it; only the SECURITY DEFINER stats functions read it.
CREATE TABLE @extschema@.published_totals (
    singleton             boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    taken_at              timestamptz NOT NULL,
    active_window_seconds integer     NOT NULL,
    by_type               jsonb       NOT NULL
);

-- Rewritten every second: room on its page for the new versions, so each update is HOT.
ALTER TABLE @extschema@.published_totals SET (fillfactor = 10);

COMMENT ON TABLE @extschema@.published_totals IS
    'The worker''s network totals for standbys; written by the extension only.';
