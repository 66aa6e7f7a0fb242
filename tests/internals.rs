//! No internals reach a caller: with RUST_BACKTRACE=1 (and RUST_LIB_BACKTRACE=1) in the
//! server's environment, no error a caller receives carries a backtrace or a build path:
//! neither our own errors, nor PostgreSQL's passing through our functions, nor an internal
//! failure, whose detail goes to the server log only.

mod common;

use common::{connect, request, Caller, PostgRest, ALICE, GOOD_SPECS};
use compute_devices_test_support::{Cluster, ClusterPort};
use postgres::error::DbError;

static PORT: ClusterPort = ClusterPort::new();
const DATABASE: &str = "internals";

fn postgrest() -> PostgRest {
    PostgRest {
        client: connect(PORT.get(), "authenticator", DATABASE),
    }
}

/// Everything a client is sent about an error, as text.
fn sent_to_the_client(error: &DbError) -> String {
    format!(
        "{} | {:?} | {:?} | {:?} | {:?} | {:?}",
        error.message(),
        error.detail(),
        error.hint(),
        error.where_(),
        error.file(),
        error.routine()
    )
}

fn assert_no_internals(what: &str, error: &DbError) {
    let sent = sent_to_the_client(error);
    for internal in [
        "backtrace",
        "/root/",
        "/home/",
        "registry/src",
        ".cargo",
        "rustc",
        "::",
    ] {
        assert!(!sent.contains(internal), "{what}: {internal:?} in {sent}");
    }
    assert!(
        error
            .detail()
            .is_none_or(|detail| detail.lines().count() <= 2),
        "{what}: a long detail: {sent}"
    );
}

/// A transaction as Alice, the way PostgREST opens one.
fn as_alice(client: &mut postgres::Client) -> postgres::Transaction<'_> {
    request(client.build_transaction(), Caller::User(ALICE)).unwrap()
}

fn db_error(result: Result<Vec<postgres::Row>, postgres::Error>) -> DbError {
    let error = result.expect_err("the call fails");
    error.as_db_error().expect("a database error").clone()
}

#[test]
fn no_backtrace_or_build_path_reaches_a_caller() {
    // The pgrx test framework installs the extension we are about to load.
    common::TestDb::empty("internals_install", vec![]);
    let cluster = Cluster::init(
        "internals",
        &format!("compute_devices.database = '{DATABASE}'"),
    );
    cluster.start_with_env(&[("RUST_BACKTRACE", "1"), ("RUST_LIB_BACKTRACE", "1")]);
    PORT.set(&cluster);
    let mut superuser = cluster.serve(DATABASE);
    let mut api = postgrest();
    let id: String = api
        .register(Caller::User(ALICE), "box", "server", GOOD_SPECS)
        .unwrap()
        .get(0);

    // Our own errors, raised by the API.
    let refused = db_error(api.call(
        Caller::User(ALICE),
        "SELECT register_device('a\u{202E}b', 'phone', 1, 1, 1)",
        &[],
    ));
    assert_eq!(refused.code().code(), "22023");
    assert_no_internals("a refused name", &refused);
    let not_authenticated = db_error(api.call(
        Caller::AuthenticatedWithClaims("[]"),
        "SELECT * FROM get_user_devices()",
        &[],
    ));
    assert_eq!(not_authenticated.code().code(), "42501");
    assert_no_internals("bad claims", &not_authenticated);

    // PostgreSQL's own errors passing through our functions: a read-only transaction, and a
    // lock timeout inside register_device while another registration of the owner holds its lock.
    let mut transaction = as_alice(&mut api.client);
    transaction
        .batch_execute("SET TRANSACTION READ ONLY")
        .unwrap();
    let read_only = db_error(transaction.query(&format!("SELECT send_heartbeat('{id}')"), &[]));
    assert_eq!(read_only.code().code(), "25006");
    assert_no_internals("a read-only transaction", &read_only);
    drop(transaction);

    let mut holder = postgrest();
    let mut open = as_alice(&mut holder.client);
    open.query("SELECT register_device('held', 'phone', 1, 1, 1)", &[])
        .unwrap();
    let mut waiting = as_alice(&mut api.client);
    waiting
        .batch_execute("SET LOCAL lock_timeout = '200ms'")
        .unwrap();
    let timed_out =
        db_error(waiting.query("SELECT register_device('late', 'phone', 1, 1, 1)", &[]));
    assert_eq!(timed_out.code().code(), "55P03");
    assert_no_internals("a lock timeout", &timed_out);
    drop(waiting);
    open.rollback().unwrap();

    // An internal failure (a broken installation): a short generic message for the caller,
    // the detail in the server log.
    superuser
        .batch_execute(
            "ALTER TABLE compute_devices DROP CONSTRAINT compute_devices_user_id_device_name_key",
        )
        .unwrap();
    let internal = db_error(api.call(
        Caller::User(ALICE),
        "SELECT register_device('box', 'server', 1, 1, 1)",
        &[],
    ));
    assert_eq!(internal.code().code(), "XX000");
    assert_eq!(internal.message(), "compute_devices internal error");
    assert_no_internals("an internal failure", &internal);
    let log = std::fs::read_to_string(cluster.data.join("server.log")).unwrap();
    assert!(
        log.contains("compute_devices_user_id_device_name_key index is missing"),
        "the detail is in the server log"
    );
    assert!(
        !log.contains("stack backtrace"),
        "no backtrace was taken at all"
    );
}
