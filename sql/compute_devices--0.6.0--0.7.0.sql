\echo Use "ALTER EXTENSION compute_devices UPDATE TO '0.7.0'" to load this file. \quit
-- compute_devices 0.6.0 to 0.7.0.
-- A device's country is checked by the table's BEFORE trigger (derive_device_columns, which runs
-- as the table's owner so it can read countries) instead of a foreign key, whose after-row
-- event cost every registration more than the rest of the trigger.
ALTER TABLE @extschema@.compute_devices DROP CONSTRAINT compute_devices_country_code_fkey;
ALTER FUNCTION @extschema@.derive_device_columns() SECURITY DEFINER;
