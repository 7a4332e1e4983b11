//! Applying lifecycle events: load the contract, run the pure transition, and write the new
//! state, the event and the effects in the caller's transaction.

use super::contracts::append_event;
use super::outbox::enqueue;
use super::{rfc3339_now, unix_now, Store};
use crate::error::Error;
use crate::lifecycle::{self, Contract, Effect, Event, Illegal, Policy, Standing, State};
use crate::outbox::Effect as Outgoing;
use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::{json, Value};

fn load(tx: &Transaction<'_>, id: &str) -> Result<Contract, Error> {
    let (state, deadline_at): (String, Option<i64>) = tx
        .query_row(
            "SELECT state, deadline_at FROM contracts WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("no contract {id}")))?;
    let state = State::parse(&state)
        .ok_or_else(|| Error::Database(format!("contract {id} has unknown state {state:?}")))?;
    let mut c = Contract {
        state,
        emails: Vec::new(),
        phones: Vec::new(),
        bounced: Vec::new(),
        deadline_at,
        clarifications: Vec::new(),
    };
    let mut stmt = tx.prepare(
        "SELECT kind, address, bounced_at IS NOT NULL FROM destinations
         WHERE contract_id = ?1 ORDER BY position",
    )?;
    let rows = stmt.query_map([id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, bool>(2)?,
        ))
    })?;
    for row in rows {
        let (kind, address, bounced) = row?;
        if bounced {
            c.bounced.push(address.clone());
        }
        let sent = clarifications_sent(tx, id, &kind, &address)?;
        if sent > 0 {
            c.clarifications.push((address.clone(), sent));
        }
        match kind.as_str() {
            "email" => c.emails.push(address),
            _ => c.phones.push(address),
        }
    }
    Ok(c)
}

/// Clarification requests already queued for one destination (their outbox keys, below).
fn clarifications_sent(
    tx: &Transaction<'_>,
    id: &str,
    kind: &str,
    address: &str,
) -> Result<u32, Error> {
    let prefix = match kind {
        "email" => format!("clarification:{id}:{address}:"),
        _ => format!("sms-clarification:{id}:{address}:"),
    };
    Ok(tx.query_row(
        "SELECT COUNT(*) FROM outbox WHERE contract_id = ?1
         AND substr(idempotency_key, 1, length(?2)) = ?2 COLLATE NOCASE",
        params![id, prefix],
        |r| r.get(0),
    )?)
}

fn token_of(tx: &Transaction<'_>, id: &str, address: &str) -> Result<String, Error> {
    tx.query_row(
        "SELECT token FROM destinations WHERE contract_id = ?1 AND address = ?2 COLLATE NOCASE",
        params![id, address],
        |r| r.get::<_, Option<String>>(0),
    )
    .optional()?
    .flatten()
    .ok_or_else(|| Error::Database(format!("contract {id}: no reply token for {address}")))
}

