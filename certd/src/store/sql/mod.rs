//! The store's one way to run SQL, on SQLite or PostgreSQL: transactions, typed parameters and
//! rows, so that every query of the store is written once and runs on both backends.
//!
//! The API mirrors rusqlite's (`execute`, `query_row`, `prepare(..).query_map`, `params!`,
//! `.optional()`); statements use SQLite's `?N` placeholders, rewritten to `$N` for PostgreSQL.
//! Where the dialects differ (blob I/O, row locks, JSON), callers ask [`Tx::dialect`].

mod placeholders;
mod postgres;
mod sqlite;
mod value;

pub(crate) use self::postgres::PgConn;
pub(crate) use value::{FromSql, Owned, ToSql, Value};

use std::cell::RefCell;

/// Which database a transaction runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// What running SQL can fail with; converted into the crate's error at the store's API.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error("query returned no rows")]
    NoRows,
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{}", postgres::describe(.0))]
    Postgres(#[from] ::postgres::Error),
    #[error("column {idx}: {msg}")]
    Column { idx: usize, msg: String },
    #[error("the store's connection is already in use (a nested store call)")]
    Busy,
    /// After a reconnection another certd held this node's name (config `node_id`).
    #[error("another certd is running as this node on the store (its name is taken): give each node its own node_id")]
    NodeTaken,
}

impl From<SqlError> for crate::error::Error {
    fn from(e: SqlError) -> Self {
        crate::error::Error::Database(e.to_string())
    }
}

/// `query_row(..).optional()`: no row is `None`, as with rusqlite.
pub(crate) trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>, SqlError>;
}

impl<T> OptionalExtension<T> for Result<T, SqlError> {
    fn optional(self) -> Result<Option<T>, SqlError> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(SqlError::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A statement's parameters: `params![..]`, an array of one type, or `[]`.
pub(crate) trait Params {
    fn values(&self) -> Vec<Value<'_>>;
}

impl Params for &[&dyn ToSql] {
    fn values(&self) -> Vec<Value<'_>> {
        self.iter().map(|p| p.to_value()).collect()
    }
}

impl Params for [&dyn ToSql; 0] {
    fn values(&self) -> Vec<Value<'_>> {
        Vec::new()
    }
}

macro_rules! array_params {
    ($($n:literal)+) => {$(
        impl<T: ToSql> Params for [T; $n] {
            fn values(&self) -> Vec<Value<'_>> {
                self.iter().map(ToSql::to_value).collect()
            }
        }
    )+};
}
array_params!(1 2 3 4);

/// `params![a, b, ..]`: a slice of heterogeneous parameters.
macro_rules! params {
    () => { &[] as &[&dyn $crate::store::sql::ToSql] };
    ($($p:expr),+ $(,)?) => { &[$(&$p as &dyn $crate::store::sql::ToSql),+] as &[&dyn $crate::store::sql::ToSql] };
}
pub(crate) use params;

/// A column's position; only `usize`, so that `r.get(0)` infers it.
pub(crate) trait ColumnIndex {
    fn index(self) -> usize;
}

impl ColumnIndex for usize {
    fn index(self) -> usize {
        self
    }
}

/// One result row, its columns already read.
pub(crate) struct Row {
    cols: Vec<Owned>,
}

impl Row {
    /// Column `idx` (0-based) as `T`.
    pub(crate) fn get<I: ColumnIndex, T: FromSql>(&self, idx: I) -> Result<T, SqlError> {
        let idx = idx.index();
        let v = self.cols.get(idx).ok_or_else(|| SqlError::Column {
            idx,
            msg: "no such column".into(),
        })?;
        T::from_owned(v).map_err(|msg| SqlError::Column { idx, msg })
    }

    /// Every column, for copying rows between stores.
    pub(crate) fn into_values(self) -> Vec<Owned> {
        self.cols
    }
}

