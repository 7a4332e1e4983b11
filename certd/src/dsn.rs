//! Delivery status notifications (RFC 3464) read strictly: a report ends a destination's leg
//! as not delivered only when it provably comes from the mail system about certd's request.
//!
//! Anyone who holds a request knows its return path, so the address a report arrives at proves
//! nothing: a report decides only with the null sender, the RFC 6522 report structure, a
//! failed recipient that is the destination, and the secret envelope id (RFC 3461 ENVID) that
//! certd gave the request and no recipient ever sees. Everything else is recorded as evidence
//! with the reason it did not decide (see `docs/decisions.md`).

use crate::evidence::event::{Arrival, Bounce, BounceReport, DsnBounce};
use crate::evidence::{Applied, EventData};
use crate::inbound::received_chain;
use crate::lifecycle::Event;
use mail_parser::{Message, MessageParser, MimeHeaders, PartType};
use serde::Serialize;
use subtle::ConstantTimeEq;

/// Which of certd's mails to a destination an envelope id stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mailing {
    /// The acceptance request: its failure is the destination's non-delivery.
    Request,
    /// A clarification after an unclear reply: the destination had the request, so its
    /// failure is recorded but never means "not delivered".
    Clarification,
}

/// The ENVID (RFC 3461 section 4.4) of `mailing` to the destination whose secret is `secret`.
/// Both forms are xtext-safe (`[a-z0-9.]`) and far below the 100-character limit.
pub fn envelope_id(secret: &str, mailing: Mailing) -> String {
    match mailing {
        Mailing::Request => secret.to_string(),
        Mailing::Clarification => format!("{secret}.c"),
    }
}

/// What a report must match to decide: the destination and its secret envelope id.
pub struct Expected<'a> {
    pub destination: &'a str,
    /// The destination's ENVID secret (`destinations.envid`).
    pub envid_secret: &'a str,
    /// Message-IDs certd sent to the destination (evidence only: the recipient sees them).
    pub sent_message_ids: &'a [String],
}

/// One per-recipient field group (RFC 3464 section 2.3).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecipientFields {
    pub original_recipient: Option<String>,
    pub final_recipient: Option<String>,
    pub action: Option<String>,
    pub status: Option<String>,
    pub diagnostic: Option<String>,
    pub remote_mta: Option<String>,
}

/// A delivery report as far as it could be read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DsnReport {
    /// The top level is `multipart/report; report-type=delivery-status` (RFC 6522 section 3,
    /// RFC 3464 section 2) or its RFC 6533 `global-delivery-status` form.
    pub is_report: bool,
    /// A `message/delivery-status` part was found among the report's parts.
    pub has_status_part: bool,
    /// Per-message fields (RFC 3464 section 2.2).
    pub reporting_mta: Option<String>,
    pub original_envelope_id: Option<String>,
    /// Per-recipient field groups, in order.
    pub recipients: Vec<RecipientFields>,
    /// The Message-ID of the returned message or headers (the report's third part).
    pub returned_message_id: Option<String>,
}

/// Why a report was recorded without deciding anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotedReason {
    /// Not sent with the null reverse-path that every DSN uses (RFC 3464 section 2, RFC 5321
    /// section 4.5.5): an ordinary sender, whoever it is.
    NotNullSender,
    /// Not a `multipart/report; report-type=delivery-status` with a delivery-status part.
    NotADeliveryStatusReport,
    /// No `Original-Envelope-Id`: the reporting MTA dropped the ENVID, or it is forged.
    EnvelopeIdMissing,
    /// An `Original-Envelope-Id` that is not this destination's.
    EnvelopeIdMismatch,
    /// No per-recipient group names the destination.
    RecipientMismatch,
    /// `Action: delayed`: the MTA is still trying (RFC 3464 section 2.3.3).
    Delayed,
    /// `delivered`, `relayed`, `expanded` or no action at all.
    NotFailed,
    /// A clarification failed: the destination had received the request.
    ClarificationNotDelivered,
}

