//! The operator's mail path (postfix/README.md): ordinary mail through the general MX and the
//! submission service never meets certmilter, and contract mail reaches it only on the contract
//! listeners, held by Postfix's queue while certmail is down and certified once it is back.

use certmail_e2e::{header, mime_message, read_maildir, Sandbox};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);
/// "At once": Postfix's delivery of a local message takes well under a second here.
const AT_ONCE: Duration = Duration::from_secs(5);

/// Waits (bounded) for a mail in `who`'s maildir whose Subject contains `needle`.
fn mail_with_subject(sb: &Sandbox, who: &str, needle: &str, timeout: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    loop {
        let found = read_maildir(&sb.maildir(who))
            .into_iter()
            .find(|m| header(m, "Subject").is_some_and(|s| s.contains(needle)));
        if found.is_some() || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The bounce (Postfix's DSN) in `who`'s maildir that quotes `needle`, as text.
fn bounce_quoting(sb: &Sandbox, who: &str, needle: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(text) = read_maildir(&sb.maildir(who))
            .iter()
            .map(|m| String::from_utf8_lossy(m).replace("\r\n", "\n"))
            .find(|t| t.contains("Undelivered Mail Returned to Sender") && t.contains(needle))
        {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "no bounce quoting {needle:?} for {who}; certmilter log:\n{}",
            sb.log("certmilter.log")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Ordinary mail in (general MX) and out (submission service, SMTP AUTH), tagged `tag`:
/// both accepted with 250 and in carol's maildir within [`AT_ONCE`].
fn ordinary_mail_flows(sb: &Sandbox, tag: &str) {
    let inbound = mime_message(
        "someone@example.org",
        "carol@example.test",
        &format!("inbound {tag}"),
        "Hello Carol.",
        &[],
    );
    let out = sb.send_via(
        "MX_PORT",
        None,
        "someone@example.org",
        &["carol@example.test"],
        &inbound,
    );
    assert_eq!(
        out.data.map(|d| d.code),
        Some(250),
        "general MX: {:?}",
        out.rcpts
    );
    let outbound = mime_message(
        "bob@example.test",
        "carol@example.test",
        &format!("outbound {tag}"),
        "Hi.",
        &[],
    );
    let out = sb.send_via(
        "SUBMISSION_PORT",
        Some("bob"),
        "bob@example.test",
        &["carol@example.test"],
        &outbound,
    );
    assert_eq!(
        out.data.map(|d| d.code),
        Some(250),
        "submission: {:?}",
        out.rcpts
    );
    for needle in [format!("inbound {tag}"), format!("outbound {tag}")] {
        assert!(
            mail_with_subject(sb, "carol", &needle, AT_ONCE).is_some(),
            "{needle:?} not delivered at once:\n{}",
            sb.log("maillog")
        );
    }
}

#[test]
fn ordinary_mail_never_meets_certmilter() {
    let sb = Sandbox::up("mailpath-ordinary");
    ordinary_mail_flows(&sb, "with certmail up");
    // Neither listener opened a milter connection: with certmilter and certd gone, the same
    // mail still flows, while the contract listener (the old layout's every listener) defers.
    sb.service("stop", "certmilter");
    sb.service("stop", "certd");
    ordinary_mail_flows(&sb, "with certmail down");
    let msg = mime_message(
        "someone@example.org",
        "carol@example.test",
        "via the contract listener",
        "Hi.",
        &[],
    );
    let out = sb.send_via(
        "SMTP_PORT",
        None,
        "someone@example.org",
        &["carol@example.test"],
        &msg,
    );
    let refused = std::iter::once(&out.mail)
        .chain(&out.rcpts)
        .chain(&out.data)
        .any(|r| r.code == 451);
    assert!(refused, "the milter listener must tempfail: {out:?}");
    let maillog = sb.log("maillog");
    for service in ["postfix/mx/smtpd", "postfix/submission/smtpd"] {
        assert!(
            !maillog
                .lines()
                .any(|l| l.contains(service) && l.contains("Milter")),
            "{service} talked to a milter:\n{maillog}"
        );
    }
}

#[test]
fn contracts_wait_out_an_outage_and_are_certified_once() {
    let sb = Sandbox::up("mailpath-outage");
    sb.add_customer_with_deadline("quick", "2s");
    // Contract A, through the submission service, is requested from bob before the outage.
    let a = mime_message(
        "alice@example.test",
        "alice@contract.test",
        "bob@example.test Sale of my bicycle",
        "I sell my bicycle to Bob for 100 EUR.",
        &[],
    );
    let out = sb.send_via(
        "SUBMISSION_PORT",
        Some("alice"),
        "alice@example.test",
        &["alice@contract.test"],
        &a,
    );
    assert_eq!(out.data.map(|d| d.code), Some(250));
    let request = mail_with_subject(&sb, "bob", "serial no.", WAIT).expect("bob's request");
    let reply_to = header(&request, "Reply-To").expect("request has a Reply-To");

    sb.service("stop", "certmilter");
    sb.service("stop", "certd");
    ordinary_mail_flows(&sb, "during the outage");
    // Meanwhile: contract B (deadline 2 s) submitted, and bob's answer to A sent, both through
    // the submission service: Postfix queues them, the relay defers them.
    let b = mime_message(
        "alice@example.test",
        "quick@contract.test",
        "carol@example.test Offer",
        "Offer.",
        &[],
    );
    let out = sb.send_via(
        "SUBMISSION_PORT",
        Some("alice"),
        "alice@example.test",
        &["quick@contract.test"],
        &b,
    );
    assert_eq!(out.data.map(|d| d.code), Some(250));
    let answer = mime_message(
        "bob@example.test",
        &reply_to,
        "Re: contract",
        "I accept.",
        &[],
    );
    let out = sb.send_via(
        "SUBMISSION_PORT",
        Some("bob"),
        "bob@example.test",
        &[&reply_to],
        &answer,
    );
    assert_eq!(out.data.map(|d| d.code), Some(250));
    // Held, not lost and not delivered: Postfix tried the relay and deferred both.
    let deadline = Instant::now() + WAIT;
    while sb
        .log("maillog")
        .lines()
        .filter(|l| l.contains("postfix/certmail-transport/smtp") && l.contains("status=deferred"))
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "{}", sb.log("maillog"));
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        sb.certificate_names("alice").is_empty(),
        "nothing is certified while certmail is down"
    );

    sb.service("start", "certd");
    sb.service("start", "certmilter");
    let deadline = Instant::now() + Duration::from_secs(60);
    while sb.certificate_names("alice").len() < 2 {
        assert!(
            Instant::now() < deadline,
            "certificates {:?}; certd log:\n{}",
            sb.certificate_names("alice"),
            sb.log("certd.log")
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let contracts = sb.contracts();
    assert_eq!(contracts.len(), 2, "{contracts:?}");
    let mut states: Vec<&str> = contracts
        .iter()
        .map(|c| c["state"].as_str().unwrap_or_default())
        .collect();
    states.sort_unstable();
    assert_eq!(states, ["accepted", "unanswered"], "{contracts:?}");
    // Exactly once: a few more queue runs (1-2 s here) bring no second certificate.
    std::thread::sleep(Duration::from_secs(5));
    let mut names = sb.certificate_names("alice");
    names.sort();
    assert_eq!(names, ["certificate-1.pdf", "certificate-2.pdf"]);
    assert_eq!(sb.contracts().len(), 2);
}

#[test]
fn a_bad_submission_through_the_submission_service_bounces_with_the_reason() {
    let sb = Sandbox::up("mailpath-bad");
    let bad = mime_message(
        "alice@example.test",
        "alice@contract.test",
        "no counterparty here",
        "Text.",
        &[],
    );
    let out = sb.send_via(
        "SUBMISSION_PORT",
        Some("alice"),
        "alice@example.test",
        &["alice@contract.test"],
        &bad,
    );
    assert_eq!(
        out.data.map(|d| d.code),
        Some(250),
        "queued by the submission service"
    );
    let dsn = bounce_quoting(&sb, "alice", "550 5.1.3");
    assert!(dsn.contains("The Subject"), "{dsn}");

    // Identity comes from the submission service's own Received header only: bob, logged in as
    // bob, cannot pass for alice with a header he wrote himself.
    let forged = [
        b"Received: from laptop (laptop [192.0.2.7])\r\n\t(Authenticated sender: alice)\r\n\tby mx.example.test (Postfix) with ESMTPSA id 4FORGED\r\n".as_slice(),
        &mime_message(
            "bob@example.test",
            "alice@contract.test",
            "carol@example.test Forged",
            "Text.",
            &[],
        ),
    ]
    .concat();
    let out = sb.send_via(
        "SUBMISSION_PORT",
        Some("bob"),
        "bob@example.test",
        &["alice@contract.test"],
        &forged,
    );
    assert_eq!(out.data.map(|d| d.code), Some(250));
    let dsn = bounce_quoting(&sb, "bob", "550 5.7.1");
    assert!(
        dsn.contains("SMTP AUTH user \"bob\" may not submit contracts"),
        "{dsn}"
    );
    assert!(sb.contracts().is_empty(), "{:?}", sb.contracts());

    // The same customer, logged in, is certified through the same path.
    let good = mime_message(
        "alice@example.test",
        "alice@contract.test",
        "bob@example.test Sale",
        "Text.",
        &[],
    );
    let out = sb.send_via(
        "SUBMISSION_PORT",
        Some("alice"),
        "alice@example.test",
        &["alice@contract.test"],
        &good,
    );
    assert_eq!(out.data.map(|d| d.code), Some(250));
    assert!(mail_with_subject(&sb, "bob", "serial no.", WAIT).is_some());
    let contracts = sb.contracts();
    assert_eq!(contracts.len(), 1);
    let show = sb.cli_json(&[
        "contracts",
        "show",
        contracts[0]["id"].as_str().unwrap_or_default(),
        "--json",
    ]);
    assert_eq!(show["contract"]["auth_identity"], "alice", "{show}");
}
