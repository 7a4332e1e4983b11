//! Composing certd's mail and handing it to the local MTA.

use crate::config::SmtpConfig;
use crate::store::ContractRow;
use lettre::message::{header::ContentType, Mailbox};
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
        let msg = Message::builder()
            .from(parse(&m.from)?)
            .to(parse(&m.to)?)
            .subject(m.subject.clone())
            .message_id(Some(m.message_id.clone()))
            .header(ContentType::TEXT_PLAIN)
            .body(m.body.clone())
            .map_err(|e| SendError::Permanent(format!("cannot build message: {e}")))?;
        match self.inner.send(&msg) {
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
    let line = |label: &str, value: &str| format!("{label:<18} {value}\n");
    body.push_str(&line(t.serial, &c.summary.serial.to_string()));
    body.push_str(&line(t.contract_id, &c.summary.id));
    body.push_str(&line(t.received_at, &c.summary.submitted_at));
    body.push_str(&line(t.subject, &c.summary.subject_text));
    body.push_str(&line(t.destinations, &c.summary.destinations.join(", ")));
    body.push_str(&line(
        t.authenticated,
        &format!("{} ({})", c.auth_method, c.auth_identity),
    ));
    if let Some(mid) = &c.message_id {
        body.push_str(&line("Message-ID:", mid));
    }
    body.push_str(&line(t.message_sha256, &c.raw_sha256));
    if !c.attachments.is_empty() {
        body.push('\n');
        body.push_str(t.attachments);
        body.push('\n');
        for a in &c.attachments {
            body.push_str(&format!(
                "  - {} ({}, {} bytes)\n    SHA-256 {}\n",
                a.filename.as_deref().unwrap_or("-"),
                a.content_type,
                a.size,
                a.sha256
            ));
        }
    }
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
    })
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
