//! Gathering a certificate's content from the store: the contract, its event log and the raw
//! messages.

use super::{AttachmentLine, CertificateData, Embedded, Field, TimelineEntry};
use crate::error::Error;
use crate::store::{EventRow, Store};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Labels in the customer's language.
struct Labels {
    title: &'static str,
    operator: &'static str,
    customer: &'static str,
    authentication: &'static str,
    submitted: &'static str,
    destinations: &'static str,
    subject: &'static str,
    message: &'static str,
    client: &'static str,
    queue_id: &'static str,
    outcome: &'static str,
    channel: &'static str,
    responder: &'static str,
    answered_at: &'static str,
    received: &'static str,
    auth_results: &'static str,
    authenticity: &'static str,
    decision: &'static str,
    diagnostic: &'static str,
    deadline: &'static str,
    original: &'static str,
    answer: &'static str,
}

static EN: Labels = Labels {
    title: "Certificate of electronic contract",
    operator: "Operator",
    customer: "Customer",
    authentication: "Sender authenticated by",
    submitted: "Submitted (UTC)",
    destinations: "Destinations",
    subject: "Subject",
    message: "Original message",
    client: "Client",
    queue_id: "MTA queue id",
    outcome: "Outcome",
    channel: "Channel",
    responder: "Responder",
    answered_at: "Answered (UTC)",
    received: "Received chain",
    auth_results: "DKIM / SPF / DMARC",
    authenticity: "Sender authenticity",
    decision: "Decision",
    diagnostic: "Delivery diagnostic",
    deadline: "Deadline (UTC)",
    original: "Original contract message",
    answer: "Answer message",
};

static ES: Labels = Labels {
    title: "Certificado de contrato electrónico",
    operator: "Operador",
    customer: "Cliente",
    authentication: "Remitente autenticado por",
    submitted: "Enviado (UTC)",
    destinations: "Destinatarios",
    subject: "Asunto",
    message: "Mensaje original",
    client: "Cliente SMTP",
    queue_id: "Id. de cola del MTA",
    outcome: "Resultado",
    channel: "Canal",
    responder: "Respondió",
    answered_at: "Respuesta (UTC)",
    received: "Cadena Received",
    auth_results: "DKIM / SPF / DMARC",
    authenticity: "Autenticidad del remitente",
    decision: "Decisión",
    diagnostic: "Diagnóstico de entrega",
    deadline: "Plazo (UTC)",
    original: "Mensaje original del contrato",
    answer: "Mensaje de respuesta",
};

static JA: Labels = Labels {
    title: "電子契約証明書",
    operator: "事業者",
    customer: "顧客",
    authentication: "送信者の認証方法",
    submitted: "送信日時 (UTC)",
    destinations: "宛先",
    subject: "件名",
    message: "元のメッセージ",
    client: "送信元クライアント",
    queue_id: "MTA キューID",
    outcome: "結果",
    channel: "経路",
    responder: "回答者",
    answered_at: "回答日時 (UTC)",
    received: "Received ヘッダー",
    auth_results: "DKIM / SPF / DMARC",
    authenticity: "送信者の真正性",
    decision: "判定",
    diagnostic: "配信診断",
    deadline: "期限 (UTC)",
    original: "契約の元メッセージ",
    answer: "回答メッセージ",
};

fn labels(language: &str) -> &'static Labels {
    match language.split(['-', '_']).next().unwrap_or("") {
        "es" => &ES,
        "ja" => &JA,
        _ => &EN,
    }
}

