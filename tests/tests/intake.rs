//! Contract intake through a real Postfix with certmilter and certd (issue: intake).
//! Each test starts its own sandbox, so they run in parallel without sharing state.

use certmail_e2e::{mime_message, noise, rand_u64, sha256_hex, transaction, Sandbox, Smtp};
use std::time::Duration;

fn authed(sb: &Sandbox, user: &str) -> Smtp {
    let mut s = Smtp::connect(sb.smtp_port());
    let r = s.auth(user, sb.get("CUSTOMER_PASSWORD"));
    assert_eq!(r.code, 235, "AUTH as {user}: {r:?}");
    s
}

#[test]
fn authenticated_submission_with_attachments_is_stored_with_hashes() {
    let sb = Sandbox::up("attachments");
    let pdf = noise(40_000);
    let png = noise(3_000);
    let text = "Contrato de arrendamiento.\nEl arrendatario pagará 900 € al mes.\n";
    let msg = mime_message(
        sb.get("CUSTOMER_ADDRESS"),
        sb.get("CONTRACT_ADDRESS"),
        "bob@example.test +34 600 111 222 Alquiler piso Calle Mayor",
        text,
        &[
            ("contrato.pdf", "application/pdf", &pdf),
            ("plano.png", "image/png", &png),
        ],
    );
    let mut s = authed(&sb, sb.get("CUSTOMER_USER"));
    let out = transaction(
        &mut s,
        sb.get("CUSTOMER_ADDRESS"),
        &[sb.get("CONTRACT_ADDRESS")],
        &msg,
    );
    s.quit();
    assert_eq!(out.rcpts[0].code, 250, "{out:?}");
    let data = out.data.expect("DATA sent");
    assert_eq!(data.code, 250, "{data:?}\n{}", sb.log("certmilter.log"));

    let list = sb.contracts();
    assert_eq!(list.len(), 1, "{list:?}");
    let id = list[0]["id"].as_str().expect("id").to_string();
    assert_eq!(list[0]["serial"], 1);
    let show = sb.cli_json(&["contracts", "show", &id, "--json"]);
    let c = &show["contract"];
    assert_eq!(
        c["destinations"],
        serde_json::json!(["bob@example.test", "+34600111222"])
    );
    assert_eq!(c["subject_text"], "Alquiler piso Calle Mayor");
    assert_eq!(c["auth_method"], "smtp-auth");
    assert_eq!(c["auth_identity"], sb.get("CUSTOMER_USER"));
    assert!(
        c["body_text"]
            .as_str()
            .unwrap_or("")
            .contains("pagará 900 €"),
        "{c}"
    );
    let atts = c["attachments"].as_array().expect("attachments");
    assert_eq!(atts.len(), 2, "{atts:?}");
    assert_eq!(atts[0]["filename"], "contrato.pdf");
    assert_eq!(atts[0]["size"], pdf.len());
    assert_eq!(atts[0]["sha256"], sha256_hex(&pdf));
    assert_eq!(atts[1]["sha256"], sha256_hex(&png));
    assert_eq!(show["chain"]["ok"], true);
    assert!(c["queue_id"].as_str().is_some_and(|q| !q.is_empty()), "{c}");

    // The raw original is in SQLite and its hash is the one recorded.
    let db = rusqlite::Connection::open(sb.get("CERTD_DB")).expect("open db");
    let raw: Vec<u8> = db
        .query_row(
            "SELECT b.data FROM contracts c JOIN blobs b ON b.sha256 = c.raw_sha256 WHERE c.id = ?1",
            [&id],
            |r| r.get(0),
        )
        .expect("raw stored");
    assert_eq!(sha256_hex(&raw), c["raw_sha256"].as_str().unwrap_or(""));
    assert!(raw.windows(24).any(|w| w == b"Alquiler piso Calle Mayo"));

    // The customer gets a receipt with the serial number.
    let receipts = sb.wait_for_mail("alice", 1, Duration::from_secs(20));
    assert_eq!(receipts.len(), 1, "{}", sb.log("certd.log"));
    let receipt = String::from_utf8_lossy(&receipts[0]);
    assert!(receipt.contains(&id), "{receipt}");
    assert!(receipt.contains(&sha256_hex(&pdf)), "{receipt}");

    // The original reaches the archive with the contract id header, nobody else.
    let archived = sb.wait_for_mail("archive", 1, Duration::from_secs(20));
    assert_eq!(archived.len(), 1);
    let archived = String::from_utf8_lossy(&archived[0]);
    assert!(
        archived.contains(&format!("X-Certmail-Contract: {id}; serial=1")),
        "{archived}"
    );
    // Bob gets the acceptance request (lifecycle), never the original itself.
    let bob = sb.wait_for_mail("bob", 1, Duration::from_secs(20));
    assert_eq!(bob.len(), 1);
    assert!(certmail_e2e::header(&bob[0], "Reply-To").is_some_and(|r| r.starts_with("reply+")));
    assert!(certmail_e2e::header(&bob[0], "X-Certmail-Contract").is_none());
}

