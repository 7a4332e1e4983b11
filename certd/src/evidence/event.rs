//! The typed data of every event in a contract's hash chain, one variant per kind.
//!
//! Written as the same canonical JSON (sorted keys, `serde_json`) that earlier releases wrote
//! by hand, so stored chains keep verifying and third-party tools read one format; the event
//! kind stays a column of its own (`reply`, `request_sent`, ...), as the chain hashes it.

use super::instant::{self, Instant};
use super::terms::{Decision, JobKind, Standing, State};
use certmail_protocol::{AttachmentInfo, AuthEvidence, AuthMethod, Destination};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What applying an event did to the contract: its new state, or why it could not apply (a
/// late answer is evidence too). Neither for answers recorded without a transition.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
}

/// The contract as submitted (`submitted`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitted {
    pub serial: i64,
    pub recipient: String,
    pub auth: AuthMethod,
    pub envelope_from: String,
    pub from_header: Option<String>,
    pub message_id: Option<String>,
    pub queue_id: Option<String>,
    pub client_addr: Option<String>,
    pub client_name: Option<String>,
    pub helo: Option<String>,
    pub destinations: Vec<Destination>,
    pub attachments: Vec<AttachmentInfo>,
    pub raw_sha256: String,
    pub raw_size: u64,
}

/// The requests went out and the clock started (`requested`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requested {
    #[serde(with = "instant::seconds")]
    pub deadline_at: Instant,
    #[serde(flatten)]
    pub applied: Applied,
}

/// How an answer reached the MTA: the stored message and what the milter saw.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arrival {
    pub raw_sha256: String,
    pub raw_size: u64,
    pub envelope_from: String,
    #[serde(default)]
    pub queue_id: Option<String>,
    #[serde(default)]
    pub client_addr: Option<String>,
    #[serde(default)]
    pub client_name: Option<String>,
    #[serde(default)]
    pub helo: Option<String>,
    #[serde(default)]
    pub authentication: Option<AuthEvidence>,
}

impl Arrival {
    /// What the milter handed over with answer `a`, whose raw message hashes to `raw_sha256`.
    pub fn of(a: &certmail_protocol::Answer, raw_sha256: &str) -> Arrival {
        Arrival {
            raw_sha256: raw_sha256.to_string(),
            raw_size: a.raw.len() as u64,
            envelope_from: a.envelope_from.clone(),
            queue_id: a.queue_id.clone(),
            client_addr: a.client_addr.clone(),
            client_name: a.client_name.clone(),
            helo: a.helo.clone(),
            authentication: a.auth.clone(),
        }
    }
}

/// An answer by email, as read from the message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailReply {
    pub destination: String,
    #[serde(default)]
    pub from_header: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub message_id: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub received: Vec<String>,
    pub response_text: String,
    pub decision: Decision,
    /// Absent before answers were screened (releases before schema v6): then `None`.
    #[serde(default)]
    pub standing: Option<Standing>,
    /// The sentence the certificate prints about the sender's authenticity.
    #[serde(default)]
    pub authenticity: Option<String>,
    #[serde(default)]
    pub not_decisive_because: Option<String>,
    #[serde(flatten)]
    pub arrival: Arrival,
}

/// An answer by SMS, matched by the destination's number and its code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsReply {
    pub destination: String,
    pub sender: String,
    pub receiver: Option<String>,
    pub code: String,
    pub response_text: String,
    pub gateway_id: Option<String>,
    pub gateway_time: Option<String>,
    pub decision: Decision,
    pub sms_inbound_id: i64,
}

/// An answer on either channel, with what that channel tells about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum ReplyBy {
    Email(Box<EmailReply>),
    Sms(SmsReply),
}

impl ReplyBy {
    pub fn destination(&self) -> &str {
        match self {
            ReplyBy::Email(e) => &e.destination,
            ReplyBy::Sms(s) => &s.destination,
        }
    }

    pub fn decision(&self) -> Decision {
        match self {
            ReplyBy::Email(e) => e.decision,
            ReplyBy::Sms(s) => s.decision,
        }
    }

    pub fn response_text(&self) -> &str {
        match self {
            ReplyBy::Email(e) => &e.response_text,
            ReplyBy::Sms(s) => &s.response_text,
        }
    }
}

