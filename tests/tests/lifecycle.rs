//! The email leg of the lifecycle through real Postfix: request, reply, bounce, deadline.

use certmail_e2e::{header, mime_message, transaction, Sandbox, Smtp};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// Submits a contract from alice (SMTP AUTH) naming `subject_destinations`; returns its id.
fn submit(sb: &Sandbox, subject_destinations: &str, text: &str) -> String {
    sb.submit_contract(
        sb.get("CONTRACT_ADDRESS"),
        &format!("{subject_destinations} Service agreement"),
        text,
        &[("annex.pdf", "application/pdf", b"%PDF-1.4 annex")],
    )
}

/// The `n`-th mail in `who`'s maildir whose Subject contains `needle`.
fn mail_with_subject(sb: &Sandbox, who: &str, needle: &str, n: usize) -> Vec<u8> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let found: Vec<Vec<u8>> = certmail_e2e::read_maildir(&sb.maildir(who))
            .into_iter()
            .filter(|m| header(m, "Subject").is_some_and(|s| s.contains(needle)))
            .collect();
        if found.len() > n {
            return found[n].clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no mail #{n} with {needle:?} for {who}; certd log:\n{}",
            sb.log("certd.log")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Bob answers a request as a mail client does: to the Reply-To address, quoting it.
fn answer(sb: &Sandbox, request: &[u8], own_words: &str) -> certmail_e2e::Outcome {
    let reply_to = header(request, "Reply-To").expect("request has a Reply-To");
    let quoted: String = String::from_utf8_lossy(request)
        .replace("\r\n", "\n")
        .split("\n\n")
        .skip(1)
        .collect::<Vec<_>>()
        .join("\n\n")
        .lines()
        .map(|l| format!("> {l}\n"))
        .collect();
    let body = format!("{own_words}\n\nOn Wed, 25 Nov 2026 at 10:00, certmail wrote:\n{quoted}");
    let msg = mime_message("bob@example.test", &reply_to, "Re: contract", &body, &[]);
    let mut s = Smtp::connect(sb.smtp_port());
    let out = transaction(&mut s, "bob@example.test", &[&reply_to], &msg);
    s.quit();
    out
}

#[test]
fn accept_by_email_with_the_whole_contract_quoted() {
    let sb = Sandbox::up("accept");
    let id = submit(
        &sb,
        "bob@example.test",
        "Clause 1: Bob will REJECT nothing.\nClause 2: ACCEPTance is final.",
    );
    let request = mail_with_subject(&sb, "bob", "serial no.", 0);
    let text = String::from_utf8_lossy(&request);
    assert!(
        text.contains("Clause 1"),
        "the request carries the contract text"
    );
    assert!(text.contains("annex.pdf"), "and the original attachment");
    assert!(header(&request, "Return-Path").is_some_and(|r| r.contains("bounce+")));
    let out = answer(&sb, &request, "I accept.");
    assert_eq!(
        out.data.map(|d| d.code),
        Some(250),
        "{}",
        sb.log("certmilter.log")
    );
    let show = sb.wait_for_state(&id, "accepted", WAIT);
    assert_eq!(show["contract"]["state"], "accepted", "{show}");
    let reply = show["events"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["kind"] == "reply"))
        .expect("reply event")
        .clone();
    assert_eq!(reply["data"]["decision"], "accept");
    assert_eq!(reply["data"]["response_text"], "I accept.");
    assert_eq!(reply["data"]["client_addr"], "127.0.0.1");
    // Our own hop is the client address and HELO above; `received` holds earlier hops (none
    // when the counterparty's client talks to this MTA directly).
    assert_eq!(reply["data"]["helo"], "e2e.example.test");
    assert!(reply["data"]["received"].is_array());
    assert!(
        reply["data"]["queue_id"]
            .as_str()
            .is_some_and(|q| !q.is_empty()),
        "{reply}"
    );
    assert!(
        reply["data"]["authentication"]["spf"].is_string(),
        "{reply}"
    );
    assert_eq!(show["chain"]["ok"], true);
    // The customer hears the outcome.
    mail_with_subject(&sb, "alice", "outcome", 0);
}

