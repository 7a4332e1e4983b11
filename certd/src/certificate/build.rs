//! A certificate's content from one snapshot of the store: the contract, its typed event log
//! and the raw messages, with labels in the customer's language.

use super::evidence_file::{self, EvidenceError};
use super::{AttachmentLine, CertificateData, Embedded, Field, Relationship, TimelineEntry};
use crate::evidence::event::{BounceReport, ReplyBy};
use crate::evidence::{EventData, Instant, State};
use crate::i18n::{certificate_labels as labels, CertificateLabels as Labels};
use crate::store::{EventRow, Snapshot};
use sha2::{Digest, Sha256};

fn field(label: &str, value: impl Into<String>) -> Field {
    Field {
        label: label.to_string(),
        value: value.into(),
    }
}

/// An optional value as the certificate prints it: `-` when absent.
fn or_dash(v: Option<&str>) -> String {
    v.unwrap_or("-").to_string()
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// The event that gave the contract its outcome: a reply, a bounce or the deadline that moved
/// it to a final state.
fn deciding(events: &[EventRow]) -> Option<&EventRow> {
    events.iter().rev().find(|e| {
        matches!(
            e.data,
            EventData::Reply(_) | EventData::Bounce(_) | EventData::Deadline(_)
        ) && e.data.outcome().is_some()
    })
}

/// Who receives a copy: the customer always; the responder too when the contract was
/// answered (claim 3), not for NOEX or NORESP.
pub fn copies_to(snapshot: &Snapshot) -> Vec<String> {
    let mut to = vec![snapshot.customer.email.clone()];
    if matches!(
        snapshot.contract.summary.state,
        State::Accepted | State::Rejected
    ) {
        if let Some(EventData::Reply(r)) = deciding(&snapshot.events).map(|e| &e.data) {
            let dest = r.answer.destination();
            // A phone that answered by SMS got its confirmation by SMS; copies are mail.
            if dest.contains('@') && !to.iter().any(|t| t.eq_ignore_ascii_case(dest)) {
                to.push(dest.to_string());
            }
        }
    }
    to
}

/// One line of part 1's timeline, for the events that belong there.
fn timeline_entry(e: &EventRow) -> Option<TimelineEntry> {
    let what = match &e.data {
        EventData::Submitted(_) => "submitted".to_string(),
        EventData::Requested(r) if r.applied.ignored.is_none() => {
            format!("requested, deadline {}", r.deadline_at.rfc3339_seconds())
        }
        EventData::SmsDlr(d) => format!(
            "SMS delivery report for {} (ref {}): {} {} at {} (SMSC id {})",
            d.to,
            d.reference,
            d.status,
            d.status_name,
            or_dash(d.gateway_time.as_deref()),
            d.smsc_id,
        ),
        EventData::SmsSent(_, m) => format!(
            "{} to {} — ref {}, gateway {}, {} part(s) {}",
            e.kind, m.to, m.reference, m.gateway, m.parts, m.coding,
        ),
        EventData::MailSent(_, m) => format!("{} to {} — {}", e.kind, m.to, m.smtp),
        _ => return None,
    };
    Some(TimelineEntry {
        at: e.at.rfc3339_millis(),
        what,
    })
}

/// Part 2's fields for the deciding event, its answer text, and the SHA-256 of the message
/// that carried it (to embed).
fn response(l: &Labels, e: &EventRow, fields: &mut Vec<Field>) -> (Option<String>, Option<String>) {
    let at = e.at.rfc3339_millis();
    match &e.data {
        EventData::Reply(r) => match &r.answer {
            ReplyBy::Sms(d) => {
                fields.extend([
                    field(l.channel, "SMS"),
                    field(
                        l.responder,
                        format!(
                            "{} (sender as reported by the gateway: {}, to {})",
                            d.destination,
                            d.sender,
                            or_dash(d.receiver.as_deref())
                        ),
                    ),
                    field(l.answered_at, at),
                    field(
                        "SMS gateway",
                        format!(
                            "message id {}, gateway time {}",
                            or_dash(d.gateway_id.as_deref()),
                            or_dash(d.gateway_time.as_deref())
                        ),
                    ),
                    field("Code", d.code.clone()),
                    field(l.decision, d.decision.as_str()),
                ]);
                (Some(d.response_text.clone()), None)
            }
            ReplyBy::Email(d) => {
                let auth = d.arrival.authentication.as_ref();
                fields.extend([
                    field(l.channel, "email"),
                    field(
                        l.responder,
                        format!(
                            "{} (envelope <{}>, for {})",
                            or_dash(d.from_header.as_deref()),
                            d.arrival.envelope_from,
                            d.destination
                        ),
                    ),
                    field(l.answered_at, at),
                    field(
                        l.client,
                        format!(
                            "{} [{}] HELO {}",
                            or_dash(d.arrival.client_name.as_deref()),
                            or_dash(d.arrival.client_addr.as_deref()),
                            or_dash(d.arrival.helo.as_deref())
                        ),
                    ),
                    field(l.queue_id, or_dash(d.arrival.queue_id.as_deref())),
                    field("Message-ID", or_dash(d.message_id.as_deref())),
                    field(l.received, d.received.join("\n")),
                    field(
                        l.auth_results,
                        format!(
                            "DKIM: {}\nSPF: {}\nDMARC: {}",
                            auth.map_or_else(|| "-".into(), |a| a.dkim.join("\n")),
                            or_dash(auth.map(|a| a.spf.as_str())),
                            or_dash(auth.map(|a| a.dmarc.as_str()))
                        ),
                    ),
                    field(l.authenticity, or_dash(d.authenticity.as_deref())),
                    field(l.decision, d.decision.as_str()),
                ]);
                (
                    Some(d.response_text.clone()),
                    Some(d.arrival.raw_sha256.clone()),
                )
            }
        },
        EventData::Bounce(b) => {
            let (status, diagnostic, reporting_mta, raw) = match &b.report {
                BounceReport::Dsn(d) => (
                    d.status.as_deref(),
                    d.diagnostic.as_deref(),
                    d.reporting_mta.as_deref(),
                    Some(d.arrival.raw_sha256.clone()),
                ),
                BounceReport::Smtp(r) | BounceReport::SmsGateway(r) => {
                    (None, Some(r.diagnostic.as_str()), None, None)
                }
                BounceReport::SmsDlr(d) => (
                    Some(d.status.as_str()),
                    d.diagnostic.as_deref(),
                    Some(d.reporting_mta.as_str()),
                    None,
                ),
            };
            fields.extend([
                field(l.destinations, b.report.destination()),
                field(
                    l.diagnostic,
                    format!(
                        "{} {} {}",
                        or_dash(status),
                        or_dash(diagnostic),
                        or_dash(reporting_mta)
                    ),
                ),
                field(l.answered_at, at),
            ]);
            (None, raw)
        }
        EventData::Deadline(d) => {
            fields.push(field(l.deadline, d.deadline_at.unix_secs().to_string()));
            (None, None)
        }
        _ => (None, None),
    }
}

/// Builds the certificate content of a finished contract from its snapshot, as of `now`.
pub fn build(
    snapshot: &Snapshot,
    operator: &str,
    outcome_sentence: &str,
    now: Instant,
) -> Result<CertificateData, EvidenceError> {
    let c = &snapshot.contract;
    let customer = &snapshot.customer;
    let events = &snapshot.events;
    let l = labels(&customer.language);

    let mut request_fields = vec![
        field(l.operator, operator),
        field(
            l.customer,
            match &customer.display_name {
                Some(n) => format!("{n} <{}> ({})", customer.email, c.recipient),
                None => format!("{} ({})", customer.email, c.recipient),
            },
        ),
        field(
            l.authentication,
            format!("{} ({})", c.auth_method, c.auth_identity),
        ),
        field(l.submitted, c.summary.submitted_at.rfc3339_millis()),
        field(l.destinations, c.summary.destinations.join(", ")),
        field(l.subject, c.summary.subject_text.clone()),
        field(
            "Message-ID",
            c.message_id.clone().unwrap_or_else(|| "-".into()),
        ),
        field(
            l.client,
            format!(
                "{} [{}] HELO {}",
                c.client_name.as_deref().unwrap_or("-"),
                c.client_addr.as_deref().unwrap_or("-"),
                c.helo.as_deref().unwrap_or("-")
            ),
        ),
        field(l.queue_id, c.queue_id.clone().unwrap_or_else(|| "-".into())),
        field(
            l.message,
            format!("{} bytes, SHA-256 {}", c.raw_size, c.raw_sha256),
        ),
    ];
    if let Some(d) = c.deadline_at {
        request_fields.push(field(l.deadline, d.rfc3339_seconds()));
    }

    let request_timeline = events.iter().filter_map(timeline_entry).collect();

    let mut embedded = Vec::new();
    if let Some(raw) = &snapshot.raw {
        let sha = sha256_hex(raw);
        embedded.push(Embedded {
            name: format!("contract-{}.eml", c.summary.serial),
            description: format!("{} — SHA-256 {sha}", l.original),
            mime_type: "message/rfc822".into(),
            bytes: raw.clone(),
            sha256: sha,
            relationship: Relationship::Source,
        });
    }

    let mut response_fields = vec![field(l.outcome, c.summary.state.as_str())];
    let mut response_text = None;
    if let Some(e) = deciding(events) {
        let (text, raw_sha256) = response(l, e, &mut response_fields);
        response_text = text;
        let raw = raw_sha256.and_then(|h| {
            snapshot
                .answers
                .iter()
                .find(|(sha, _)| *sha == h)
                .map(|(_, b)| b)
        });
        if let Some(raw) = raw {
            let sha = sha256_hex(raw);
            embedded.push(Embedded {
                name: format!("answer-{}.eml", c.summary.serial),
                description: format!("{} — SHA-256 {sha}", l.answer),
                mime_type: "message/rfc822".into(),
                bytes: raw.clone(),
                sha256: sha,
                relationship: Relationship::Source,
            });
        }
    }

    let evidence = evidence_file::build(snapshot, operator, now)?;
    let sha = sha256_hex(&evidence);
    embedded.push(Embedded {
        name: evidence_file::FILE_NAME.into(),
        description: format!(
            "Machine-readable evidence: every event of the chain with its ETSI EN 319 522 \
             event, RFC 8785 JSON — SHA-256 {sha}"
        ),
        mime_type: evidence_file::MIME_TYPE.into(),
        bytes: evidence,
        sha256: sha,
        relationship: Relationship::Data,
    });

    Ok(CertificateData {
        language: customer.language.clone(),
        title: l.title.to_string(),
        operator: operator.to_string(),
        serial: c.summary.serial as u64,
        contract_id: c.summary.id.clone(),
        outcome: c.summary.state.as_str().to_string(),
        outcome_sentence: outcome_sentence.to_string(),
        request_fields,
        contract_text: c.body_text.clone(),
        attachments: c
            .attachments
            .iter()
            .map(|a| AttachmentLine {
                filename: a.filename.clone().unwrap_or_else(|| "-".into()),
                content_type: a.content_type.clone(),
                size: a.size as u64,
                sha256: a.sha256.clone(),
            })
            .collect(),
        request_timeline,
        response_fields,
        response_text,
        embedded,
        chain_head: events.last().map(|e| e.hash.clone()).unwrap_or_default(),
        issued_at: now.rfc3339_millis(),
    })
}
