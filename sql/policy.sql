-- Row-level security: a caller reads only the devices it owns. The owner is read from
-- request.jwt.claims by caller_user_id(), the same code (and the same grammar of claims) as
-- every API function's, so the policy and the functions agree on every input: claims that name
-- no user are 42501 for both. The sub-select makes it one call per statement, not per row.
CREATE POLICY compute_devices_owner_reads ON @extschema@.compute_devices
    FOR SELECT
    USING (user_id OPERATOR(pg_catalog.=) (SELECT @extschema@.caller_user_id()));

-- A device's accelerators are read by whoever may read the device.
CREATE POLICY device_accelerators_owner_reads ON @extschema@.device_accelerators
    FOR SELECT
    USING (EXISTS (SELECT FROM @extschema@.compute_devices AS d
                    WHERE d.id OPERATOR(pg_catalog.=) device_accelerators.device_id
                      AND d.user_id OPERATOR(pg_catalog.=) (SELECT @extschema@.caller_user_id())));
