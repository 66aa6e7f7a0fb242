//! The hand-written DDL in sql/, in the order CREATE EXTENSION must run it.

use pgrx::prelude::*;

extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);

extension_sql_file!("../sql/countries.sql", name = "countries");

extension_sql_file!(
    "../sql/intervals.sql",
    name = "intervals",
    requires = ["schema"]
);

extension_sql_file!(
    "../sql/trigger.sql",
    name = "trigger",
    requires = [
        derive_device_columns,
        forget_device_slots,
        accelerator_slots
    ]
);

extension_sql_file!(
    "../sql/policy.sql",
    name = "policy",
    requires = [caller_user_id]
);

extension_sql_file!(
    "../sql/live.sql",
    name = "live_view",
    requires = [current_liveness, device_health]
);

extension_sql_file!("../sql/history.sql", name = "history");

extension_sql_file!("../sql/privileges.sql", name = "privileges", finalize);
