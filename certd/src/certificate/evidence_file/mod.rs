//! The machine-readable evidence inside the certificate: every stored event of the contract,
//! hash-chained as in the store, with its ETSI EN 319 522 event and certmail's own details.
//!
//! RFC 8785 (JCS) JSON, embedded as the PDF/A-3 associated file `evidence.json` (relationship
//! `Data`), so that a verifier decades later needs neither the operator nor OCR: the file alone
//! recomputes the chain (`docs/evidence.md`), [`check`] compares it with the signed head.

mod check;
pub mod etsi;

#[cfg(test)]
mod tests;

pub use check::{check, check_file, verdict, Checked};
pub use etsi::{mapping, ErdsEvent, Mapping, NoEvent};

use crate::evidence::event::{BounceReport, ReplyBy};
use crate::evidence::{EventData, Instant, State};
use crate::store::{ChainError, EventRow, Snapshot, GENESIS};
use certmail_protocol::Destination;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The name of the embedded file.
pub const FILE_NAME: &str = "evidence.json";
/// Its MIME type.
pub const MIME_TYPE: &str = "application/json";
/// The format of this file; a later one gets another name.
pub const VERSION: &str = "certmail-evidence/1";
/// The keyword (document information `/Keywords`, XMP `pdf:Keywords`) that carries the chain
/// head inside the signed revision, followed by the head in hex.
pub const HEAD_KEYWORD: &str = "certmail-chain-head:";
/// What each record's `hash` is computed over (`certd/src/store/chain.rs`).
pub const HASH_INPUT: &str = "lower-case hex SHA-256 of \"certmail-event-v1\" LF prev_hash LF \
                              contract_id LF seq LF at LF kind LF data (UTF-8, data last without \
                              LF); the first prev_hash is 64 zeros";
/// xmldsig's URI for SHA-256, as ETSI EN 319 522-4-1 names digest algorithms.
const SHA256_URI: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
/// Largest evidence file [`check`] inflates (a PDF may carry a decompression bomb).
const MAX_FILE: usize = 64 << 20;

