//! Who may decide, through real Postfix: only the destination's own mailbox; answers from
//! another mailbox and automatic answers are recorded, never decide, and never loop.

use certmail_e2e::{header, mime_message, transaction, Sandbox, Smtp};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

/// The mails in `who`'s maildir whose Subject contains `needle`.
fn mails_with_subject(sb: &Sandbox, who: &str, needle: &str) -> Vec<Vec<u8>> {
    certmail_e2e::read_maildir(&sb.maildir(who))
        .into_iter()
        .filter(|m| header(m, "Subject").is_some_and(|s| s.contains(needle)))
        .collect()
}

fn wait_for_mail_with_subject(sb: &Sandbox, who: &str, needle: &str, n: usize) -> Vec<u8> {
    let deadline = Instant::now() + WAIT;
    loop {
        let found = mails_with_subject(sb, who, needle);
        if found.len() > n {
            return found[n].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no mail #{n} with {needle:?} for {who}; certd log:\n{}",
            sb.log("certd.log")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Submits a contract for bob and returns its id and the request bob received.
fn contract_for_bob(sb: &Sandbox) -> (String, Vec<u8>) {
    let id = sb.submit_contract(
        sb.get("CONTRACT_ADDRESS"),
        "bob@example.test Service agreement",
        "Clause 1: services.",
        &[],
    );
    let request = wait_for_mail_with_subject(sb, "bob", "serial no.", 0);
    (id, request)
}

/// Sends `message` with envelope sender `envelope_from` to the request's Reply-To address.
fn send_to_reply_address(sb: &Sandbox, request: &[u8], envelope_from: &str, message: &[u8]) {
    let reply_to = header(request, "Reply-To").expect("request has a Reply-To");
    let mut s = Smtp::connect(sb.smtp_port());
    let out = transaction(&mut s, envelope_from, &[&reply_to], message);
    s.quit();
    assert_eq!(
        out.data.map(|d| d.code),
        Some(250),
        "the answer is stored (as evidence) whoever sent it; certmilter log:\n{}",
        sb.log("certmilter.log")
    );
}

fn events_of_kind(sb: &Sandbox, id: &str, kind: &str) -> Vec<serde_json::Value> {
    sb.cli_json(&["contracts", "show", id, "--json"])["events"]
        .as_array()
        .map(|e| e.iter().filter(|e| e["kind"] == kind).cloned().collect())
        .unwrap_or_default()
}

fn wait_for_event(sb: &Sandbox, id: &str, kind: &str, n: usize) -> serde_json::Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let found = events_of_kind(sb, id, kind);
        if found.len() > n {
            return found[n].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no event #{n} of kind {kind} on {id}; certd log:\n{}",
            sb.log("certd.log")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn someone_elses_answer_never_decides() {
    let sb = Sandbox::up("foreign-answer");
    let (id, request) = contract_for_bob(&sb);
    let reply_to = header(&request, "Reply-To").expect("Reply-To");

    // Carol holds the request (forwarded to her) and accepts from her own mailbox.
    let carol = mime_message(
        "carol@example.test",
        &reply_to,
        "Re: contract",
        "I accept.",
        &[],
    );
    send_to_reply_address(&sb, &request, "carol@example.test", &carol);
    let noted = wait_for_event(&sb, &id, "reply_noted", 0);
    assert_eq!(noted["data"]["standing"], "foreign", "{noted}");
    assert_eq!(noted["data"]["decision"], "accept", "{noted}");
    assert_eq!(noted["data"]["state"], "requested", "{noted}");

    // The same with bob's address in From: but carol's envelope: still not bob's mailbox.
    let forged = mime_message(
        "bob@example.test",
        &reply_to,
        "Re: contract",
        "I accept.",
        &[],
    );
    send_to_reply_address(&sb, &request, "carol@example.test", &forged);
    let noted = wait_for_event(&sb, &id, "reply_noted", 1);
    assert_eq!(noted["data"]["standing"], "foreign", "{noted}");

    // The destination, never the other sender, is told how to answer.
    let help = wait_for_mail_with_subject(&sb, "bob", "could not read your answer", 0);
    assert!(
        String::from_utf8_lossy(&help).contains("another mailbox"),
        "the clarification says why"
    );
    assert!(
        mails_with_subject(&sb, "carol", "serial no.").is_empty(),
        "carol gets nothing from certmail"
    );
    assert_eq!(
        sb.cli_json(&["contracts", "show", &id, "--json"])["contract"]["state"],
        "requested"
    );

    // Bob's own answer decides, and the certificate names him and how he was authenticated.
    let bob = mime_message(
        "bob@example.test",
        &reply_to,
        "Re: contract",
        "I accept.",
        &[],
    );
    send_to_reply_address(&sb, &request, "bob@example.test", &bob);
    let show = sb.wait_for_state(&id, "accepted", WAIT);
    let reply = events_of_kind(&sb, &id, "reply")
        .pop()
        .expect("the deciding reply");
    assert_eq!(reply["data"]["from_header"], "bob@example.test", "{show}");
    assert_eq!(reply["data"]["standing"], "decisive", "{reply}");
    assert!(
        reply["data"]["authenticity"].as_str().is_some_and(
            |a| a.contains("no authentication published by the sender's domain example.test")
        ),
        "{reply}"
    );
}

#[test]
fn auto_responders_are_recorded_and_never_answered() {
    let sb = Sandbox::up("auto-responder");
    let (id, request) = contract_for_bob(&sb);
    let reply_to = header(&request, "Reply-To").expect("Reply-To");
    assert!(
        header(&request, "Auto-Submitted").is_some_and(|v| v.starts_with("auto-generated")),
        "certmail marks its own mail (RFC 3834)"
    );

    // Bob's vacation responder answers three times (as a naive one would to each mail).
    for n in 0..3 {
        let mut vacation = b"Auto-Submitted: auto-replied\r\n".to_vec();
        vacation.extend(mime_message(
            "bob@example.test",
            &reply_to,
            "Out of office: contract",
            "I am away until Monday and will answer your message then.",
            &[],
        ));
        send_to_reply_address(&sb, &request, "bob@example.test", &vacation);
        let noted = wait_for_event(&sb, &id, "reply_noted", n);
        assert_eq!(noted["data"]["standing"], "automatic", "{noted}");
    }
    // Unclear answers from bob himself get clarifications, but only a bounded number.
    for n in 0..5 {
        let unclear = mime_message(
            "bob@example.test",
            &reply_to,
            "Re: contract",
            "What does clause 3 mean?",
            &[],
        );
        send_to_reply_address(&sb, &request, "bob@example.test", &unclear);
        wait_for_event(&sb, &id, "reply", n);
    }
    // Every clarification queued is mailed: wait for the third, then make sure no fourth.
    wait_for_mail_with_subject(&sb, "bob", "could not read your answer", 2);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        mails_with_subject(&sb, "bob", "could not read your answer").len(),
        3,
        "three clarifications at most, none for the automatic answers"
    );
    assert_eq!(
        sb.cli_json(&["contracts", "show", &id, "--json"])["contract"]["state"],
        "requested"
    );
}
