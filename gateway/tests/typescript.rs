//! The TypeScript client's types cannot drift from the catalog: `clients/typescript/src/database.ts`
//! must be exactly what the gateway generates from the installed extension's catalog (and the
//! client's own types are checked against that file by `tsc`, in
//! `clients/typescript/test/catalog.test.ts`). `UPDATE_TYPES=1` rewrites the file instead.

mod common;

use common::cluster;

const GENERATED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../clients/typescript/src/database.ts"
);

#[test]
fn the_clients_database_types_are_generated_from_the_catalog() {
    let cluster = cluster("typescript");
    let generated = compute_gateway::typescript::render(&common::schema_cache(cluster.port()));
    // What the generator must see for the file to be worth checking.
    for expected in [
        "get_network_stats: {",
        "register_device: {",
        "compute_devices_live: {",
    ] {
        assert!(generated.contains(expected), "{expected} in:\n{generated}");
    }
    if std::env::var_os("UPDATE_TYPES").is_some() {
        std::fs::write(GENERATED, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(GENERATED).unwrap_or_default();
    assert!(
        committed == generated,
        "clients/typescript/src/database.ts differs from the catalog; regenerate it with \
         `UPDATE_TYPES=1 cargo test -p compute-gateway --test typescript`. Generated:\n{generated}"
    );
}