/// `reply`, `reply_noted` and their `_ignored` forms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    #[serde(flatten)]
    pub answer: ReplyBy,
    #[serde(flatten)]
    pub applied: Applied,
}

/// A delivery status notification (RFC 3464) read at the destination's bounce address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DsnBounce {
    pub destination: String,
    /// Absent before reports were screened: then every stored report had decided.
    #[serde(default)]
    pub decisive: Option<bool>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub delivery_status_report: Option<bool>,
    #[serde(default)]
    pub envelope_id_present: Option<bool>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub diagnostic: Option<String>,
    #[serde(default)]
    pub original_recipient: Option<String>,
    #[serde(default)]
    pub final_recipient: Option<String>,
    #[serde(default)]
    pub remote_mta: Option<String>,
    #[serde(default)]
    pub reporting_mta: Option<String>,
    #[serde(default)]
    pub returned_message_id: Option<String>,
    #[serde(default)]
    pub returned_message_is_ours: Option<bool>,
    #[serde(default)]
    pub received: Vec<String>,
    #[serde(flatten)]
    pub arrival: Arrival,
}

/// A request refused outright: a 5xx from the MTA, or the SMS gateway refusing the number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    pub destination: String,
    pub diagnostic: String,
}

/// A failure delivery report of the SMS gateway for a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DlrFailure {
    pub destination: String,
    pub status: String,
    pub diagnostic: Option<String>,
    pub reporting_mta: String,
    pub reference: String,
}

/// Who said a request was not delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum BounceReport {
    Dsn(Box<DsnBounce>),
    Smtp(Refused),
    SmsGateway(Refused),
    SmsDlr(DlrFailure),
}

impl BounceReport {
    pub fn destination(&self) -> &str {
        match self {
            BounceReport::Dsn(d) => &d.destination,
            BounceReport::Smtp(r) | BounceReport::SmsGateway(r) => &r.destination,
            BounceReport::SmsDlr(d) => &d.destination,
        }
    }

    /// The diagnostic a reader is shown.
    pub fn diagnostic(&self) -> Option<&str> {
        match self {
            BounceReport::Dsn(d) => d.diagnostic.as_deref().or(d.status.as_deref()),
            BounceReport::Smtp(r) | BounceReport::SmsGateway(r) => Some(&r.diagnostic),
            BounceReport::SmsDlr(d) => d.diagnostic.as_deref().or(Some(&d.status)),
        }
    }
}

/// `bounce`, `bounce_noted` and their `_ignored` forms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bounce {
    #[serde(flatten)]
    pub report: BounceReport,
    #[serde(flatten)]
    pub applied: Applied,
}

/// The deadline passed without an answer (`deadline`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    #[serde(with = "instant::unix_secs")]
    pub deadline_at: Instant,
    #[serde(flatten)]
    pub applied: Applied,
}

/// A mail handed to the MTA (`<job>_sent`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailSent {
    pub to: String,
    pub message_id: String,
    /// The MTA's final reply, e.g. `250 2.0.0 Ok: queued as 4Xyz`.
    pub smtp: String,
    pub attempt: i64,
}

/// An SMS handed to the gateway (`sms_<job>_sent`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsSent {
    pub to: String,
    pub reference: String,
    pub gateway: String,
    pub coding: String,
    pub parts: u64,
    pub text: String,
    pub attempt: i64,
}

/// A side effect that can never succeed (`<job>_failed`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failed {
    pub error: String,
    pub attempt: i64,
}

/// A delivery report of the SMS gateway (`sms_dlr`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsDlr {
    pub reference: String,
    pub to: String,
    pub purpose: JobKind,
    pub status: i64,
    pub status_name: String,
    pub smsc_id: String,
    pub gateway_time: Option<String>,
    pub answer: Option<String>,
}

/// The RFC 3161 time-stamp of a signed certificate, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimestampSummary {
    pub gen_time: String,
    pub serial: String,
    pub policy: String,
    pub tsa: Option<String>,
    pub token_sha256: String,
}

/// The signed certificate was stored (`certificate_issued`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateIssued {
    pub sha256: String,
    pub size: u64,
    pub chain_head: String,
    pub timestamp: Option<TimestampSummary>,
    pub copies_to: Vec<String>,
}

