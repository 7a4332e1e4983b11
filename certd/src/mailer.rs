//! Composing certd's mail and handing it to the local MTA.

use crate::config::SmtpConfig;
use crate::lifecycle::ClarificationReason;
use crate::store::ContractRow;
use lettre::address::Envelope;
use lettre::message::{
    header::ContentType, Attachment as LettreAttachment, Mailbox, MultiPart, SinglePart,
};
use lettre::{Message, SmtpTransport, Transport as _};
use std::time::Duration;

/// A mail ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub from: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    /// Derived from the outbox idempotency key, so a re-sent copy carries the same id and
    /// mail clients can de-duplicate it.
    pub message_id: String,
    /// Where answers go (`reply+<token>@<domain>`).
    pub reply_to: Option<String>,
    /// Envelope sender when it differs from `from`: the VERP address `bounce+<token>@<domain>`
    /// that brings delivery reports back to this contract.
    pub envelope_from: Option<String>,
    pub attachments: Vec<Attachment>,
}

/// A file attached to an outgoing mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Why a send failed: temporary failures are retried, permanent ones recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("temporary: {0}")]
    Temporary(String),
    #[error("permanent: {0}")]
    Permanent(String),
}

/// Where mail goes. The SMTP implementation talks to the MTA; tests use a fake.
pub trait Transport: Sync {
    /// Sends `m`; `Ok` carries the MTA's answer (e.g. `250 2.0.0 Ok: queued as 4Xyz`).
    fn send(&self, m: &Outgoing) -> Result<String, SendError>;
}

/// Plain SMTP to a local listener without milters (no TLS: loopback or a Unix-local relay).
pub struct Smtp {
    inner: SmtpTransport,
}

impl Smtp {
    pub fn new(c: &SmtpConfig) -> Smtp {
        let inner = SmtpTransport::builder_dangerous(&c.host)
            .port(c.port)
            .timeout(Some(Duration::from_secs(c.timeout_secs)))
            .build();
        Smtp { inner }
    }
}

impl Transport for Smtp {
    fn send(&self, m: &Outgoing) -> Result<String, SendError> {
        let parse = |a: &str| {
            a.parse::<Mailbox>()
                .map_err(|e| SendError::Permanent(format!("bad address {a:?}: {e}")))
        };
        let mut builder = Message::builder()
            .from(parse(&m.from)?)
            .to(parse(&m.to)?)
            .subject(m.subject.clone())
            .message_id(Some(m.message_id.clone()));
        if let Some(r) = &m.reply_to {
            builder = builder.reply_to(parse(r)?);
        }
        let built = if m.attachments.is_empty() {
            builder.header(ContentType::TEXT_PLAIN).body(m.body.clone())
        } else {
            let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(m.body.clone()));
            for a in &m.attachments {
                let ct = ContentType::parse(&a.content_type).unwrap_or(
                    ContentType::parse("application/octet-stream")
                        .map_err(|e| SendError::Permanent(format!("content type: {e}")))?,
                );
                parts = parts.singlepart(
                    LettreAttachment::new(a.filename.clone()).body(a.bytes.clone(), ct),
                );
            }
            builder.multipart(parts)
        };
        let msg = built.map_err(|e| SendError::Permanent(format!("cannot build message: {e}")))?;
        let envelope = match &m.envelope_from {
            Some(sender) => Envelope::new(
                Some(sender.parse().map_err(|e| {
                    SendError::Permanent(format!("bad envelope sender {sender:?}: {e}"))
                })?),
                vec![m
                    .to
                    .parse()
                    .map_err(|e| SendError::Permanent(format!("bad recipient {:?}: {e}", m.to)))?],
            )
            .map_err(|e| SendError::Permanent(format!("envelope: {e}")))?,
            None => msg.envelope().clone(),
        };
        match self.inner.send_raw(&envelope, &msg.formatted()) {
            Ok(resp) => Ok(format!(
                "{} {}",
                resp.code(),
                resp.message().collect::<Vec<_>>().join(" ")
            )),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
            Err(e) => Err(SendError::Temporary(e.to_string())),
        }
    }
}

