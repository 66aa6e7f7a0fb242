-- The device table and the row types the API returns.
-- Loaded first (bootstrap): the Rust functions name these types in their signatures.

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
    CONSTRAINT compute_devices_user_id_device_name_key UNIQUE (user_id, device_name)
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

CREATE TYPE @extschema@.network_stats AS (
    active_nodes        bigint,
    total_ram_gb        numeric,
    total_cpu_cores     bigint,
    total_storage_gb    numeric,
    total_compute_score numeric
);

-- get_network_stats_by_type: one row per device type, in the order of the type's CHECK.
CREATE TYPE @extschema@.network_stats_by_type AS (
    device_type         text,
    active_nodes        bigint,
    total_ram_gb        numeric,
    total_cpu_cores     bigint,
    total_storage_gb    numeric,
    total_compute_score numeric
);

-- The worker's network totals, published once a second so that they reach standbys through WAL
-- (one row, whatever the number of devices): stats on a standby, or on a primary whose shared
-- memory is not ready yet, read it while it is younger than the active window. by_type holds,
-- per device type, active_nodes, total_ram_gb, total_cpu_cores and total_storage_gb, exact.
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