/// An administrator queued the certificate again (`certificate_resend`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateResend {
    pub to: Vec<String>,
    pub keys: Vec<String>,
    pub by: String,
}

/// The certificate was renewed (`certificate_renewed`): a new version of the file with fresh
/// validation data and a new document time-stamp (PAdES B-LTA); the earlier bytes are kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRenewed {
    /// 2 for the first renewal.
    pub version: u32,
    pub sha256: String,
    pub size: u64,
    /// The new document time-stamp.
    pub timestamp: Option<TimestampSummary>,
    /// When the new time-stamp's TSA certificate expires: renew again before then.
    #[serde(with = "instant::seconds")]
    pub renew_by: Instant,
}

/// One event's data, by kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventData {
    Submitted(Submitted),
    Requested(Requested),
    /// An answer of the destination, which decided or came too late.
    Reply(Reply),
    /// An answer that may not decide: recorded, never the counterparty's decision.
    ReplyNoted(Reply),
    Bounce(Bounce),
    /// A report that does not prove the request undelivered.
    BounceNoted(Bounce),
    Deadline(Deadline),
    MailSent(JobKind, MailSent),
    SmsSent(JobKind, SmsSent),
    Failed(JobKind, Failed),
    SmsDlr(SmsDlr),
    CertificateIssued(CertificateIssued),
    CertificateResend(CertificateResend),
    CertificateRenewed(CertificateRenewed),
    /// A kind this release does not know (written by a newer one), kept as it is.
    Other {
        kind: String,
        data: Value,
    },
}

/// An event kind whose data does not have that kind's shape.
#[derive(Debug, thiserror::Error)]
#[error("event {kind}: {source}")]
pub struct ShapeError {
    pub kind: String,
    #[source]
    pub source: serde_json::Error,
}

fn typed<T: DeserializeOwned>(kind: &str, data: &str) -> Result<T, ShapeError> {
    serde_json::from_str(data).map_err(|source| ShapeError {
        kind: kind.to_string(),
        source,
    })
}

fn suffix(applied: &Applied) -> &'static str {
    if applied.ignored.is_some() {
        "_ignored"
    } else {
        ""
    }
}

impl EventData {
    /// Reads an event as stored: its kind column and its data text.
    pub fn parse(kind: &str, data: &str) -> Result<EventData, ShapeError> {
        let base = kind.strip_suffix("_ignored").unwrap_or(kind);
        Ok(match base {
            "submitted" => EventData::Submitted(typed(kind, data)?),
            "requested" => EventData::Requested(typed(kind, data)?),
            "reply" => EventData::Reply(typed(kind, data)?),
            "reply_noted" => EventData::ReplyNoted(typed(kind, data)?),
            "bounce" => EventData::Bounce(typed(kind, data)?),
            "bounce_noted" => EventData::BounceNoted(typed(kind, data)?),
            "deadline" => EventData::Deadline(typed(kind, data)?),
            "sms_dlr" => EventData::SmsDlr(typed(kind, data)?),
            "certificate_issued" => EventData::CertificateIssued(typed(kind, data)?),
            "certificate_resend" => EventData::CertificateResend(typed(kind, data)?),
            "certificate_renewed" => EventData::CertificateRenewed(typed(kind, data)?),
            _ => {
                if let Some(job) = kind.strip_suffix("_sent").and_then(JobKind::parse) {
                    if job.is_sms() {
                        EventData::SmsSent(job, typed(kind, data)?)
                    } else {
                        EventData::MailSent(job, typed(kind, data)?)
                    }
                } else if let Some(job) = kind.strip_suffix("_failed").and_then(JobKind::parse) {
                    EventData::Failed(job, typed(kind, data)?)
                } else {
                    EventData::Other {
                        kind: kind.to_string(),
                        data: typed(kind, data)?,
                    }
                }
            }
        })
    }

