//! certd's Prometheus endpoint during a real run: the counters and gauges move as the
//! contracts do (submissions accepted and refused, contracts by state, a certificate delayed by
//! the TSA and then issued, the store's commits).

use certmail_e2e::{answer_request, http_get, http_post, mime_message, Sandbox, Smtp};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

/// One scrape: every sample by its series (`name{labels}`), checked to be the text format.
fn scrape(sb: &Sandbox) -> BTreeMap<String, f64> {
    let (status, ctype, body) = http_get(sb.get("METRICS_URL")).expect("scrape /metrics");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(ctype, "text/plain; version=0.0.4; charset=utf-8");
    let text = String::from_utf8(body).expect("UTF-8 exposition");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("series value");
            let value = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("not a number: {l}")),
            };
            (series.to_string(), value)
        })
        .collect()
}

fn get(m: &BTreeMap<String, f64>, series: &str) -> f64 {
    *m.get(series)
        .unwrap_or_else(|| panic!("no {series} in the scrape: {m:#?}"))
}

/// Scrapes until `series` satisfies `ok`; returns that scrape.
fn wait_for(sb: &Sandbox, series: &str, ok: impl Fn(f64) -> bool) -> BTreeMap<String, f64> {
    let deadline = Instant::now() + WAIT;
    loop {
        let m = scrape(sb);
        if m.get(series).is_some_and(|v| ok(*v)) {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "{series} = {:?}:\n{}",
            m.get(series),
            sb.log("certd.log")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

const ACCEPTED: &str = "certmail_submissions_accepted_total";
const REFUSED_DISABLED: &str = r#"certmail_submissions_refused_total{reason="5.7.1"}"#;
const REQUESTED: &str = r#"certmail_contracts{state="requested"}"#;
const ACCEPTED_STATE: &str = r#"certmail_contracts{state="accepted"}"#;
const ISSUED: &str = "certmail_certificate_issue_duration_seconds_count";
const TSA_ERRORS: &str = "certmail_tsa_errors_total";
const BLOCKED: &str = r#"certmail_outbox_failing_effects{kind="certificate"}"#;
const COMMITS: &str = "certmail_store_commit_duration_seconds_count";

#[test]
fn the_metrics_move_as_the_contracts_do() {
    let sb = Sandbox::up("metrics");
    let before = scrape(&sb);
    for family in [
        "certmail_build_info",
        "certmail_outbox_effects",
        "certmail_outbox_oldest_due_age_seconds",
        "certmail_sms_send_errors_total",
        "certmail_smtp_send_errors_total",
    ] {
        assert!(
            before.keys().any(|k| k.starts_with(family)),
            "{family} missing: {before:#?}"
        );
    }
    assert_eq!(get(&before, ACCEPTED), 0.0);
    assert_eq!(get(&before, REQUESTED), 0.0);
    assert_eq!(get(&before, ISSUED), 0.0);
    assert!(!before.contains_key(REFUSED_DISABLED));

    // Two contracts accepted for certification.
    let contract = sb.get("CONTRACT_ADDRESS").to_string();
    let first = sb.submit_contract(&contract, "bob@example.test Alquiler", "Contrato uno.", &[]);
    sb.submit_contract(&contract, "carol@example.test Venta", "Contrato dos.", &[]);
    let m = scrape(&sb);
    assert_eq!(get(&m, ACCEPTED), 2.0);
    assert_eq!(get(&m, REQUESTED), 2.0);
    assert!(
        get(&m, COMMITS) > get(&before, COMMITS),
        "the store timed its commits"
    );

    // One refused by certd itself: the customer is disabled after the milter's RCPT look-up,
    // before the message ends (certd checks again at commit).
    sb.add_customer_with_deadline("zed", "7d");
    let mut s = Smtp::connect(sb.smtp_port());
    assert_eq!(s.auth("alice", sb.get("CUSTOMER_PASSWORD")).code, 235);
    assert_eq!(s.cmd("MAIL FROM:<alice@example.test>").code, 250);
    assert_eq!(s.cmd("RCPT TO:<zed@contract.test>").code, 250);
    assert!(sb.cli(&["customers", "disable", "zed"]).status.success());
    let msg = mime_message(
        "alice@example.test",
        "zed@contract.test",
        "dave@example.test Obra",
        "Contrato tres.",
        &[],
    );
    let refused = s.data(&msg);
    s.quit();
    assert_eq!(refused.status(), "550 5.7.1", "{refused:?}");
    let m = scrape(&sb);
    assert_eq!(get(&m, REFUSED_DISABLED), 1.0);
    assert_eq!(
        get(&m, ACCEPTED),
        2.0,
        "the refusal is no accepted submission"
    );

    // bob accepts while the TSA is down: the certificate waits, counted as blocked.
    sb.sandbox_cmd(&["stop", "tsa"]);
    let request = sb.request_mail("bob", WAIT);
    answer_request(sb.smtp_port(), &request, "bob@example.test", "Acepto.");
    let m = wait_for(&sb, BLOCKED, |n| n >= 1.0);
    assert!(get(&m, TSA_ERRORS) >= 1.0);
    assert_eq!(get(&m, ISSUED), 0.0);
    assert_eq!(get(&m, ACCEPTED_STATE), 1.0);
    assert_eq!(get(&m, REQUESTED), 1.0);

    // The TSA back: the certificate is issued and timed once.
    sb.sandbox_cmd(&["start", "tsa"]);
    sb.certificate_mail("alice", &[], WAIT);
    let m = wait_for(&sb, ISSUED, |n| n >= 1.0);
    assert_eq!(get(&m, ISSUED), 1.0);
    assert!(get(&m, "certmail_certificate_issue_duration_seconds_sum") > 0.0);
    assert_eq!(
        get(
            &m,
            r#"certmail_certificate_issue_duration_seconds_bucket{le="+Inf"}"#
        ),
        1.0
    );
    assert_eq!(get(&m, BLOCKED), 0.0);
    assert_eq!(
        sb.cli_json(&["contracts", "show", &first, "--json"])["contract"]["state"],
        "accepted"
    );

    // The endpoint answers only GET /metrics.
    let url = sb.get("METRICS_URL");
    let (status, _, _) = http_get(&url.replace("/metrics", "/")).expect("GET /");
    assert_eq!(status, 404);
    let (status, _, _) = http_post(url, "text/plain", b"x").expect("POST");
    assert_eq!(status, 405);

    // Another process on the metrics port: certd stops before its socket appears, so the
    // sandbox (as an init system would) sees a failed start, not a certd that looks ready and
    // is gone (how an end-to-end test once failed when a parallel test took the port).
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_string();
    sb.service("stop", "certd");
    let taken = take_port(&addr);
    let out = std::process::Command::new(certmail_e2e::repo_root().join("contrib/sandbox"))
        .args(["start", "certd"])
        .env("SANDBOX_DIR", sb.get("SANDBOX_DIR"))
        .output()
        .expect("run contrib/sandbox");
    assert!(
        !out.status.success(),
        "certd started without its metrics port"
    );
    assert!(sb.log("certd.log").contains("cannot listen on"));
    assert!(!std::path::Path::new(sb.get("CERTD_SOCKET")).exists());
    drop(taken);
    sb.service("start", "certd");
    assert!(std::path::Path::new(sb.get("CERTD_SOCKET")).exists());
}

/// Listens on `addr`, which certd has just released. Retried for a bounded while, since the
/// port may be held a moment longer (once, in CI, it was); a holder that stays is shown (`ss`),
/// since the test proves nothing without the port.
fn take_port(addr: &str) -> std::net::TcpListener {
    let mut last = None;
    for _ in 0..50 {
        match std::net::TcpListener::bind(addr) {
            Ok(listener) => return listener,
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let port = addr.rsplit(':').next().unwrap_or_default();
    let holders = std::process::Command::new("ss")
        .args(["-tanp", &format!("( sport = :{port} )")])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    panic!("cannot take the metrics port {addr}: {last:?}\n{holders}");
}