fn field(label: &str, value: impl Into<String>) -> Field {
    Field {
        label: label.to_string(),
        value: value.into(),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join("\n"),
        other => other.to_string(),
    }
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// The event that gave the contract its outcome.
fn deciding(events: &[EventRow]) -> Option<&EventRow> {
    events.iter().rev().find(|e| {
        matches!(e.kind.as_str(), "reply" | "bounce" | "deadline")
            && e.data["state"]
                .as_str()
                .is_some_and(|s| !matches!(s, "requested" | "received"))
    })
}

/// Who receives a copy: the customer always; the responder too when the contract was
/// answered (claim 3), not for NOEX or NORESP.
pub fn copies_to(store: &Store, contract_id: &str) -> Result<Vec<String>, Error> {
    let c = store
        .contract(contract_id)?
        .ok_or_else(|| Error::NotFound(format!("no contract {contract_id}")))?;
    let customer = store
        .customer(&c.summary.customer)?
        .ok_or_else(|| Error::NotFound(format!("no customer {}", c.summary.customer)))?;
    let mut to = vec![customer.email];
    if matches!(c.summary.state.as_str(), "accepted" | "rejected") {
        let events = store.events(contract_id)?;
        if let Some(dest) = deciding(&events).and_then(|e| e.data["destination"].as_str()) {
            // A phone that answered by SMS got its confirmation by SMS; copies are mail.
            if dest.contains('@') && !to.iter().any(|t| t.eq_ignore_ascii_case(dest)) {
                to.push(dest.to_string());
            }
        }
    }
    Ok(to)
}

/// Builds the certificate content of a finished contract.
pub fn build(
    store: &Store,
    contract_id: &str,
    operator: &str,
    outcome_sentence: &str,
) -> Result<CertificateData, Error> {
    let c = store
        .contract(contract_id)?
        .ok_or_else(|| Error::NotFound(format!("no contract {contract_id}")))?;
    let customer = store
        .customer(&c.summary.customer)?
        .ok_or_else(|| Error::NotFound(format!("no customer {}", c.summary.customer)))?;
    let events = store.events(contract_id)?;
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
        field(l.submitted, c.summary.submitted_at.clone()),
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
        request_fields.push(field(
            l.deadline,
            humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(d.max(0) as u64),
            )
            .to_string(),
        ));
    }

    let request_timeline = events
        .iter()
        .filter(|e| {
            e.kind.ends_with("_sent")
                || matches!(e.kind.as_str(), "requested" | "submitted" | "sms_dlr")
        })
        .map(|e| TimelineEntry {
            at: e.at.clone(),
            what: match e.kind.as_str() {
                "submitted" => "submitted".to_string(),
                "requested" => format!("requested, deadline {}", text(&e.data["deadline_at"])),
                "sms_dlr" => format!(
                    "SMS delivery report for {} (ref {}): {} {} at {} (SMSC id {})",
                    text(&e.data["to"]),
                    text(&e.data["reference"]),
                    text(&e.data["status"]),
                    text(&e.data["status_name"]),
                    text(&e.data["gateway_time"]),
                    text(&e.data["smsc_id"]),
                ),
                k if k.starts_with("sms_") => format!(
                    "{k} to {} — ref {}, gateway {}, {} part(s) {}",
                    text(&e.data["to"]),
                    text(&e.data["reference"]),
                    text(&e.data["gateway"]),
                    text(&e.data["parts"]),
                    text(&e.data["coding"]),
                ),
                k => format!("{k} to {} — {}", text(&e.data["to"]), text(&e.data["smtp"])),
            },
        })
        .collect();

    let mut embedded = Vec::new();
    if let Some(raw) = store.raw_message(contract_id)? {
        let sha = sha256_hex(&raw);
        embedded.push(Embedded {
            name: format!("contract-{}.eml", c.summary.serial),
            description: format!("{} — SHA-256 {sha}", l.original),
            mime_type: "message/rfc822".into(),
            bytes: raw,
            sha256: sha,
        });
    }

    let mut response_fields = vec![field(l.outcome, c.summary.state.clone())];
    let mut response_text = None;
    if let Some(e) = deciding(&events) {
        let d = &e.data;
        match e.kind.as_str() {
            "reply" if d["channel"] == "sms" => {
                response_fields.extend([
                    field(l.channel, "SMS"),
                    field(
                        l.responder,
                        format!(
                            "{} (sender as reported by the gateway: {}, to {})",
                            text(&d["destination"]),
                            text(&d["sender"]),
                            text(&d["receiver"])
                        ),
                    ),
                    field(l.answered_at, e.at.clone()),
                    field(
                        "SMS gateway",
                        format!(
                            "message id {}, gateway time {}",
                            text(&d["gateway_id"]),
                            text(&d["gateway_time"])
                        ),
                    ),
                    field("Code", text(&d["code"])),
                    field(l.decision, text(&d["decision"])),
                ]);
                response_text = d["response_text"].as_str().map(str::to_string);
            }
            "reply" => {
                response_fields.extend([
                    field(l.channel, text(&d["channel"])),
                    field(
                        l.responder,
                        format!(
                            "{} (envelope <{}>, for {})",
                            text(&d["from_header"]),
                            text(&d["envelope_from"]),
                            text(&d["destination"])
                        ),
                    ),
                    field(l.answered_at, e.at.clone()),
                    field(
                        l.client,
                        format!(
                            "{} [{}] HELO {}",
                            text(&d["client_name"]),
                            text(&d["client_addr"]),
                            text(&d["helo"])
                        ),
                    ),
                    field(l.queue_id, text(&d["queue_id"])),
                    field("Message-ID", text(&d["message_id"])),
                    field(l.received, text(&d["received"])),
                    field(
                        l.auth_results,
                        format!(
                            "DKIM: {}\nSPF: {}\nDMARC: {}",
                            text(&d["authentication"]["dkim"]),
                            text(&d["authentication"]["spf"]),
                            text(&d["authentication"]["dmarc"])
                        ),
                    ),
                    field(l.authenticity, text(&d["authenticity"])),
                    field(l.decision, text(&d["decision"])),
                ]);
                response_text = d["response_text"].as_str().map(str::to_string);
            }
            "bounce" => {
                response_fields.extend([
                    field(l.destinations, text(&d["destination"])),
                    field(
                        l.diagnostic,
                        format!(
                            "{} {} {}",
                            text(&d["status"]),
                            text(&d["diagnostic"]),
                            text(&d["reporting_mta"])
                        ),
                    ),
                    field(l.answered_at, e.at.clone()),
                ]);
            }
            _ => {
                response_fields.push(field(l.deadline, text(&d["deadline_at"])));
            }
        }
        if let Some(raw) = d["raw_sha256"]
            .as_str()
            .and_then(|h| store.blob(h).ok().flatten())
        {
            let sha = sha256_hex(&raw);
            embedded.push(Embedded {
                name: format!("answer-{}.eml", c.summary.serial),
                description: format!("{} — SHA-256 {sha}", l.answer),
                mime_type: "message/rfc822".into(),
                bytes: raw,
                sha256: sha,
            });
        }
    }

    Ok(CertificateData {
        language: customer.language.clone(),
        title: l.title.to_string(),
        operator: operator.to_string(),
        serial: c.summary.serial as u64,
        contract_id: c.summary.id.clone(),
        outcome: c.summary.state.clone(),
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
        issued_at: crate::store::rfc3339_now(),
    })
}