    /// The kind column.
    pub fn kind(&self) -> String {
        match self {
            EventData::Submitted(_) => "submitted".into(),
            EventData::Requested(r) => format!("requested{}", suffix(&r.applied)),
            EventData::Reply(r) => format!("reply{}", suffix(&r.applied)),
            EventData::ReplyNoted(r) => format!("reply_noted{}", suffix(&r.applied)),
            EventData::Bounce(b) => format!("bounce{}", suffix(&b.applied)),
            EventData::BounceNoted(b) => format!("bounce_noted{}", suffix(&b.applied)),
            EventData::Deadline(d) => format!("deadline{}", suffix(&d.applied)),
            EventData::MailSent(job, _) | EventData::SmsSent(job, _) => {
                format!("{}_sent", job.as_str())
            }
            EventData::Failed(job, _) => format!("{}_failed", job.as_str()),
            EventData::SmsDlr(_) => "sms_dlr".into(),
            EventData::CertificateIssued(_) => "certificate_issued".into(),
            EventData::CertificateResend(_) => "certificate_resend".into(),
            EventData::CertificateRenewed(_) => "certificate_renewed".into(),
            EventData::Other { kind, .. } => kind.clone(),
        }
    }

    /// The data as a JSON value (keys sorted).
    pub fn to_value(&self) -> Value {
        let v = match self {
            EventData::Submitted(x) => serde_json::to_value(x),
            EventData::Requested(x) => serde_json::to_value(x),
            EventData::Reply(x) | EventData::ReplyNoted(x) => serde_json::to_value(x),
            EventData::Bounce(x) | EventData::BounceNoted(x) => serde_json::to_value(x),
            EventData::Deadline(x) => serde_json::to_value(x),
            EventData::MailSent(_, x) => serde_json::to_value(x),
            EventData::SmsSent(_, x) => serde_json::to_value(x),
            EventData::Failed(_, x) => serde_json::to_value(x),
            EventData::SmsDlr(x) => serde_json::to_value(x),
            EventData::CertificateIssued(x) => serde_json::to_value(x),
            EventData::CertificateResend(x) => serde_json::to_value(x),
            EventData::CertificateRenewed(x) => serde_json::to_value(x),
            EventData::Other { data, .. } => Ok(data.clone()),
        };
        // Serializing these plain structs into a Value cannot fail (no maps with non-string
        // keys, no custom serializers that error).
        v.unwrap_or(Value::Null)
    }

    /// The canonical text stored and hashed: compact JSON, keys in sorted order.
    pub fn to_json(&self) -> String {
        self.to_value().to_string()
    }

    /// What applying the event did, for the kinds that go through the lifecycle.
    pub fn applied(&self) -> Option<&Applied> {
        match self {
            EventData::Requested(r) => Some(&r.applied),
            EventData::Reply(r) | EventData::ReplyNoted(r) => Some(&r.applied),
            EventData::Bounce(b) | EventData::BounceNoted(b) => Some(&b.applied),
            EventData::Deadline(d) => Some(&d.applied),
            _ => None,
        }
    }

    /// How the message behind an email answer or a delivery report arrived.
    pub fn arrival_mut(&mut self) -> Option<&mut Arrival> {
        match self {
            EventData::Reply(Reply {
                answer: ReplyBy::Email(e),
                ..
            })
            | EventData::ReplyNoted(Reply {
                answer: ReplyBy::Email(e),
                ..
            }) => Some(&mut e.arrival),
            EventData::Bounce(Bounce {
                report: BounceReport::Dsn(d),
                ..
            })
            | EventData::BounceNoted(Bounce {
                report: BounceReport::Dsn(d),
                ..
            }) => Some(&mut d.arrival),
            _ => None,
        }
    }

    /// What an answer said, for the kinds that carry one.
    pub fn decision(&self) -> Option<Decision> {
        match self {
            EventData::Reply(r) | EventData::ReplyNoted(r) => Some(r.answer.decision()),
            _ => None,
        }
    }

    /// Sets what applying it did (the record layer calls this when it saves the transition).
    pub fn set_applied(&mut self, applied: Applied) {
        match self {
            EventData::Requested(r) => r.applied = applied,
            EventData::Reply(r) | EventData::ReplyNoted(r) => r.applied = applied,
            EventData::Bounce(b) | EventData::BounceNoted(b) => b.applied = applied,
            EventData::Deadline(d) => d.applied = applied,
            _ => {}
        }
    }

    /// The state this event gave the contract, if it changed it to a final one.
    pub fn outcome(&self) -> Option<State> {
        self.applied()
            .and_then(|a| a.state)
            .filter(|s| s.is_final())
    }
}
