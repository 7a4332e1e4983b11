//! The SMS leg end to end: real Postfix, certd, and the real Kannel gateway (bearerbox +
//! smsbox) with its fake SMS centre playing the phones (`SMS_GATEWAY` of the sandbox).

use certmail_e2e::{pdf_attachments, read_maildir, run, Sandbox};
use serde_json::Value;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(40);
const BOB_PHONE: &str = "+34600111222";

/// Submits a contract from alice naming `destinations` in the Subject; returns its id.
fn submit(sb: &Sandbox, destinations: &str) -> String {
    sb.submit_contract(
        sb.get("CONTRACT_ADDRESS"),
        &format!("{destinations} Venta del coche"),
        "Vendo mi coche por 1000 EUR.",
        &[],
    )
}

fn events(sb: &Sandbox, id: &str) -> Vec<Value> {
    sb.cli_json(&["contracts", "show", id, "--json"])["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn kinds(sb: &Sandbox, id: &str) -> Vec<String> {
    events(sb, id)
        .iter()
        .filter_map(|e| e["kind"].as_str().map(str::to_string))
        .collect()
}

/// Waits (bounded) until the contract has an event of `kind`.
fn wait_for_event(sb: &Sandbox, id: &str, kind: &str, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(e) = events(sb, id).into_iter().find(|e| e["kind"] == kind) {
            return e;
        }
        assert!(
            Instant::now() < deadline,
            "no {kind} event; events: {:?}\ncertd log:\n{}",
            kinds(sb, id),
            sb.log("certd.log")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The contract code from the request SMS the phone received.
fn code_from_request(sms: &Value) -> String {
    let text = sms["text"].as_str().unwrap_or_default();
    let words: Vec<&str> = text.split_whitespace().collect();
    let i = words
        .iter()
        .position(|w| *w == "YES" || *w == "ACEPTO")
        .unwrap_or_else(|| panic!("no answer instructions in {text:?}"));
    words[i + 1].to_string()
}

fn request_sms(sb: &Sandbox, phone: &str) -> Value {
    let got = sb.wait_for_sms(phone, 1, WAIT);
    assert!(
        !got.is_empty(),
        "{phone} received no SMS; certd log:\n{}",
        sb.log("certd.log")
    );
    got[0].clone()
}

/// The first certificate PDF in `who`'s mailbox.
fn certificate_for(sb: &Sandbox, who: &str) -> Vec<u8> {
    let deadline = Instant::now() + WAIT;
    loop {
        for m in read_maildir(&sb.maildir(who)) {
            if let Some((_, pdf)) = pdf_attachments(&m).into_iter().next() {
                return pdf;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no certificate for {who}; certd log:\n{}",
            sb.log("certd.log")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn sms_sent_delivered_and_accepted_by_sms_reply_first_answer_decides() {
    let sb = Sandbox::up("sms-accept");
    let id = submit(&sb, &format!("bob@example.test {BOB_PHONE}"));
    let sms = request_sms(&sb, BOB_PHONE);
    let text = sms["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("bob@example.test"),
        "the SMS says where the full text went: {text}"
    );
    let code = code_from_request(&sms);
    assert_eq!(code.len(), 6);

    // The request's send and its delivery report are evidence.
    let sent = wait_for_event(&sb, &id, "sms_request_sent", WAIT);
    assert!(sent["data"]["gateway"]
        .as_str()
        .unwrap_or_default()
        .starts_with("202"));
    let reference = sent["data"]["reference"].as_str().unwrap_or_default();
    let deadline = Instant::now() + WAIT;
    while !events(&sb, &id).iter().any(|e| {
        e["kind"] == "sms_dlr" && e["data"]["status"] == 1 && e["data"]["reference"] == reference
    }) {
        assert!(Instant::now() < deadline, "no 'delivered' report");
        std::thread::sleep(Duration::from_millis(200));
    }

    sb.sms_send(BOB_PHONE, &format!("Yes {}", code.to_lowercase()));
    let show = sb.wait_for_state(&id, "accepted", WAIT);
    assert_eq!(show["contract"]["state"], "accepted");
    let reply = wait_for_event(&sb, &id, "reply", WAIT);
    assert_eq!(reply["data"]["channel"], "sms");
    assert_eq!(reply["data"]["destination"], BOB_PHONE);
    assert!(reply["data"]["gateway_id"]
        .as_str()
        .is_some_and(|g| !g.is_empty()));

    // The phone is told what was recorded.
    let got = sb.wait_for_sms(BOB_PHONE, 2, WAIT);
    assert!(
        got.iter().any(|m| m["text"]
            .as_str()
            .unwrap_or_default()
            .contains("ACCEPTANCE")),
        "{got:?}"
    );

    // A later answer on the other channel is recorded, never decisive.
    let request = sb
        .wait_for_mail("bob", 1, WAIT)
        .into_iter()
        .find(|m| certmail_e2e::header(m, "Reply-To").is_some())
        .expect("bob got the request mail");
    let reply_to = certmail_e2e::header(&request, "Reply-To").unwrap_or_default();
    let out = sb.send_answer("bob@example.test", &reply_to, "Rechazo.");
    assert_eq!(out.data.map(|d| d.code), Some(250));
    wait_for_event(&sb, &id, "reply_ignored", WAIT);
    assert_eq!(
        sb.cli_json(&["contracts", "show", &id, "--json"])["contract"]["state"],
        "accepted"
    );
}

#[test]
fn reject_by_sms_after_answers_from_a_wrong_number_and_with_a_wrong_code() {
    let sb = Sandbox::up("sms-reject");
    let id = submit(&sb, BOB_PHONE);
    let code = code_from_request(&request_sms(&sb, BOB_PHONE));

    // Mallory knows the code but not bob's phone; bob mistypes the code.
    sb.sms_send("+34600999999", &format!("YES {code}"));
    // One letter changed for another letter: still code-shaped (a digit and a letter).
    let wrong: String = {
        let i = code
            .find(|c: char| c.is_ascii_alphabetic())
            .expect("a code has a letter");
        let other = if &code[i..=i] == "A" { "C" } else { "A" };
        format!("{}{other}{}", &code[..i], &code[i + 1..])
    };
    sb.sms_send(BOB_PHONE, &format!("YES {wrong}"));
    // Both are stored (as unmatched inbound SMS) and change nothing.
    let db = rusqlite::Connection::open(sb.get("CERTD_DB")).expect("open the database");
    let deadline = Instant::now() + WAIT;
    let outcomes = loop {
        let mut stmt = db
            .prepare("SELECT outcome FROM sms_inbound ORDER BY id")
            .expect("query sms_inbound");
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .expect("rows")
            .filter_map(Result::ok)
            .collect();
        if rows.len() >= 2 || Instant::now() > deadline {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(outcomes, vec!["unknown_sender", "wrong_code"]);
    assert!(!kinds(&sb, &id).contains(&"reply".to_string()));
    assert_eq!(
        sb.cli_json(&["contracts", "show", &id, "--json"])["contract"]["state"],
        "requested"
    );

    sb.sms_send(BOB_PHONE, &format!("NO {code}"));
    let show = sb.wait_for_state(&id, "rejected", WAIT);
    assert_eq!(show["contract"]["state"], "rejected");
}

#[test]
fn sms_only_contract_ends_with_a_verified_certificate() {
    let sb = Sandbox::up("sms-only");
    let id = submit(&sb, BOB_PHONE);
    let sms = request_sms(&sb, BOB_PHONE);
    assert!(
        sms["text"]
            .as_str()
            .unwrap_or_default()
            .contains("ask the sender"),
        "a phone-only request says the full text is not in the SMS: {sms}"
    );
    // Spanish, with an accent GSM-7 does not have: carried as UCS-2 to certd intact.
    sb.sms_send(
        BOB_PHONE,
        &format!("Sí, acepto {}", code_from_request(&sms)),
    );
    sb.wait_for_state(&id, "accepted", WAIT);
    let reply = wait_for_event(&sb, &id, "reply", WAIT);
    assert!(reply["data"]["response_text"]
        .as_str()
        .unwrap_or_default()
        .starts_with("Sí, acepto"));

    let pdf = certificate_for(&sb, "alice");
    let dir = std::env::temp_dir().join(format!("certmail-sms-only-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("certificate.pdf");
    std::fs::write(&path, &pdf).expect("write pdf");
    let (ok, out) = run(
        sb.get("CERTD_BIN"),
        &[
            "verify",
            path.to_str().unwrap_or_default(),
            "--trust",
            sb.get("TRUST_ANCHOR"),
        ],
    );
    assert!(ok, "certd verify: {out}");
    let (_, text) = run("pdftotext", &[path.to_str().unwrap_or_default(), "-"]);
    assert!(text.contains("SMS"), "the certificate names the channel");
    assert!(text.contains(BOB_PHONE), "and the answering phone");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn gateway_down_delays_the_sms_and_certd_down_delays_the_answer_nothing_lost() {
    let sb = Sandbox::up("sms-down");
    sb.service("stop", "sms");
    let id = submit(&sb, BOB_PHONE);
    // The request cannot be handed over: retried, not dropped, not a delivery failure.
    let deadline = Instant::now() + WAIT;
    while !sb.log("certd.log").contains("sms_request attempt") {
        assert!(Instant::now() < deadline, "no failed attempt logged");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!kinds(&sb, &id)
        .iter()
        .any(|k| k == "sms_request_sent" || k == "bounce"));
    sb.service("start", "sms");
    let code = code_from_request(&request_sms(&sb, BOB_PHONE));
    wait_for_event(&sb, &id, "sms_request_sent", WAIT);

    // certd is down when bob answers: the gateway keeps the answer and retries its callback.
    sb.service("stop", "certd");
    sb.sms_send(BOB_PHONE, &format!("ACEPTO {code}"));
    std::thread::sleep(Duration::from_secs(2));
    sb.service("start", "certd");
    let show = sb.wait_for_state(&id, "accepted", WAIT);
    assert_eq!(
        show["contract"]["state"],
        "accepted",
        "{}",
        sb.log("smsbox.log")
    );
}