fn domain_of(addr: &str) -> &str {
    addr.rsplit_once('@').map(|(_, d)| d).unwrap_or("localhost")
}

/// One aligned `label value` line of a plain-text mail.
fn field_line(label: &str, value: &str) -> String {
    format!("{label:<18} {value}\n")
}

/// The attachments of a contract with their hashes, so the reader can check what was signed.
fn attachment_list(t: &crate::i18n::Texts, c: &ContractRow) -> String {
    if c.attachments.is_empty() {
        return String::new();
    }
    let mut out = format!("\n{}\n", t.attachments);
    for a in &c.attachments {
        out.push_str(&format!(
            "  - {} ({}, {} bytes)\n    SHA-256 {}\n",
            a.filename.as_deref().unwrap_or("-"),
            a.content_type,
            a.size,
            a.sha256
        ));
    }
    out
}

/// Message-ID from an idempotency key: `<receipt.ID@domain>`.
pub fn message_id(key: &str, from: &str) -> String {
    let local: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '.' })
        .collect();
    format!("<{local}@{}>", domain_of(from))
}

/// The acceptance receipt: tells the customer the contract was registered, under which serial
/// number, and what certmail understood (destinations, attachments and their hashes), so a
/// misread Subject is caught before anyone is asked to sign.
pub fn receipt(
    c: &ContractRow,
    to: &str,
    language: &str,
    operator: &str,
    from: &str,
    key: &str,
) -> Result<Outgoing, SendError> {
    let t = crate::i18n::texts(language);
    let mut body = String::new();
    body.push_str(&t.receipt_intro.replace("{operator}", operator));
    body.push_str("\n\n");
    body.push_str(&field_line(t.serial, &c.summary.serial.to_string()));
    body.push_str(&field_line(t.contract_id, &c.summary.id));
    body.push_str(&field_line(t.received_at, &c.summary.submitted_at));
    body.push_str(&field_line(t.subject, &c.summary.subject_text));
    body.push_str(&field_line(
        t.destinations,
        &c.summary.destinations.join(", "),
    ));
    body.push_str(&field_line(
        t.authenticated,
        &format!("{} ({})", c.auth_method, c.auth_identity),
    ));
    if let Some(mid) = &c.message_id {
        body.push_str(&field_line("Message-ID:", mid));
    }
    body.push_str(&field_line(t.message_sha256, &c.raw_sha256));
    body.push_str(&attachment_list(t, c));
    body.push('\n');
    body.push_str(t.receipt_next);
    body.push('\n');
    Ok(Outgoing {
        from: from.to_string(),
        to: to.to_string(),
        subject: format!(
            "{} {} — {}",
            t.receipt_subject, c.summary.serial, c.summary.subject_text
        ),
        body,
        message_id: message_id(key, from),
        reply_to: None,
        envelope_from: None,
        attachments: Vec::new(),
    })
}

/// `reply+<token>@<domain of from>` and `bounce+<token>@…`.
pub fn answer_addresses(token: &str, from: &str) -> (String, String) {
    let domain = domain_of(from);
    (
        format!("reply+{token}@{domain}"),
        format!("bounce+{token}@{domain}"),
    )
}

/// The attachments of the customer's original message, byte for byte as decoded.
pub fn original_attachments(raw: &[u8]) -> Vec<Attachment> {
    use mail_parser::MimeHeaders;
    let Some(m) = mail_parser::MessageParser::default().parse(raw) else {
        return Vec::new();
    };
    m.attachments()
        .map(|p| Attachment {
            filename: p.attachment_name().unwrap_or("attachment").to_string(),
            content_type: p
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{sub}", ct.ctype()),
                    None => ct.ctype().to_string(),
                })
                .unwrap_or_else(|| "application/octet-stream".into()),
            bytes: p.contents().to_vec(),
        })
        .collect()
}

