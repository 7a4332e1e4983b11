//! PostgreSQL under the store's SQL layer: one connection per store with its prepared
//! statements, transactions, and the value conversions (every integer column is BIGINT).

use super::placeholders::numbered;
use super::{Owned, SqlError, Value};
use crate::store::PgTarget;
use bytes::BytesMut;
use postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
use postgres::{Client, GenericClient, Statement, Transaction};
use std::collections::HashMap;
use std::error::Error as StdError;

type BoxError = Box<dyn StdError + Sync + Send>;

/// A connection and the statements prepared on it, keyed by the store's SQL text.
pub(crate) struct PgConn {
    client: Client,
    target: PgTarget,
    cache: HashMap<String, Statement>,
    /// The session advisory lock naming this node (`Store::claim_node`), and whether the
    /// current session holds it: a lock ends with its session, so a new session takes it again.
    node_lock: Option<(i64, bool)>,
}

impl PgConn {
    pub(crate) fn connect(target: &PgTarget) -> Result<PgConn, SqlError> {
        Ok(PgConn {
            client: target.connect()?,
            target: target.clone(),
            cache: HashMap::new(),
            node_lock: None,
        })
    }

    /// Takes the session advisory lock `key` now and, after every reconnection, again before
    /// anything else runs; `false` if another session holds it.
    pub(crate) fn hold_node_lock(&mut self, key: i64) -> Result<bool, SqlError> {
        self.node_lock = Some((key, false));
        match self.reconnect_if_closed() {
            Ok(()) => Ok(true),
            Err(SqlError::NodeTaken) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// After a restart or failover of the server: connects again (the transaction that was
    /// cut off was rolled back by the server, and its caller saw the error), and takes the
    /// node's lock again; while another certd holds that name, every statement fails.
    fn reconnect_if_closed(&mut self) -> Result<(), SqlError> {
        if self.client.is_closed() {
            self.client = self.target.connect()?;
            self.cache.clear();
            if let Some((_, held)) = &mut self.node_lock {
                *held = false;
            }
        }
        if let Some((key, false)) = self.node_lock {
            let row = self
                .client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&key])?;
            if !row.get::<_, bool>(0) {
                return Err(SqlError::NodeTaken);
            }
            self.node_lock = Some((key, true));
        }
        Ok(())
    }

    /// Starts a write transaction at READ COMMITTED; what must not race is locked where it is
    /// read (`Tx::lock_contract`, `Tx::lock_serials`, `SKIP LOCKED` leases).
    pub(crate) fn begin(&mut self) -> Result<PgTx<'_>, SqlError> {
        self.reconnect_if_closed()?;
        Ok(PgTx {
            tx: self.client.transaction()?,
            cache: &mut self.cache,
        })
    }
}

pub(crate) struct PgTx<'a> {
    tx: Transaction<'a>,
    cache: &'a mut HashMap<String, Statement>,
}

impl PgTx<'_> {
    pub(super) fn execute(&mut self, sql: &str, values: &[Value<'_>]) -> Result<usize, SqlError> {
        execute(&mut self.tx, self.cache, sql, values)
    }

    pub(super) fn query(
        &mut self,
        sql: &str,
        values: &[Value<'_>],
    ) -> Result<Vec<Vec<Owned>>, SqlError> {
        query(&mut self.tx, self.cache, sql, values)
    }

    pub(super) fn execute_batch(&mut self, sql: &str) -> Result<(), SqlError> {
        Ok(self.tx.batch_execute(sql)?)
    }

    pub(super) fn commit(self) -> Result<(), SqlError> {
        Ok(self.tx.commit()?)
    }
}

impl PgConn {
    /// One statement outside a transaction (reads that need no snapshot across statements).
    pub(super) fn execute(&mut self, sql: &str, values: &[Value<'_>]) -> Result<usize, SqlError> {
        self.reconnect_if_closed()?;
        execute(&mut self.client, &mut self.cache, sql, values)
    }

    pub(super) fn query(
        &mut self,
        sql: &str,
        values: &[Value<'_>],
    ) -> Result<Vec<Vec<Owned>>, SqlError> {
        self.reconnect_if_closed()?;
        query(&mut self.client, &mut self.cache, sql, values)
    }

    pub(super) fn execute_batch(&mut self, sql: &str) -> Result<(), SqlError> {
        self.reconnect_if_closed()?;
        Ok(self.client.batch_execute(sql)?)
    }
}

fn statement<C: GenericClient>(
    c: &mut C,
    cache: &mut HashMap<String, Statement>,
    sql: &str,
) -> Result<Statement, SqlError> {
    if let Some(s) = cache.get(sql) {
        return Ok(s.clone());
    }
    let s = c.prepare(&numbered(sql))?;
    cache.insert(sql.to_string(), s.clone());
    Ok(s)
}

fn execute<C: GenericClient>(
    c: &mut C,
    cache: &mut HashMap<String, Statement>,
    sql: &str,
    values: &[Value<'_>],
) -> Result<usize, SqlError> {
    let stmt = statement(c, cache, sql)?;
    let params: Vec<&(dyn ToSql + Sync)> =
        values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
    Ok(c.execute(&stmt, &params)? as usize)
}

fn query<C: GenericClient>(
    c: &mut C,
    cache: &mut HashMap<String, Statement>,
    sql: &str,
    values: &[Value<'_>],
) -> Result<Vec<Vec<Owned>>, SqlError> {
    let stmt = statement(c, cache, sql)?;
    let params: Vec<&(dyn ToSql + Sync)> =
        values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
    let rows = c.query(&stmt, &params)?;
    rows.iter()
        .map(|row| {
            (0..row.len())
                .map(|i| row.try_get::<_, Owned>(i).map_err(SqlError::from))
                .collect()
        })
        .collect()
}

/// The server's message, its SQLSTATE and where it points: what an admin needs.
pub(super) fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "PostgreSQL {}: {}{}",
            db.code().code(),
            db.message(),
            db.detail().map(|d| format!(" ({d})")).unwrap_or_default()
        ),
        None => match e.source() {
            Some(cause) => format!("PostgreSQL: {e}: {cause}"),
            None => format!("PostgreSQL: {e}"),
        },
    }
}

impl ToSql for Value<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match *self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(i)?.to_sql(ty, out),
                Type::BOOL => (i != 0).to_sql(ty, out),
                // A parameter whose type PostgreSQL inferred as text (e.g. compared with text).
                _ => i.to_string().as_str().to_sql(ty, out),
            },
            Value::Text(t) => t.to_sql(ty, out),
            Value::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Owned {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(match *ty {
            Type::INT8 => Owned::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Owned::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => Owned::Int(i16::from_sql(ty, raw)?.into()),
            Type::BOOL => Owned::Int(bool::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Owned::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Owned::Real(f32::from_sql(ty, raw)?.into()),
            Type::BYTEA => Owned::Blob(raw.to_vec()),
            // pg_advisory_xact_lock() and other functions called for their effect.
            Type::VOID => Owned::Null,
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                Owned::Text(String::from_sql(ty, raw)?)
            }
            ref other => {
                return Err(format!("column type {other} is not read by certd (cast it)").into())
            }
        })
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Owned::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}
