//! The PostgreSQL schema and its migrations: applied in one transaction under an advisory
//! lock, so that nodes starting together migrate once; the version is kept in a table.

use super::sql::{params, PgConn, Tx};
use crate::error::Error;

/// Each version's SQL, in order, numbered as SQLite's: PostgreSQL starts at version 9 (the
/// whole schema of SQLite's versions 1 to 9 at once); version n is `MIGRATIONS[n - FIRST]`.
const MIGRATIONS: &[&str] = &[
    include_str!("postgres_v9.sql"),
    include_str!("postgres_v10.sql"),
];
const FIRST: i64 = 9;

/// The advisory lock key of schema changes ("certmail" + 1).
const MIGRATION_LOCK: i64 = 0x6365_7274_6d61_696d;

/// The schema version the connected database has.
pub(super) fn version(tx: &Tx<'_>) -> Result<i64, Error> {
    Ok(tx.query_row("SELECT version FROM certmail_schema", [], |r| r.get(0))?)
}

/// Creates or migrates the schema to the latest version; refuses a database written by a
/// newer certd.
pub(super) fn migrate(conn: &mut PgConn) -> Result<(), Error> {
    let tx = Tx::postgres(conn.begin()?, super::DEFAULT_NODE);
    tx.query_row("SELECT pg_advisory_xact_lock(?1)", [MIGRATION_LOCK], |_| {
        Ok(())
    })?;
    // Asked, not `CREATE TABLE IF NOT EXISTS`: that logs a NOTICE at every start and every
    // CLI command once the table exists.
    let exists: i64 = tx.query_row("SELECT count(to_regclass('certmail_schema'))", [], |r| {
        r.get(0)
    })?;
    if exists == 0 {
        tx.execute_batch(
            "CREATE TABLE certmail_schema (version BIGINT NOT NULL);
             INSERT INTO certmail_schema (version) VALUES (0);",
        )?;
    }
    let current = version(&tx)?;
    let latest = FIRST - 1 + MIGRATIONS.len() as i64;
    if current > latest {
        return Err(Error::Database(format!(
            "the PostgreSQL schema is version {current}, newer than this certd knows ({latest}): \
             upgrade certd"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let v = FIRST + i as i64;
        if v > current {
            tx.execute_batch(sql)
                .map_err(|e| Error::Database(format!("schema migration {v} failed: {e}")))?;
        }
    }
    if current < latest {
        tx.execute("UPDATE certmail_schema SET version = ?1", params![latest])?;
    }
    tx.commit()?;
    Ok(())
}