/// Applies `event` to contract `id`. The event is recorded as `kind` with `evidence`, whether
/// it applies or not: an answer that comes too late is evidence too (`<kind>_ignored`).
pub(crate) fn apply(
    tx: &Transaction<'_>,
    id: &str,
    event: &Event,
    kind: &str,
    evidence: Value,
    effect_salt: &str,
) -> Result<Result<State, Illegal>, Error> {
    let contract = load(tx, id)?;
    let (next, effects) = match lifecycle::step(&contract, event, &Policy::default()) {
        Ok(x) => x,
        Err(illegal) => {
            let mut data = evidence;
            data["ignored"] = json!(illegal.to_string());
            append_event(tx, id, &format!("{kind}_ignored"), &data)?;
            return Ok(Err(illegal));
        }
    };
    tx.execute(
        "UPDATE contracts SET state = ?1 WHERE id = ?2",
        params![next.as_str(), id],
    )?;
    let mut data = evidence;
    data["state"] = json!(next.as_str());
    if matches!(event, Event::Start) {
        let secs: i64 = tx.query_row(
            "SELECT cu.deadline_secs FROM contracts c JOIN customers cu ON cu.id = c.customer_id WHERE c.id = ?1",
            [id],
            |r| r.get(0),
        )?;
        let deadline = unix_now() + secs;
        tx.execute(
            "UPDATE contracts SET deadline_at = ?1 WHERE id = ?2",
            params![deadline, id],
        )?;
        data["deadline_at"] = json!(humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(deadline.max(0) as u64)
        )
        .to_string());
    }
    if let Event::Bounce { destination } = event {
        tx.execute(
            "UPDATE destinations SET bounced_at = ?1 WHERE contract_id = ?2 AND address = ?3 COLLATE NOCASE",
            params![rfc3339_now(), id, destination],
        )?;
    }
    append_event(tx, id, kind, &data)?;
    let now = unix_now();
    for effect in effects {
        let (key, out) = match effect {
            Effect::SendRequest { to } => (
                format!("request:{id}:{to}"),
                Outgoing::Request {
                    contract_id: id.into(),
                    token: token_of(tx, id, &to)?,
                    to,
                },
            ),
            Effect::SendClarification { to, reason } => (
                format!("clarification:{id}:{to}:{effect_salt}"),
                Outgoing::Clarification {
                    contract_id: id.into(),
                    token: token_of(tx, id, &to)?,
                    to,
                    reason,
                },
            ),
            Effect::SendSmsRequest { to } => {
                super::sms::ensure_code(tx, id, &to)?;
                (
                    format!("sms-request:{id}:{to}"),
                    Outgoing::SmsRequest {
                        contract_id: id.into(),
                        to,
                    },
                )
            }
            Effect::SendSmsClarification { to } => (
                format!("sms-clarification:{id}:{to}:{effect_salt}"),
                Outgoing::SmsClarification {
                    contract_id: id.into(),
                    to,
                },
            ),
            Effect::SendSmsConfirmation { to } => (
                format!("sms-confirmation:{id}:{to}"),
                Outgoing::SmsConfirmation {
                    contract_id: id.into(),
                    to,
                },
            ),
            Effect::IssueCertificate { outcome } => (
                format!("certificate:{id}"),
                Outgoing::Certificate {
                    contract_id: id.into(),
                    outcome: outcome.as_str().into(),
                },
            ),
        };
        enqueue(tx, Some(id), &key, &out, now)?;
    }
    Ok(Ok(next))
}

