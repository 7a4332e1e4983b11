//! Outbox rows: durable side effects with idempotency keys, leased by the dispatcher.
//!
//! A row is leased (attempts counted *before* trying), then completed or rescheduled. A lease
//! that outlives a crash simply expires, so the effect is retried: delivery is at least once,
//! and the idempotency key (also used as the Message-ID of mails) lets peers de-duplicate.

use super::{unix_now, Store};
use crate::error::Error;
use crate::outbox::Effect;
use rusqlite::{params, Transaction};
use serde::Serialize;

/// A leased or pending outbox row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxItem {
    pub id: i64,
    pub contract_id: Option<String>,
    pub idempotency_key: String,
    pub effect: Effect,
    pub attempts: i64,
    pub due_at: i64,
    pub last_error: Option<String>,
}

/// Writes an effect in the caller's transaction; a second row with the same key is ignored.
pub(crate) fn enqueue(
    tx: &Transaction<'_>,
    contract_id: Option<&str>,
    key: &str,
    effect: &Effect,
    due_at: i64,
) -> Result<(), Error> {
    let payload = serde_json::to_string(effect)
        .map_err(|e| Error::Database(format!("cannot encode effect: {e}")))?;
    tx.execute(
        "INSERT OR IGNORE INTO outbox (contract_id, kind, idempotency_key, payload, due_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![contract_id, effect.kind(), key, payload, due_at],
    )?;
    Ok(())
}

fn row_to_item(r: &rusqlite::Row<'_>) -> rusqlite::Result<(OutboxItem, String)> {
    let payload: String = r.get(3)?;
    Ok((
        OutboxItem {
            id: r.get(0)?,
            contract_id: r.get(1)?,
            idempotency_key: r.get(2)?,
            effect: Effect::Unknown,
            attempts: r.get(4)?,
            due_at: r.get(5)?,
            last_error: r.get(6)?,
        },
        payload,
    ))
}

fn decode(pairs: Vec<(OutboxItem, String)>) -> Vec<OutboxItem> {
    pairs
        .into_iter()
        .map(|(mut item, payload)| {
            item.effect = serde_json::from_str(&payload).unwrap_or(Effect::Unknown);
            item
        })
        .collect()
}

impl Store {
    /// Leases up to `max` due rows for `lease_secs`, counting the attempt now.
    pub fn lease_due(&mut self, max: u32, lease_secs: i64) -> Result<Vec<OutboxItem>, Error> {
        let now = unix_now();
        self.write(|tx| {
            let mut stmt = tx.prepare(
                "UPDATE outbox SET attempts = attempts + 1, leased_until = ?1
                 WHERE id IN (SELECT id FROM outbox
                              WHERE done_at IS NULL AND due_at <= ?2
                                AND (leased_until IS NULL OR leased_until <= ?2)
                              ORDER BY due_at, id LIMIT ?3)
                 RETURNING id, contract_id, idempotency_key, payload, attempts, due_at, last_error",
            )?;
            let rows = stmt.query_map(params![now + lease_secs, now, max], row_to_item)?;
            Ok(decode(rows.collect::<Result<Vec<_>, _>>()?))
        })
    }

    pub fn complete(&mut self, id: i64) -> Result<(), Error> {
        self.write(|tx| {
            tx.execute(
                "UPDATE outbox SET done_at = ?1, leased_until = NULL, last_error = NULL WHERE id = ?2",
                params![unix_now(), id],
            )?;
            Ok(())
        })
    }

    /// Marks an effect done and records its evidence event in one commit, so that the window
    /// in which a crash causes a re-send is a single fsync.
    pub fn complete_with_event(
        &mut self,
        id: i64,
        contract_id: Option<&str>,
        kind: &str,
        data: &serde_json::Value,
    ) -> Result<(), Error> {
        self.write(|tx| {
            if let Some(c) = contract_id {
                super::contracts::append_event(tx, c, kind, data)?;
            }
            tx.execute(
                "UPDATE outbox SET done_at = ?1, leased_until = NULL, last_error = NULL WHERE id = ?2",
                params![unix_now(), id],
            )?;
            Ok(())
        })
    }

    /// Reschedules after a failure; the error text is kept for `contracts show`.
    pub fn reschedule(&mut self, id: i64, delay_secs: i64, error: &str) -> Result<(), Error> {
        self.write(|tx| {
            tx.execute(
                "UPDATE outbox SET due_at = ?1, leased_until = NULL, last_error = ?2 WHERE id = ?3",
                params![unix_now() + delay_secs, error, id],
            )?;
            Ok(())
        })
    }

    /// Clears every lease; only for start-up, when no other dispatcher can hold one.
    pub fn release_leases(&mut self) -> Result<usize, Error> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE outbox SET leased_until = NULL WHERE done_at IS NULL AND leased_until IS NOT NULL",
                [],
            )?)
        })
    }

    /// Rows not yet done, oldest first.
    pub fn pending_outbox(&self) -> Result<Vec<OutboxItem>, Error> {
        let mut stmt = self.conn().prepare(
            "SELECT id, contract_id, idempotency_key, payload, attempts, due_at, last_error
             FROM outbox WHERE done_at IS NULL ORDER BY due_at, id",
        )?;
        let rows = stmt.query_map([], row_to_item)?;
        Ok(decode(rows.collect::<Result<Vec<_>, _>>()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contracts::tests::submission;
    use crate::store::customers::tests::alice;

    #[test]
    fn lease_complete_and_reschedule() {
        let mut s = Store::open_in_memory().unwrap();
        s.add_customer(&alice()).unwrap();
        s.submit(&submission("k1")).unwrap();
        let leased = s.lease_due(1, 60).unwrap();
        assert_eq!(leased.len(), 1);
        assert_eq!(leased[0].attempts, 1);
        assert!(matches!(leased[0].effect, Effect::Receipt { .. }));
        // Leased rows are not handed out twice: the next lease gets the request row.
        let other = s.lease_due(10, 60).unwrap();
        assert_eq!(other.len(), 1);
        assert!(matches!(other[0].effect, Effect::Request { .. }));
        assert!(s.lease_due(10, 60).unwrap().is_empty());
        s.reschedule(leased[0].id, 0, "smtp down").unwrap();
        let again = s.lease_due(10, 60).unwrap();
        assert_eq!(again[0].attempts, 2);
        assert_eq!(again[0].last_error.as_deref(), Some("smtp down"));
        s.complete(again[0].id).unwrap();
        s.complete(other[0].id).unwrap();
        assert!(s.pending_outbox().unwrap().is_empty());
    }

    #[test]
    fn expired_lease_is_retried_as_after_a_crash() {
        let mut s = Store::open_in_memory().unwrap();
        s.add_customer(&alice()).unwrap();
        s.submit(&submission("k1")).unwrap();
        assert_eq!(s.lease_due(10, 0).unwrap().len(), 2);
        // lease_secs = 0: the lease has already expired, as if certd died holding it.
        let again = s.lease_due(10, 60).unwrap();
        assert_eq!(again.len(), 2);
        assert_eq!(again[0].attempts, 2);
    }
}
