//! The durable state of certd: customers, contracts, the hash-chained event log and the outbox,
//! in one SQLite database (one node) or one PostgreSQL database shared by several nodes.
//!
//! Durability rules (see `docs/schema.md`): on SQLite, WAL journal with `synchronous=FULL`, so a
//! commit survives power loss, and every write is one `BEGIN IMMEDIATE` transaction, so the
//! single writer takes the lock up front; on PostgreSQL, READ COMMITTED transactions that lock
//! the contract they change (`FOR UPDATE`), so nodes serialise per contract only. Events are
//! append-only (triggers) and chained by SHA-256, so any edit of history is detectable.
//!
//! The ground floor of certd: it imports only the evidence types below it. It loads and saves;
//! the clock, fresh secrets and idempotency keys come from its callers.

pub mod admin;
mod bulk;
mod certificates;
mod chain;
#[cfg(test)]
mod cluster_tests;
mod columns;
pub mod commit_times;
pub(crate) mod contracts;
mod copy;
pub mod counts;
mod customers;
mod files;
pub(crate) mod lifecycle;
mod location;
pub(crate) mod outbox;
mod postgres_schema;
pub(crate) mod sms;
pub(crate) mod sql;
#[cfg(test)]
pub(crate) mod test_store;
mod timers;

pub use certificates::{CertificateVersion, Snapshot};
pub(crate) use chain::event_hash;
pub use chain::{ChainError, GENESIS};
pub use contracts::{
    ContractRow, ContractSummary, EventRow, Inserted, Intake, ListFilter, Minted, SubmitOutcome,
};
pub use copy::CopyReport;
pub use customers::{Customer, NewCustomer};
pub(crate) use files::refuse_world_access;
pub use files::{prepare_database, DbAccess};
pub use lifecycle::{BounceRoute, Facts, TokenTarget};
pub use location::{Location, PgTarget};
pub use outbox::{Job, OutboxItem};
pub use sms::{
    dlr_status_name, DlrOutcome, DlrReport, MoOutcome, MoReport, SmsContext, SmsReading,
};
pub use sql::Dialect;

use crate::error::Error;
use crate::evidence::{EventData, Instant};
use rusqlite::{Connection, OpenFlags};
use rusqlite_migration::{Migrations, M};
use sql::{PgConn, Tx};
use std::cell::RefCell;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("schema_v1.sql")),
        M::up(include_str!("schema_v2.sql")),
        M::up(include_str!("schema_v3.sql")),
        M::up(include_str!("schema_v4.sql")),
        M::up(include_str!("schema_v5.sql")),
        M::up(include_str!("schema_v6.sql")),
        M::up(include_str!("schema_v7.sql")),
        M::up(include_str!("schema_v8.sql")),
        M::up(include_str!("schema_v9.sql")),
        M::up(include_str!("schema_v10.sql")),
    ])
}

enum Backend {
    Sqlite(Connection),
    /// In a `RefCell` because reads take `&self` and the client needs `&mut` for every query.
    Postgres(Box<RefCell<PgConn>>),
}

/// A handle on the database. Not `Sync`: certd keeps one behind a mutex (one writer per node).
pub struct Store {
    backend: Backend,
    /// What submissions are checked against before they are stored.
    intake: Intake,
    /// Recorded on every event this store appends (config `node_id`).
    node: String,
}

/// The node name of a store nobody named (tools, tests, a single node without `node_id`).
pub const DEFAULT_NODE: &str = "node1";

impl Store {
    /// Opens (creating if needed, mode 0600) and migrates the SQLite database at `path`.
    pub fn open(path: &Path) -> Result<Store, Error> {
        Self::open_with(path, &files::DbAccess::default())
    }