/// Why an evidence file could not be made or does not verify.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("the PDF cannot be read: {0}")]
    Pdf(#[from] lopdf::Error),
    #[error("a signature's /ByteRange ends at {end}, past the file's {len} bytes")]
    ByteRange { end: usize, len: usize },
    #[error("the file specification of {FILE_NAME} has no {0}")]
    FileSpec(&'static str),
    #[error("no embedded evidence file")]
    Absent,
    #[error("the evidence file is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("the evidence file is not in RFC 8785 canonical form")]
    NotCanonical,
    #[error("the evidence file does not have the {VERSION} shape: {0}")]
    Shape(#[source] serde_json::Error),
    #[error("the evidence file is {0:?}, not {VERSION}")]
    Version(String),
    #[error("the evidence file's chain: {0}")]
    Chain(#[from] ChainError),
    #[error("event {seq}: the readable copy (certmail) differs from the hashed data")]
    Readable { seq: i64 },
    #[error("event {seq}: the ETSI event code is not the one its data states")]
    Code { seq: i64 },
    #[error("the evidence file says {said} events but holds {held}")]
    Count { said: usize, held: usize },
    #[error("the evidence file names head {file}, its last record hashes to {last}")]
    Head { file: String, last: String },
    #[error("the signed revision has no machine-readable chain head (/Keywords {HEAD_KEYWORD}…)")]
    NoSignedHead,
    #[error("the signed revision names chain head {signed}, the evidence file {file}")]
    SignedHead { signed: String, file: String },
    #[error("the evidence file cannot be written: {0}")]
    Write(#[source] serde_json::Error),
}

impl From<EvidenceError> for crate::error::Error {
    fn from(e: EvidenceError) -> Self {
        crate::error::Error::Invalid(e.to_string())
    }
}

/// The whole file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceFile {
    pub version: String,
    pub contract_id: String,
    pub serial: i64,
    pub final_state: State,
    /// RFC 3339 UTC: when the certificate was made.
    pub issued_at: String,
    pub chain: Chain,
    /// The operator (ETSI EvidenceIssuerDetails).
    pub issuer: Party,
    /// The customer (ETSI SenderDetails).
    pub sender: Party,
    /// The counterparty's destinations (ETSI RecipientDetails).
    pub recipients: Vec<Party>,
    pub records: Vec<Record>,
}

/// How the records chain, and where the chain ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chain {
    pub hash_input: String,
    pub genesis: String,
    pub events: usize,
    /// The last record's hash: the chain head printed on the certificate.
    pub head: String,
}

/// A person or system, by the fields ETSI EN 319 522 names; absent fields are unknown.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    #[serde(rename = "Name", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "Email", default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(rename = "Phone", default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// certmail's own name for the customer account.
    #[serde(rename = "Account", default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

impl Party {
    fn destination(d: &str) -> Party {
        if d.contains('@') {
            Party {
                email: Some(d.to_string()),
                ..Party::default()
            }
        } else {
            Party {
                phone: Some(d.to_string()),
                ..Party::default()
            }
        }
    }
}

/// One stored event: the chain fields exactly as the store hashed them, the ETSI view, and
/// certmail's details.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub event: StoredEvent,
    /// The ETSI EN 319 522 evidence this event is, or `null`…
    pub etsi: Option<Etsi>,
    /// … and then why it is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etsi_none: Option<String>,
    /// `event.data` parsed: SMTP replies, queue ids, DSN fields, SMS reports, as recorded.
    pub certmail: Value,
}

/// The store's row: `data` is the stored text itself, the bytes that were hashed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub seq: i64,
    pub at: String,
    pub kind: String,
    pub data: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The fields of an ETSI EN 319 522 evidence, by their names there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Etsi {
    #[serde(rename = "ERDSEventId")]
    pub event_id: String,
    #[serde(rename = "EvidenceIdentifier")]
    pub evidence_identifier: String,
    #[serde(rename = "EventTime")]
    pub event_time: String,
    #[serde(rename = "EvidenceIssuerDetails")]
    pub issuer: Party,
    #[serde(rename = "SenderDetails")]
    pub sender: Party,
    #[serde(rename = "RecipientDetails")]
    pub recipients: Vec<Party>,
    #[serde(rename = "SubmissionTime")]
    pub submission_time: String,
    #[serde(rename = "MessageIdentifier")]
    pub message_identifier: String,
    #[serde(rename = "EventReasons")]
    pub reasons: Vec<Reason>,
    /// Digests of the parts the event is about (messages, attachments).
    #[serde(rename = "Digests")]
    pub digests: Vec<PartDigest>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// An SMTP enhanced status, an SMS report status, or `deadline`.
    #[serde(rename = "Code", default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(rename = "Details")]
    pub details: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartDigest {
    #[serde(rename = "Part")]
    pub part: String,
    #[serde(rename = "DigestMethod")]
    pub method: String,
    /// Lower-case hex, as the certificate prints it.
    #[serde(rename = "DigestValueHex")]
    pub hex: String,
}

fn digest(part: String, hex: &str) -> PartDigest {
    PartDigest {
        part,
        method: SHA256_URI.to_string(),
        hex: hex.to_string(),
    }
}

/// Who, why and which parts an event is about: its recipients, reasons and digests.
fn details(data: &EventData, all: &[Party]) -> (Vec<Party>, Vec<Reason>, Vec<PartDigest>) {
    let one = |d: &str| vec![Party::destination(d)];
    match data {
        EventData::Submitted(s) => {
            let to = s
                .destinations
                .iter()
                .map(|d| match d {
                    Destination::Email(e) => Party::destination(e),
                    Destination::Phone(p) => Party {
                        phone: Some(p.clone()),
                        ..Party::default()
                    },
                })
                .collect();
            let mut parts = vec![digest("original message".into(), &s.raw_sha256)];
            parts.extend(s.attachments.iter().map(|a| {
                digest(
                    format!("attachment {}", a.filename.as_deref().unwrap_or("-")),
                    &a.sha256,
                )
            }));
            (to, Vec::new(), parts)
        }
        EventData::Requested(_) => (all.to_vec(), Vec::new(), Vec::new()),
        EventData::Reply(r) | EventData::ReplyNoted(r) => {
            let parts = match &r.answer {
                ReplyBy::Email(e) => vec![digest("answer message".into(), &e.arrival.raw_sha256)],
                ReplyBy::Sms(_) => Vec::new(),
            };
            (one(r.answer.destination()), Vec::new(), parts)
        }
        EventData::Bounce(b) | EventData::BounceNoted(b) => {
            let (code, parts) = match &b.report {
                BounceReport::Dsn(d) => (
                    d.status.clone(),
                    vec![digest(
                        "delivery status notification".into(),
                        &d.arrival.raw_sha256,
                    )],
                ),
                BounceReport::Smtp(_) | BounceReport::SmsGateway(_) => (None, Vec::new()),
                BounceReport::SmsDlr(d) => (Some(d.status.clone()), Vec::new()),
            };
            let reason = Reason {
                code,
                details: b.report.diagnostic().unwrap_or("-").to_string(),
            };
            (one(b.report.destination()), vec![reason], parts)
        }
        EventData::Deadline(d) => (
            all.to_vec(),
            vec![Reason {
                code: Some("deadline".into()),
                details: format!(
                    "no decisive answer before {}",
                    d.deadline_at.rfc3339_seconds()
                ),
            }],
            Vec::new(),
        ),
        EventData::MailSent(_, m) => (one(&m.to), Vec::new(), Vec::new()),
        EventData::SmsSent(_, m) => (one(&m.to), Vec::new(), Vec::new()),
        // The record does not name the destination; its error text does.
        EventData::Failed(_, f) => (
            Vec::new(),
            vec![Reason {
                code: None,
                details: f.error.clone(),
            }],
            Vec::new(),
        ),
        EventData::SmsDlr(d) => (one(&d.to), Vec::new(), Vec::new()),
        EventData::CertificateIssued(_)
        | EventData::CertificateResend(_)
        | EventData::CertificateRenewed(_)
        | EventData::Other { .. } => (Vec::new(), Vec::new(), Vec::new()),
    }
}

/// The stored text as a JSON value: it is JSON by construction; a row that is not stays
/// readable as text.
fn readable(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// The ETSI view's code and reason of one mapping.
fn code(m: Mapping) -> (Option<String>, Option<String>) {
    match m {
        Mapping::Event(e) => (Some(e.uri()), None),
        Mapping::None(why) => (None, Some(why.reason().to_string())),
    }
}

/// The record of one stored event.
fn record(e: &EventRow, file: &EvidenceFile, submitted: &str) -> Record {
    let at = e.at.rfc3339_millis();
    let (etsi, etsi_none) = match mapping(&e.data) {
        etsi::Mapping::Event(event) => {
            let (recipients, reasons, digests) = details(&e.data, &file.recipients);
            let view = Etsi {
                event_id: event.uri(),
                evidence_identifier: format!("urn:certmail:{}:{}", file.contract_id, e.seq),
                event_time: at.clone(),
                issuer: file.issuer.clone(),
                sender: file.sender.clone(),
                recipients,
                submission_time: submitted.to_string(),
                message_identifier: file.contract_id.clone(),
                reasons,
                digests,
            };
            (Some(view), None)
        }
        etsi::Mapping::None(why) => (None, Some(why.reason().to_string())),
    };
    Record {
        event: StoredEvent {
            seq: e.seq,
            at,
            kind: e.kind.clone(),
            data: e.text.clone(),
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
        },
        etsi,
        etsi_none,
        certmail: readable(&e.text),
    }
}

/// The evidence file of `snapshot`'s contract as of `issued_at`, by `operator`: RFC 8785 bytes.
pub fn build(
    snapshot: &Snapshot,
    operator: &str,
    issued_at: Instant,
) -> Result<Vec<u8>, EvidenceError> {
    let c = &snapshot.contract;
    let customer = &snapshot.customer;
    let mut file = EvidenceFile {
        version: VERSION.to_string(),
        contract_id: c.summary.id.clone(),
        serial: c.summary.serial,
        final_state: c.summary.state,
        issued_at: issued_at.rfc3339_millis(),
        chain: Chain {
            hash_input: HASH_INPUT.to_string(),
            genesis: GENESIS.to_string(),
            events: snapshot.events.len(),
            head: snapshot
                .events
                .last()
                .map(|e| e.hash.clone())
                .unwrap_or_default(),
        },
        issuer: Party {
            name: Some(operator.to_string()),
            ..Party::default()
        },
        sender: Party {
            name: customer.display_name.clone(),
            email: Some(customer.email.clone()),
            account: Some(customer.name.clone()),
            ..Party::default()
        },
        recipients: c
            .summary
            .destinations
            .iter()
            .map(|d| Party::destination(d))
            .collect(),
        records: Vec::new(),
    };
    let submitted = c.summary.submitted_at.rfc3339_millis();
    let records = snapshot
        .events
        .iter()
        .map(|e| record(e, &file, &submitted))
        .collect();
    file.records = records;
    serde_json_canonicalizer::to_vec(&file).map_err(EvidenceError::Write)
}

/// The `/Keywords` entry that carries `head`.
pub fn head_keyword(head: &str) -> String {
    format!("{HEAD_KEYWORD}{head}")
}
