//! The store the unit tests run on: in-memory SQLite, or a fresh PostgreSQL database in the
//! cluster named by `CERTMAIL_TEST_PG` (contrib/test runs the store's tests a second time so).

use super::{DbAccess, Location, Store};
use std::str::FromStr;

/// A new, empty, migrated store.
pub(crate) fn test_store() -> Store {
    let Ok(url) = std::env::var("CERTMAIL_TEST_PG") else {
        return Store::open_in_memory().expect("in-memory store");
    };
    let name = format!("t_{}", hex::encode(rand::random::<[u8; 8]>()));
    let admin = postgres::Config::from_str(&url).expect("CERTMAIL_TEST_PG is a PostgreSQL URL");
    let mut client = admin
        .connect(postgres::NoTls)
        .expect("connect to CERTMAIL_TEST_PG");
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create a test database");
    let mut config = admin.clone();
    config.dbname(&name);
    Store::open_location(&Location::Postgres(Box::new(config)), &DbAccess::default())
        .expect("open the test database")
}