    /// [`Store::open`], the files readable by `access` (refused if any user may read them).
    pub fn open_with(path: &Path, access: &files::DbAccess) -> Result<Store, Error> {
        files::prepare_database(path, access)?;
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| Error::Database(format!("cannot open {}: {e}", path.display())))?;
        Self::configure(&mut conn)?;
        Self::sqlite(conn)
    }

    /// Opens the store at `location`: a SQLite file, or a PostgreSQL database (connected, its
    /// schema created or migrated under an advisory lock, so nodes may start together).
    pub fn open_location(location: &Location, access: &files::DbAccess) -> Result<Store, Error> {
        match location {
            Location::Sqlite(path) => Self::open_with(path, access),
            Location::Postgres(target) => {
                let mut conn = PgConn::connect(target)?;
                postgres_schema::migrate(&mut conn)?;
                Ok(Store {
                    backend: Backend::Postgres(Box::new(RefCell::new(conn))),
                    intake: Intake::default(),
                    node: DEFAULT_NODE.to_string(),
                })
            }
        }
    }

    /// The limits and contract domains submissions are checked against (certd's
    /// configuration; the defaults otherwise).
    pub fn set_intake(&mut self, intake: Intake) {
        self.intake = intake;
    }

    /// The node this store writes as: recorded on every event it appends.
    pub fn set_node(&mut self, node: &str) {
        self.node = node.to_string();
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// Claims this store's node name for as long as it is open: on PostgreSQL a second certd
    /// with the same `node_id` is refused (it would release the first one's leases), and after
    /// a reconnection the name is taken again before any statement runs (while another certd
    /// holds it, every statement fails). A SQLite file has one certd anyway (its lock file).
    pub fn claim_node(&self) -> Result<(), Error> {
        let Backend::Postgres(pg) = &self.backend else {
            return Ok(());
        };
        if pg.borrow_mut().hold_node_lock(node_lock_key(&self.node))? {
            Ok(())
        } else {
            Err(Error::Config(format!(
                "another certd is already running as node {:?} on this store: give each node its own node_id",
                self.node
            )))
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// An in-memory SQLite store for unit tests.
    pub fn open_in_memory() -> Result<Store, Error> {
        let mut conn = Connection::open_in_memory()?;
        Self::configure(&mut conn)?;
        Self::sqlite(conn)
    }

    fn sqlite(mut conn: Connection) -> Result<Store, Error> {
        migrations()
            .to_latest(&mut conn)
            .map_err(|e| Error::Database(format!("schema migration failed: {e}")))?;
        Ok(Store {
            backend: Backend::Sqlite(conn),
            intake: Intake::default(),
            node: DEFAULT_NODE.to_string(),
        })
    }

    fn configure(conn: &mut Connection) -> Result<(), Error> {
        conn.busy_timeout(Duration::from_secs(10))?;
        // journal_mode answers with a row, so it is queried rather than executed.
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if mode != "wal" && mode != "memory" {
            return Err(Error::Database(format!(
                "SQLite refused WAL mode (got {mode}); is the database on a network filesystem?"
            )));
        }
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")?;
        Ok(())
    }

    /// Runs `f` in one write transaction (SQLite `BEGIN IMMEDIATE`; PostgreSQL READ
    /// COMMITTED), committing on success and rolling back on error.
    pub(crate) fn write<T>(
        &mut self,
        f: impl FnOnce(&Tx<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let node = self.node.as_str();
        match &mut self.backend {
            Backend::Sqlite(conn) => {
                let tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let out = f(&Tx::sqlite(&tx, node))?;
                let committing = std::time::Instant::now();
                tx.commit()?;
                commit_times::COMMITS.observe(committing.elapsed());
                Ok(out)
            }
            Backend::Postgres(pg) => {
                let pg = pg.get_mut();
                let tx = Tx::postgres(pg.begin()?, node);
                let out = f(&tx)?;
                let committing = std::time::Instant::now();
                tx.commit()?;
                commit_times::COMMITS.observe(committing.elapsed());
                Ok(out)
            }
        }
    }

    /// Runs `f`, whose reads through [`Store::conn`] then all see one snapshot (a deferred
    /// transaction on SQLite; REPEATABLE READ, read-only, on PostgreSQL).
    pub(crate) fn consistent<T>(&self, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
        match &self.backend {
            Backend::Sqlite(conn) => {
                let tx = conn.unchecked_transaction()?;
                let out = f()?;
                tx.commit()?;
                Ok(out)
            }
            Backend::Postgres(_) => {
                let c = self.conn();
                c.execute_batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
                let out = f();
                c.execute_batch(if out.is_ok() { "COMMIT" } else { "ROLLBACK" })?;
                out
            }
        }
    }

    /// Statements one at a time, outside a transaction (each sees the latest commit): the
    /// store's reads that need no snapshot across statements.
    pub(crate) fn conn(&self) -> Tx<'_> {
        match &self.backend {
            Backend::Sqlite(conn) => Tx::sqlite(conn, &self.node),
            Backend::Postgres(pg) => Tx::postgres_auto(pg, &self.node),
        }
    }

    /// Appends one event to a contract's hash chain in its own transaction.
    pub fn record_event(
        &mut self,
        contract_id: &str,
        data: &EventData,
        now: Instant,
    ) -> Result<(), Error> {
        self.write(|tx| contracts::append_event(tx, contract_id, data, now))
    }
}

/// The advisory lock key of a node name: 63 bits of SHA-256("certmail-node:" name).
fn node_lock_key(node: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(format!("certmail-node:{node}").as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    (u64::from_be_bytes(b) >> 1) as i64
}

/// Locks a shared store, recovering from a poisoned mutex: the store holds no in-memory
/// invariants beyond what SQLite's transactions already guarantee.
pub fn lock(store: &Mutex<Store>) -> MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
pub(crate) mod tests_support {
    pub(crate) use super::contracts::tests::submission;
    pub(crate) use super::customers::tests::alice;
}
