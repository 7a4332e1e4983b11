//! The durable state of certd: customers, contracts, the hash-chained event log and the outbox,
//! in one SQLite database.
//!
//! Durability rules (see `docs/schema.md`): WAL journal with `synchronous=FULL`, so a commit
//! survives power loss; every write is one `BEGIN IMMEDIATE` transaction, so the single writer
//! takes the lock up front instead of failing half-way on an upgrade; events are append-only
//! (triggers) and chained by SHA-256, so any edit of history is detectable.
//!
//! The ground floor of certd: it imports only the evidence types below it. It loads and saves;
//! the clock, fresh secrets and idempotency keys come from its callers.

pub mod admin;
mod bulk;
mod certificates;
mod chain;
mod columns;
pub mod commit_times;
pub(crate) mod contracts;
mod customers;
mod files;
pub(crate) mod lifecycle;
pub(crate) mod outbox;
pub(crate) mod sms;

pub use certificates::{CertificateVersion, Snapshot};
pub(crate) use chain::event_hash;
pub use chain::{ChainError, GENESIS};
pub use contracts::{
    ContractRow, ContractSummary, EventRow, Inserted, Intake, ListFilter, Minted, SubmitOutcome,
};
pub use customers::{Customer, NewCustomer};
pub(crate) use files::refuse_world_access;
pub use files::{prepare_database, DbAccess};
pub use lifecycle::{BounceRoute, Facts, TokenTarget};
pub use outbox::{Job, OutboxItem};
pub use sms::{
    dlr_status_name, DlrOutcome, DlrReport, MoOutcome, MoReport, SmsContext, SmsReading,
};

use crate::error::Error;
use crate::evidence::{EventData, Instant};
use rusqlite::{Connection, OpenFlags};
use rusqlite_migration::{Migrations, M};
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
    ])
}

/// A handle on the database. Not `Sync`: certd keeps one behind a mutex (one writer).
pub struct Store {
    conn: Connection,
    /// What submissions are checked against before they are stored.
    intake: Intake,
}

impl Store {
    /// Opens (creating if needed, mode 0600) and migrates the database at `path`.
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
        migrations()
            .to_latest(&mut conn)
            .map_err(|e| Error::Database(format!("schema migration failed: {e}")))?;
        Ok(Store {
            conn,
            intake: Intake::default(),
        })
    }

    /// The limits and contract domains submissions are checked against (certd's
    /// configuration; the defaults otherwise).
    pub fn set_intake(&mut self, intake: Intake) {
        self.intake = intake;
    }

    /// An in-memory store for unit tests.
    pub fn open_in_memory() -> Result<Store, Error> {
        let mut conn = Connection::open_in_memory()?;
        Self::configure(&mut conn)?;
        migrations()
            .to_latest(&mut conn)
            .map_err(|e| Error::Database(format!("schema migration failed: {e}")))?;
        Ok(Store {
            conn,
            intake: Intake::default(),
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

    /// Runs `f` inside `BEGIN IMMEDIATE … COMMIT`, rolling back on error.
    pub(crate) fn write<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        let committing = std::time::Instant::now();
        tx.commit()?;
        commit_times::COMMITS.observe(committing.elapsed());
        Ok(out)
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
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
