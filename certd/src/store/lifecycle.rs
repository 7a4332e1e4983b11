//! The rows the lifecycle reads and writes: a contract's facts (state, destinations, bounces,
//! clarifications sent), its transitions, answers received, and the tokens that find them.

use super::sql::{params, Dialect, OptionalExtension, Tx};
use super::Store;
use crate::error::Error;
use crate::evidence::{Instant, State};

/// What the lifecycle needs to know about a contract, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    pub state: State,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub bounced: Vec<String>,
    pub deadline_at: Option<Instant>,
    /// Clarification requests already queued, per destination.
    pub clarifications: Vec<(String, u32)>,
    /// The customer's answer period.
    pub deadline_secs: i64,
}

/// Loads the facts of contract `id` in the caller's transaction.
pub(crate) fn load_facts(tx: &Tx<'_>, id: &str) -> Result<Facts, Error> {
    // The facts are read to be changed: on PostgreSQL no other node may step this contract
    // until the transaction ends (a deadline and an answer at once: one wins, the other sees it).
    tx.lock_contract(id)?;
    let (state, deadline_at, deadline_secs): (State, Option<i64>, i64) = tx
        .query_row(
            "SELECT c.state, c.deadline_at, cu.deadline_secs
             FROM contracts c JOIN customers cu ON cu.id = c.customer_id WHERE c.id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("no contract {id}")))?;
    let mut c = Facts {
        state,
        emails: Vec::new(),
        phones: Vec::new(),
        bounced: Vec::new(),
        deadline_at: deadline_at.map(Instant::from_unix_secs),
        clarifications: Vec::new(),
        deadline_secs,
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

/// Clarification requests already queued for one destination, counted by their outbox keys
/// (`clarification:<id>:<address>:…`, `sms-clarification:<id>:<address>:…`).
fn clarifications_sent(tx: &Tx<'_>, id: &str, kind: &str, address: &str) -> Result<u32, Error> {
    let prefix = match kind {
        "email" => format!("clarification:{id}:{address}:"),
        _ => format!("sms-clarification:{id}:{address}:"),
    };
    Ok(tx.query_row(
        "SELECT COUNT(*) FROM outbox WHERE contract_id = ?1
         AND substr(idempotency_key, 1, ?3) = ?2 COLLATE NOCASE",
        params![id, prefix, prefix.chars().count()],
        |r| r.get(0),
    )?)
}

/// The reply token of one destination.
pub(crate) fn token_of(tx: &Tx<'_>, id: &str, address: &str) -> Result<String, Error> {
    tx.query_row(
        "SELECT token FROM destinations WHERE contract_id = ?1 AND address = ?2 COLLATE NOCASE",
        params![id, address],
        |r| r.get::<_, Option<String>>(0),
    )
    .optional()?
    .flatten()
    .ok_or_else(|| Error::Database(format!("contract {id}: no reply token for {address}")))
}

/// Writes a transition: the new state, the deadline when it starts the clock, and the
/// destination a bounce marks as failed.
pub(crate) fn save_transition(
    tx: &Tx<'_>,
    id: &str,
    state: State,
    deadline_at: Option<Instant>,
    bounced: Option<&str>,
    now: Instant,
) -> Result<(), Error> {
    tx.execute(
        "UPDATE contracts SET state = ?1 WHERE id = ?2",
        params![state, id],
    )?;
    if let Some(at) = deadline_at {
        tx.execute(
            "UPDATE contracts SET deadline_at = ?1 WHERE id = ?2",
            params![at.unix_secs(), id],
        )?;
    }
    if let Some(destination) = bounced {
        tx.execute(
            "UPDATE destinations SET bounced_at = ?1 WHERE contract_id = ?2 AND address = ?3 COLLATE NOCASE",
            params![now.rfc3339_millis(), id, destination],
        )?;
    }
    Ok(())
}

/// Stores a received answer (reply or DSN) and its message, once: `None` when a retried
/// delivery of the same message (same `dedupe_key`) was stored before.
pub(crate) fn insert_answer(
    tx: &Tx<'_>,
    a: &certmail_protocol::Answer,
    target: &TokenTarget,
    raw_sha256: &str,
    now: Instant,
) -> Result<Option<i64>, Error> {
    let seen: Option<i64> = tx
        .query_row(
            "SELECT id FROM answers WHERE dedupe_key = ?1",
            [&a.dedupe_key],
            |r| r.get(0),
        )
        .optional()?;
    if seen.is_some() {
        return Ok(None);
    }
    super::contracts::put_blob(tx, raw_sha256, &a.raw)?;
    let kind = match a.kind {
        certmail_protocol::AnswerKind::Reply => "reply",
        certmail_protocol::AnswerKind::Bounce => "bounce",
    };
    let id = tx.query_row(
        "INSERT INTO answers (contract_id, token, kind, received_at, raw_sha256, dedupe_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        params![
            target.contract_id,
            a.token,
            kind,
            now.rfc3339_millis(),
            raw_sha256,
            a.dedupe_key
        ],
        |r| r.get(0),
    )?;
    Ok(Some(id))
}

impl Store {
    /// Contracts whose deadline has passed while they wait for an answer.
    pub fn due_deadlines(&self, now: Instant) -> Result<Vec<String>, Error> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id FROM contracts WHERE state = 'requested' AND deadline_at <= ?1 ORDER BY deadline_at",
        )?;
        let rows = stmt.query_map([now.unix_secs()], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
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
        let conn = self.conn();
        let mut stmt = conn.prepare(match conn.dialect() {
            Dialect::Sqlite => {
                "SELECT DISTINCT json_extract(data, '$.message_id') FROM events
                 WHERE contract_id = ?1 AND kind IN ('request_sent', 'clarification_sent')
                   AND json_extract(data, '$.to') = ?2 COLLATE NOCASE
                   AND json_extract(data, '$.message_id') IS NOT NULL"
            }
            Dialect::Postgres => {
                "SELECT DISTINCT data::jsonb ->> 'message_id' FROM events
                 WHERE contract_id = ?1 AND kind IN ('request_sent', 'clarification_sent')
                   AND (data::jsonb ->> 'to') = ?2 COLLATE NOCASE
                   AND data::jsonb ->> 'message_id' IS NOT NULL"
            }
        })?;
        let rows = stmt.query_map(params![target.contract_id, target.destination], |r| {
            r.get::<_, String>(0)
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::{EventData, JobKind};
    use crate::store::tests_support::{alice, submission};
    use crate::store::SubmitOutcome;
    use certmail_protocol::AnswerKind;

    fn stored() -> (Store, String) {
        let mut s = crate::store::test_store::test_store();
        s.add_customer(&alice(), crate::evidence::Instant::now())
            .unwrap();
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

    fn sent(job: JobKind, to: &str, message_id: &str) -> EventData {
        EventData::MailSent(
            job,
            crate::evidence::event::MailSent {
                to: to.into(),
                message_id: message_id.into(),
                smtp: "250 ok".into(),
                attempt: 1,
            },
        )
    }

    #[test]
    fn sent_message_ids_are_those_of_the_destinations_requests() {
        let (mut s, id) = stored();
        s.record_event(
            &id,
            &sent(JobKind::Request, "Bob@example.test", "<r@x>"),
            Instant::now(),
        )
        .unwrap();
        s.record_event(
            &id,
            &sent(JobKind::Receipt, "bob@example.test", "<n@x>"),
            Instant::now(),
        )
        .unwrap();
        s.record_event(
            &id,
            &sent(JobKind::Clarification, "carol@example.test", "<c@x>"),
            Instant::now(),
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