/// What the request needs to say.
pub struct RequestContext<'a> {
    pub contract: &'a ContractRow,
    pub customer_display: &'a str,
    pub language: &'a str,
    pub operator: &'a str,
    pub from: &'a str,
    pub deadline: &'a str,
    pub raw: &'a [u8],
}

/// The acceptance request: the readable contract, the original attachments, and how to
/// answer, in the customer's language; answers and bounces come back through the token.
pub fn request(ctx: &RequestContext<'_>, to: &str, token: &str, key: &str) -> Outgoing {
    let t = crate::i18n::texts(ctx.language);
    let c = ctx.contract;
    let (reply, bounce) = answer_addresses(token, ctx.from);
    let mut body = t
        .request_intro
        .replace("{customer}", ctx.customer_display)
        .replace("{operator}", ctx.operator);
    body.push_str("\n\n");
    body.push_str(t.request_how);
    body.push_str("\n\n");
    body.push_str(&field_line(t.serial, &c.summary.serial.to_string()));
    body.push_str(&field_line(t.contract_id, &c.summary.id));
    body.push_str(&field_line(t.request_deadline, ctx.deadline));
    body.push_str(&field_line(t.subject, &c.summary.subject_text));
    body.push_str(&format!("\n===== {} =====\n\n", t.request_contract));
    body.push_str(&c.body_text);
    body.push_str("\n\n=====\n");
    body.push_str(&attachment_list(t, c));
    Outgoing {
        from: ctx.from.to_string(),
        to: to.to_string(),
        subject: format!(
            "{} {} — {}",
            t.request_subject, c.summary.serial, c.summary.subject_text
        ),
        body,
        message_id: message_id(key, ctx.from),
        reply_to: Some(reply),
        envelope_from: Some(bounce),
        attachments: original_attachments(ctx.raw),
    }
}

/// After an answer that could not decide: ask the destination again, politely, for a
/// one-word answer from its own mailbox.
pub fn clarification(
    c: &ContractRow,
    language: &str,
    from: &str,
    to: &str,
    token: &str,
    key: &str,
    reason: ClarificationReason,
) -> Outgoing {
    let t = crate::i18n::texts(language);
    let why = match reason {
        ClarificationReason::Unclear => t.clarification_body,
        ClarificationReason::Foreign => t.clarification_foreign,
        ClarificationReason::Unauthenticated => t.clarification_unauthenticated,
    };
    let (reply, bounce) = answer_addresses(token, from);
    Outgoing {
        from: from.to_string(),
        to: to.to_string(),
        subject: format!(
            "{} {} — {}",
            t.clarification_subject, c.summary.serial, c.summary.subject_text
        ),
        body: format!("{why}\n\n{}\n", t.request_how),
        message_id: message_id(key, from),
        reply_to: Some(reply),
        envelope_from: Some(bounce),
        attachments: Vec::new(),
    }
}

/// The outcome notice to the customer. The signed certificate (certificate issue) will ride
/// on this same outbox effect.
pub fn outcome(
    c: &ContractRow,
    outcome: &str,
    language: &str,
    from: &str,
    to: &str,
    key: &str,
) -> Outgoing {
    let t = crate::i18n::texts(language);
    let sentence = crate::i18n::outcome_sentence(language, outcome);
    let mut body = format!("{sentence}\n\n");
    body.push_str(&field_line(t.serial, &c.summary.serial.to_string()));
    body.push_str(&field_line(t.contract_id, &c.summary.id));
    body.push_str(&field_line(t.subject, &c.summary.subject_text));
    body.push_str(&field_line(
        t.destinations,
        &c.summary.destinations.join(", "),
    ));
    Outgoing {
        from: from.to_string(),
        to: to.to_string(),
        subject: format!(
            "{} {} — {}",
            t.outcome_subject, c.summary.serial, c.summary.subject_text
        ),
        body,
        message_id: message_id(key, from),
        reply_to: None,
        envelope_from: None,
        attachments: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_stable_and_valid() {
        assert_eq!(
            message_id("receipt:abc", "certmail@contract.test"),
            "<receipt.abc@contract.test>"
        );
    }
}
