//! Queries and changes made by the admin CLI only: editing customers, the answers and outbox
//! rows of one contract, re-sending a certificate, and the figures of `certd status`.
//!
//! Every query here is meant to stay cheap on a database with a million contracts: each one
//! reads an index (see `schema_v5.sql`) or a bounded number of rows.

use super::contracts::append_event;
use super::counts::Backlog;
use super::outbox::{enqueue, Job};
use super::sql::{params, Dialect, OptionalExtension};
use super::{Customer, Store};
use crate::error::Error;
use crate::evidence::event::CertificateResend;
use crate::evidence::{EventData, Instant, JobKind};
use certmail_protocol::CustomerPolicy;
use serde::Serialize;
use std::collections::BTreeMap;

/// What `customers set` changes; `None` and empty lists leave a field as it is.
#[derive(Clone, Debug, Default)]
pub struct CustomerChange {
    pub email: Option<String>,
    /// `Some(None)` removes the display name.
    pub display_name: Option<Option<String>>,
    pub policy: Option<CustomerPolicy>,
    pub language: Option<String>,
    pub deadline_secs: Option<i64>,
    pub add_smtp_logins: Vec<String>,
    pub remove_smtp_logins: Vec<String>,
    pub add_dkim_domains: Vec<String>,
    pub remove_dkim_domains: Vec<String>,
}

impl CustomerChange {
    pub fn is_empty(&self) -> bool {
        self.email.is_none()
            && self.display_name.is_none()
            && self.policy.is_none()
            && self.language.is_none()
            && self.deadline_secs.is_none()
            && self.add_smtp_logins.is_empty()
            && self.remove_smtp_logins.is_empty()
            && self.add_dkim_domains.is_empty()
            && self.remove_dkim_domains.is_empty()
    }
}

/// One stored answer (a counterparty's reply or a delivery report) with its raw message.
#[derive(Clone, Debug, Serialize)]
pub struct AnswerRow {
    pub id: i64,
    pub kind: String,
    pub received_at: String,
    pub raw_sha256: String,
    #[serde(skip)]
    pub raw: Vec<u8>,
}

/// One outbox row of a contract, done or not, as `contracts show` lists it. `kind` is the
/// stored text, so kinds this certd does not know are shown as they are.
#[derive(Clone, Debug, Serialize)]
pub struct EffectRow {
    pub id: i64,
    pub kind: String,
    pub idempotency_key: String,
    pub attempts: i64,
    pub due_at: i64,
    pub done_at: Option<i64>,
    pub last_error: Option<String>,
}

/// The stored certificate's metadata (the PDF itself: [`Store::certificate`]).
#[derive(Clone, Debug, Serialize)]
pub struct CertificateInfo {
    pub issued_at: String,
    pub sha256: String,
    pub size: i64,
    pub chain_head: String,
}

/// The figures of `certd status`.
#[derive(Clone, Debug, Serialize)]
pub struct Health {
    pub schema_version: i64,
    pub customers: i64,
    pub customers_active: i64,
    pub contracts: i64,
    pub contracts_by_state: BTreeMap<String, i64>,
    pub certificates: i64,
    /// Time of the newest event of any contract.
    pub last_event_at: Option<String>,
    pub outbox_pending: i64,
    /// Pending rows whose due time has come (being performed, or waiting for certd).
    pub outbox_due: i64,
    /// Unix seconds of the oldest due pending row.
    pub outbox_oldest_due_at: Option<i64>,
    /// Pending rows that failed at least once, most attempts first (at most 20).
    pub outbox_failing: Vec<FailingEffect>,
    pub outbox_failing_total: i64,
    /// Certificates whose signing failed and waits for a retry (at most 20, oldest first):
    /// evidence that is not being issued.
    pub certificates_blocked: Vec<FailingEffect>,
    /// The figures above per kind of effect (every kind present).
    pub outbox_by_kind: BTreeMap<&'static str, Backlog>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FailingEffect {
    pub id: i64,
    pub contract_id: Option<String>,
    pub kind: String,
    pub attempts: i64,
    pub due_at: i64,
    pub last_error: Option<String>,
}

/// At most this many failing rows are listed by `status`; the total is counted.
const FAILING_SHOWN: i64 = 20;

