//! The contract relay: customers' submissions that this server's own submission service passed on
//! over loopback, whose SMTP AUTH login only that service's `Received` header still records.
//!
//! Postfix's submission `smtpd` (with `smtpd_sasl_authenticated_header = yes`) prepends
//! `Received: from … (Authenticated sender: LOGIN) by … with ESMTPSA id …` above everything the
//! client wrote, and the relay listener prepends its own above that. So the first `Received`
//! below the relay's own was written by this server, never by the customer: its login is trusted
//! and no other header is looked at. XFORWARD carries no login and Postfix's smtp(8) never sends
//! XCLIENT (postfix.org XFORWARD_README, XCLIENT_README), hence the header.

/// Postfix's comment for the SASL login in its `Received` header (smtpd.c, `smtpd_sasl_authenticated_header`).
const AUTHENTICATED_SENDER: &str = "(Authenticated sender: ";

/// What the submission service's `Received` header says about the customer's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayedSession {
    /// The SASL login, if the customer authenticated on the submission service.
    pub login: Option<String>,
    /// The `with` protocol of that hop (RFC 3848: `ESMTPA`, `ESMTPSA`), standing in for the SASL
    /// mechanism, which Postfix does not record in the header.
    pub protocol: Option<String>,
}

/// The session of the hop before the relay, read from the header block of `raw`.
///
/// `relay_queue_id` is the relay's own queue id (milter macro `i`): a leading `Received` header
/// naming it (`… id QUEUEID`) is the relay's own and is skipped, whether or not Postfix showed it
/// to the milter. `None` when there is no `Received` header below it (nothing to trust).
pub fn relayed_session(raw: &[u8], relay_queue_id: Option<&str>) -> Option<RelayedSession> {
    let mut received = header_fields(raw)
        .filter(|(name, _)| name.eq_ignore_ascii_case("Received"))
        .map(|(_, value)| value);
    let first = received.next()?;
    let hop = match relay_queue_id {
        Some(qid) if names_queue_id(&first, qid) => received.next()?,
        _ => first,
    };
    Some(RelayedSession {
        login: authenticated_sender(&hop),
        protocol: with_protocol(&hop),
    })
}

/// `LOGIN` of `(Authenticated sender: LOGIN)`, the login Postfix wrote (comment-sanitised).
fn authenticated_sender(received: &str) -> Option<String> {
    let start = received.find(AUTHENTICATED_SENDER)? + AUTHENTICATED_SENDER.len();
    let rest = &received[start..];
    let login = &rest[..rest.find(')')?];
    (!login.is_empty()).then(|| login.to_string())
}

/// The word after `with` (RFC 5321 4.4, the `With` clause of a `Received` trace field).
fn with_protocol(received: &str) -> Option<String> {
    let mut words = received.split_ascii_whitespace();
    words.find(|w| w.eq_ignore_ascii_case("with"))?;
    words
        .next()
        .map(|w| w.trim_end_matches(';').to_string())
        .filter(|w| !w.is_empty())
}

/// True when the trace field says `id QUEUEID` (Postfix writes `id QUEUEID;` or `id QUEUEID`).
fn names_queue_id(received: &str, qid: &str) -> bool {
    let mut words = received.split_ascii_whitespace();
    while let Some(w) = words.next() {
        if w.eq_ignore_ascii_case("id") {
            if let Some(id) = words.next() {
                if id.trim_end_matches(';') == qid {
                    return true;
                }
            }
        }
    }
    false
}

/// The header fields of `raw` in order, unfolded (RFC 5322 2.2.3), up to the first empty line.
fn header_fields(raw: &[u8]) -> impl Iterator<Item = (String, String)> + '_ {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |p| p + 2);
    let text = String::from_utf8_lossy(&raw[..end]);
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.split('\n').map(|l| l.trim_end_matches('\r')) {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    fields.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELAY: &str = "Received: from mx.example.test (localhost [127.0.0.1])\r\n\tby mx.example.test (Postfix) with ESMTP id 4RELAY01\r\n\tfor <alice@contract.test>; Tue,  1 Dec 2026 21:00:00 +0000 (UTC)\r\n";
    const SUBMISSION: &str = "Received: from [127.0.0.1] (localhost [127.0.0.1])\r\n\t(Authenticated sender: alice)\r\n\tby mx.example.test (Postfix) with ESMTPSA id 4SUBMIT01\r\n\tfor <alice@contract.test>; Tue,  1 Dec 2026 20:59:59 +0000 (UTC)\r\n";
    const FORGED: &str = "Received: from evil (Authenticated sender: bob)\r\n\tby mx.example.test (Postfix) with ESMTPSA id 4FORGED\r\n";

    fn msg(headers: &[&str]) -> Vec<u8> {
        let mut m = headers.concat().into_bytes();
        m.extend_from_slice(b"Subject: x\r\n\r\nReceived: (Authenticated sender: body)\r\n");
        m
    }

    #[test]
    fn login_of_the_submission_hop_below_the_relays_own_header() {
        let s = relayed_session(&msg(&[RELAY, SUBMISSION, FORGED]), Some("4RELAY01"));
        assert_eq!(
            s,
            Some(RelayedSession {
                login: Some("alice".into()),
                protocol: Some("ESMTPSA".into())
            })
        );
        // The relay's own header not shown to the milter: the first one is the submission's.
        let s = relayed_session(&msg(&[SUBMISSION, FORGED]), Some("4RELAY01"));
        assert_eq!(s.and_then(|s| s.login), Some("alice".into()));
    }

    #[test]
    fn a_header_the_customer_wrote_is_never_the_identity() {
        // Unauthenticated hop (e.g. the general MX) above a forged header: no login.
        let mx = "Received: from client.example (client [192.0.2.1])\r\n\tby mx.example.test (Postfix) with ESMTP id 4MX01;\r\n";
        let s = relayed_session(&msg(&[RELAY, mx, FORGED]), Some("4RELAY01"));
        assert_eq!(
            s,
            Some(RelayedSession {
                login: None,
                protocol: Some("ESMTP".into())
            })
        );
        // Only the relay's own header: nothing below it to trust, even in the body.
        assert_eq!(relayed_session(&msg(&[RELAY]), Some("4RELAY01")), None);
        assert_eq!(relayed_session(b"Subject: x\r\n\r\n", None), None);
    }
}
