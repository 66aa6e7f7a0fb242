//! The TypeScript client's types cannot drift from the catalog: `clients/typescript/src/database.ts`
//! must be exactly what the gateway generates from the installed extension's catalog (and the
//! client's own types are checked against that file by `tsc`, in
//! `clients/typescript/test/catalog.test.ts`). `UPDATE_TYPES=1` rewrites the file instead.

mod common;

use common::{cluster, DATABASE};

const GENERATED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../clients/typescript/src/database.ts"
);

#[test]
fn the_clients_database_types_are_generated_from_the_catalog() {
    let cluster = cluster("typescript");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let generated = runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(
            &format!(
                "host=localhost port={} user=authenticator dbname={DATABASE}",
                cluster.port()
            ),
            tokio_postgres::NoTls,
        )
        .await
        .unwrap();
        tokio::spawn(connection);
        let cache = compute_gateway::schema::load(&client).await.unwrap();
        compute_gateway::typescript::render(&cache)
    });
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