/// The failing effects, most attempts first (index `outbox_failing`).
pub(super) const FAILING: &str = "SELECT id, contract_id, kind, attempts, due_at, last_error
    FROM outbox WHERE done_at IS NULL AND last_error IS NOT NULL
    ORDER BY attempts DESC, id LIMIT ?1";
/// The failing effects of one kind, oldest first (index `outbox_failing_kind`).
pub(super) const FAILING_OF_KIND: &str =
    "SELECT id, contract_id, kind, attempts, due_at, last_error
    FROM outbox WHERE done_at IS NULL AND last_error IS NOT NULL AND kind = ?1
    ORDER BY id LIMIT ?2";

fn check_policy(policy: &str, logins: &[String], domains: &[String]) -> Result<(), Error> {
    match policy {
        "smtp-auth" if logins.is_empty() => Err(Error::Invalid(
            "policy smtp-auth needs at least one SMTP login".into(),
        )),
        "dkim" if domains.is_empty() => Err(Error::Invalid(
            "policy dkim needs at least one DKIM domain".into(),
        )),
        "any" if logins.is_empty() && domains.is_empty() => Err(Error::Invalid(
            "policy any needs an SMTP login or a DKIM domain".into(),
        )),
        _ => Ok(()),
    }
}

impl Store {
    /// Applies `change` to customer `name` in one transaction and returns the result. The
    /// change is refused as a whole if the customer would be left unable to authenticate
    /// (e.g. policy dkim without a DKIM domain).
    pub fn update_customer(
        &mut self,
        name: &str,
        change: &CustomerChange,
    ) -> Result<Customer, Error> {
        if let Some(email) = &change.email {
            if !email.contains('@') {
                return Err(Error::Invalid(format!(
                    "customer email {email:?} is not an address"
                )));
            }
        }
        if change.deadline_secs.is_some_and(|d| d <= 0) {
            return Err(Error::Invalid("the deadline must be positive".into()));
        }
        let mut current = self
            .customer(name)?
            .ok_or_else(|| Error::NotFound(format!("no customer named {name:?}")))?;
        let policy = change
            .policy
            .map(|p| super::customers::policy_str(p).to_string())
            .unwrap_or_else(|| current.policy.clone());
        current
            .smtp_logins
            .retain(|l| !change.remove_smtp_logins.contains(l));
        for l in &change.add_smtp_logins {
            if !current.smtp_logins.contains(l) {
                current.smtp_logins.push(l.clone());
            }
        }
        let remove_domains: Vec<String> = change
            .remove_dkim_domains
            .iter()
            .map(|d| d.to_ascii_lowercase())
            .collect();
        current.dkim_domains.retain(|d| !remove_domains.contains(d));
        for d in &change.add_dkim_domains {
            let d = d.to_ascii_lowercase();
            if !current.dkim_domains.contains(&d) {
                current.dkim_domains.push(d);
            }
        }
        check_policy(&policy, &current.smtp_logins, &current.dkim_domains)?;
        self.write(|tx| {
            let id: i64 = tx
                .query_row("SELECT id FROM customers WHERE name = ?1", [name], |r| {
                    r.get(0)
                })
                .optional()?
                .ok_or_else(|| Error::NotFound(format!("no customer named {name:?}")))?;
            if let Some(email) = &change.email {
                tx.execute(
                    "UPDATE customers SET email = ?1 WHERE id = ?2",
                    params![email, id],
                )?;
            }
            if let Some(display_name) = &change.display_name {
                tx.execute(
                    "UPDATE customers SET display_name = ?1 WHERE id = ?2",
                    params![display_name, id],
                )?;
            }
            if let Some(language) = &change.language {
                tx.execute(
                    "UPDATE customers SET language = ?1 WHERE id = ?2",
                    params![language, id],
                )?;
            }
            if let Some(deadline) = change.deadline_secs {
                tx.execute(
                    "UPDATE customers SET deadline_secs = ?1 WHERE id = ?2",
                    params![deadline, id],
                )?;
            }
            tx.execute(
                "UPDATE customers SET policy = ?1 WHERE id = ?2",
                params![policy, id],
            )?;
            tx.execute("DELETE FROM customer_logins WHERE customer_id = ?1", [id])?;
            for login in &current.smtp_logins {
                tx.execute(
                    "INSERT INTO customer_logins (customer_id, login) VALUES (?1, ?2)",
                    params![id, login],
                )?;
            }
            tx.execute(
                "DELETE FROM customer_dkim_domains WHERE customer_id = ?1",
                [id],
            )?;
            for domain in &current.dkim_domains {
                tx.execute(
                    "INSERT INTO customer_dkim_domains (customer_id, domain) VALUES (?1, ?2)",
                    params![id, domain],
                )?;
            }
            Ok(())
        })?;
        self.customer(name)?
            .ok_or_else(|| Error::NotFound(format!("no customer named {name:?}")))
    }