#[test]
fn unknown_customer_and_spoofed_senders_get_550_5_7_1() {
    let sb = Sandbox::up("spoof");
    let msg = mime_message(
        "alice@example.test",
        "x@contract.test",
        "bob@example.test Contract",
        "text",
        &[],
    );
    // Unknown customer address.
    let mut s = authed(&sb, "alice");
    let out = transaction(&mut s, "alice@example.test", &["zed@contract.test"], &msg);
    assert_eq!(out.rcpts[0].status(), "550 5.7.1", "{out:?}");
    assert!(
        out.rcpts[0].text.contains("not a certmail customer"),
        "{out:?}"
    );
    s.quit();

    // No SMTP AUTH at all, forged MAIL FROM of the customer.
    let mut s = Smtp::connect(sb.smtp_port());
    let out = transaction(
        &mut s,
        "alice@example.test",
        &[sb.get("CONTRACT_ADDRESS")],
        &msg,
    );
    assert_eq!(out.rcpts[0].status(), "550 5.7.1", "{out:?}");
    assert!(out.rcpts[0].text.contains("SMTP AUTH"), "{out:?}");
    s.quit();

    // Authenticated, but as somebody else.
    let mut s = authed(&sb, "bob");
    let out = transaction(
        &mut s,
        "alice@example.test",
        &[sb.get("CONTRACT_ADDRESS")],
        &msg,
    );
    assert_eq!(out.rcpts[0].status(), "550 5.7.1", "{out:?}");
    assert!(out.rcpts[0].text.contains("\"bob\""), "{out:?}");
    s.quit();

    // A disabled customer.
    let status = sb.cli(&["customers", "disable", "alice"]).status;
    assert!(status.success());
    let mut s = authed(&sb, "alice");
    let out = transaction(
        &mut s,
        "alice@example.test",
        &[sb.get("CONTRACT_ADDRESS")],
        &msg,
    );
    assert_eq!(out.rcpts[0].status(), "550 5.7.1", "{out:?}");
    assert!(out.rcpts[0].text.contains("disabled"), "{out:?}");
    s.quit();

    assert!(sb.contracts().is_empty());
}

#[test]
fn missing_or_invalid_destinations_are_refused_with_the_reason() {
    let sb = Sandbox::up("subject");
    let cases = [
        ("Rental contract", "550 5.1.3"),
        ("", "550 5.1.3"),
        ("bob@ Rental", "550 5.1.3"),
        ("+34 123 Rental", "550 5.1.3"),
    ];
    for (subject, want) in cases {
        let msg = mime_message(
            "alice@example.test",
            "alice@contract.test",
            subject,
            "text",
            &[],
        );
        let mut s = authed(&sb, "alice");
        let out = transaction(
            &mut s,
            "alice@example.test",
            &[sb.get("CONTRACT_ADDRESS")],
            &msg,
        );
        s.quit();
        let data = out.data.expect("recipient accepted, DATA sent");
        assert_eq!(data.status(), want, "subject {subject:?}: {data:?}");
        assert!(data.text.len() > 20, "reply must explain: {data:?}");
    }
    assert!(sb.contracts().is_empty());
}