enum Inner<'a> {
    Sqlite(&'a rusqlite::Connection),
    Postgres(RefCell<postgres::PgTx<'a>>),
    /// Statements outside a transaction, each borrowing the connection only while it runs.
    PostgresAuto(&'a RefCell<PgConn>),
}

/// A transaction (or, on SQLite, the connection for reads outside one). Statements are
/// prepared once per connection and cached.
pub(crate) struct Tx<'a> {
    inner: Inner<'a>,
    /// The node whose events this transaction writes (config `node_id`).
    node: &'a str,
}

impl<'a> Tx<'a> {
    pub(crate) fn sqlite(conn: &'a rusqlite::Connection, node: &'a str) -> Tx<'a> {
        Tx {
            inner: Inner::Sqlite(conn),
            node,
        }
    }

    pub(crate) fn postgres(tx: postgres::PgTx<'a>, node: &'a str) -> Tx<'a> {
        Tx {
            inner: Inner::Postgres(RefCell::new(tx)),
            node,
        }
    }

    /// Statements on a PostgreSQL connection, each in its own implicit transaction.
    pub(crate) fn postgres_auto(conn: &'a RefCell<PgConn>, node: &'a str) -> Tx<'a> {
        Tx {
            inner: Inner::PostgresAuto(conn),
            node,
        }
    }

    /// Commits a PostgreSQL transaction; SQLite's is committed by its owner.
    pub(crate) fn commit(self) -> Result<(), SqlError> {
        match self.inner {
            Inner::Sqlite(_) | Inner::PostgresAuto(_) => Ok(()),
            Inner::Postgres(tx) => tx.into_inner().commit(),
        }
    }

    pub(crate) fn dialect(&self) -> Dialect {
        match self.inner {
            Inner::Sqlite(_) => Dialect::Sqlite,
            Inner::Postgres(_) | Inner::PostgresAuto(_) => Dialect::Postgres,
        }
    }

    pub(crate) fn node(&self) -> &str {
        self.node
    }

    /// The SQLite connection, for what only SQLite has (incremental blob I/O).
    pub(crate) fn as_sqlite(&self) -> Option<&rusqlite::Connection> {
        match self.inner {
            Inner::Sqlite(c) => Some(c),
            Inner::Postgres(_) | Inner::PostgresAuto(_) => None,
        }
    }

    pub(crate) fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize, SqlError> {
        let values = params.values();
        match &self.inner {
            Inner::Sqlite(c) => sqlite::execute(c, sql, &values),
            Inner::Postgres(t) => t.borrow_mut().execute(sql, &values),
            Inner::PostgresAuto(c) => busy(c)?.execute(sql, &values),
        }
    }

    /// Runs statements without parameters (schema changes).
    pub(crate) fn execute_batch(&self, sql: &str) -> Result<(), SqlError> {
        match &self.inner {
            Inner::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Inner::Postgres(t) => t.borrow_mut().execute_batch(sql),
            Inner::PostgresAuto(c) => busy(c)?.execute_batch(sql),
        }
    }

    /// Every row of a query.
    pub(crate) fn rows<P: Params>(&self, sql: &str, params: P) -> Result<Vec<Row>, SqlError> {
        let values = params.values();
        let cols = match &self.inner {
            Inner::Sqlite(c) => sqlite::query(c, sql, &values)?,
            Inner::Postgres(t) => t.borrow_mut().query(sql, &values)?,
            Inner::PostgresAuto(c) => busy(c)?.query(sql, &values)?,
        };
        Ok(cols.into_iter().map(|cols| Row { cols }).collect())
    }

    pub(crate) fn query_row<T, P: Params>(
        &self,
        sql: &str,
        params: P,
        f: impl FnOnce(&Row) -> Result<T, SqlError>,
    ) -> Result<T, SqlError> {
        let rows = self.rows(sql, params)?;
        f(rows.first().ok_or(SqlError::NoRows)?)
    }

    pub(crate) fn prepare<'s>(&'s self, sql: &str) -> Result<Stmt<'s, 'a>, SqlError> {
        Ok(Stmt {
            tx: self,
            sql: sql.to_string(),
        })
    }

    /// Locks one contract's row until the end of the transaction, so that nodes sharing a
    /// PostgreSQL serialise per contract; SQLite's write transactions already exclude each other.
    pub(crate) fn lock_contract(&self, contract_id: &str) -> Result<(), SqlError> {
        if self.dialect() == Dialect::Postgres {
            self.rows(
                "SELECT 1 FROM contracts WHERE id = ?1 FOR UPDATE",
                [contract_id],
            )?;
        }
        Ok(())
    }

    /// Serialises serial-number assignment (and intake's duplicate check) across nodes until the
    /// end of the transaction: serials stay gap-free and increasing in commit order.
    pub(crate) fn lock_serials(&self) -> Result<(), SqlError> {
        if self.dialect() == Dialect::Postgres {
            self.rows("SELECT pg_advisory_xact_lock(?1)", [SERIAL_LOCK])?;
        }
        Ok(())
    }
}

/// The connection for one statement; in use only if a caller nests store calls.
fn busy(c: &RefCell<PgConn>) -> Result<std::cell::RefMut<'_, PgConn>, SqlError> {
    c.try_borrow_mut().map_err(|_| SqlError::Busy)
}

/// The advisory lock key of serial assignment ("certmail" in ASCII, truncated to 63 bits).
const SERIAL_LOCK: i64 = 0x6365_7274_6d61_696c;

/// A statement to run once or map over its rows (rusqlite's shape).
pub(crate) struct Stmt<'s, 'a> {
    tx: &'s Tx<'a>,
    sql: String,
}

impl Stmt<'_, '_> {
    pub(crate) fn query_map<T, P: Params>(
        &mut self,
        params: P,
        f: impl FnMut(&Row) -> Result<T, SqlError>,
    ) -> Result<std::vec::IntoIter<Result<T, SqlError>>, SqlError> {
        let rows = self.tx.rows(&self.sql, params)?;
        Ok(rows.iter().map(f).collect::<Vec<_>>().into_iter())
    }
}