    /// Every answer stored for a contract, oldest first, with its raw message.
    pub fn answers(&self, contract_id: &str) -> Result<Vec<AnswerRow>, Error> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT a.id, a.kind, a.received_at, a.raw_sha256, b.data
             FROM answers a JOIN blobs b ON b.sha256 = a.raw_sha256
             WHERE a.contract_id = ?1 ORDER BY a.id",
        )?;
        let rows = stmt.query_map([contract_id], |r| {
            Ok(AnswerRow {
                id: r.get(0)?,
                kind: r.get(1)?,
                received_at: r.get(2)?,
                raw_sha256: r.get(3)?,
                raw: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Each event's data exactly as stored and hashed: `(seq, text)`. Evidence bundles carry
    /// it beside the parsed JSON so that anyone can recompute the chain byte for byte.
    pub fn event_texts(&self, contract_id: &str) -> Result<Vec<(i64, String)>, Error> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT seq, data FROM events WHERE contract_id = ?1 ORDER BY seq")?;
        let rows = stmt.query_map([contract_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Every outbox row of a contract, in the order they were written.
    pub fn contract_effects(&self, contract_id: &str) -> Result<Vec<EffectRow>, Error> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, kind, idempotency_key, attempts, due_at, done_at, last_error
             FROM outbox WHERE contract_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([contract_id], |r| {
            Ok(EffectRow {
                id: r.get(0)?,
                kind: r.get(1)?,
                idempotency_key: r.get(2)?,
                attempts: r.get(3)?,
                due_at: r.get(4)?,
                done_at: r.get(5)?,
                last_error: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    pub fn certificate_info(&self, contract_id: &str) -> Result<Option<CertificateInfo>, Error> {
        Ok(self
            .conn()
            .query_row(
                "SELECT issued_at, sha256, length(pdf), chain_head FROM certificates
                 WHERE contract_id = ?1",
                [contract_id],
                |r| {
                    Ok(CertificateInfo {
                        issued_at: r.get(0)?,
                        sha256: r.get(1)?,
                        size: r.get(2)?,
                        chain_head: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// Queues more copies of an issued certificate (idempotency key, job) and records the
    /// request (`certificate_resend`), in one transaction.
    pub fn queue_certificate_copies(
        &mut self,
        contract_id: &str,
        copies: &[(String, Job)],
        resend: &CertificateResend,
        now: Instant,
    ) -> Result<(), Error> {
        if copies.is_empty() {
            return Err(Error::Invalid("no recipient for the certificate".into()));
        }
        self.write(|tx| {
            let issued: Option<String> = tx
                .query_row(
                    "SELECT issued_at FROM certificates WHERE contract_id = ?1",
                    [contract_id],
                    |r| r.get(0),
                )
                .optional()?;
            if issued.is_none() {
                return Err(Error::NotFound(format!(
                    "contract {contract_id} has no certificate yet"
                )));
            }
            for (key, job) in copies {
                enqueue(tx, Some(contract_id), key, job, now)?;
            }
            append_event(
                tx,
                contract_id,
                &EventData::CertificateResend(resend.clone()),
                now,
            )
        })
    }

    /// The figures of `certd status` at time `now` (Unix seconds).
    pub fn health(&self, now: Instant) -> Result<Health, Error> {
        let now = now.unix_secs();
        let c = self.conn();
        let schema_version: i64 = match c.dialect() {
            Dialect::Sqlite => c.query_row("PRAGMA user_version", [], |r| r.get(0))?,
            Dialect::Postgres => super::postgres_schema::version(&c)?,
        };
        let (customers, customers_active): (i64, i64) = c.query_row(
            "SELECT COUNT(*), CAST(COALESCE(SUM(active), 0) AS BIGINT) FROM customers",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        // Maintained by triggers (schema_v9.sql, schema_v10.sql): constant time at any number
        // of contracts.
        let counts = self.counts()?;
        let mut contracts_by_state = BTreeMap::new();
        for (name, n) in &counts {
            if let Some(state) = name.strip_prefix("contracts:").filter(|_| *n != 0) {
                contracts_by_state.insert(state.to_string(), *n);
            }
        }
        let certificates = counts.get("certificates").copied().unwrap_or(0);
        let contracts = contracts_by_state.values().sum();
        // Events are only ever appended, so the highest rowid is the newest event; this reads
        // one row instead of scanning the log for MAX(at) (PostgreSQL: the index on `at`).
        let last_event_at: Option<String> = c
            .query_row(
                match c.dialect() {
                    Dialect::Sqlite => "SELECT at FROM events ORDER BY rowid DESC LIMIT 1",
                    Dialect::Postgres => "SELECT at FROM events ORDER BY at DESC LIMIT 1",
                },
                [],
                |r| r.get(0),
            )
            .optional()?;
        let outbox = self.outbox_backlog(&counts, Instant::from_unix_secs(now))?;
        let outbox_pending = outbox.values().map(|b| b.pending).sum();
        let outbox_due = outbox.values().map(|b| b.due).sum();
        let outbox_oldest_due_at = outbox.values().filter_map(|b| b.oldest_due).min();
        let outbox_failing_total = outbox.values().map(|b| b.failing).sum();
        let failing = |sql: &str, args: &[&dyn super::sql::ToSql]| {
            let mut stmt = c.prepare(sql)?;
            let rows = stmt.query_map(args, |r| {
                Ok(FailingEffect {
                    id: r.get(0)?,
                    contract_id: r.get(1)?,
                    kind: r.get(2)?,
                    attempts: r.get(3)?,
                    due_at: r.get(4)?,
                    last_error: r.get(5)?,
                })
            })?;
            rows.collect::<Result<Vec<_>, _>>()
        };
        let outbox_failing = failing(FAILING, &[&FAILING_SHOWN])?;
        let certificates_blocked = failing(
            FAILING_OF_KIND,
            &[&JobKind::Certificate.as_str(), &FAILING_SHOWN],
        )?;
        Ok(Health {
            schema_version,
            customers,
            customers_active,
            contracts,
            contracts_by_state,
            certificates,
            last_event_at,
            outbox_pending,
            outbox_due,
            outbox_oldest_due_at,
            outbox_failing,
            outbox_failing_total,
            certificates_blocked,
            outbox_by_kind: outbox,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests_support::{alice, submission};

    fn store() -> Store {
        let mut s = crate::store::test_store::test_store();
        s.add_customer(&alice(), crate::evidence::Instant::now())
            .unwrap();
        s
    }

    #[test]
    fn update_customer_changes_fields_and_keeps_the_rest() {
        let mut s = store();
        let c = s
            .update_customer(
                "alice",
                &CustomerChange {
                    language: Some("ja".into()),
                    deadline_secs: Some(60),
                    add_dkim_domains: vec!["Example.TEST".into()],
                    policy: Some(CustomerPolicy::Any),
                    display_name: Some(None),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(c.language, "ja");
        assert_eq!(c.deadline_secs, 60);
        assert_eq!(c.policy, "any");
        assert_eq!(c.dkim_domains, vec!["example.test"]);
        assert_eq!(c.smtp_logins, vec!["alice"]);
        assert_eq!(c.display_name, None);
        assert_eq!(c.email, "alice@example.test");
        // The milter's view follows.
        let info = s.customer_info("alice").unwrap().unwrap();
        assert_eq!(info.policy, CustomerPolicy::Any);
    }

    #[test]
    fn update_customer_refuses_a_customer_that_cannot_authenticate() {
        let mut s = store();
        let change = CustomerChange {
            policy: Some(CustomerPolicy::Dkim),
            ..Default::default()
        };
        assert!(matches!(
            s.update_customer("alice", &change),
            Err(Error::Invalid(_))
        ));
        let change = CustomerChange {
            remove_smtp_logins: vec!["alice".into()],
            ..Default::default()
        };
        assert!(matches!(
            s.update_customer("alice", &change),
            Err(Error::Invalid(_))
        ));
        // Nothing was written by the refused changes.
        let c = s.customer("alice").unwrap().unwrap();
        assert_eq!(c.policy, "smtp-auth");
        assert_eq!(c.smtp_logins, vec!["alice"]);
        assert!(matches!(
            s.update_customer("zed", &CustomerChange::default()),
            Err(Error::NotFound(_))
        ));
    }

    #[test]
    fn resend_needs_a_certificate_and_uses_fresh_keys() {
        let mut s = store();
        let SubmitOutcome::Committed(c) = s.submit(&submission("k1")).unwrap() else {
            panic!("refused")
        };
        let id = c.contract_id;
        assert!(matches!(
            s.resend_certificate(&id, &["x@example.test".into()]),
            Err(Error::NotFound(_))
        ));
        let issued = crate::evidence::event::CertificateIssued {
            sha256: "s".into(),
            size: 4,
            chain_head: "h".into(),
            timestamp: None,
            copies_to: vec!["alice@example.test".into()],
        };
        let copy = (
            "certificate-copy:1".to_string(),
            Job::CertificateCopy {
                contract_id: id.clone(),
                to: "alice@example.test".into(),
            },
        );
        s.store_certificate(&id, b"%PDF", &issued, &[copy], None, Instant::now())
            .unwrap();
        let first = s
            .resend_certificate(&id, &["x@example.test".into()])
            .unwrap();
        let second = s
            .resend_certificate(&id, &["x@example.test".into()])
            .unwrap();
        assert_ne!(first, second);
        let copies: Vec<_> = s
            .contract_effects(&id)
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "certificate_copy")
            .collect();
        assert_eq!(copies.len(), 3, "{copies:?}");
        let kinds: Vec<_> = s.events(&id).unwrap().into_iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds.iter().filter(|k| *k == "certificate_resend").count(),
            2
        );
        assert!(s.verify_chain(&id).unwrap().is_ok());
    }

    #[test]
    fn health_counts_states_and_the_outbox() {
        let mut s = store();
        let now = Instant::now().unix_secs();
        let h = s.health(Instant::from_unix_secs(now)).unwrap();
        assert_eq!(h.contracts, 0);
        assert_eq!(h.outbox_pending, 0);
        assert_eq!(h.last_event_at, None);
        s.submit(&submission("k1")).unwrap();
        s.submit(&submission("k2")).unwrap();
        let h = s.health(Instant::from_unix_secs(now + 10)).unwrap();
        assert_eq!(h.contracts, 2);
        assert_eq!(h.contracts_by_state.get("requested"), Some(&2));
        // A receipt and a request per contract, all due.
        assert_eq!(h.outbox_pending, 4);
        assert_eq!(h.outbox_due, 4);
        assert!(h.outbox_oldest_due_at.is_some_and(|t| t <= now + 10));
        assert!(h.last_event_at.is_some());
        assert!(h.schema_version >= 5);
        let leased = s.lease_due(1, 60, Instant::now()).unwrap();
        s.reschedule(leased[0].id, Instant::now().plus_secs(300), "smtp down")
            .unwrap();
        let h = s.health(Instant::from_unix_secs(now + 10)).unwrap();
        assert_eq!(h.outbox_failing_total, 1);
        assert_eq!(h.outbox_failing[0].last_error.as_deref(), Some("smtp down"));
        assert_eq!(h.outbox_due, 3);
        // The counts follow transitions (kept by triggers, not counted at read time).
        let first = s.list_contracts(&Default::default()).unwrap()[1].id.clone();
        let later = Instant::from_unix_secs(now + 10 * 86_400);
        assert!(s.expire(&first, later).unwrap().is_ok());
        assert!(s.expire(&first, later).unwrap().is_err(), "once");
        let h = s.health(Instant::from_unix_secs(now + 10)).unwrap();
        assert_eq!(h.contracts, 2);
        assert_eq!(h.contracts_by_state.get("requested"), Some(&1));
        assert_eq!(h.contracts_by_state.get("unanswered"), Some(&1));
        assert_eq!(h.contracts_by_state.get("received"), None);
    }

    use crate::store::SubmitOutcome;
}