impl NotedReason {
    /// As recorded in the evidence.
    pub fn as_str(self) -> &'static str {
        match self {
            NotedReason::NotNullSender => "not_null_sender",
            NotedReason::NotADeliveryStatusReport => "not_a_delivery_status_report",
            NotedReason::EnvelopeIdMissing => "envelope_id_missing",
            NotedReason::EnvelopeIdMismatch => "envelope_id_mismatch",
            NotedReason::RecipientMismatch => "recipient_mismatch",
            NotedReason::Delayed => "delayed",
            NotedReason::NotFailed => "not_failed",
            NotedReason::ClarificationNotDelivered => "clarification_not_delivered",
        }
    }
}

/// The outcome of checking a report against what certd sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The request was not delivered to the destination.
    Failed,
    Noted(NotedReason),
}

/// Reads a delivery report: the top-level structure with mail-parser, the delivery-status
/// part's field groups with [`field_groups`]. Never fails: what is missing stays `None`.
pub fn read_dsn(raw: &[u8]) -> DsnReport {
    let mut report = DsnReport::default();
    let Some(msg) = MessageParser::default().parse(raw) else {
        return report;
    };
    let root = msg.root_part();
    report.is_report = root.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && ct.attribute("report-type").is_some_and(|t| {
                t.eq_ignore_ascii_case("delivery-status")
                    || t.eq_ignore_ascii_case("global-delivery-status")
            })
    });
    // RFC 6522 section 3: the report's parts are direct children of the top level.
    for &id in root.sub_parts().unwrap_or_default() {
        let Some(part) = msg.part(id) else { continue };
        let Some(ct) = part.content_type() else {
            continue;
        };
        let ctype = ct.ctype().to_ascii_lowercase();
        let sub = ct.subtype().unwrap_or_default().to_ascii_lowercase();
        match (ctype.as_str(), sub.as_str()) {
            // RFC 3464 section 2.1 (RFC 6533 section 6 for the UTF-8 form).
            ("message", "delivery-status" | "global-delivery-status")
                if !report.has_status_part =>
            {
                report.has_status_part = true;
                read_status_part(&mut report, &String::from_utf8_lossy(part.contents()));
            }
            // RFC 6522 section 3: the returned message or its header section.
            ("message", "rfc822" | "global")
            | ("text", "rfc822-headers")
            | ("message", "global-headers")
                if report.returned_message_id.is_none() =>
            {
                report.returned_message_id = match &part.body {
                    PartType::Message(m) => message_id(m),
                    _ => MessageParser::default()
                        .parse_headers(part.contents())
                        .as_ref()
                        .and_then(message_id),
                };
            }
            _ => {}
        }
    }
    report
}

fn message_id(m: &Message<'_>) -> Option<String> {
    m.message_id().map(|id| format!("<{id}>"))
}

/// Fills the per-message and per-recipient fields from the delivery-status body.
fn read_status_part(report: &mut DsnReport, body: &str) {
    let mut groups = field_groups(body).into_iter();
    // RFC 3464 section 2.1: the per-message fields come first, then one group per recipient.
    if let Some(first) = groups.next() {
        for (name, value) in first {
            let slot = match name.to_ascii_lowercase().as_str() {
                "reporting-mta" => &mut report.reporting_mta,
                "original-envelope-id" => &mut report.original_envelope_id,
                _ => continue,
            };
            slot.get_or_insert(value);
        }
    }
    for group in groups {
        let mut r = RecipientFields::default();
        for (name, value) in group {
            let slot = match name.to_ascii_lowercase().as_str() {
                "original-recipient" => &mut r.original_recipient,
                "final-recipient" => &mut r.final_recipient,
                "action" => &mut r.action,
                "status" => &mut r.status,
                "diagnostic-code" => &mut r.diagnostic,
                "remote-mta" => &mut r.remote_mta,
                _ => continue,
            };
            slot.get_or_insert(value);
        }
        // Section 2.3: Final-Recipient, Action and Status are required in every group.
        if r != RecipientFields::default() {
            report.recipients.push(r);
        }
    }
}

