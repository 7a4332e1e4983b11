//! Outbox rows: durable side effects with idempotency keys, leased by the dispatcher.
//!
//! A row is leased (attempts counted *before* trying), then completed or rescheduled. A lease
//! that outlives a crash simply expires, so the effect is retried: delivery is at least once,
//! and the idempotency key (also used as the Message-ID of mails) lets peers de-duplicate.

use super::sql::{params, Dialect, Tx};
use super::Store;
use crate::error::Error;
use crate::evidence::{ClarificationReason, EventData, Instant, JobKind};
use serde::{Deserialize, Serialize};

/// What one outbox row asks the dispatcher to do; stored as JSON, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// The acceptance receipt to the customer, with the serial number.
    Receipt {
        contract_id: String,
        to: String,
        language: String,
    },
    /// The acceptance request to one email destination.
    Request {
        contract_id: String,
        to: String,
        token: String,
    },
    /// A polite request to answer clearly, after an answer that could not decide.
    Clarification {
        contract_id: String,
        to: String,
        token: String,
        /// Absent in rows written before answers were screened: those were unclear ones.
        #[serde(default)]
        reason: ClarificationReason,
    },
    /// The contract has its outcome: build, sign and send the certificate.
    Certificate {
        contract_id: String,
        outcome: crate::evidence::State,
    },
    /// A copy of the signed certificate to one party.
    CertificateCopy { contract_id: String, to: String },
    /// The acceptance request to one phone destination, by SMS.
    SmsRequest { contract_id: String, to: String },
    /// How to answer clearly, after an unclear SMS answer.
    SmsClarification { contract_id: String, to: String },
    /// What was recorded, after a deciding SMS answer.
    SmsConfirmation { contract_id: String, to: String },
    /// A row written by a newer certd that this one does not know; left for it.
    #[serde(other)]
    Unknown,
}

impl Job {
    /// `None` for a row this release does not know.
    pub fn kind(&self) -> Option<JobKind> {
        Some(match self {
            Job::Receipt { .. } => JobKind::Receipt,
            Job::Request { .. } => JobKind::Request,
            Job::Clarification { .. } => JobKind::Clarification,
            Job::Certificate { .. } => JobKind::Certificate,
            Job::CertificateCopy { .. } => JobKind::CertificateCopy,
            Job::SmsRequest { .. } => JobKind::SmsRequest,
            Job::SmsClarification { .. } => JobKind::SmsClarification,
            Job::SmsConfirmation { .. } => JobKind::SmsConfirmation,
            Job::Unknown => return None,
        })
    }

    /// The `kind` column.
    pub fn kind_name(&self) -> &'static str {
        self.kind().map_or("unknown", JobKind::as_str)
    }
}

/// A leased or pending outbox row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxItem {
    pub id: i64,
    pub contract_id: Option<String>,
    pub idempotency_key: String,
    pub job: Job,
    pub attempts: i64,
    pub due_at: i64,
    pub last_error: Option<String>,
}

/// Writes an effect in the caller's transaction; a second row with the same key is ignored.
pub(crate) fn enqueue(
    tx: &Tx<'_>,
    contract_id: Option<&str>,
    key: &str,
    job: &Job,
    due_at: Instant,
) -> Result<(), Error> {
    let payload = serde_json::to_string(job)
        .map_err(|e| Error::Database(format!("cannot encode outbox job: {e}")))?;
    tx.execute(
        "INSERT INTO outbox (contract_id, kind, idempotency_key, payload, due_at)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        params![
            contract_id,
            job.kind_name(),
            key,
            payload,
            due_at.unix_secs()
        ],
    )?;
    Ok(())
}

/// Marks a row done in the caller's transaction.
pub(crate) fn complete(tx: &Tx<'_>, id: i64, now: Instant) -> Result<(), Error> {
    tx.execute(
        "UPDATE outbox SET done_at = ?1, leased_until = NULL, last_error = NULL WHERE id = ?2",
        params![now.unix_secs(), id],
    )?;
    Ok(())
}