#[test]
fn reject_and_unclear_then_accept() {
    let sb = Sandbox::up("reject");
    let first = submit(&sb, "bob@example.test", "Contract one.");
    let request = mail_with_subject(&sb, "bob", "serial no. 1", 0);
    assert_eq!(
        answer(&sb, &request, "No acepto, rechazo el contrato.")
            .data
            .map(|d| d.code),
        Some(250)
    );
    assert_eq!(
        sb.wait_for_state(&first, "rejected", WAIT)["contract"]["state"],
        "rejected"
    );

    let second = submit(&sb, "bob@example.test", "Contract two.");
    let request = mail_with_subject(&sb, "bob", "serial no. 2", 0);
    answer(&sb, &request, "What does clause 3 mean?");
    // An unclear answer gets a polite clarification request; the contract keeps waiting.
    let clarification = mail_with_subject(&sb, "bob", "could not read your answer", 0);
    assert_eq!(
        sb.cli_json(&["contracts", "show", &second, "--json"])["contract"]["state"],
        "requested"
    );
    answer(&sb, &clarification, "ACCEPT");
    assert_eq!(
        sb.wait_for_state(&second, "accepted", WAIT)["contract"]["state"],
        "accepted"
    );
    // A late answer to a finished contract is recorded, and changes nothing.
    answer(&sb, &request, "I reject");
    let show = sb.wait_for_state(&second, "accepted", WAIT);
    std::thread::sleep(Duration::from_millis(500));
    let show2 = sb.cli_json(&["contracts", "show", &second, "--json"]);
    assert_eq!(show2["contract"]["state"], "accepted", "{show}");
    assert!(show2["events"]
        .as_array()
        .is_some_and(|e| e.iter().any(|e| e["kind"] == "reply_ignored")));
}

#[test]
fn forged_reply_token_is_refused_at_rcpt() {
    let sb = Sandbox::up("forged");
    submit(&sb, "bob@example.test", "Contract.");
    let mut s = Smtp::connect(sb.smtp_port());
    let msg = mime_message(
        "bob@example.test",
        "reply+aaaaaaaaaaaaaaaaaaaaaaaaaa@contract.test",
        "Re",
        "ACCEPT",
        &[],
    );
    let out = transaction(
        &mut s,
        "bob@example.test",
        &["reply+aaaaaaaaaaaaaaaaaaaaaaaaaa@contract.test"],
        &msg,
    );
    s.quit();
    assert_eq!(out.rcpts[0].status(), "550 5.1.1", "{out:?}");
}

#[test]
fn noex_from_a_real_bounce() {
    let sb = Sandbox::up("noex");
    let id = submit(
        &sb,
        "nobody@example.test",
        "Contract for a mailbox that does not exist.",
    );
    let show = sb.wait_for_state(&id, "not_delivered", WAIT);
    assert_eq!(
        show["contract"]["state"],
        "not_delivered",
        "{}\n{}",
        show,
        sb.log("maillog")
    );
    let bounce = show["events"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["kind"] == "bounce"))
        .expect("bounce event")
        .clone();
    assert_eq!(bounce["data"]["status"], "5.1.1", "{bounce}");
    assert!(bounce["data"]["diagnostic"]
        .as_str()
        .is_some_and(|d| d.contains("nobody@example.test")));
    mail_with_subject(&sb, "alice", "outcome", 0);
}

#[test]
fn noresp_after_a_short_deadline() {
    let sb = Sandbox::up("noresp");
    sb.add_customer_with_deadline("quick", "2s");
    let id = sb.submit_contract(
        "quick@contract.test",
        "carol@example.test Offer",
        "Offer.",
        &[],
    );
    let show = sb.wait_for_state(&id, "unanswered", WAIT);
    assert_eq!(show["contract"]["state"], "unanswered", "{show}");
    assert!(show["events"]
        .as_array()
        .is_some_and(|e| e.iter().any(|e| e["kind"] == "deadline")));
}
