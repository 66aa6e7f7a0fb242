-- Least privilege, loaded last. Nothing is reachable by PUBLIC (published_totals by nobody: the
-- stats functions read it as its owner). Where Supabase's roles exist,
-- anon may read the network totals (all together, by device type, and get_capacity's) and the
-- countries (reference data) and nothing else;
-- authenticated may also call the four API functions and read its own rows and their
-- accelerators (row-level security,
-- whose policy calls caller_user_id()), in the table or in the compute_devices_live view (which
-- runs as its caller and calls current_liveness());
-- anyone may read the network's history (get_network_history, get_network_stats_at);
-- service_role (the gateway's) may also send heartbeats in batches for any owner and record the
-- network's history (record_network_history, which pg_cron runs as its job's owner). Supabase's default privileges grant new objects
-- in `public` to these roles, so their grants are revoked first too.

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
        EXECUTE 'REVOKE ALL ON TABLE @extschema@.compute_devices FROM ' OPERATOR(pg_catalog.||) grantee;
        EXECUTE 'REVOKE ALL ON TABLE @extschema@.compute_devices_live FROM ' OPERATOR(pg_catalog.||) grantee;
        EXECUTE 'REVOKE ALL ON TABLE @extschema@.published_totals FROM ' OPERATOR(pg_catalog.||) grantee;
        EXECUTE 'REVOKE ALL ON TABLE @extschema@.device_accelerators FROM ' OPERATOR(pg_catalog.||) grantee;
        EXECUTE 'REVOKE ALL ON TABLE @extschema@.countries FROM ' OPERATOR(pg_catalog.||) grantee;
        EXECUTE 'REVOKE ALL ON TABLE @extschema@.online_intervals, @extschema@.unknown_periods,
                                     @extschema@.network_history_minutes,
                                     @extschema@.network_history_hours FROM '
                OPERATOR(pg_catalog.||) grantee;
        EXECUTE 'REVOKE ALL ON SEQUENCE @extschema@.compute_devices_slot_seq FROM ' OPERATOR(pg_catalog.||) grantee;
        EXECUTE 'REVOKE ALL ON FUNCTION
                     @extschema@.calculate_compute_score(numeric, integer, numeric),
                     @extschema@.caller_user_id(),
                     @extschema@.current_liveness(uuid, uuid, boolean, timestamptz, timestamptz),
                     @extschema@.derive_device_columns(),
                     @extschema@.forget_device_slots(),
                     @extschema@.sweep_stale_devices(),
                     @extschema@.liveness_status(),
                     @extschema@.resync_liveness(),
                     @extschema@.send_heartbeats(uuid[], uuid[]),
                     @extschema@.register_device(text, text, numeric, integer, numeric, jsonb, text),
                     @extschema@.send_heartbeat(uuid),
                     @extschema@.deactivate_device(uuid),
                     @extschema@.get_user_devices(),
                     @extschema@.get_network_stats(),
                     @extschema@.get_network_stats_by_type(),
                     @extschema@.get_capacity(text[], text[], text[], numeric, integer, numeric,
                                              text[], text[], integer, integer, text, numeric),
                     @extschema@.accelerator_slots(),
                     @extschema@.device_health(uuid, uuid, timestamptz),
                     @extschema@.record_network_history(),
                     @extschema@.get_network_history(timestamptz, timestamptz, text, text),
                     @extschema@.get_network_stats_at(timestamptz)
                 FROM ' OPERATOR(pg_catalog.||) grantee;
        IF grantee OPERATOR(pg_catalog.<>) 'PUBLIC' THEN
            EXECUTE 'GRANT EXECUTE ON FUNCTION @extschema@.get_network_stats(),
                                               @extschema@.get_network_stats_by_type(),
                                               @extschema@.get_capacity(text[], text[], text[], numeric,
                                                   integer, numeric, text[], text[], integer, integer, text,
                                                   numeric),
                                               @extschema@.get_network_history(timestamptz, timestamptz, text, text),
                                               @extschema@.get_network_stats_at(timestamptz)
                     TO ' OPERATOR(pg_catalog.||) grantee;
            EXECUTE 'GRANT SELECT ON TABLE @extschema@.countries TO ' OPERATOR(pg_catalog.||) grantee;
        END IF;
    END LOOP;

    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'authenticated') THEN
        GRANT SELECT ON TABLE @extschema@.compute_devices, @extschema@.compute_devices_live,
                              @extschema@.device_accelerators
            TO authenticated;
        GRANT EXECUTE ON FUNCTION
            @extschema@.register_device(text, text, numeric, integer, numeric, jsonb, text),
            @extschema@.send_heartbeat(uuid),
            @extschema@.deactivate_device(uuid),
            @extschema@.get_user_devices(),
            @extschema@.caller_user_id(),
            @extschema@.current_liveness(uuid, uuid, boolean, timestamptz, timestamptz),
            @extschema@.device_health(uuid, uuid, timestamptz)
        TO authenticated;
    END IF;

    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'service_role') THEN
        GRANT EXECUTE ON FUNCTION @extschema@.send_heartbeats(uuid[], uuid[]),
                                  @extschema@.record_network_history()
            TO service_role;
    END IF;
END
$grants$;