/// The field groups of a delivery-status body: header-like fields (RFC 3464 section 2.1,
/// RFC 5322 section 2.2 syntax), unfolded, split at empty or blank lines.
pub fn field_groups(body: &str) -> Vec<Vec<(String, String)>> {
    let mut groups: Vec<Vec<(String, String)>> = Vec::new();
    let mut current: Vec<(String, String)> = Vec::new();
    for line in body.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                groups.push(std::mem::take(&mut current));
            }
        } else if line.starts_with([' ', '\t']) {
            if let Some(last) = current.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            current.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

/// The address of an `address-type ; address` field (RFC 3464 section 2.3.1/2.3.2), without
/// angle brackets.
fn typed_address(field: &str) -> Option<&str> {
    let (_, addr) = field.split_once(';')?;
    let addr = addr.trim();
    Some(
        addr.strip_prefix('<')
            .and_then(|a| a.strip_suffix('>'))
            .unwrap_or(addr),
    )
}

/// Does this recipient group report on `destination`? Case-insensitive, as the milter and
/// the store compare addresses.
fn names(r: &RecipientFields, destination: &str) -> bool {
    [&r.original_recipient, &r.final_recipient]
        .into_iter()
        .flatten()
        .filter_map(|f| typed_address(f))
        .any(|a| a.to_lowercase() == destination.to_lowercase())
}

fn same_secret(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Checks a report against what certd sent; returns the verdict and the recipient group the
/// evidence should quote.
pub fn judge<'r>(
    report: &'r DsnReport,
    envelope_from: &str,
    expected: &Expected<'_>,
) -> (Verdict, Option<&'r RecipientFields>) {
    let ours: Vec<&RecipientFields> = report
        .recipients
        .iter()
        .filter(|r| names(r, expected.destination))
        .collect();
    let quoted = ours
        .iter()
        .copied()
        .find(|r| is_failed(r))
        .or(ours.first().copied())
        .or(report.recipients.first());
    let noted = |why| (Verdict::Noted(why), quoted);
    // RFC 3464 section 2 and RFC 5321 section 4.5.5: a DSN is sent with the null reverse-path.
    if !envelope_from.is_empty() {
        return noted(NotedReason::NotNullSender);
    }
    // RFC 6522 section 3 / RFC 3464 section 2: a multipart/report with a delivery-status part.
    if !report.is_report || !report.has_status_part {
        return noted(NotedReason::NotADeliveryStatusReport);
    }
    // RFC 3461 section 4.4 / RFC 3464 section 2.2.1: the ENVID comes back as
    // Original-Envelope-Id. Compared in constant time: it is the report's only secret.
    let Some(envid) = report.original_envelope_id.as_deref().map(str::trim) else {
        return noted(NotedReason::EnvelopeIdMissing);
    };
    let request = envelope_id(expected.envid_secret, Mailing::Request);
    let clarification = envelope_id(expected.envid_secret, Mailing::Clarification);
    let mailing = if same_secret(envid, &request) {
        Mailing::Request
    } else if same_secret(envid, &clarification) {
        Mailing::Clarification
    } else {
        return noted(NotedReason::EnvelopeIdMismatch);
    };
    // RFC 3464 section 2.3.1/2.3.2: the group must be about the destination.
    if ours.is_empty() {
        return noted(NotedReason::RecipientMismatch);
    }
    match quoted {
        Some(r) if is_failed(r) => match mailing {
            Mailing::Request => (Verdict::Failed, quoted),
            Mailing::Clarification => noted(NotedReason::ClarificationNotDelivered),
        },
        Some(r) if action_is(r, "delayed") => noted(NotedReason::Delayed),
        _ => noted(NotedReason::NotFailed),
    }
}

fn action_is(r: &RecipientFields, action: &str) -> bool {
    r.action
        .as_deref()
        .is_some_and(|a| a.trim().eq_ignore_ascii_case(action))
}

/// RFC 3464 section 2.3.3: `failed` is the only action that reports non-delivery.
fn is_failed(r: &RecipientFields) -> bool {
    action_is(r, "failed")
}

/// A message at `bounce+<token>@` as evidence and, only when [`judge`] says so, a bounce.
pub fn read_bounce(
    raw: &[u8],
    envelope_from: &str,
    expected: &Expected<'_>,
) -> (Option<Event>, EventData) {
    let report = read_dsn(raw);
    let (verdict, group) = judge(&report, envelope_from, expected);
    let group = group.cloned().unwrap_or_default();
    let reason = match verdict {
        Verdict::Failed => None,
        Verdict::Noted(why) => Some(why),
    };
    let returned_is_ours = report
        .returned_message_id
        .as_ref()
        .is_some_and(|id| expected.sent_message_ids.contains(id));
    let decisive = reason.is_none();
    let bounce = Bounce {
        report: BounceReport::Dsn(Box::new(DsnBounce {
            destination: expected.destination.to_string(),
            decisive: Some(decisive),
            reason: reason.map(|r| r.as_str().to_string()),
            delivery_status_report: Some(report.is_report && report.has_status_part),
            envelope_id_present: Some(report.original_envelope_id.is_some()),
            action: group.action,
            status: group.status,
            diagnostic: group.diagnostic,
            original_recipient: group.original_recipient,
            final_recipient: group.final_recipient,
            remote_mta: group.remote_mta,
            reporting_mta: report.reporting_mta,
            returned_message_id: report.returned_message_id,
            returned_message_is_ours: Some(returned_is_ours),
            received: received_chain(raw),
            // Filled in when the message is stored (`Store::record_answer`).
            arrival: Arrival::default(),
        })),
        applied: Applied::default(),
    };
    let evidence = if decisive {
        EventData::Bounce(bounce)
    } else {
        EventData::BounceNoted(bounce)
    };
    let event = reason.is_none().then(|| Event::Bounce {
        destination: expected.destination.to_string(),
    });
    (event, evidence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// The secret of the sandbox run that produced the fixture.
    const SECRET: &str = "qqck4fejvcefsfhravcbk472na";
    const DEST: &str = "nobody@example.test";
    const REQUEST_ID: &str =
        "<request.caoegxqvydwmfyftlcygq473vy.nobody.example.test@contract.test>";

    /// A real Postfix DSN for certd's request (see `certd/testdata/dsn/README.md`).
    const POSTFIX: &str = include_str!("../testdata/dsn/postfix-3.7-unknown-user.eml");

    /// The Postfix DSN with another (or no) `Original-Envelope-Id` and with or without the
    /// `Original-Recipient` it wrote from ORCPT.
    fn postfix(envid: Option<&str>, orcpt: bool) -> String {
        let envid_line = format!("Original-Envelope-Id: {SECRET}\r\n");
        assert!(POSTFIX.contains(&envid_line));
        let mut raw = POSTFIX.replace(
            &envid_line,
            &envid
                .map(|e| format!("Original-Envelope-Id: {e}\r\n"))
                .unwrap_or_default(),
        );
        if !orcpt {
            raw = raw.replace("Original-Recipient: rfc822;nobody@example.test\r\n", "");
        }
        raw
    }

    fn sent() -> Vec<String> {
        vec![REQUEST_ID.to_string()]
    }

    fn bounce(raw: &str, envelope_from: &str) -> (Option<Event>, Value) {
        let sent = sent();
        let (event, data) = read_bounce(
            raw.as_bytes(),
            envelope_from,
            &Expected {
                destination: DEST,
                envid_secret: SECRET,
                sent_message_ids: &sent,
            },
        );
        (event, data.to_value())
    }

    fn reason(raw: &str, envelope_from: &str) -> Value {
        bounce(raw, envelope_from).1["reason"].clone()
    }

    #[test]
    fn postfix_dsn_with_our_envelope_id_is_a_bounce_with_its_diagnostic() {
        let raw = postfix(Some(SECRET), true);
        let (event, ev) = bounce(&raw, "");
        assert_eq!(
            event,
            Some(Event::Bounce {
                destination: DEST.into()
            })
        );
        assert_eq!(ev["decisive"], true);
        assert_eq!(ev["reason"], Value::Null);
        assert_eq!(ev["status"], "5.1.1");
        assert_eq!(
            ev["diagnostic"],
            "X-Postfix; unknown user: \"nobody@example.test\""
        );
        assert_eq!(ev["final_recipient"], "rfc822; nobody@example.test");
        assert_eq!(ev["original_recipient"], "rfc822;nobody@example.test");
        assert_eq!(ev["reporting_mta"], "dns; mx.example.test");
        // Postfix's own report has no Received: field.
        assert_eq!(ev["received"], json!([]));
        // The returned headers (text/rfc822-headers) name certd's request.
        assert_eq!(ev["returned_message_id"], REQUEST_ID);
        assert_eq!(ev["returned_message_is_ours"], true);
        // The secret itself is not copied into the evidence.
        assert!(!ev.to_string().contains(SECRET), "{ev}");
    }

    #[test]
    fn the_returned_message_may_be_whole() {
        // RET=FULL or an MTA that ignores RET: the request comes back as message/rfc822.
        let raw = postfix(Some(SECRET), false)
            .replace(
                "Content-Type: text/rfc822-headers",
                "Content-Type: message/rfc822",
            )
            .replace(
                "Date: Tue, 01 Dec 2026 12:25:34 +0000\r\n\r\n",
                "Date: Tue, 01 Dec 2026 12:25:34 +0000\r\n\r\nThe contract.\r\n",
            );
        assert!(raw.contains("The contract."));
        let (event, ev) = bounce(&raw, "");
        assert!(event.is_some(), "{ev}");
        assert_eq!(ev["returned_message_is_ours"], true);
        // Final-Recipient alone identifies the destination when ORCPT was not kept.
        assert_eq!(ev["original_recipient"], Value::Null);
    }

    #[test]
    fn a_report_from_an_ordinary_sender_is_only_noted() {
        // The forgery of issue 12: whoever holds the request knows its return path.
        let raw = postfix(Some(SECRET), true);
        let (event, ev) = bounce(&raw, "bob@example.test");
        assert_eq!(event, None);
        assert_eq!(ev["reason"], "not_null_sender");
        assert_eq!(ev["decisive"], false);
        // Still recorded with what it claims.
        assert_eq!(ev["status"], "5.1.1");
    }

    #[test]
    fn without_the_report_structure_it_is_only_noted() {
        let raw = postfix(Some(SECRET), true);
        // No report-type: a plain multipart/mixed that quotes DSN fields.
        let mixed = raw.replace(
            "multipart/report; report-type=delivery-status;",
            "multipart/mixed;",
        );
        assert_eq!(reason(&mixed, ""), "not_a_delivery_status_report");
        // A report of another type (RFC 8098 disposition notification).
        let mdn = raw.replace(
            "report-type=delivery-status",
            "report-type=disposition-notification",
        );
        assert_eq!(reason(&mdn, ""), "not_a_delivery_status_report");
        // The fields in a text part instead of message/delivery-status.
        let text_part = raw.replace(
            "Content-Type: message/delivery-status",
            "Content-Type: text/plain",
        );
        assert_eq!(reason(&text_part, ""), "not_a_delivery_status_report");
        // The fields as plain text, as the old lenient reader accepted them.
        let text = "From: x@y\r\nSubject: bounce\r\n\r\nFinal-Recipient: rfc822; nobody@example.test\r\nAction: failed\r\nStatus: 5.1.1\r\n";
        assert_eq!(reason(text, ""), "not_a_delivery_status_report");
        assert_eq!(reason("garbage", ""), "not_a_delivery_status_report");
        assert_eq!(reason("", ""), "not_a_delivery_status_report");
    }

    #[test]
    fn the_envelope_id_must_be_the_destinations_secret() {
        assert_eq!(
            reason(&postfix(None, true), ""),
            "envelope_id_missing",
            "an MTA that drops ENVID, or a forger"
        );
        assert_eq!(
            reason(&postfix(Some("qqck4fejvcefsfhravcbk472nb"), true), ""),
            "envelope_id_mismatch"
        );
        assert_eq!(reason(&postfix(Some(""), true), ""), "envelope_id_mismatch");
        // A prefix or an extension of the secret is not the secret.
        assert_eq!(
            reason(&postfix(Some(&SECRET[..20]), true), ""),
            "envelope_id_mismatch"
        );
        assert_eq!(
            reason(&postfix(Some(&format!("{SECRET}x")), true), ""),
            "envelope_id_mismatch"
        );
    }

    #[test]
    fn the_failed_recipient_must_be_the_destination() {
        let raw = postfix(Some(SECRET), false).replace(
            "Final-Recipient: rfc822; nobody@example.test",
            "Final-Recipient: rfc822; carol@example.test",
        );
        assert_eq!(reason(&raw, ""), "recipient_mismatch");
        // Compared case-insensitively, with or without angle brackets.
        let raw = postfix(Some(SECRET), false).replace(
            "Final-Recipient: rfc822; nobody@example.test",
            "final-recipient: RFC822; <NoBody@Example.TEST>",
        );
        assert!(bounce(&raw, "").0.is_some());
        // Original-Recipient alone is enough when the final one was rewritten (an alias).
        let raw = postfix(Some(SECRET), true).replace(
            "Final-Recipient: rfc822; nobody@example.test",
            "Final-Recipient: rfc822; nobody@mbox.example.test",
        );
        assert!(bounce(&raw, "").0.is_some());
    }

    #[test]
    fn a_group_for_another_recipient_does_not_decide_for_ours() {
        // Two groups: another recipient failed, ours was delayed.
        let raw = postfix(Some(SECRET), true).replace(
            "Final-Recipient: rfc822; nobody@example.test\r\nOriginal-Recipient: rfc822;nobody@example.test\r\nAction: failed",
            "Final-Recipient: rfc822; carol@example.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\nFinal-Recipient: rfc822; nobody@example.test\r\nAction: delayed",
        );
        assert_eq!(reason(&raw, ""), "delayed");
    }

    #[test]
    fn delayed_and_delivered_reports_are_only_noted() {
        let delayed = postfix(Some(SECRET), true)
            .replace("Action: failed", "Action: delayed")
            .replace("5.1.1", "4.4.1");
        assert_eq!(bounce(&delayed, "").0, None);
        assert_eq!(reason(&delayed, ""), "delayed");
        let delivered = postfix(Some(SECRET), true).replace("Action: failed", "Action: delivered");
        assert_eq!(reason(&delivered, ""), "not_failed");
        let none = postfix(Some(SECRET), true).replace("Action: failed\r\n", "");
        assert_eq!(reason(&none, ""), "not_failed");
    }

    #[test]
    fn a_failed_clarification_is_not_a_failed_request() {
        let raw = postfix(Some(&envelope_id(SECRET, Mailing::Clarification)), true);
        assert_eq!(reason(&raw, ""), "clarification_not_delivered");
    }

    #[test]
    fn our_message_id_alone_does_not_decide() {
        // The counterparty sees the request's Message-ID and return path in its own copy:
        // quoting them proves nothing without the envelope id.
        let (event, ev) = bounce(&postfix(None, true), "");
        assert_eq!(event, None);
        assert_eq!(ev["returned_message_is_ours"], true);
        assert_eq!(ev["reason"], "envelope_id_missing");
    }

    #[test]
    fn field_groups_unfold_and_split_on_blank_lines() {
        let groups = field_groups(
            "Reporting-MTA: dns; a\n\nFinal-Recipient: rfc822; b@c\nDiagnostic-Code: smtp; 550\n  no such user\n \t \nAction: failed\n",
        );
        assert_eq!(groups.len(), 3);
        assert_eq!(
            groups[1],
            [
                ("Final-Recipient".to_string(), "rfc822; b@c".to_string()),
                (
                    "Diagnostic-Code".to_string(),
                    "smtp; 550 no such user".to_string()
                ),
            ]
        );
        assert!(field_groups("").is_empty());
        assert_eq!(typed_address("rfc822;<a@b>"), Some("a@b"));
        assert_eq!(typed_address("no type"), None);
    }

    #[test]
    fn reasons_serialize_as_snake_case() {
        assert_eq!(
            serde_json::to_value(NotedReason::NotADeliveryStatusReport).unwrap(),
            "not_a_delivery_status_report"
        );
    }
}
