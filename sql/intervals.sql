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
