//! The store the unit tests run on: in-memory SQLite, or a fresh PostgreSQL database in the
//! cluster named by `CERTMAIL_TEST_PG` (contrib/test runs the store's tests a second time so).
//! [`test_cluster`] gives several nodes' stores on one database (a SQLite file otherwise).

use super::{DbAccess, Location, Store};

/// A new, empty, migrated store.
pub(crate) fn test_store() -> Store {
    match pg_database() {
        Some(location) => {
            Store::open_location(&location, &DbAccess::default()).expect("open the test database")
        }
        None => Store::open_in_memory().expect("in-memory store"),
    }
}

/// `n` stores on one new database, named node1, node2, …: the nodes of a cluster. The
/// directory holding a SQLite database is returned with them (dropped after the stores).
pub(crate) fn test_cluster(n: usize) -> (Vec<Store>, Option<tempfile::TempDir>) {
    let (location, dir) = match pg_database() {
        Some(location) => (location, None),
        None => {
            let dir = tempfile::tempdir().expect("temp dir");
            (Location::Sqlite(dir.path().join("certd.sqlite")), Some(dir))
        }
    };
    let stores = (1..=n)
        .map(|i| {
            let mut s = Store::open_location(&location, &DbAccess::default()).expect("open");
            s.set_node(&format!("node{i}"));
            s
        })
        .collect();
    (stores, dir)
}

/// A fresh database in the `CERTMAIL_TEST_PG` cluster, if one is named.
fn pg_database() -> Option<Location> {
    let url = std::env::var("CERTMAIL_TEST_PG").ok()?;
    let name = format!("t_{}", hex::encode(rand::random::<[u8; 8]>()));
    // Parsed as certd parses `[store] url`: the suite runs over TLS when the URL asks for it.
    let Ok(Location::Postgres(admin)) = Location::parse(&url) else {
        panic!("CERTMAIL_TEST_PG is a PostgreSQL URL");
    };
    let mut client = admin.connect().expect("connect to CERTMAIL_TEST_PG");
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create a test database");
    let mut target = *admin;
    target.config.dbname(&name);
    Some(Location::Postgres(Box::new(target)))
}

/// SQLite's `EXPLAIN QUERY PLAN` of `sql` with `args`, its steps joined by "; ".
pub(crate) fn sqlite_plan(store: &Store, sql: &str, args: &[&dyn super::sql::ToSql]) -> String {
    let conn = store.conn();
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("prepare the plan");
    let plan: Vec<String> = stmt
        .query_map(args, |r| r.get::<_, String>(3))
        .expect("plan rows")
        .collect::<Result<_, _>>()
        .expect("plan steps");
    plan.join("; ")
}