#[test]
fn certd_down_means_4xx_and_the_retry_is_stored_exactly_once() {
    let sb = Sandbox::up("certd-down");
    let msg = mime_message(
        "alice@example.test",
        "alice@contract.test",
        "carol@example.test Service agreement",
        "The service agreement.",
        &[],
    );
    sb.service("stop", "certd");
    // certd unreachable at RCPT: the customer look-up tempfails.
    let mut s = authed(&sb, "alice");
    let out = transaction(
        &mut s,
        "alice@example.test",
        &[sb.get("CONTRACT_ADDRESS")],
        &msg,
    );
    assert_eq!(out.rcpts[0].status(), "451 4.3.0", "{out:?}");
    s.quit();

    // certd goes away between RCPT and end of data: the handoff tempfails.
    sb.service("start", "certd");
    let mut s = authed(&sb, "alice");
    assert_eq!(s.cmd("MAIL FROM:<alice@example.test>").code, 250);
    assert_eq!(
        s.cmd(&format!("RCPT TO:<{}>", sb.get("CONTRACT_ADDRESS")))
            .code,
        250
    );
    sb.service("stop", "certd");
    let r = s.data(&msg);
    assert_eq!(r.status(), "451 4.3.0", "{r:?}");
    s.quit();
    assert!(sb.contracts().is_empty());

    // The sender retries once certd is back: stored; a second retry is recognised.
    sb.service("start", "certd");
    for _ in 0..2 {
        let mut s = authed(&sb, "alice");
        let out = transaction(
            &mut s,
            "alice@example.test",
            &[sb.get("CONTRACT_ADDRESS")],
            &msg,
        );
        s.quit();
        assert_eq!(out.data.map(|d| d.code), Some(250));
    }
    let list = sb.contracts();
    assert_eq!(list.len(), 1, "stored exactly once: {list:?}");
    assert_eq!(
        sb.wait_for_mail("alice", 1, Duration::from_secs(20)).len(),
        1
    );
}

/// The part of a delivered message that came from the sender: everything after the trace
/// headers Postfix prepends (Return-Path, Delivered-To, Received).
fn strip_trace(delivered: &[u8]) -> String {
    let text = String::from_utf8_lossy(delivered).replace("\r\n", "\n");
    let mut lines = text.split_inclusive('\n').peekable();
    let mut out = String::new();
    while let Some(l) = lines.peek() {
        let trace = [
            "Return-Path:",
            "X-Original-To:",
            "Delivered-To:",
            "Received:",
        ]
        .iter()
        .any(|p| l.starts_with(p));
        if !trace {
            break;
        }
        lines.next();
        while lines.peek().is_some_and(|c| c.starts_with([' ', '\t'])) {
            lines.next();
        }
    }
    out.extend(lines);
    out
}

#[test]
fn ordinary_mail_passes_byte_for_byte_even_beside_a_contract() {
    let sb = Sandbox::up("ordinary");
    let pdf = noise(10_000);
    let msg = mime_message(
        "alice@example.test",
        "bob@example.test",
        "Lunch on Friday? ¿Comemos el viernes?",
        "Hola Bob,\n.a line starting with a dot\nsee you",
        &[("menu.pdf", "application/pdf", &pdf)],
    );
    let expected = String::from_utf8_lossy(&msg).replace("\r\n", "\n");

    // Plain ordinary mail, no AUTH needed for a local recipient.
    let mut s = Smtp::connect(sb.smtp_port());
    let out = transaction(
        &mut s,
        "someone@elsewhere.test",
        &["bob@example.test"],
        &msg,
    );
    s.quit();
    assert_eq!(out.data.map(|d| d.code), Some(250));
    let got = sb.wait_for_mail("bob", 1, Duration::from_secs(20));
    assert_eq!(got.len(), 1);
    assert_eq!(strip_trace(&got[0]), expected, "ordinary mail was altered");

    // Mixed: carol (ordinary) and the contract address in one message.
    let mixed = mime_message(
        "alice@example.test",
        "carol@example.test, alice@contract.test",
        "carol@example.test Consulting contract",
        "Carol, the contract is attached and also certified.",
        &[("c.pdf", "application/pdf", &pdf)],
    );
    let mut s = authed(&sb, "alice");
    let out = transaction(
        &mut s,
        "alice@example.test",
        &["carol@example.test", sb.get("CONTRACT_ADDRESS")],
        &mixed,
    );
    s.quit();
    assert_eq!(
        out.data.map(|d| d.code),
        Some(250),
        "{}",
        sb.log("certmilter.log")
    );
    // Carol gets her ordinary copy and, as the named counterparty, the request.
    let got = sb.wait_for_mail("carol", 2, Duration::from_secs(20));
    let copies: Vec<_> = got
        .iter()
        .filter(|m| certmail_e2e::header(m, "Reply-To").is_none())
        .collect();
    assert_eq!(copies.len(), 1);
    let expected = String::from_utf8_lossy(&mixed).replace("\r\n", "\n");
    assert_eq!(strip_trace(copies[0]), expected, "carol's copy was altered");
    assert_eq!(sb.contracts().len(), 1);
}

