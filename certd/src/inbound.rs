//! Reading what comes back: a counterparty's reply (RFC 5322), turned into evidence and a
//! lifecycle event. Delivery status notifications are read by [`crate::dsn`].

use crate::answer::{classify, own_words, Verdict};
use crate::evidence::event::{self, EmailReply, Reply};
use crate::evidence::{Applied, EventData};
use crate::lifecycle::{Decision, Event, Standing};
use crate::standing::{automatic_signal, screen, ReplyOrigin};
use certmail_protocol::Answer;
use mail_parser::{HeaderName, MessageParser};

/// The trace of a message: its `Received:` fields, newest first, unfolded.
pub fn received_chain(raw: &[u8]) -> Vec<String> {
    header_fields(raw)
        .into_iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("received"))
        .map(|(_, v)| v)
        .collect()
}

/// Unfolded header fields `(name, value)` of the top-level header section, names as written.
/// mail-parser finds the fields and unfolds each value (RFC 5322 section 2.2.3: a line
/// starting with white space continues the field), every line trimmed and the lines joined
/// with one space; RFC 2047 encoded-words are decoded, as for any unstructured text.
fn header_fields(raw: &[u8]) -> Vec<(String, String)> {
    // A non-empty map makes every field use the default parser, here unstructured text:
    // otherwise mail-parser parses each known field by its own grammar (addresses, dates).
    let parser = MessageParser::new()
        .header_text(HeaderName::Received)
        .default_header_text();
    let Some(message) = parser.parse_headers(raw) else {
        return Vec::new();
    };
    message
        .headers()
        .iter()
        .map(|h| {
            // The name as the sender wrote it (mail-parser spells known names its own way),
            // from the field's start to its colon.
            let start = h.offset_field as usize;
            let end = (h.offset_start as usize).saturating_sub(1).max(start);
            let name = raw
                .get(start..end)
                .map(String::from_utf8_lossy)
                .map_or_else(|| h.name.as_str().to_string(), |n| n.trim().to_string());
            let value = h.value.as_text().unwrap_or_default().to_string();
            (name, value)
        })
        .collect()
}

