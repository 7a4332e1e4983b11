//! Contracts, their parts and their event log.

use super::chain::{event_hash, ChainError, GENESIS};
use super::sql::{params, OptionalExtension, Tx};
use super::{columns, Store};
use crate::error::Error;
use crate::evidence::event::Submitted;
use crate::evidence::{EventData, Instant, State};
use certmail_protocol::counterparty::Excluded;
use certmail_protocol::{AuthMethod, Committed, Destination, Limits, Refusal, Submission};
use rusqlite::MAIN_DB;
use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};

/// What a submission is checked against before it is stored. The milter ran the same checks
/// (the same functions of the protocol crate); certd repeats them so that nothing it stores
/// depends on the milter being right.
#[derive(Clone, Debug, Default)]
pub struct Intake {
    pub limits: Limits,
    /// Contract domains certd knows (its own `smtp.from` domain). The domain of each
    /// submission's contract address is one as well.
    pub service_domains: Vec<String>,
}

/// What `submit` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    Committed(Committed),
    Refused(Refusal),
}

/// The secrets a new contract is stored with, drawn by the caller (the store draws nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Minted {
    pub contract_id: String,
    /// One per destination, in order: reply token, bounce token, ENVID secret.
    pub destinations: Vec<[String; 3]>,
}

/// What inserting a submission did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// Stored; the caller starts its lifecycle and queues the receipt.
    New {
        committed: Committed,
        customer_email: String,
        language: String,
    },
    /// Refused, or already stored (a retry).
    Done(SubmitOutcome),
}

/// One line of `contracts list`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ContractSummary {
    pub id: String,
    pub serial: i64,
    pub customer: String,
    pub state: State,
    pub submitted_at: Instant,
    pub subject_text: String,
    pub destinations: Vec<String>,
}

/// A contract with everything stored about it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ContractRow {
    #[serde(flatten)]
    pub summary: ContractSummary,
    pub recipient: String,
    pub envelope_from: String,
    pub from_header: Option<String>,
    pub message_id: Option<String>,
    pub subject: String,
    pub body_text: String,
    pub auth_method: String,
    pub auth_identity: String,
    pub queue_id: Option<String>,
    pub client_addr: Option<String>,
    pub client_name: Option<String>,
    pub helo: Option<String>,
    pub raw_sha256: String,
    pub raw_size: i64,
    /// Set once the request phase started; Unix seconds in JSON, as stored.
    #[serde(serialize_with = "unix_secs")]
    pub deadline_at: Option<Instant>,
    pub attachments: Vec<AttachmentRow>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AttachmentRow {
    pub filename: Option<String>,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
}

fn unix_secs<S: Serializer>(t: &Option<Instant>, s: S) -> Result<S::Ok, S::Error> {
    t.map(Instant::unix_secs).serialize(s)
}

/// One event of a contract's chain, typed; `text` is the exact stored (hashed) data.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EventRow {
    pub seq: i64,
    pub at: Instant,
    pub kind: String,
    #[serde(serialize_with = "data_value")]
    pub data: EventData,
    #[serde(skip)]
    pub text: String,
    pub prev_hash: String,
    pub hash: String,
}

fn data_value<S: Serializer>(d: &EventData, s: S) -> Result<S::Ok, S::Error> {
    d.to_value().serialize(s)
}

/// Filters of `contracts list`; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub state: Option<State>,
    pub customer: Option<String>,
    /// Submitted at or after this time.
    pub since: Option<Instant>,
    /// Submitted strictly before this time.
    pub before: Option<Instant>,
    /// One of the destinations is this address (email: case-insensitive) or phone number.
    pub destination: Option<String>,
    pub limit: Option<u32>,
}

fn refusal(code: u16, enhanced: &str, text: String) -> SubmitOutcome {
    SubmitOutcome::Refused(Refusal {
        code,
        enhanced: enhanced.into(),
        text,
    })
}