fn row_to_item(r: &super::sql::Row) -> Result<(OutboxItem, String), super::sql::SqlError> {
    let payload: String = r.get(3)?;
    Ok((
        OutboxItem {
            id: r.get(0)?,
            contract_id: r.get(1)?,
            idempotency_key: r.get(2)?,
            job: Job::Unknown,
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
            item.job = serde_json::from_str(&payload).unwrap_or(Job::Unknown);
            item
        })
        .collect()
}

impl Store {
    /// Leases up to `max` due rows for `lease_secs`, counting the attempt now.
    pub fn lease_due(
        &mut self,
        max: u32,
        lease_secs: i64,
        now: Instant,
    ) -> Result<Vec<OutboxItem>, Error> {
        let now = now.unix_secs();
        self.write(|tx| {
            // On PostgreSQL, rows another node is leasing right now are skipped, not waited
            // for: each node takes different rows (SQLite has one writer at a time anyway).
            let skip_locked = match tx.dialect() {
                Dialect::Sqlite => "",
                Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
            };
            let mut stmt = tx.prepare(&format!(
                "UPDATE outbox SET attempts = attempts + 1, leased_until = ?1, leased_by = ?4
                 WHERE id IN (SELECT id FROM outbox
                              WHERE done_at IS NULL AND due_at <= ?2
                                AND (leased_until IS NULL OR leased_until <= ?2)
                              ORDER BY due_at, id LIMIT ?3 {skip_locked})
                 RETURNING id, contract_id, idempotency_key, payload, attempts, due_at, last_error"
            ))?;
            let rows =
                stmt.query_map(params![now + lease_secs, now, max, tx.node()], row_to_item)?;
            Ok(decode(rows.collect::<Result<Vec<_>, _>>()?))
        })
    }

    pub fn complete(&mut self, id: i64, now: Instant) -> Result<(), Error> {
        self.write(|tx| complete(tx, id, now))
    }

    /// Marks an effect done and records its evidence event in one commit, so that the window
    /// in which a crash causes a re-send is a single fsync.
    pub fn complete_with_event(
        &mut self,
        id: i64,
        contract_id: Option<&str>,
        data: &EventData,
        now: Instant,
    ) -> Result<(), Error> {
        self.write(|tx| {
            if let Some(c) = contract_id {
                super::contracts::append_event(tx, c, data, now)?;
            }
            complete(tx, id, now)
        })
    }

    /// Reschedules after a failure; the error text is kept for `contracts show`.
    pub fn reschedule(&mut self, id: i64, due: Instant, error: &str) -> Result<(), Error> {
        self.write(|tx| {
            tx.execute(
                "UPDATE outbox SET due_at = ?1, leased_until = NULL, last_error = ?2 WHERE id = ?3",
                params![due.unix_secs(), error, id],
            )?;
            Ok(())
        })
    }

    /// Makes every pending effect of `kind` that failed before due now: at start-up, after a
    /// configuration change may have removed the cause (a revoked signing certificate).
    pub fn retry_failed_now(&mut self, kind: JobKind, now: Instant) -> Result<usize, Error> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE outbox SET due_at = ?1
                 WHERE done_at IS NULL AND last_error IS NOT NULL AND kind = ?2 AND due_at > ?1",
                params![now.unix_secs(), kind.as_str()],
            )?)
        })
    }

    /// Clears this node's leases: at start-up, when they were left by its killed predecessor.
    /// Other nodes' leases stay (they are alive or their leases expire). Rows leased before
    /// leases named their node (schema version 9) count as this node's.
    pub fn release_leases(&mut self) -> Result<usize, Error> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE outbox SET leased_until = NULL
                 WHERE done_at IS NULL AND leased_until IS NOT NULL
                   AND (leased_by = ?1 OR leased_by IS NULL)",
                [tx.node()],
            )?)
        })
    }

    /// Gives back leased rows this node will not perform in time (their lease would expire
    /// while it works, and another node could then perform them too), uncounting the attempt.
    pub fn release(&mut self, ids: &[i64]) -> Result<(), Error> {
        self.write(|tx| {
            for id in ids {
                tx.execute(
                    "UPDATE outbox SET leased_until = NULL, attempts = attempts - 1
                     WHERE id = ?1 AND leased_by = ?2 AND done_at IS NULL",
                    params![id, tx.node()],
                )?;
            }
            Ok(())
        })
    }

    /// Extends this node's leases on `ids` to `now + lease_secs`: it is still performing them.
    /// A lease that has run out or was given back is not revived, since another node may hold
    /// the row by now. Returns how many leases were extended.
    pub fn extend_leases(
        &mut self,
        ids: &[i64],
        lease_secs: i64,
        now: Instant,
    ) -> Result<usize, Error> {
        let now = now.unix_secs();
        self.write(|tx| {
            let mut extended = 0;
            for id in ids {
                extended += tx.execute(
                    "UPDATE outbox SET leased_until = ?1
                     WHERE id = ?2 AND leased_by = ?3 AND done_at IS NULL AND leased_until > ?4",
                    params![now + lease_secs, id, tx.node(), now],
                )?;
            }
            Ok(extended)
        })
    }

    /// Rows not yet done, oldest first.
    pub fn pending_outbox(&self) -> Result<Vec<OutboxItem>, Error> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
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
        let mut s = crate::store::test_store::test_store();
        s.add_customer(&alice(), crate::evidence::Instant::now())
            .unwrap();
        s.submit(&submission("k1")).unwrap();
        let leased = s.lease_due(1, 60, Instant::now()).unwrap();
        assert_eq!(leased.len(), 1);
        assert_eq!(leased[0].attempts, 1);
        assert!(matches!(leased[0].job, Job::Receipt { .. }));
        // Leased rows are not handed out twice: the next lease gets the request row.
        let other = s.lease_due(10, 60, Instant::now()).unwrap();
        assert_eq!(other.len(), 1);
        assert!(matches!(other[0].job, Job::Request { .. }));
        assert!(s.lease_due(10, 60, Instant::now()).unwrap().is_empty());
        s.reschedule(leased[0].id, Instant::now(), "smtp down")
            .unwrap();
        let again = s.lease_due(10, 60, Instant::now()).unwrap();
        assert_eq!(again[0].attempts, 2);
        assert_eq!(again[0].last_error.as_deref(), Some("smtp down"));
        s.complete(again[0].id, Instant::now()).unwrap();
        s.complete(other[0].id, Instant::now()).unwrap();
        assert!(s.pending_outbox().unwrap().is_empty());
    }

    #[test]
    fn only_live_leases_of_this_node_are_extended() {
        let mut s = crate::store::test_store::test_store();
        s.add_customer(&alice(), crate::evidence::Instant::now())
            .unwrap();
        s.submit(&submission("k1")).unwrap();
        let now = Instant::now();
        let live = s.lease_due(1, 60, now).unwrap();
        let ran_out = s.lease_due(1, 0, now).unwrap();
        let ids = [live[0].id, ran_out[0].id];
        assert_eq!(s.extend_leases(&ids, 600, now).unwrap(), 1);
        // The extended lease outlasts the 60 s it was taken for; the one that ran out is free.
        let later = now.plus_secs(120);
        let again = s.lease_due(10, 60, later).unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].id, ran_out[0].id);
        // Done and given-back rows are not leased again by an extension.
        s.complete(live[0].id, later).unwrap();
        s.release(&[again[0].id]).unwrap();
        assert_eq!(s.extend_leases(&ids, 600, later).unwrap(), 0);
        assert_eq!(s.lease_due(10, 60, later).unwrap().len(), 1);
    }

    #[test]
    fn expired_lease_is_retried_as_after_a_crash() {
        let mut s = crate::store::test_store::test_store();
        s.add_customer(&alice(), crate::evidence::Instant::now())
            .unwrap();
        s.submit(&submission("k1")).unwrap();
        assert_eq!(s.lease_due(10, 0, Instant::now()).unwrap().len(), 2);
        // lease_secs = 0: the lease has already expired, as if certd died holding it.
        let again = s.lease_due(10, 60, Instant::now()).unwrap();
        assert_eq!(again.len(), 2);
        assert_eq!(again[0].attempts, 2);
    }
}