/// Evidence and event from a reply to `destination`'s token: what it says, and whether it
/// may decide ([`crate::standing`]).
pub fn read_reply(a: &Answer, destination: &str) -> (Event, EventData) {
    let raw = &a.raw[..];
    let parsed = MessageParser::default().parse(raw);
    let (from, subject, message_id, date, text) = match &parsed {
        Some(m) => (
            // Every From field, not only the last one mail-parser's `from()` returns: RFC 5322
            // section 3.6 allows one, and two are no single author's answer.
            m.header_values(HeaderName::From)
                .filter_map(|v| v.as_address())
                .flat_map(|list| list.iter())
                .filter_map(|a| a.address())
                .map(str::to_string)
                .collect::<Vec<_>>(),
            m.subject().map(str::to_string),
            m.message_id().map(|id| format!("<{id}>")),
            m.date().map(|d| d.to_rfc3339()),
            crate::answer::reply_text(m),
        ),
        None => (Vec::new(), None, None, None, String::new()),
    };
    let words = own_words(&text);
    let decision = match classify(&words) {
        Verdict::Accept => Decision::Accept,
        Verdict::Reject => Decision::Reject,
        Verdict::Unclear => Decision::Unclear,
    };
    let screening = screen(&ReplyOrigin {
        destination,
        envelope_from: &a.envelope_from,
        from: &from,
        verdict: a.auth.as_ref().map(|x| &x.verdict),
        automatic: automatic_signal(&header_fields(raw), &a.envelope_from, subject.as_deref()),
    });
    let reply = Reply {
        answer: event::ReplyBy::Email(Box::new(EmailReply {
            destination: destination.to_string(),
            from_header: from.first().cloned(),
            subject,
            message_id,
            date,
            received: received_chain(raw),
            response_text: words,
            decision,
            standing: Some(screening.standing),
            authenticity: screening.authenticity.as_ref().map(|x| x.statement()),
            not_decisive_because: screening.reason,
            // Filled in when the message is stored (`Store::record_answer`).
            arrival: event::Arrival::default(),
        })),
        applied: Applied::default(),
    };
    // An answer that may not decide is evidence under its own kind, so that no reader
    // mistakes it for the counterparty's answer.
    let evidence = if screening.standing == Standing::Decisive {
        EventData::Reply(reply)
    } else {
        EventData::ReplyNoted(reply)
    };
    (
        Event::Reply {
            from: destination.to_string(),
            decision,
            standing: screening.standing,
        },
        evidence,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The evidence as the JSON it is stored as.
    fn read_reply(a: &Answer, destination: &str) -> (Event, serde_json::Value) {
        let (event, data) = super::read_reply(a, destination);
        (event, data.to_value())
    }
    use crate::lifecycle::Standing;
    use certmail_protocol::{AuthEvidence, AuthOutcome, AuthVerdict};

    fn answer(raw: &[u8], envelope_from: &str, verdict: AuthVerdict) -> Answer {
        Answer {
            token: "t".into(),
            kind: certmail_protocol::AnswerKind::Reply,
            recipient: "reply+t@contract.test".into(),
            envelope_from: envelope_from.into(),
            queue_id: None,
            client_addr: None,
            client_name: None,
            helo: None,
            auth: Some(AuthEvidence {
                verdict,
                ..AuthEvidence::default()
            }),
            dedupe_key: "k".into(),
            raw: raw.to_vec(),
        }
    }

    fn no_dmarc() -> AuthVerdict {
        AuthVerdict {
            from_domain: Some("example.test".into()),
            dmarc: AuthOutcome::None,
            spf: AuthOutcome::None,
            dkim_pass: vec![],
        }
    }

    const REPLY: &[u8] = b"Received: from a by b; Wed, 25 Nov 2026\r\nFrom: Bob <bob@example.test>\r\nSubject: Re: contract\r\nMessage-ID: <r1@example.test>\r\n\r\nACEPTO\r\n\r\n> Para aceptar responda ACEPTO; para rechazar, RECHAZO\r\n";

    fn standing(raw: &[u8], envelope_from: &str, verdict: AuthVerdict) -> Standing {
        match read_reply(&answer(raw, envelope_from, verdict), "bob@example.test").0 {
            Event::Reply { standing, .. } => standing,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reply_evidence() {
        let (event, ev) = read_reply(
            &answer(REPLY, "bob@example.test", no_dmarc()),
            "bob@example.test",
        );
        assert_eq!(
            event,
            Event::Reply {
                from: "bob@example.test".into(),
                decision: Decision::Accept,
                standing: Standing::Decisive,
            }
        );
        assert_eq!(ev["from_header"], "bob@example.test");
        assert_eq!(ev["message_id"], "<r1@example.test>");
        assert_eq!(ev["response_text"], "ACEPTO");
        assert_eq!(ev["standing"], "decisive");
        assert_eq!(
            ev["authenticity"],
            "no authentication published by the sender's domain example.test: the answer came from the counterparty's address, which its domain neither confirms nor contradicts"
        );
        let (event, _) = read_reply(
            &answer(b"not a message", "bob@example.test", no_dmarc()),
            "bob@example.test",
        );
        assert!(matches!(
            event,
            Event::Reply {
                decision: Decision::Unclear,
                ..
            }
        ));
    }

    #[test]
    fn someone_elses_answer_is_foreign() {
        let mallory = String::from_utf8_lossy(REPLY).replace("bob@", "mallory@");
        assert_eq!(
            standing(mallory.as_bytes(), "mallory@example.test", no_dmarc()),
            Standing::Foreign
        );
        // The From field forged to the destination's, the envelope still someone else's.
        assert_eq!(
            standing(REPLY, "mallory@example.test", no_dmarc()),
            Standing::Foreign
        );
        // Case and angle brackets do not make another mailbox.
        assert_eq!(
            standing(REPLY, "<BOB@Example.TEST>", no_dmarc()),
            Standing::Decisive
        );
        let two = String::from_utf8_lossy(REPLY).replace(
            "From: Bob <bob@example.test>",
            "From: bob@example.test, mallory@example.test",
        );
        assert_eq!(
            standing(two.as_bytes(), "bob@example.test", no_dmarc()),
            Standing::Foreign
        );
    }

    #[test]
    fn a_disowned_answer_does_not_decide() {
        let fail = AuthVerdict {
            dmarc: AuthOutcome::Fail,
            ..no_dmarc()
        };
        assert_eq!(
            standing(REPLY, "bob@example.test", fail),
            Standing::Unauthenticated
        );
        let spf_fail = AuthVerdict {
            spf: AuthOutcome::Fail,
            ..no_dmarc()
        };
        assert_eq!(
            standing(REPLY, "bob@example.test", spf_fail.clone()),
            Standing::Unauthenticated
        );
        // A valid aligned DKIM signature outweighs a broken SPF path (forwarding).
        let signed = AuthVerdict {
            dkim_pass: vec!["example.test".into()],
            ..spf_fail
        };
        assert_eq!(
            standing(REPLY, "bob@example.test", signed),
            Standing::Decisive
        );
        let pass = AuthVerdict {
            dmarc: AuthOutcome::Pass,
            dkim_pass: vec!["example.test".into()],
            ..no_dmarc()
        };
        let (_, ev) = read_reply(&answer(REPLY, "bob@example.test", pass), "bob@example.test");
        assert_eq!(
            ev["authenticity"],
            "DKIM-signed and DMARC-aligned by example.test"
        );
        let mut unreported = answer(REPLY, "bob@example.test", no_dmarc());
        unreported.auth = None;
        assert!(matches!(
            read_reply(&unreported, "bob@example.test").0,
            Event::Reply {
                standing: Standing::Unauthenticated,
                ..
            }
        ));
    }

    /// Found by the `reply` fuzz target: a DMARC pass for another domain than the destination's
    /// (certmilter evaluated another From address than the one certd read) made the answer
    /// decide, "DMARC-aligned" with the destination's domain.
    #[test]
    fn authentication_of_another_from_domain_does_not_decide() {
        let elsewhere = AuthVerdict {
            from_domain: Some("evil.test".into()),
            dmarc: AuthOutcome::Pass,
            dkim_pass: vec!["evil.test".into()],
            ..no_dmarc()
        };
        assert_eq!(
            standing(REPLY, "bob@example.test", elsewhere.clone()),
            Standing::Unauthenticated
        );
        // Nor does "no DMARC record" for another domain say anything about the destination's.
        let no_record_elsewhere = AuthVerdict {
            dmarc: AuthOutcome::None,
            ..elsewhere
        };
        assert_eq!(
            standing(REPLY, "bob@example.test", no_record_elsewhere),
            Standing::Unauthenticated
        );
        // The same domain in another case, or with a root dot, is the destination's.
        let same = AuthVerdict {
            from_domain: Some("Example.TEST.".into()),
            dmarc: AuthOutcome::Pass,
            ..no_dmarc()
        };
        assert_eq!(
            standing(REPLY, "bob@example.test", same),
            Standing::Decisive
        );
        // A pass that names no domain (no certmilter sends one) speaks for none.
        let nameless = AuthVerdict {
            from_domain: None,
            dmarc: AuthOutcome::Pass,
            ..no_dmarc()
        };
        assert_eq!(
            standing(REPLY, "bob@example.test", nameless),
            Standing::Unauthenticated
        );
        // certmilter names domains by their A-labels; a destination may be written in Unicode.
        let idn = String::from_utf8_lossy(REPLY).replace("bob@example.test", "bob@例子.test");
        let a_label = AuthVerdict {
            from_domain: Some("xn--fsqu00a.test".into()),
            dmarc: AuthOutcome::Pass,
            spf: AuthOutcome::None,
            dkim_pass: vec!["xn--fsqu00a.test".into()],
        };
        let (event, ev) = read_reply(
            &answer(idn.as_bytes(), "bob@例子.test", a_label),
            "bob@例子.test",
        );
        assert!(
            matches!(
                event,
                Event::Reply {
                    standing: Standing::Decisive,
                    ..
                }
            ),
            "{ev}"
        );
        assert_eq!(
            ev["authenticity"],
            "DKIM-signed and DMARC-aligned by 例子.test"
        );
    }

    /// Found by the `reply` fuzz target: with two From fields, mail-parser reads the last one
    /// while DMARC evaluates no single author, so a forged second `From: <destination>` after
    /// the sender's own decided.
    #[test]
    fn two_from_fields_do_not_decide() {
        let text = String::from_utf8_lossy(REPLY);
        for extra in ["From: mallory@evil.test\r\n", "From: bob@example.test\r\n"] {
            let two = format!("{extra}{text}");
            assert_eq!(
                standing(two.as_bytes(), "bob@example.test", no_dmarc()),
                Standing::Foreign,
                "{extra}"
            );
        }
    }

    #[test]
    fn automatic_answers_are_recognised() {
        let text = String::from_utf8_lossy(REPLY).to_string();
        for (header, expected) in [
            ("Auto-Submitted: auto-replied\r\n", Standing::Automatic),
            (
                "Auto-Submitted: Auto-Generated; owner-email=x\r\n",
                Standing::Automatic,
            ),
            ("Auto-Submitted: no\r\n", Standing::Decisive),
            ("X-Autoreply: yes\r\n", Standing::Automatic),
            ("Precedence: bulk\r\n", Standing::Automatic),
            ("List-Id: <team.example.test>\r\n", Standing::Automatic),
        ] {
            let raw = format!("{header}{text}");
            assert_eq!(
                standing(raw.as_bytes(), "bob@example.test", no_dmarc()),
                expected,
                "{header}"
            );
        }
        for subject in [
            "Automatic reply: contract",
            "Respuesta automática: contrato",
            "自動応答: 契約",
        ] {
            let raw = text.replace("Subject: Re: contract", &format!("Subject: {subject}"));
            assert_eq!(
                standing(raw.as_bytes(), "bob@example.test", no_dmarc()),
                Standing::Automatic,
                "{subject}"
            );
        }
        assert_eq!(standing(REPLY, "", no_dmarc()), Standing::Automatic);
    }

    #[test]
    fn folded_fields_are_unfolded_and_keep_their_names() {
        // RFC 5322 section 2.2.3: a line starting with white space continues the field.
        let raw = b"Received: from mx.example.test (mx.example.test [192.0.2.7])\r\n\tby mail.certmail.test\r\n        with ESMTPS id 4QX1;\r\n Wed, 25 Nov 2026 06:50:00 +0000\r\nReceived: from [192.0.2.44] by mx.example.test\r\nauto-SUBMITTED:\r\n  auto-replied\r\nFrom: Bob <bob@example.test>\r\nSubject: Re: contract\r\n\r\nACEPTO\r\nReceived: not a header\r\n";
        assert_eq!(
            received_chain(raw),
            [
                "from mx.example.test (mx.example.test [192.0.2.7]) by mail.certmail.test with ESMTPS id 4QX1; Wed, 25 Nov 2026 06:50:00 +0000",
                "from [192.0.2.44] by mx.example.test",
            ]
        );
        let fields = header_fields(raw);
        assert_eq!(fields[2], ("auto-SUBMITTED".into(), "auto-replied".into()));
        let (_, ev) = read_reply(
            &answer(raw, "bob@example.test", no_dmarc()),
            "bob@example.test",
        );
        assert_eq!(ev["standing"], "automatic");
        assert_eq!(ev["not_decisive_because"], "auto-SUBMITTED: auto-replied");
        // LF-only line ends, and no body at all.
        let raw = b"Received: from a\n by b\nList-Id: <team.example.test>\n";
        assert_eq!(received_chain(raw), ["from a by b"]);
        assert_eq!(header_fields(raw).len(), 2);
        assert!(header_fields(b"").is_empty());
    }
}