/// Checks and stores one submission inside the caller's transaction, with its `submitted`
/// event; the caller starts the lifecycle of a new one.
pub(crate) fn insert_submission(
    tx: &Tx<'_>,
    s: &Submission,
    intake: &Intake,
    minted: &Minted,
    now: Instant,
) -> Result<Inserted, Error> {
    if s.destinations.is_empty() {
        return Ok(Inserted::Done(refusal(
            550,
            "5.1.3",
            "the submission names no destination".into(),
        )));
    }
    // Nodes sharing a PostgreSQL assign serials (and check for duplicates) one at a time.
    tx.lock_serials()?;
    let customer: Option<(i64, bool, String, String)> = tx
        .query_row(
            "SELECT id, active, email, language FROM customers WHERE name = ?1",
            [&s.customer],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((customer_id, active, customer_email, language)) = customer else {
        return Ok(Inserted::Done(refusal(
            550,
            "5.7.1",
            format!("{} is not a certmail customer", s.recipient),
        )));
    };
    if !active {
        return Ok(Inserted::Done(refusal(
            550,
            "5.7.1",
            format!("the certmail customer {} is disabled", s.recipient),
        )));
    }
    let existing: Option<(String, i64)> = tx
        .query_row(
            "SELECT id, serial FROM contracts WHERE dedupe_key = ?1",
            [&s.dedupe_key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((contract_id, serial)) = existing {
        return Ok(Inserted::Done(SubmitOutcome::Committed(Committed {
            contract_id,
            serial: serial as u64,
            duplicate: true,
        })));
    }
    if let Err(v) = intake.limits.check_submission(s) {
        return Ok(Inserted::Done(SubmitOutcome::Refused(v.refusal())));
    }
    if let Some(refusal) = not_a_counterparty(tx, s, intake, customer_id, &customer_email)? {
        return Ok(Inserted::Done(SubmitOutcome::Refused(refusal)));
    }
    if minted.destinations.len() != s.destinations.len() {
        return Err(Error::Invalid(format!(
            "{} secrets minted for {} destinations",
            minted.destinations.len(),
            s.destinations.len()
        )));
    }

    let raw_sha256 = hex::encode(Sha256::digest(&s.raw));
    put_blob(tx, &raw_sha256, &s.raw)?;
    let serial: i64 = tx.query_row(
        "SELECT COALESCE(MAX(serial), 0) + 1 FROM contracts",
        [],
        |r| r.get(0),
    )?;
    let id = minted.contract_id.clone();
    let (auth_method, auth_identity) = match &s.auth {
        AuthMethod::SmtpAuth { login, .. } => ("smtp-auth", login.clone()),
        AuthMethod::Dkim { domain, selector } => ("dkim", format!("d={domain}; s={selector}")),
    };
    tx.execute(
        "INSERT INTO contracts (id, serial, customer_id, state, submitted_at, recipient,
            envelope_from, from_header, message_id, subject, subject_text, body_text,
            auth_method, auth_identity, queue_id, client_addr, client_name, helo,
            raw_sha256, raw_size, dedupe_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
            ?17, ?18, ?19, ?20, ?21)",
        params![
            id,
            serial,
            customer_id,
            State::Received,
            now.rfc3339_millis(),
            s.recipient,
            s.envelope_from,
            s.from_header,
            s.message_id,
            s.subject,
            s.subject_text,
            s.text,
            auth_method,
            auth_identity,
            s.queue_id,
            s.client_addr,
            s.client_name,
            s.helo,
            raw_sha256,
            s.raw.len() as i64,
            s.dedupe_key,
        ],
    )?;
    for (i, (d, [token, bounce_token, envid])) in
        s.destinations.iter().zip(&minted.destinations).enumerate()
    {
        let (kind, addr) = match d {
            Destination::Email(a) => ("email", a),
            Destination::Phone(p) => ("phone", p),
        };
        tx.execute(
            "INSERT INTO destinations (contract_id, position, kind, address, token, bounce_token, envid)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![id, i as i64, kind, addr, token, bounce_token, envid],
        )?;
    }
    for (i, a) in s.attachments.iter().enumerate() {
        tx.execute(
            "INSERT INTO attachments (contract_id, position, filename, content_type, size, sha256)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id,
                i as i64,
                a.filename,
                a.content_type,
                a.size as i64,
                a.sha256
            ],
        )?;
    }
    let submitted = EventData::Submitted(Submitted {
        serial,
        recipient: s.recipient.clone(),
        auth: s.auth.clone(),
        envelope_from: s.envelope_from.clone(),
        from_header: s.from_header.clone(),
        message_id: s.message_id.clone(),
        queue_id: s.queue_id.clone(),
        client_addr: s.client_addr.clone(),
        client_name: s.client_name.clone(),
        helo: s.helo.clone(),
        destinations: s.destinations.clone(),
        attachments: s.attachments.clone(),
        raw_sha256,
        raw_size: s.raw.len() as u64,
    });
    append_event(tx, &id, &submitted, now)?;
    Ok(Inserted::New {
        committed: Committed {
            contract_id: id,
            serial: serial as u64,
            duplicate: false,
        },
        customer_email,
        language,
    })
}

/// Stores a raw message once under its SHA-256. On SQLite it is written in place (incremental
/// blob I/O): bound as a parameter, the message would be copied twice more in memory (the
/// binding and the row record) before reaching the pages.
pub(crate) fn put_blob(tx: &Tx<'_>, sha256: &str, data: &[u8]) -> Result<(), Error> {
    let Some(conn) = tx.as_sqlite() else {
        tx.execute(
            "INSERT INTO blobs (sha256, data) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![sha256, data],
        )?;
        return Ok(());
    };
    if tx.execute(
        "INSERT INTO blobs (sha256, data) VALUES (?1, zeroblob(?2)) ON CONFLICT DO NOTHING",
        params![sha256, data.len() as i64],
    )? == 1
    {
        conn.blob_open(MAIN_DB, "blobs", "data", conn.last_insert_rowid(), false)?
            .write_at(data, 0)?;
    }
    Ok(())
}

/// The refusal for a destination that is the contract service or the customer itself.
fn not_a_counterparty(
    tx: &Tx<'_>,
    s: &Submission,
    intake: &Intake,
    customer_id: i64,
    customer_email: &str,
) -> Result<Option<Refusal>, Error> {
    let strings = |sql: &str| -> Result<Vec<String>, Error> {
        let mut stmt = tx.prepare(sql)?;
        let rows = stmt.query_map([customer_id], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    };
    let logins = strings("SELECT login FROM customer_logins WHERE customer_id = ?1")?;
    let phones = strings("SELECT phone FROM customer_phones WHERE customer_id = ?1")?;
    let mut service_domains: Vec<&str> =
        intake.service_domains.iter().map(String::as_str).collect();
    service_domains.extend(s.recipient.rsplit_once('@').map(|(_, d)| d));
    let mut addresses: Vec<&str> = logins
        .iter()
        .map(String::as_str)
        .filter(|l| l.contains('@'))
        .collect();
    addresses.extend([customer_email, s.envelope_from.as_str()]);
    addresses.extend(s.from_header.as_deref());
    let excluded = Excluded {
        service_domains,
        addresses,
        phones: phones.iter().map(String::as_str).collect(),
    };
    Ok(excluded.check(&s.destinations).err().map(|e| e.refusal()))
}

impl Store {
    /// What submissions are checked against.
    pub(crate) fn intake(&self) -> &Intake {
        &self.intake
    }

    pub fn list_contracts(&self, f: &ListFilter) -> Result<Vec<ContractSummary>, Error> {
        let (sql, values) = list_query(f);
        let limit = f.limit.map_or(i64::MAX, i64::from);
        let mut args: Vec<&dyn super::sql::ToSql> =
            values.iter().map(|v| v as &dyn super::sql::ToSql).collect();
        args.push(&limit);
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql)?;
        let params = args.as_slice();
        let rows = stmt.query_map(params, |r| {
            Ok(ContractSummary {
                id: r.get(0)?,
                serial: r.get(1)?,
                customer: r.get(2)?,
                state: r.get(3)?,
                submitted_at: columns::instant(r, 4)?,
                subject_text: r.get(5)?,
                destinations: Vec::new(),
            })
        })?;
        let mut out = rows.collect::<Result<Vec<_>, _>>()?;
        for c in &mut out {
            c.destinations = self.destinations(&c.id)?;
        }
        Ok(out)
    }

    fn destinations(&self, id: &str) -> Result<Vec<String>, Error> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT address FROM destinations WHERE contract_id = ?1 ORDER BY position")?;
        let rows = stmt.query_map([id], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Finds a contract by id or by serial number.
    pub fn contract(&self, id_or_serial: &str) -> Result<Option<ContractRow>, Error> {
        let by_serial = id_or_serial.parse::<i64>().ok();
        let row = self
            .conn()
            .query_row(
                "SELECT c.id, c.serial, cu.name, c.state, c.submitted_at, c.subject_text,
                    c.recipient, c.envelope_from, c.from_header, c.message_id, c.subject,
                    c.body_text, c.auth_method, c.auth_identity, c.queue_id, c.client_addr,
                    c.client_name, c.helo, c.raw_sha256, c.raw_size, c.deadline_at
                 FROM contracts c JOIN customers cu ON cu.id = c.customer_id
                 WHERE c.id = ?1 OR c.serial = ?2",
                params![id_or_serial, by_serial],
                |r| {
                    Ok(ContractRow {
                        summary: ContractSummary {
                            id: r.get(0)?,
                            serial: r.get(1)?,
                            customer: r.get(2)?,
                            state: r.get(3)?,
                            submitted_at: columns::instant(r, 4)?,
                            subject_text: r.get(5)?,
                            destinations: Vec::new(),
                        },
                        recipient: r.get(6)?,
                        envelope_from: r.get(7)?,
                        from_header: r.get(8)?,
                        message_id: r.get(9)?,
                        subject: r.get(10)?,
                        body_text: r.get(11)?,
                        auth_method: r.get(12)?,
                        auth_identity: r.get(13)?,
                        queue_id: r.get(14)?,
                        client_addr: r.get(15)?,
                        client_name: r.get(16)?,
                        helo: r.get(17)?,
                        raw_sha256: r.get(18)?,
                        raw_size: r.get(19)?,
                        deadline_at: columns::unix_secs(r, 20)?,
                        attachments: Vec::new(),
                    })
                },
            )
            .optional()?;
        let Some(mut c) = row else { return Ok(None) };
        c.summary.destinations = self.destinations(&c.summary.id)?;
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT filename, content_type, size, sha256 FROM attachments
             WHERE contract_id = ?1 ORDER BY position",
        )?;
        let rows = stmt.query_map([&c.summary.id], |r| {
            Ok(AttachmentRow {
                filename: r.get(0)?,
                content_type: r.get(1)?,
                size: r.get(2)?,
                sha256: r.get(3)?,
            })
        })?;
        c.attachments = rows.collect::<Result<Vec<_>, _>>()?;
        Ok(Some(c))
    }

    /// The stored raw message of a contract, read straight into one buffer (incremental blob
    /// I/O: a plain `SELECT` has SQLite assemble the value first, a second copy).
    pub fn raw_message(&self, contract_id: &str) -> Result<Option<Vec<u8>>, Error> {
        let c = self.conn();
        let Some(conn) = c.as_sqlite() else {
            return Ok(c
                .query_row(
                    "SELECT b.data FROM contracts c JOIN blobs b ON b.sha256 = c.raw_sha256
                     WHERE c.id = ?1",
                    [contract_id],
                    |r| r.get(0),
                )
                .optional()?);
        };
        let Some(rowid) = c
            .query_row(
                "SELECT b.rowid FROM contracts c JOIN blobs b ON b.sha256 = c.raw_sha256 WHERE c.id = ?1",
                [contract_id],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
        else {
            return Ok(None);
        };
        let blob = conn.blob_open(MAIN_DB, "blobs", "data", rowid, true)?;
        let mut raw = vec![0; blob.len()];
        blob.read_at_exact(&mut raw, 0)?;
        Ok(Some(raw))
    }

    pub fn events(&self, contract_id: &str) -> Result<Vec<EventRow>, Error> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT seq, at, kind, data, prev_hash, hash FROM events
             WHERE contract_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([contract_id], |r| {
            let at: String = r.get(1)?;
            let kind: String = r.get(2)?;
            let text: String = r.get(3)?;
            Ok(EventRow {
                seq: r.get(0)?,
                at: Instant::parse_rfc3339(&at).unwrap_or_default(),
                data: typed_or_kept(&kind, &text),
                kind,
                text,
                prev_hash: r.get(4)?,
                hash: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Recomputes a contract's hash chain from the stored text; `Ok(n)` is the number of
    /// events verified.
    pub fn verify_chain(&self, contract_id: &str) -> Result<Result<usize, ChainError>, Error> {
        verify_chain(&self.conn(), contract_id)
    }
}

/// [`Store::verify_chain`] on a transaction (`store copy` checks what it wrote before committing).
pub(crate) fn verify_chain(
    tx: &Tx<'_>,
    contract_id: &str,
) -> Result<Result<usize, ChainError>, Error> {
    {
        let mut stmt = tx.prepare(
            "SELECT seq, at, kind, data, prev_hash, hash FROM events
             WHERE contract_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([contract_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        let mut prev = GENESIS.to_string();
        let mut n = 0;
        for row in rows {
            let (seq, at, kind, data, prev_hash, hash) = row?;
            let expected = n as i64 + 1;
            if seq != expected {
                return Ok(Err(ChainError::Gap { seq, expected }));
            }
            if prev_hash != prev {
                return Ok(Err(ChainError::Link { seq }));
            }
            if event_hash(&prev_hash, contract_id, seq, &at, &kind, &data) != hash {
                return Ok(Err(ChainError::Content { seq }));
            }
            prev = hash;
            n += 1;
        }
        Ok(Ok(n))
    }
}

/// The SQL of `contracts list` for the filters given, and the values of its parameters in
/// order; the last parameter (not included) is the limit.
///
/// Only the filters given become SQL, so that SQLite can pick the index that serves them (a
/// "?n IS NULL OR col = ?n" form would hide every index behind the OR). The clauses are fixed
/// text; every value is a bound parameter.
fn list_query(f: &ListFilter) -> (String, Vec<String>) {
    let mut clauses: Vec<&str> = Vec::new();
    let mut values: Vec<String> = Vec::new();
    // Times as stored: RFC 3339 with milliseconds, whose text order is time order.
    let filters = [
        (f.state.map(|s| s.as_str().to_string()), "c.state = ?"),
        (
            f.customer.clone(),
            "c.customer_id = (SELECT id FROM customers WHERE name = ?)",
        ),
        (f.since.map(Instant::rfc3339_millis), "c.submitted_at >= ?"),
        (f.before.map(Instant::rfc3339_millis), "c.submitted_at < ?"),
        (
            f.destination.clone(),
            "c.id IN (SELECT d.contract_id FROM destinations d WHERE d.address = ? COLLATE NOCASE)",
        ),
    ];
    for (value, clause) in filters {
        if let Some(v) = value {
            clauses.push(clause);
            values.push(v);
        }
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    // Newest first, by submission time (serials are assigned in commit order, so this is
    // serial order too; the serial breaks ties within a millisecond). Spelled by time so that
    // one index serves filter and order together: (submitted_at, serial) alone or for
    // --since/--until, (state, submitted_at, serial) with --state, (customer_id, submitted_at)
    // with --customer. The newest `limit` rows are then read straight from the index; nothing
    // is sorted, and an empty range costs one seek (schema_v5.sql). With --customer and
    // --state together (and no time range), by serial: (customer_id, state, serial) then serves
    // both filters and the order, and a combination nothing matches costs one seek instead of
    // a walk through every contract of the customer (153 ms at 1 M contracts).
    let order =
        if f.customer.is_some() && f.state.is_some() && f.since.is_none() && f.before.is_none() {
            "c.serial DESC"
        } else {
            "c.submitted_at DESC, c.serial DESC"
        };
    let sql = format!(
        "SELECT c.id, c.serial, cu.name, c.state, c.submitted_at, c.subject_text
         FROM contracts c JOIN customers cu ON cu.id = c.customer_id
         {filter} ORDER BY {order} LIMIT ?"
    );
    (sql, values)
}

/// An event's typed data; data of a known kind but an unknown shape (a damaged or foreign
/// row) is kept as it is, so that reading a contract never fails on one event.
fn typed_or_kept(kind: &str, text: &str) -> EventData {
    EventData::parse(kind, text).unwrap_or_else(|e| {
        log::warn!("{e}");
        EventData::Other {
            kind: kind.to_string(),
            data: serde_json::from_str(text)
                .unwrap_or_else(|_| serde_json::Value::String(text.to_string())),
        }
    })
}

/// Appends one event to a contract's chain inside the caller's transaction.
pub(crate) fn append_event(
    tx: &Tx<'_>,
    contract_id: &str,
    data: &EventData,
    now: Instant,
) -> Result<(), Error> {
    // Nodes sharing a PostgreSQL append to one chain in turn (the contract's row lock).
    tx.lock_contract(contract_id)?;
    let last: Option<(i64, String)> = tx
        .query_row(
            "SELECT seq, hash FROM events WHERE contract_id = ?1 ORDER BY seq DESC LIMIT 1",
            [contract_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (seq, prev) = match last {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS.to_string()),
    };
    let at = now.rfc3339_millis();
    let kind = data.kind();
    let data = data.to_json();
    let hash = event_hash(&prev, contract_id, seq, &at, &kind, &data);
    tx.execute(
        "INSERT INTO events (contract_id, seq, at, kind, data, prev_hash, hash, node)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![contract_id, seq, at, kind, data, prev, hash, tx.node()],
    )?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::customers::tests::alice;
    use crate::store::Dialect;
    use certmail_protocol::AttachmentInfo;

    #[test]
    fn a_batch_commits_each_submission_on_its_own_terms() {
        let mut store = crate::store::test_store::test_store();
        store
            .add_customer(&alice(), crate::evidence::Instant::now())
            .unwrap();
        let a = submission("a");
        let mut stranger = submission("b");
        stranger.customer = "mallory".into();
        let again = submission("a");
        let c = submission("c");
        let out = store.submit_batch(&[&a, &stranger, &again, &c]).unwrap();
        let committed: Vec<(u64, bool)> = out
            .iter()
            .filter_map(|o| match o {
                Ok(SubmitOutcome::Committed(c)) => Some((c.serial, c.duplicate)),
                _ => None,
            })
            .collect();
        // The refusal in the middle leaves the others intact; the retry inside the batch
        // finds the first; serials stay gap-free.
        assert_eq!(committed, vec![(1, false), (1, true), (2, false)]);
        assert!(matches!(out[1], Ok(SubmitOutcome::Refused(_))));
        assert_eq!(
            store.list_contracts(&ListFilter::default()).unwrap().len(),
            2
        );
        for c in store.list_contracts(&ListFilter::default()).unwrap() {
            assert_eq!(store.verify_chain(&c.id).unwrap(), Ok(2), "{}", c.id);
        }
    }

    #[test]
    fn a_large_message_is_written_and_read_in_place_once_per_hash() {
        let mut s = store();
        let mut raw = submission("a").raw;
        raw.extend((0..3 << 20).map(|i: u32| (i % 251) as u8));
        let mut ids = Vec::new();
        for key in ["a", "b"] {
            let mut sub = submission(key);
            sub.raw = raw.clone();
            ids.push(committed(s.submit(&sub).unwrap()).contract_id);
        }
        for id in &ids {
            assert_eq!(s.raw_message(id).unwrap().as_deref(), Some(raw.as_slice()));
        }
        let blobs: i64 = s
            .conn()
            .query_row("SELECT COUNT(*) FROM blobs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(blobs, 1);
        assert_eq!(s.raw_message("no-such-contract").unwrap(), None);
    }

    pub(crate) fn submission(key: &str) -> Submission {
        Submission {
            customer: "alice".into(),
            recipient: "alice@contract.test".into(),
            auth: AuthMethod::SmtpAuth {
                login: "alice".into(),
                mechanism: "PLAIN".into(),
            },
            envelope_from: "alice@example.test".into(),
            from_header: Some("alice@example.test".into()),
            message_id: Some("<m1@example.test>".into()),
            subject: "bob@example.test Alquiler".into(),
            subject_text: "Alquiler".into(),
            destinations: vec![Destination::Email("bob@example.test".into())],
            text: "Contrato de alquiler".into(),
            attachments: vec![AttachmentInfo {
                filename: Some("c.pdf".into()),
                content_type: "application/pdf".into(),
                size: 3,
                // SHA-256("abc"): the attachment inside `raw` below, as the mailer checks.
                sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into(),
            }],
            queue_id: Some("4QX".into()),
            client_addr: Some("127.0.0.1".into()),
            client_name: None,
            helo: Some("mua".into()),
            dedupe_key: key.into(),
            raw: b"Subject: bob@example.test Alquiler\r\n\
                   Content-Type: multipart/mixed; boundary=b\r\n\r\n\
                   --b\r\n\r\nContrato de alquiler\r\n\
                   --b\r\nContent-Type: application/pdf; name=c.pdf\r\n\
                   Content-Transfer-Encoding: base64\r\n\r\nYWJj\r\n--b--\r\n"
                .to_vec(),
        }
    }

    fn store() -> Store {
        let mut s = crate::store::test_store::test_store();
        s.add_customer(&alice(), crate::evidence::Instant::now())
            .unwrap();
        s
    }

    fn committed(o: SubmitOutcome) -> Committed {
        match o {
            SubmitOutcome::Committed(c) => c,
            SubmitOutcome::Refused(r) => panic!("refused: {r:?}"),
        }
    }

    fn refused(o: SubmitOutcome) -> Refusal {
        match o {
            SubmitOutcome::Refused(r) => r,
            SubmitOutcome::Committed(c) => panic!("committed: {c:?}"),
        }
    }

    /// Defence in depth: certd refuses what the milter should have refused, with the same
    /// answer, and stores nothing.
    #[test]
    fn self_contracts_and_loops_are_refused_at_submit() {
        let mut s = crate::store::test_store::test_store();
        let mut c = alice();
        c.phones = vec!["+34600999888".into()];
        c.smtp_logins.push("Legal@Alice.Example".into());
        s.add_customer(&c, crate::evidence::Instant::now()).unwrap();
        s.set_intake(Intake {
            limits: Limits::default(),
            service_domains: vec!["certmail.example".into()],
        });
        for (i, (dest, why)) in [
            (
                Destination::Email("x@Contract.TEST".into()),
                "contract service itself",
            ),
            (
                Destination::Email("reply+abc@contract.test".into()),
                "contract service itself",
            ),
            (
                Destination::Email("certmail@certmail.example".into()),
                "contract service itself",
            ),
            (
                Destination::Email("ALICE@example.test".into()),
                "your own address",
            ),
            (
                Destination::Email("legal+x@alice.example".into()),
                "your own address",
            ),
            (
                Destination::Phone("+34600999888".into()),
                "your own phone number",
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let mut sub = submission(&format!("k{i}"));
            sub.destinations.push(dest.clone());
            let r = refused(s.submit(&sub).unwrap());
            assert_eq!((r.code, r.enhanced.as_str()), (550, "5.1.3"), "{dest:?}");
            assert!(r.text.contains(why), "{dest:?}: {}", r.text);
        }
        // The envelope sender and From: address of the submission count as the customer's.
        let mut sub = submission("env");
        sub.envelope_from = "assistant@alice.example".into();
        sub.destinations = vec![Destination::Email("assistant@alice.example".into())];
        assert!(refused(s.submit(&sub).unwrap())
            .text
            .contains("your own address"));
        assert!(s.list_contracts(&ListFilter::default()).unwrap().is_empty());
    }

    #[test]
    fn limits_are_checked_again_at_submit() {
        let mut s = store();
        s.set_intake(Intake {
            limits: Limits::for_message_size(2048).unwrap(),
            service_domains: vec![],
        });
        let mut sub = submission("big");
        sub.raw = vec![b'x'; 4096];
        let r = refused(s.submit(&sub).unwrap());
        assert_eq!((r.code, r.enhanced.as_str()), (552, "5.3.4"));
        let mut sub = submission("subject");
        sub.subject = "s".repeat(5000);
        let r = refused(s.submit(&sub).unwrap());
        assert_eq!((r.code, r.enhanced.as_str()), (550, "5.6.0"));
        assert!(s.list_contracts(&ListFilter::default()).unwrap().is_empty());
        committed(s.submit(&submission("ok")).unwrap());
    }

    #[test]
    fn submit_stores_parts_event_and_receipt() {
        let mut s = store();
        let c = committed(s.submit(&submission("k1")).unwrap());
        assert_eq!(c.serial, 1);
        assert!(!c.duplicate);
        assert_eq!(c.contract_id.len(), 26);
        let row = s.contract(&c.contract_id).unwrap().unwrap();
        // Stored and requested in the same transaction.
        assert_eq!(row.summary.state, "requested");
        assert!(row.deadline_at.is_some());
        assert_eq!(row.summary.destinations, vec!["bob@example.test"]);
        assert_eq!(row.attachments.len(), 1);
        assert_eq!(row.auth_method, "smtp-auth");
        let raw = s.raw_message(&c.contract_id).unwrap().unwrap();
        assert_eq!(row.raw_sha256, hex::encode(Sha256::digest(&raw)));
        let events = s.events(&c.contract_id).unwrap();
        let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["submitted", "requested"]);
        assert_eq!(s.verify_chain(&c.contract_id).unwrap(), Ok(2));
        let due = s.pending_outbox().unwrap();
        let keys: Vec<_> = due.iter().map(|d| d.idempotency_key.clone()).collect();
        assert_eq!(
            keys,
            [
                format!("receipt:{}", c.contract_id),
                format!("request:{}:bob@example.test", c.contract_id)
            ]
        );
        // Found by serial too.
        assert!(s.contract("1").unwrap().is_some());
    }

    #[test]
    fn retry_is_idempotent_and_serials_are_gap_free() {
        let mut s = store();
        let a = committed(s.submit(&submission("k1")).unwrap());
        let again = committed(s.submit(&submission("k1")).unwrap());
        assert!(again.duplicate);
        assert_eq!(again.contract_id, a.contract_id);
        let b = committed(s.submit(&submission("k2")).unwrap());
        assert_eq!(b.serial, 2);
        assert_eq!(s.list_contracts(&ListFilter::default()).unwrap().len(), 2);
        assert_eq!(s.pending_outbox().unwrap().len(), 4);
    }

    #[test]
    fn unknown_disabled_and_destinationless_are_refused() {
        let mut s = store();
        let mut sub = submission("k1");
        sub.customer = "zed".into();
        assert!(
            matches!(s.submit(&sub).unwrap(), SubmitOutcome::Refused(r) if r.enhanced == "5.7.1")
        );
        s.set_customer_active("alice", false).unwrap();
        assert!(
            matches!(s.submit(&submission("k2")).unwrap(), SubmitOutcome::Refused(r) if r.text.contains("disabled"))
        );
        let mut sub = submission("k3");
        sub.destinations.clear();
        assert!(
            matches!(s.submit(&sub).unwrap(), SubmitOutcome::Refused(r) if r.enhanced == "5.1.3")
        );
        assert!(s.list_contracts(&ListFilter::default()).unwrap().is_empty());
    }

    #[test]
    fn events_are_append_only_and_tampering_is_detected() {
        let mut s = store();
        let c = committed(s.submit(&submission("k1")).unwrap());
        let note = EventData::Other {
            kind: "note".into(),
            data: serde_json::json!({"n": 2}),
        };
        s.record_event(&c.contract_id, &note, Instant::now())
            .unwrap();
        assert_eq!(s.verify_chain(&c.contract_id).unwrap(), Ok(3));
        let upd = s
            .conn()
            .execute("UPDATE events SET data = '{}' WHERE seq = 1", []);
        assert!(upd.is_err(), "UPDATE on events must be refused");
        assert!(s.conn().execute("DELETE FROM events", []).is_err());
        // Bypass the trigger as an attacker with file access would, then detect it.
        s.conn()
            .execute_batch(match s.dialect() {
                Dialect::Sqlite => {
                    "DROP TRIGGER events_append_only_update;
                     UPDATE events SET data = '{\"n\":3}' WHERE seq = 3;"
                }
                Dialect::Postgres => {
                    "DROP TRIGGER events_append_only ON events;
                     UPDATE events SET data = '{\"n\":3}' WHERE seq = 3;"
                }
            })
            .unwrap();
        assert_eq!(
            s.verify_chain(&c.contract_id).unwrap(),
            Err(ChainError::Content { seq: 3 })
        );
    }

    #[test]
    fn list_filters_by_time_and_destination() {
        let mut s = store();
        committed(s.submit(&submission("k1")).unwrap());
        let mut sub = submission("k2");
        sub.destinations = vec![
            Destination::Email("Carol@Example.test".into()),
            Destination::Phone("+34600111222".into()),
        ];
        committed(s.submit(&sub).unwrap());
        let all = s.list_contracts(&ListFilter::default()).unwrap();
        assert_eq!(all.len(), 2);
        let t = all[0].submitted_at;
        let serials = |f: ListFilter| -> Vec<i64> {
            s.list_contracts(&f)
                .unwrap()
                .into_iter()
                .map(|c| c.serial)
                .collect()
        };
        let by_dest = |d: &str| ListFilter {
            destination: Some(d.into()),
            ..Default::default()
        };
        assert_eq!(serials(by_dest("carol@example.TEST")), [2]);
        assert_eq!(serials(by_dest("+34600111222")), [2]);
        assert_eq!(serials(by_dest("bob@example.test")), [1]);
        assert!(serials(by_dest("dave@example.test")).is_empty());
        // `since` is inclusive, `before` exclusive: the newest contract's own time splits.
        let f = ListFilter {
            since: Some(t),
            ..Default::default()
        };
        assert_eq!(serials(f)[0], 2);
        let f = ListFilter {
            before: Some(t),
            ..Default::default()
        };
        assert!(!serials(f).contains(&2));
        let f = ListFilter {
            since: Instant::parse_rfc3339("2000-01-01T00:00:00.000Z"),
            before: Instant::parse_rfc3339("2000-01-02T00:00:00.000Z"),
            ..Default::default()
        };
        assert!(serials(f).is_empty());
        // Newest first, and the limit keeps the newest.
        let f = ListFilter {
            limit: Some(1),
            ..Default::default()
        };
        assert_eq!(serials(f), [2]);
    }

    /// The plans SQLite picks without statistics are the ones it picks on any size of
    /// database, so an empty store shows whether `contracts list` would sort or scan every
    /// contract of a large one.
    #[test]
    fn list_queries_read_an_index_instead_of_sorting_everything() {
        // SQLite's plans; PostgreSQL's depend on its statistics (measured in contrib/bench).
        let s = Store::open_in_memory().unwrap();
        let some = || Some("x".to_string());
        let at = || Some(Instant::from_unix_secs(1));
        let filters = [
            ListFilter::default(),
            ListFilter {
                state: Some(State::Accepted),
                ..Default::default()
            },
            ListFilter {
                since: at(),
                ..Default::default()
            },
            ListFilter {
                before: at(),
                state: Some(State::Accepted),
                ..Default::default()
            },
            ListFilter {
                customer: some(),
                ..Default::default()
            },
            ListFilter {
                destination: some(),
                ..Default::default()
            },
            ListFilter {
                customer: some(),
                state: Some(State::Accepted),
                ..Default::default()
            },
        ];
        for f in filters {
            let (sql, values) = list_query(&f);
            let mut args: Vec<&dyn crate::store::sql::ToSql> = values
                .iter()
                .map(|v| v as &dyn crate::store::sql::ToSql)
                .collect();
            args.push(&50);
            let plan = crate::store::test_store::sqlite_plan(&s, &sql, &args);
            assert!(
                !plan.contains("SCAN c ") || plan.contains("SCAN c USING INDEX"),
                "{f:?}: full table scan: {plan}"
            );
            if f.customer.is_some() && f.state.is_some() {
                assert!(plan.contains("contracts_customer_state"), "{f:?}: {plan}");
            }
            // A sort is fine only for the few contracts of one destination.
            if f.destination.is_none() {
                assert!(
                    !plan.contains("TEMP B-TREE FOR ORDER BY"),
                    "{f:?}: sorts every match: {plan}"
                );
            }
        }
    }

    #[test]
    fn list_filters() {
        let mut s = store();
        committed(s.submit(&submission("k1")).unwrap());
        let f = ListFilter {
            state: Some(State::Accepted),
            ..Default::default()
        };
        assert!(s.list_contracts(&f).unwrap().is_empty());
        let f = ListFilter {
            customer: Some("alice".into()),
            limit: Some(5),
            ..Default::default()
        };
        assert_eq!(s.list_contracts(&f).unwrap().len(), 1);
    }
}