#[test]
fn encoded_japanese_subject_and_html_only_body_are_understood() {
    let sb = Sandbox::up("encoded");
    // Subject "+81 90-1234-5678 契約書" in ISO-2022-JP, B-encoded (RFC 2047), as Japanese
    // mail clients still send it.
    let subject = "=?ISO-2022-JP?B?KzgxIDkwLTEyMzQtNTY3OCAbJEI3QExzPXEbKEI=?=";
    let html = "<html><body><p>賃貸借<b>契約</b>の本文です。</p><p>Cláusula 2: pago mensual.</p></body></html>";
    let msg = format!(
        "From: alice@example.test\r\nTo: alice@contract.test\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{html}\r\n"
    );
    let mut s = authed(&sb, "alice");
    let out = transaction(
        &mut s,
        "alice@example.test",
        &[sb.get("CONTRACT_ADDRESS")],
        msg.as_bytes(),
    );
    s.quit();
    assert_eq!(
        out.data.map(|d| d.code),
        Some(250),
        "{}",
        sb.log("certmilter.log")
    );
    let id = sb.contracts()[0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let c = &sb.cli_json(&["contracts", "show", &id, "--json"])["contract"];
    assert_eq!(c["destinations"], serde_json::json!(["+819012345678"]));
    assert_eq!(c["subject_text"], "契約書");
    let text = c["body_text"].as_str().unwrap_or_default();
    assert!(text.contains("賃貸借契約の本文です。"), "{text}");
    assert!(text.contains("Cláusula 2"), "{text}");
    assert!(
        !text.contains("<b>"),
        "HTML must be rendered to text: {text}"
    );
}

#[test]
fn dkim_customer_is_authenticated_by_an_aligned_signature_only() {
    let sb = Sandbox::up("dkim");
    let key = std::path::PathBuf::from(sb.get("DKIM_KEY"));
    let (domain, selector) = (sb.get("DKIM_DOMAIN"), sb.get("DKIM_SELECTOR"));
    let to = sb.get("DKIM_CUSTOMER_ADDRESS");
    let from = format!("legal@{domain}");
    let msg = mime_message(
        &from,
        to,
        "carol@example.test Supply agreement",
        "Supply terms.",
        &[],
    );

    // Signed by the customer's domain, sent without SMTP AUTH as a company MTA would.
    let signed = certmail_e2e::dkim_sign(&msg, &key, domain, selector);
    let mut s = Smtp::connect(sb.smtp_port());
    let out = transaction(&mut s, &from, &[to], &signed);
    s.quit();
    assert_eq!(out.rcpts[0].code, 250, "{out:?}");
    assert_eq!(
        out.data.as_ref().map(|d| d.code),
        Some(250),
        "{out:?}\n{}",
        sb.log("certmilter.log")
    );
    let list = sb.contracts();
    assert_eq!(list.len(), 1);
    let id = list[0]["id"].as_str().unwrap_or_default();
    let c = &sb.cli_json(&["contracts", "show", id, "--json"])["contract"];
    assert_eq!(c["auth_method"], "dkim");
    assert_eq!(c["auth_identity"], format!("d={domain}; s={selector}"));

    // The same message altered after signing, and an unsigned one: 550 5.7.1 with the reason.
    let mut tampered = signed.clone();
    let pos = tampered
        .windows(13)
        .position(|w| w == b"Supply terms.")
        .expect("body");
    tampered[pos] = b's';
    for (what, m) in [("tampered", tampered), ("unsigned", msg.clone())] {
        let mut s = Smtp::connect(sb.smtp_port());
        let out = transaction(&mut s, &from, &[to], &m);
        s.quit();
        let d = out.data.expect("DATA sent");
        assert_eq!(d.status(), "550 5.7.1", "{what}: {d:?}");
        assert!(d.text.contains("DKIM"), "{what}: {d:?}");
    }
    assert_eq!(sb.contracts().len(), 1);
}

/// alice (SMTP AUTH) sends `msg` to her contract address; the reply to DATA.
fn submit_raw(sb: &Sandbox, msg: &[u8]) -> certmail_e2e::SmtpReply {
    let mut s = authed(sb, "alice");
    let out = transaction(
        &mut s,
        "alice@example.test",
        &[sb.get("CONTRACT_ADDRESS")],
        msg,
    );
    s.quit();
    out.data.expect("recipient accepted, DATA sent")
}

/// A plain-text contract from alice with the given header lines (Subject included).
fn contract_with_headers(headers: &str, body: &str) -> Vec<u8> {
    format!(
        "From: alice@example.test\r\nTo: alice@contract.test\r\n{headers}Message-ID: <{:x}.{}@e2e.example.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n",
        rand_u64(),
        headers.len()
    )
    .into_bytes()
}

#[test]
fn the_contract_service_and_the_customer_itself_are_refused_as_counterparties() {
    let sb = Sandbox::up("self-contract");
    let out = sb.cli(&[
        "customers",
        "set",
        "alice",
        "--add-phone",
        "+34 600 999 888",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (subject, why) in [
        // A loop into the contract domain, in odd case and in a reserved form.
        (
            "bob@example.test certmail@CONTRACT.Test Contrato",
            "is the contract service itself",
        ),
        (
            "reply+abcdefgh@contract.test Contrato",
            "is the contract service itself",
        ),
        (
            "bounce+x@Contract.test Contrato",
            "is the contract service itself",
        ),
        // The customer's registered email (also her envelope sender and From:).
        (
            "Alice@Example.TEST Contrato",
            "is your own address: a contract needs a counterparty",
        ),
        // Her registered phone.
        ("+34 600 999 888 Contrato", "is your own phone number"),
    ] {
        let msg = mime_message(
            "alice@example.test",
            "alice@contract.test",
            subject,
            "Terms.",
            &[],
        );
        let d = submit_raw(&sb, &msg);
        assert_eq!(d.status(), "550 5.1.3", "{subject}: {d:?}");
        assert!(d.text.contains(why), "{subject}: {d:?}");
    }
    assert!(sb.contracts().is_empty());
    // A real counterparty still passes.
    sb.submit_contract(
        sb.get("CONTRACT_ADDRESS"),
        "bob@example.test Contrato",
        "Terms.",
        &[],
    );
    assert_eq!(sb.contracts().len(), 1);
}

#[test]
fn long_subjects_repeated_subjects_and_encoded_line_breaks() {
    let sb = Sandbox::up("subject-text");
    // RFC 5322 section 3.6: one Subject field.
    let two = contract_with_headers(
        "Subject: bob@example.test Contract\r\nSubject: carol@example.test Another contract\r\n",
        "Terms.",
    );
    let d = submit_raw(&sb, &two);
    assert_eq!(d.status(), "550 5.6.0", "{d:?}");
    assert!(
        d.text
            .contains("The message has 2 Subject fields; RFC 5322 allows one"),
        "{d:?}"
    );
    // A 20 000-character Subject: answered for its length (one RFC 5322 line at most).
    let long = contract_with_headers(
        &format!("Subject: bob@example.test {}\r\n", "x".repeat(20_000)),
        "Terms.",
    );
    let d = submit_raw(&sb, &long);
    assert_eq!(d.status(), "550 5.6.0", "{d:?}");
    assert!(
        d.text
            .contains("characters long; certmail accepts at most 998"),
        "{d:?}"
    );
    assert!(sb.contracts().is_empty());

    // CR/LF encoded inside an RFC 2047 word: stored on one line.
    let crlf = contract_with_headers(
        "Subject: =?UTF-8?Q?bob@example.test_Contrato=0D=0AX-Injected:_yes=0D=0A=0D=0AFirmado?=\r\n",
        "Terms.",
    );
    let d = submit_raw(&sb, &crlf);
    assert_eq!(d.code, 250, "{d:?}\n{}", sb.log("certmilter.log"));
    let id = sb.contracts()[0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let c = &sb.cli_json(&["contracts", "show", &id, "--json"])["contract"];
    assert_eq!(
        c["subject"],
        "bob@example.test Contrato X-Injected: yes Firmado"
    );
    assert_eq!(c["subject_text"], "Contrato X-Injected: yes Firmado");
    // Nor does the request to bob carry it as a line of its own.
    let bob = sb.wait_for_mail("bob", 1, Duration::from_secs(20));
    assert_eq!(bob.len(), 1, "{}", sb.log("certd.log"));
    let request = String::from_utf8_lossy(&bob[0]);
    assert!(
        !request.lines().any(|l| l.starts_with("X-Injected")),
        "{request}"
    );
}

#[test]
fn replies_reach_the_client_whole_a_long_address_and_a_percent_sign() {
    let sb = Sandbox::up("long-address");
    let mut s = authed(&sb, "alice");
    assert_eq!(s.cmd("MAIL FROM:<alice@example.test>").code, 250);
    let long = format!("{}@contract.test", "z".repeat(1000));
    let r = s.cmd(&format!("RCPT TO:<{long}>"));
    s.quit();
    assert_eq!(r.status(), "550 5.7.1", "{r:?}");
    assert!(
        r.text
            .ends_with("@contract.test> is not a certmail customer address"),
        "{r:?}"
    );
    assert!(!r.text.contains("Command rejected"), "{r:?}");
    // RFC 5321 section 4.5.3.1.5: the whole reply line, code and CRLF included.
    assert!(r.text.len() + 4 + 2 <= 512, "{} octets", r.text.len() + 6);
    // A `%` reaches the client as typed (Postfix reads `%` in a milter reply as an escape).
    let msg = mime_message(
        "alice@example.test",
        "alice@contract.test",
        "bo%b@example 100% Contrato",
        "Terms.",
        &[],
    );
    let d = submit_raw(&sb, &msg);
    assert_eq!(d.status(), "550 5.1.3", "{d:?}");
    assert!(
        d.text
            .contains("'bo%b@example' in the Subject is not a valid email address"),
        "{d:?}"
    );
}

/// A contract of `size` bytes whose 8-bit text is most of it: its decoded text is as large as
/// the message, the worst case for the frame that carries both to certd.
fn large_text_contract(subject: &str, size: usize) -> Vec<u8> {
    let mut body = String::with_capacity(size);
    let line = "El arrendatario pagará 900 € al mes durante el año 2026. 契約。\r\n";
    while body.len() + line.len() < size.saturating_sub(400) {
        body.push_str(line);
    }
    let msg = contract_with_headers(&format!("Subject: {subject}\r\n"), &body);
    assert!(msg.len() <= size, "{} > {size}", msg.len());
    msg
}

#[test]
fn a_contract_under_the_size_limit_is_certified_and_one_over_it_refused_once() {
    // A small limit keeps the test quick; the 40 MiB default is exercised by
    // `a_35_mib_contract_under_the_default_limit_is_certified` (ignored: slow).
    let sb = Sandbox::up_with("size-limit", &[("SANDBOX_MAX_MESSAGE_SIZE", "300000")]);
    let under = large_text_contract("bob@example.test Contrato grande", 290_000);
    let d = submit_raw(&sb, &under);
    assert_eq!(d.code, 250, "{d:?}\n{}", sb.log("certmilter.log"));
    let list = sb.contracts();
    assert_eq!(list.len(), 1);

    let over = large_text_contract("carol@example.test Contrato demasiado grande", 310_000);
    let d = submit_raw(&sb, &over);
    assert_eq!(d.status(), "552 5.3.4", "{d:?}");
    assert!(d.text.contains("at most 300000 bytes"), "{d:?}");
    assert_eq!(sb.contracts().len(), 1);
}

#[test]
#[ignore = "slow: a 35 MiB contract through Postfix, certmilter and certd (run by hand)"]
fn a_35_mib_contract_under_the_default_limit_is_certified() {
    let sb = Sandbox::up("size-35mib");
    let msg = large_text_contract("bob@example.test Contrato de 35 MiB", 35 << 20);
    let started = std::time::Instant::now();
    let d = submit_raw(&sb, &msg);
    eprintln!("35 MiB contract answered {d:?} in {:?}", started.elapsed());
    assert_eq!(d.code, 250, "{d:?}\n{}", sb.log("certmilter.log"));
    assert_eq!(sb.contracts().len(), 1);
    let over = large_text_contract("bob@example.test Contrato de 41 MiB", (40 << 20) + 4096);
    let d = submit_raw(&sb, &over);
    assert_eq!(d.status(), "552 5.3.4", "{d:?}");
}