impl Store {
    /// Contracts whose deadline has passed while they wait for an answer.
    pub fn due_deadlines(&self, now: i64) -> Result<Vec<String>, Error> {
        let mut stmt = self.conn().prepare(
            "SELECT id FROM contracts WHERE state = 'requested' AND deadline_at <= ?1 ORDER BY deadline_at",
        )?;
        let rows = stmt.query_map([now], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Ends a contract as unanswered (NORESP) if its deadline has passed.
    pub fn expire(&mut self, id: &str, now: i64) -> Result<Result<State, Illegal>, Error> {
        self.write(|tx| {
            let deadline: Option<i64> = tx
                .query_row(
                    "SELECT deadline_at FROM contracts WHERE id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .optional()?
                .flatten();
            apply(
                tx,
                id,
                &Event::Deadline { now },
                "deadline",
                json!({ "deadline_at": deadline }),
                "",
            )
        })
    }

    /// Records a permanent delivery failure of a request reported synchronously by `source`
    /// (`smtp`: a 5xx from the MTA; `sms_gateway`: the gateway refused the number).
    pub fn record_bounce(
        &mut self,
        id: &str,
        destination: &str,
        diagnostic: &str,
        source: &str,
    ) -> Result<Result<State, Illegal>, Error> {
        self.write(|tx| {
            apply(
                tx,
                id,
                &Event::Bounce {
                    destination: destination.into(),
                },
                "bounce",
                json!({ "destination": destination, "diagnostic": diagnostic, "source": source }),
                "",
            )
        })
    }
}

/// The contract and destination behind a reply or bounce token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenTarget {
    pub contract_id: String,
    pub serial: u64,
    pub destination: String,
}

/// Where delivery reports for one destination go and what they must carry (RFC 3461): the
/// bounce token of the return path and the secret ENVID.
#[derive(Clone, PartialEq, Eq)]
pub struct BounceRoute {
    pub token: String,
    pub envid_secret: String,
}

impl std::fmt::Debug for BounceRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The envelope-id secret is never logged.
        f.debug_struct("BounceRoute")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// The destination behind `token` used as a `kind` address: reply tokens answer only at
    /// `reply+`, bounce tokens only at `bounce+`.
    pub fn token_target(
        &self,
        token: &str,
        kind: certmail_protocol::AnswerKind,
    ) -> Result<Option<TokenTarget>, Error> {
        let sql = match kind {
            certmail_protocol::AnswerKind::Reply => {
                "SELECT c.id, c.serial, d.address FROM destinations d JOIN contracts c ON c.id = d.contract_id
                 WHERE d.token = ?1"
            }
            certmail_protocol::AnswerKind::Bounce => {
                "SELECT c.id, c.serial, d.address FROM destinations d JOIN contracts c ON c.id = d.contract_id
                 WHERE d.bounce_token = ?1"
            }
        };
        Ok(self
            .conn()
            .query_row(sql, [token], |r| {
                Ok(TokenTarget {
                    contract_id: r.get(0)?,
                    serial: r.get::<_, i64>(1)? as u64,
                    destination: r.get(2)?,
                })
            })
            .optional()?)
    }

    /// The bounce token and ENVID secret of a destination (`None`: no such destination).
    pub fn bounce_route(
        &self,
        contract_id: &str,
        address: &str,
    ) -> Result<Option<BounceRoute>, Error> {
        let row: Option<(Option<String>, Option<String>)> = self
            .conn()
            .query_row(
                "SELECT bounce_token, envid FROM destinations
                 WHERE contract_id = ?1 AND address = ?2 COLLATE NOCASE",
                params![contract_id, address],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(match row {
            Some((Some(token), Some(envid_secret))) => Some(BounceRoute {
                token,
                envid_secret,
            }),
            _ => None,
        })
    }

    /// The Message-IDs of the requests and clarifications certd sent to `target`'s
    /// destination: a report quoting one of them is about certd's mail (evidence, not proof).
    pub fn sent_message_ids(&self, target: &TokenTarget) -> Result<Vec<String>, Error> {
        let mut stmt = self.conn().prepare(
            "SELECT DISTINCT json_extract(data, '$.message_id') FROM events
             WHERE contract_id = ?1 AND kind IN ('request_sent', 'clarification_sent')
               AND json_extract(data, '$.to') = ?2 COLLATE NOCASE
               AND json_extract(data, '$.message_id') IS NOT NULL",
        )?;
        let rows = stmt.query_map(params![target.contract_id, target.destination], |r| {
            r.get::<_, String>(0)
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Stores an answer (reply or DSN) and applies its event, once: a retried delivery of the
    /// same message (same `dedupe_key`) changes nothing and returns `true` for duplicate.
    pub fn record_answer(
        &mut self,
        a: &certmail_protocol::Answer,
        target: &TokenTarget,
        event: Option<&Event>,
        mut evidence: Value,
    ) -> Result<bool, Error> {
        self.write(|tx| {
            let seen: Option<i64> = tx
                .query_row(
                    "SELECT id FROM answers WHERE dedupe_key = ?1",
                    [&a.dedupe_key],
                    |r| r.get(0),
                )
                .optional()?;
            if seen.is_some() {
                return Ok(true);
            }
            let raw_sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&a.raw));
            tx.execute(
                "INSERT OR IGNORE INTO blobs (sha256, data) VALUES (?1, ?2)",
                params![raw_sha256, a.raw],
            )?;
            let kind = match a.kind {
                certmail_protocol::AnswerKind::Reply => "reply",
                certmail_protocol::AnswerKind::Bounce => "bounce",
            };
            tx.execute(
                "INSERT INTO answers (contract_id, token, kind, received_at, raw_sha256, dedupe_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![target.contract_id, a.token, kind, rfc3339_now(), raw_sha256, a.dedupe_key],
            )?;
            let answer_id = tx.last_insert_rowid();
            evidence["raw_sha256"] = json!(raw_sha256);
            evidence["raw_size"] = json!(a.raw.len());
            evidence["envelope_from"] = json!(a.envelope_from);
            evidence["queue_id"] = json!(a.queue_id);
            evidence["client_addr"] = json!(a.client_addr);
            evidence["client_name"] = json!(a.client_name);
            evidence["helo"] = json!(a.helo);
            evidence["authentication"] = json!(a.auth);
            // An answer that may not decide is evidence under its own kind, so that no
            // reader mistakes it for the counterparty's answer.
            let kind = match event {
                Some(Event::Reply { standing, .. }) if *standing != Standing::Decisive => {
                    "reply_noted"
                }
                _ => kind,
            };
            match event {
                Some(e) => {
                    // An answer that cannot apply (a late reply) is recorded by `apply` as
                    // `<kind>_ignored`: evidence either way, nothing more to do here.
                    let _applied_or_ignored = apply(
                        tx,
                        &target.contract_id,
                        e,
                        kind,
                        evidence,
                        &answer_id.to_string(),
                    )?;
                }
                None => append_event(tx, &target.contract_id, &format!("{kind}_noted"), &evidence)?,
            }
            Ok(false)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests_support::{alice, submission};
    use crate::store::SubmitOutcome;
    use certmail_protocol::AnswerKind;

    fn stored() -> (Store, String) {
        let mut s = Store::open_in_memory().unwrap();
        s.add_customer(&alice()).unwrap();
        let SubmitOutcome::Committed(c) = s.submit(&submission("k1")).unwrap() else {
            panic!("refused")
        };
        (s, c.contract_id)
    }

    fn tokens(s: &Store, id: &str) -> (String, String, String) {
        s.conn()
            .query_row(
                "SELECT token, bounce_token, envid FROM destinations WHERE contract_id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap()
    }

    #[test]
    fn reply_and_bounce_tokens_work_only_at_their_own_address() {
        let (s, id) = stored();
        let (reply, bounce, envid) = tokens(&s, &id);
        assert!(reply != bounce && bounce != envid && reply != envid);
        let found = |t: &str, k| s.token_target(t, k).unwrap().map(|t| t.destination);
        assert_eq!(
            found(&reply, AnswerKind::Reply).as_deref(),
            Some("bob@example.test")
        );
        assert_eq!(
            found(&bounce, AnswerKind::Bounce).as_deref(),
            Some("bob@example.test")
        );
        assert_eq!(found(&reply, AnswerKind::Bounce), None);
        assert_eq!(found(&bounce, AnswerKind::Reply), None);
        assert_eq!(found(&envid, AnswerKind::Bounce), None);
        let route = s.bounce_route(&id, "BOB@example.test").unwrap().unwrap();
        assert_eq!(
            (route.token.as_str(), route.envid_secret.as_str()),
            (bounce.as_str(), envid.as_str())
        );
        assert!(
            !format!("{route:?}").contains(&envid),
            "the secret is not logged"
        );
        assert_eq!(s.bounce_route(&id, "carol@example.test").unwrap(), None);
    }

    #[test]
    fn sent_message_ids_are_those_of_the_destinations_requests() {
        let (mut s, id) = stored();
        s.record_event(
            &id,
            "request_sent",
            &json!({"to": "Bob@example.test", "message_id": "<r@x>"}),
        )
        .unwrap();
        s.record_event(
            &id,
            "receipt_sent",
            &json!({"to": "bob@example.test", "message_id": "<n@x>"}),
        )
        .unwrap();
        s.record_event(
            &id,
            "clarification_sent",
            &json!({"to": "carol@example.test", "message_id": "<c@x>"}),
        )
        .unwrap();
        let target = TokenTarget {
            contract_id: id,
            serial: 1,
            destination: "bob@example.test".into(),
        };
        assert_eq!(s.sent_message_ids(&target).unwrap(), ["<r@x>"]);
    }

    #[test]
    fn migration_v6_gives_existing_destinations_fresh_secrets() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        super::super::migrations().to_version(&mut conn, 5).unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys=OFF;
             INSERT INTO destinations (contract_id, position, kind, address, token)
             VALUES ('c1', 0, 'email', 'bob@example.test', 'r1'), ('c1', 1, 'email', 'carol@example.test', 'r2');",
        )
        .unwrap();
        super::super::migrations().to_latest(&mut conn).unwrap();
        let rows: Vec<(String, String, String)> = conn
            .prepare("SELECT token, bounce_token, envid FROM destinations ORDER BY position")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut all = Vec::new();
        for (token, bounce, envid) in rows {
            for secret in [&bounce, &envid] {
                assert_eq!(secret.len(), 32, "128 bits in hex");
                assert!(secret
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
            }
            all.extend([token, bounce, envid]);
        }
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "every token and secret is distinct");
    }
}
