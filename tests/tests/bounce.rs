//! Delivery reports through real Postfix: only the mail system can end a contract as not
//! delivered. The request's return path is visible to its recipient, so a report decides only
//! with the null sender, the RFC 6522 structure and the secret envelope id (RFC 3461 ENVID).

use certmail_e2e::{header, pdf_attachments, read_maildir, transaction, Sandbox, Smtp};
use rusqlite::{Connection, OpenFlags};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(40);

fn submit(sb: &Sandbox, destination: &str) -> String {
    sb.submit_contract(
        sb.get("CONTRACT_ADDRESS"),
        &format!("{destination} Service agreement"),
        "The contract.",
        &[],
    )
}

/// The request delivered to `who` (the first mail whose Subject names a serial number).
fn delivered_request(sb: &Sandbox, who: &str) -> Vec<u8> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(m) = read_maildir(&sb.maildir(who))
            .into_iter()
            .find(|m| header(m, "Subject").is_some_and(|s| s.contains("serial no.")))
        {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "no request for {who}:\n{}",
            sb.log("certd.log")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Reads certd's database (WAL: a reader beside the running daemon).
fn db(sb: &Sandbox) -> Connection {
    Connection::open_with_flags(sb.get("CERTD_DB"), OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open certd's database")
}

/// `(bounce token, envid secret)` of a destination.
fn secrets(sb: &Sandbox, contract: &str, address: &str) -> (String, String) {
    db(sb)
        .query_row(
            "SELECT bounce_token, envid FROM destinations WHERE contract_id = ?1 AND address = ?2",
            [contract, address],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("destination row")
}

/// The events of a contract with the given kind.
fn events(sb: &Sandbox, id: &str, kind: &str) -> Vec<serde_json::Value> {
    sb.cli_json(&["contracts", "show", id, "--json"])["events"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter(|e| e["kind"] == kind)
                .map(|e| e["data"].clone())
                .collect()
        })
        .unwrap_or_default()
}

/// A delivery report as a remote MTA would write it about `recipient`, optionally with an
/// `Original-Envelope-Id`.
fn report(to: &str, recipient: &str, envid: Option<&str>, request_message_id: &str) -> Vec<u8> {
    let envid = envid
        .map(|e| format!("Original-Envelope-Id: {e}\r\n"))
        .unwrap_or_default();
    format!(
        "From: MAILER-DAEMON@mx.example.test (Mail Delivery System)\r\n\
         To: {to}\r\n\
         Subject: Undelivered Mail Returned to Sender\r\n\
         Message-ID: <forged.{}@mx.example.test>\r\n\
         Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\
         \r\n\
         --b\r\n\
         Content-Type: text/plain\r\n\
         \r\n\
         Your message could not be delivered.\r\n\
         --b\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         Reporting-MTA: dns; mx.example.test\r\n\
         {envid}\
         \r\n\
         Final-Recipient: rfc822; {recipient}\r\n\
         Original-Recipient: rfc822;{recipient}\r\n\
         Action: failed\r\n\
         Status: 5.1.1\r\n\
         Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: user unknown\r\n\
         \r\n\
         --b\r\n\
         Content-Type: text/rfc822-headers\r\n\
         \r\n\
         Message-ID: {request_message_id}\r\n\
         To: {recipient}\r\n\
         \r\n\
         --b--\r\n",
        certmail_e2e::rand_u64()
    )
    .into_bytes()
}

/// `from` (`""`: the null sender) sends `msg` to `to` on the public SMTP port.
fn send(sb: &Sandbox, from: &str, to: &str, msg: &[u8]) -> certmail_e2e::Outcome {
    let mut s = Smtp::connect(sb.smtp_port());
    let out = transaction(&mut s, from, &[to], msg);
    s.quit();
    out
}

/// The bounce address of a delivered request: its `Return-Path:`, without brackets.
fn return_path(request: &[u8]) -> String {
    let rp = header(request, "Return-Path").expect("the delivered request has a Return-Path");
    rp.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

#[test]
fn a_real_postfix_bounce_ends_noex_with_a_certificate() {
    let sb = Sandbox::up("bounce-real");
    let dest = sb.get("UNKNOWN_ADDRESS").to_string();
    let id = submit(&sb, &dest);
    let show = sb.wait_for_state(&id, "not_delivered", WAIT);
    assert_eq!(
        show["contract"]["state"],
        "not_delivered",
        "{show}\n{}",
        sb.log("maillog")
    );
    let bounce = &events(&sb, &id, "bounce")[0];
    assert_eq!(bounce["status"], "5.1.1", "{bounce}");
    assert_eq!(bounce["decisive"], true, "{bounce}");
    assert_eq!(bounce["envelope_from"], "", "{bounce}");
    assert!(bounce["diagnostic"]
        .as_str()
        .is_some_and(|d| d.contains(&dest)));
    // Postfix honoured the RFC 3461 parameters: the report came back to the bounce token
    // with our envelope id and the original recipient, and the request's headers only.
    let (bounce_token, envid) = secrets(&sb, &id, &dest);
    let raw: Vec<u8> = db(&sb)
        .query_row(
            "SELECT b.data FROM answers a JOIN blobs b ON b.sha256 = a.raw_sha256
             WHERE a.contract_id = ?1 AND a.kind = 'bounce'",
            [&id],
            |r| r.get(0),
        )
        .expect("the stored report");
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.contains(&format!("Original-Envelope-Id: {envid}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("Original-Recipient: rfc822;{dest}")),
        "{text}"
    );
    assert!(text.contains(&format!("bounce+{bounce_token}@")), "{text}");
    assert!(text.contains("text/rfc822-headers"), "RET=HDRS: {text}");
    assert_eq!(bounce["returned_message_is_ours"], true, "{bounce}");
    // The customer gets the signed certificate of the non-delivery.
    let deadline = Instant::now() + WAIT;
    while !read_maildir(&sb.maildir("alice")).iter().any(|m| {
        pdf_attachments(m)
            .iter()
            .any(|(name, _)| name.starts_with("certificate-"))
    }) {
        assert!(
            Instant::now() < deadline,
            "no certificate:\n{}",
            sb.log("certd.log")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_report_forged_by_an_ordinary_sender_is_only_noted() {
    let sb = Sandbox::up("bounce-forged");
    let id = submit(&sb, "bob@example.test");
    let request = delivered_request(&sb, "bob");
    let bounce_address = return_path(&request);
    assert!(bounce_address.starts_with("bounce+"), "{bounce_address}");
    let mid = header(&request, "Message-ID").expect("request Message-ID");
    // Bob, holding the request, claims it was not delivered, quoting its Message-ID.
    let forged = report(&bounce_address, "bob@example.test", None, &mid);
    let out = send(&sb, "bob@example.test", &bounce_address, &forged);
    assert_eq!(
        out.data.as_ref().map(|d| d.code),
        Some(250),
        "recorded, not refused: {out:?}"
    );
    let noted = events(&sb, &id, "bounce_noted");
    assert_eq!(noted.len(), 1, "{noted:?}");
    assert_eq!(noted[0]["reason"], "not_null_sender", "{}", noted[0]);
    assert_eq!(noted[0]["envelope_from"], "bob@example.test");
    assert!(events(&sb, &id, "bounce").is_empty());
    assert_eq!(
        sb.cli_json(&["contracts", "show", &id, "--json"])["contract"]["state"],
        "requested"
    );
    // The recipient's copy never shows the envelope id (Postfix keeps ENVID in its queue
    // file), so the recipient cannot write the report that would decide.
    let (_, envid) = secrets(&sb, &id, "bob@example.test");
    assert!(!String::from_utf8_lossy(&request).contains(&envid));
}

#[test]
fn a_null_sender_report_without_our_envelope_id_is_only_noted() {
    let sb = Sandbox::up("bounce-envid");
    let id = submit(&sb, "bob@example.test");
    let request = delivered_request(&sb, "bob");
    let bounce_address = return_path(&request);
    let mid = header(&request, "Message-ID").expect("request Message-ID");
    // The null sender and the report structure, the request's Message-ID, but no ENVID...
    let out = send(
        &sb,
        "",
        &bounce_address,
        &report(&bounce_address, "bob@example.test", None, &mid),
    );
    assert_eq!(out.data.as_ref().map(|d| d.code), Some(250), "{out:?}");
    // ...or a guessed one.
    let guessed = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let out = send(
        &sb,
        "",
        &bounce_address,
        &report(&bounce_address, "bob@example.test", Some(guessed), &mid),
    );
    assert_eq!(out.data.as_ref().map(|d| d.code), Some(250), "{out:?}");
    let reasons: Vec<String> = events(&sb, &id, "bounce_noted")
        .iter()
        .map(|e| e["reason"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(reasons, ["envelope_id_missing", "envelope_id_mismatch"]);
    assert_eq!(
        sb.cli_json(&["contracts", "show", &id, "--json"])["contract"]["state"],
        "requested"
    );
}

#[test]
fn a_reply_token_is_no_bounce_address() {
    let sb = Sandbox::up("bounce-kind");
    let id = submit(&sb, "bob@example.test");
    let request = delivered_request(&sb, "bob");
    let reply_to = header(&request, "Reply-To").expect("Reply-To");
    let reply_token = reply_to
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .strip_prefix("reply+")
        .and_then(|r| r.split('@').next())
        .expect("reply+<token>@")
        .to_string();
    let swapped = format!("bounce+{reply_token}@{}", sb.get("CONTRACT_DOMAIN"));
    let out = send(
        &sb,
        "",
        &swapped,
        &report(&swapped, "bob@example.test", None, "<x@y>"),
    );
    assert_eq!(out.rcpts[0].status(), "550 5.1.1", "{out:?}");
    // And the bounce token is no reply address.
    let bounce_token = return_path(&request)
        .strip_prefix("bounce+")
        .and_then(|r| r.split('@').next())
        .expect("bounce+<token>@")
        .to_string();
    let swapped = format!("reply+{bounce_token}@{}", sb.get("CONTRACT_DOMAIN"));
    let out = sb.send_answer("bob@example.test", &swapped, "I accept.");
    assert_eq!(out.rcpts[0].status(), "550 5.1.1", "{out:?}");
    assert_eq!(
        sb.cli_json(&["contracts", "show", &id, "--json"])["contract"]["state"],
        "requested"
    );
}
