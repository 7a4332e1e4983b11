//! Reading what comes back: a counterparty's reply (RFC 5322), turned into evidence and a
//! lifecycle event. Delivery status notifications are read by [`crate::dsn`].

use crate::answer::{classify, own_words, Verdict};
use crate::lifecycle::{Decision, Event};
use mail_parser::MessageParser;
use serde_json::{json, Value};

/// The trace of a message: its `Received:` fields, newest first, unfolded.
pub fn received_chain(raw: &[u8]) -> Vec<String> {
    header_fields(raw)
        .into_iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("received"))
        .map(|(_, v)| v)
        .collect()
}

/// Unfolded header fields `(name, value)` of the top-level header section.
fn header_fields(raw: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(raw);
    let head = text
        .split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .split("\n\n")
        .next()
        .unwrap_or("");
    fields(head)
}

fn fields(block: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in block.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    out
}

/// Evidence and decision from a reply.
pub fn read_reply(raw: &[u8], destination: &str) -> (Event, Value) {
    let parsed = MessageParser::default().parse(raw);
    let (from, subject, message_id, date, text) = match &parsed {
        Some(m) => (
            m.from()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .map(str::to_string),
            m.subject().map(str::to_string),
            m.message_id().map(|id| format!("<{id}>")),
            m.date().map(|d| d.to_rfc3339()),
            (0..m.text_body_count())
                .filter_map(|i| m.body_text(i))
                .collect::<Vec<_>>()
                .join("\n\n"),
        ),
        None => (None, None, None, None, String::new()),
    };
    let words = own_words(&text);
    let decision = match classify(&words) {
        Verdict::Accept => Decision::Accept,
        Verdict::Reject => Decision::Reject,
        Verdict::Unclear => Decision::Unclear,
    };
    let evidence = json!({
        "channel": "email",
        "destination": destination,
        "from_header": from,
        "subject": subject,
        "message_id": message_id,
        "date": date,
        "received": received_chain(raw),
        "response_text": words,
        "decision": decision,
    });
    (
        Event::Reply {
            from: destination.to_string(),
            decision,
        },
        evidence,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_evidence() {
        let raw = b"Received: from a by b; Wed, 25 Nov 2026\r\nFrom: Bob <bob@example.test>\r\nSubject: Re: contract\r\nMessage-ID: <r1@example.test>\r\n\r\nACEPTO\r\n\r\n> Para aceptar responda ACEPTO; para rechazar, RECHAZO\r\n";
        let (event, ev) = read_reply(raw, "bob@example.test");
        assert_eq!(
            event,
            Event::Reply {
                from: "bob@example.test".into(),
                decision: Decision::Accept
            }
        );
        assert_eq!(ev["from_header"], "bob@example.test");
        assert_eq!(ev["message_id"], "<r1@example.test>");
        assert_eq!(ev["response_text"], "ACEPTO");
        let (event, _) = read_reply(b"not a message", "bob@example.test");
        assert!(matches!(
            event,
            Event::Reply {
                decision: Decision::Unclear,
                ..
            }
        ));
    }
}
