//! Shared memory's table of accelerator inventories filling up (src/shared_memory/inventories.rs):
//! a caller who keeps registering a device with new accelerators never gets a registration
//! refused, the answers stay those of the table, and after the worker's rebuild the database is
//! served from shared memory again with only the inventories the rows hold.

mod common;

use common::{connect, Caller, PostgRest, ALICE, BOB};
use compute_devices_test_support::{eventually, liveness_path, Cluster, ClusterPort};
use std::time::Duration;

static PORT: ClusterPort = ClusterPort::new();
const DATABASE: &str = "inventories";
/// The smallest the setting allows.
const INVENTORIES: usize = 16;

fn postgrest() -> PostgRest {
    PostgRest {
        client: connect(PORT.get(), "authenticator", DATABASE),
    }
}

fn register(api: &mut PostgRest, owner: &str, name: &str, memory_mib: usize) {
    let accelerators = format!(
        r#"[{{"vendor":"nvidia","product_name":"NVIDIA L4","memory_mib":{memory_mib},"count":2}}]"#
    );
    api.call(
        Caller::User(owner),
        "SELECT register_device($1, 'server', 8, 4, 100, $2::text::jsonb, 'de')",
        &[&name, &accelerators],
    )
    .unwrap_or_else(|e| panic!("{name} with {memory_mib} MiB is registered: {e}"));
}

/// get_capacity by model (key, devices, GPUs), and the network's GPUs and their memory.
type Answers = (Vec<(Option<String>, i64, i64)>, i64, String);

/// The answers as the API gives them.
fn answers(superuser: &mut postgres::Client) -> Answers {
    let by_model = superuser
        .query(
            "SELECT group_key, active_nodes, total_gpus FROM get_capacity(group_by => 'gpu_model')",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    let stats = superuser
        .query_one(
            "SELECT total_gpus, total_gpu_memory_gb::text FROM get_network_stats()",
            &[],
        )
        .unwrap();
    (by_model, stats.get(0), stats.get(1))
}

#[test]
fn a_full_table_of_inventories_refuses_nobody_and_is_rebuilt() {
    // The pgrx test framework installs the extension we are about to load.
    common::TestDb::empty("inventories_install", vec![]);
    let cluster = Cluster::init(
        "inventories",
        &format!(
            "compute_devices.database = '{DATABASE}'\n\
             compute_devices.accelerator_inventories = {INVENTORIES}"
        ),
    );
    cluster.start();
    PORT.set(&cluster);
    let mut superuser = cluster.serve(DATABASE);
    let mut api = postgrest();
    register(&mut api, BOB, "steady", 24_576);

    // One device registered again and again with accelerators never seen before: more
    // distinct inventories than the table holds. None is refused.
    for memory_mib in 1..=(INVENTORIES * 2) {
        register(&mut api, ALICE, "churn", memory_mib);
    }
    let expected = (
        vec![(Some("l4".to_string()), 2, 4)],
        4,
        "48.0625".to_string(), // (24,576 + 64) MiB × 2 / 1024
    );
    // The registration that did not fit left its slot without accelerators; within a tick the
    // worker leaves the shared-memory path, and the table answers.
    assert!(
        eventually(Duration::from_secs(5), || answers(&mut superuser)
            == expected),
        "the table's answers within seconds: {:?}",
        answers(&mut superuser)
    );

    // The worker left the shared-memory path and comes back after its rebuild, with only the
    // two inventories the rows hold.
    assert!(
        eventually(Duration::from_secs(40), || {
            liveness_path(&mut superuser) == "shared memory" && answers(&mut superuser) == expected
        }),
        "served from shared memory again, with the same answers"
    );
    for memory_mib in [100, 200, 300] {
        register(&mut api, ALICE, "churn", memory_mib);
    }
    let (_, gpus, _) = answers(&mut superuser);
    assert_eq!(gpus, 4);
    assert_eq!(liveness_path(&mut superuser), "shared memory");
    cluster.stop();
}
