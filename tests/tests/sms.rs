//! The SMS leg end to end: real Postfix, certd, and the real Kannel gateway (bearerbox +
//! smsbox) with its fake SMS centre playing the phones (`SMS_GATEWAY` of the sandbox).

use certmail_e2e::{code_from_request, run, Sandbox};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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

fn request_sms(sb: &Sandbox, phone: &str) -> Value {
    let got = sb.wait_for_sms(phone, 1, WAIT);
    assert!(
        !got.is_empty(),
        "{phone} received no SMS; certd log:\n{}",
        sb.log("certd.log")
    );
    got[0].clone()
}

/// The gateway password and the callback secret of the sandbox.
fn secrets(sb: &Sandbox) -> [(String, &'static str); 2] {
    let sms = Path::new(sb.get("SANDBOX_DIR")).join("sms");
    [
        ("password", "gateway password"),
        ("callback.secret", "callback secret"),
    ]
    .map(|(f, what)| {
        let s = std::fs::read_to_string(sms.join(f)).expect("read a sandbox secret");
        (s.trim().to_string(), what)
    })
}

/// No file under the sandbox's log directory holds the gateway password or the callback secret.
fn assert_no_secrets_in_logs(sb: &Sandbox) {
    let logs = sb.get("LOG_DIR");
    let files: Vec<_> = std::fs::read_dir(logs)
        .expect("read the log directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    assert!(files.iter().any(|p| p.ends_with("smsbox.log")), "{files:?}");
    for (secret, what) in secrets(sb) {
        assert!(secret.len() >= 16, "{what} too short to search for");
        for f in &files {
            let text = String::from_utf8_lossy(&std::fs::read(f).expect("read a log")).into_owned();
            if let Some(line) = text.lines().find(|l| l.contains(&secret)) {
                panic!("the {what} is in {}: {line}", f.display());
            }
        }
    }
}

/// certd's SMS callback address, from the sandbox's certd.toml.
fn callback_address(sb: &Sandbox) -> String {
    let config = std::fs::read_to_string(sb.get("CERTD_CONFIG")).expect("read certd.toml");
    config
        .lines()
        .find_map(|l| l.strip_prefix("callback_listen = "))
        .map(|v| v.trim_matches('"').to_string())
        .expect("certd.toml has sms.callback_listen")
}

/// `Authorization` with the callback secret, as a webhook of another gateway would send it.
fn authorization(sb: &Sandbox) -> String {
    let [_, (secret, _)] = secrets(sb);
    format!(
        "Authorization: Basic {}\r\n",
        data_encoding::BASE64.encode(format!("gateway:{secret}").as_bytes())
    )
}

/// Keeps one callback client stalled on certd's callback port until `stop`: it declares a
/// 8000-byte body (over the 1 KiB that tiny_http, used before, read on its connection threads),
/// sends 10 bytes and waits; when certd drops it (its deadline), another
/// takes its place. Returns how many times certd answered a stalled client (with what).
fn stall_callbacks(address: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut answers = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            let Ok(mut s) = TcpStream::connect(&address) else {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            };
            let _ = s.write_all(
                b"POST /dlr HTTP/1.1\r\nHost: x\r\nContent-Length: 8000\r\n\r\nref=a&stat",
            );
            let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
            let mut got = Vec::new();
            let mut buf = [0u8; 512];
            while !stop.load(Ordering::SeqCst) {
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
            }
            if !got.is_empty() {
                answers.push(
                    String::from_utf8_lossy(&got)
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
        }
        answers
    })
}

#[test]
fn a_stalled_callback_client_does_not_block_kannels_reports_and_answers() {
    let sb = Sandbox::up("sms-stall");
    let stop = Arc::new(AtomicBool::new(false));
    let stallers: Vec<_> = (0..2)
        .map(|_| stall_callbacks(callback_address(&sb), Arc::clone(&stop)))
        .collect();
    // Both stalled clients are in before anything of the contract happens.
    std::thread::sleep(Duration::from_millis(500));

    let id = submit(&sb, BOB_PHONE);
    let code = code_from_request(&request_sms(&sb, BOB_PHONE));
    // Kannel's delivery report and the answer get through while clients stall (a server that
    // reads a stalled body on its only thread never serves them).
    wait_for_event(&sb, &id, "sms_dlr", WAIT);
    sb.sms_send(BOB_PHONE, &format!("YES {code}"));
    let show = sb.wait_for_state(&id, "accepted", WAIT);
    assert_eq!(
        show["contract"]["state"],
        "accepted",
        "certd log:\n{}",
        sb.log("certd.log")
    );
    stop.store(true, Ordering::SeqCst);
    for staller in stallers {
        let answers = staller.join().expect("staller thread");
        // A stalled client is only ever timed out, never served.
        assert!(
            answers.iter().all(|a| a.starts_with("HTTP/1.1 408")),
            "{answers:?}"
        );
    }
}

#[test]
fn an_oversized_callback_body_is_refused_413_and_nothing_is_stored() {
    let sb = Sandbox::up("sms-oversized");
    // A complete, authorised answer, then padding past the 64 KiB limit: truncated, it would be
    // stored as an SMS from bob.
    let body = format!(
        "from=%2B34600111222&to=22123&text=YES+AB3CDE&id=oversized&pad={}",
        "a".repeat(70 * 1024)
    );
    let mut s =
        TcpStream::connect(callback_address(&sb)).expect("connect to certd's callback port");
    s.set_read_timeout(Some(WAIT)).expect("read timeout");
    let head = format!(
        "POST /mo HTTP/1.1\r\nHost: certd\r\n{}Content-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n",
        authorization(&sb),
        body.len()
    );
    s.write_all(head.as_bytes()).expect("send the head");
    // certd may answer before it takes the body.
    let _ = s.write_all(body.as_bytes());
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer:?}");

    // The same answer under the limit is taken: the refusal was the size, nothing else.
    let small = "from=%2B34600111222&to=22123&text=YES+AB3CDE&id=small";
    let mut s = TcpStream::connect(callback_address(&sb)).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("read timeout");
    let request = format!(
        "POST /mo HTTP/1.1\r\nHost: certd\r\n{}Content-Length: {}\r\n\r\n{small}",
        authorization(&sb),
        small.len()
    );
    s.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer:?}");

    let ids = sb.sql_column("SELECT gateway_id FROM sms_inbound ORDER BY id");
    assert_eq!(
        ids,
        vec!["small"],
        "only the answer under the limit is stored"
    );
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
    // A whole SMS round trip (send, reports, answer, confirmation) left no secret in any log.
    assert_no_secrets_in_logs(&sb);
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
    let deadline = Instant::now() + WAIT;
    let outcomes = loop {
        let rows = sb.sql_column("SELECT outcome FROM sms_inbound ORDER BY id");
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

    let pdf = sb.certificate_mail("alice", &[], WAIT);
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
    // Kannel has tried and failed at least once (and logged the URL it could not fetch).
    let deadline = Instant::now() + WAIT;
    while !sb.log("smsbox.log").contains("Couldn't fetch") {
        assert!(Instant::now() < deadline, "smsbox never tried the callback");
        std::thread::sleep(Duration::from_millis(200));
    }
    sb.service("start", "certd");
    let show = sb.wait_for_state(&id, "accepted", WAIT);
    assert_eq!(
        show["contract"]["state"],
        "accepted",
        "{}",
        sb.log("smsbox.log")
    );
    // Kannel logged each callback it could not deliver while certd was down, without a secret.
    assert_no_secrets_in_logs(&sb);
}
