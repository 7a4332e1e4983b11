//! Long-term evidence end to end (issue 14): certificates of every outcome are PAdES B-LTA and
//! validate offline with only what they embed, years ahead; a revoked operator certificate
//! issues nothing until a good one is configured; renewal adds a newer document time-stamp.
//! Real Postfix, certd, the loopback TSA, OCSP responder and CRL server of the test PKI; pyHanko
//! (`contrib/pyhanko-check`), poppler's pdfsig and `certd verify` as referees.

use certmail_e2e::{
    answer_request, header, pdfsig, read_maildir, referee, run, years_from_now, Sandbox,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

/// The request mail `who` received (with a Reply-To) about `topic`, waiting for it.
fn request_for(sb: &Sandbox, who: &str, topic: &str) -> Vec<u8> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(m) = read_maildir(&sb.maildir(who))
            .into_iter()
            .find(|m| header(m, "Reply-To").is_some() && String::from_utf8_lossy(m).contains(topic))
        {
            return m;
        }
        assert!(Instant::now() < deadline, "no request for {who}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Exports contract `id`'s stored certificate to `SANDBOX_DIR/NAME.pdf` once it exists.
fn exported(sb: &Sandbox, id: &str, name: &str, wait: Duration) -> Option<PathBuf> {
    let file = PathBuf::from(sb.get("SANDBOX_DIR")).join(format!("{name}.pdf"));
    let deadline = Instant::now() + wait;
    loop {
        let out = sb.cli(&[
            "certificates",
            "export",
            id,
            "--output",
            file.to_str().unwrap_or_default(),
        ]);
        if out.status.success() {
            return Some(file);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// `certd verify FILE --trust … [--at AT]`: (exit 0, output).
fn certd_verify(sb: &Sandbox, file: &Path, at: Option<&str>) -> (bool, String) {
    let mut args = vec![
        "verify",
        file.to_str().unwrap_or_default(),
        "--trust",
        sb.get("TRUST_ANCHOR"),
    ];
    if let Some(at) = at {
        args.extend(["--at", at]);
    }
    run(sb.get("CERTD_BIN"), &args)
}

/// A contract bob accepts by email; its id once accepted.
fn accepted(sb: &Sandbox) -> String {
    let id = submit(sb, "alice@contract.test", "bob@example.test Contrato");
    answer_request(
        sb.smtp_port(),
        &request_for(sb, "bob", "Contrato"),
        "bob@example.test",
        "Acepto.",
    );
    sb.wait_for_state(&id, "accepted", WAIT);
    id
}

fn submit(sb: &Sandbox, customer: &str, subject: &str) -> String {
    sb.submit_contract(customer, subject, "Contrato de prueba a largo plazo.", &[])
}

#[test]
fn every_outcome_is_b_lta_and_validates_offline_years_ahead() {
    let sb = Sandbox::up("ltv-outcomes");
    sb.add_customer_with_deadline("quick", "2s");
    let accepted = submit(&sb, "alice@contract.test", "bob@example.test Alquiler");
    let rejected = submit(&sb, "alice@contract.test", "carol@example.test Compraventa");
    let noex = submit(&sb, "alice@contract.test", "nobody@example.test Servicio");
    let noresp = sb.submit_contract(
        "quick@contract.test",
        "bob@example.test Oferta",
        "Oferta sin respuesta.",
        &[],
    );
    answer_request(
        sb.smtp_port(),
        &request_for(&sb, "bob", "Alquiler"),
        "bob@example.test",
        "Acepto.",
    );
    answer_request(
        sb.smtp_port(),
        &request_for(&sb, "carol", "Compraventa"),
        "carol@example.test",
        "Rechazo.",
    );
    let cases = [
        (accepted, "accepted"),
        (rejected, "rejected"),
        (noex, "not_delivered"),
        (noresp, "unanswered"),
    ];
    let mut files = Vec::new();
    for (id, state) in &cases {
        let show = sb.wait_for_state(id, state, WAIT);
        assert_eq!(show["contract"]["state"], *state, "{show}");
        let file = exported(&sb, id, state, WAIT)
            .unwrap_or_else(|| panic!("no certificate for {state}:\n{}", sb.log("certd.log")));
        files.push((state, file));
    }

    // poppler checks the operator's signature and its chain, asking the OCSP responder itself
    // (it ignores the /DSS, and lists document time-stamps without evaluating them): only
    // while the responder runs.
    for (state, file) in &files {
        let report = pdfsig(sb.get("TRUST_ANCHOR"), file);
        assert!(
            report.contains("Signature is Valid") && report.contains("Certificate is Trusted"),
            "pdfsig ({state}):\n{report}"
        );
    }

    // From here on nothing online helps: no OCSP, no CRL, no TSA.
    sb.stop_online_services();
    let later = years_from_now(10);
    let trust = sb.get("TRUST_ANCHOR");
    for (state, file) in &files {
        let r = referee(file, trust, None, &[&later]);
        assert!(r.ok, "pyHanko on the {state} certificate:\n{}", r.output);
        assert_eq!(r.file()["level"], "B-LTA", "{state}: {}", r.output);
        assert!(
            r.file()["dss_ocsps"].as_u64().is_some_and(|n| n >= 2),
            "{}",
            r.output
        );

        let (ok, out) = certd_verify(&sb, file, Some(&later));
        assert!(
            ok && out.contains("VALID, B-LTA"),
            "certd verify --at {later} ({state}):\n{out}"
        );
        let (ok, out) = certd_verify(&sb, file, None);
        assert!(
            ok && out.contains("VALID, B-LTA"),
            "certd verify ({state}):\n{out}"
        );
    }
}

/// certd.toml with the operator key and chain replaced.
fn configure_operator(sb: &Sandbox, key: &Path, chain: &Path) {
    let path = sb.get("CERTD_CONFIG");
    let text = std::fs::read_to_string(path).expect("certd.toml");
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("key = ") {
                format!("key = {:?}", key.display().to_string())
            } else if l.starts_with("chain = ") {
                format!("chain = {:?}", chain.display().to_string())
            } else {
                l.to_string()
            }
        })
        .map(|l| l + "\n")
        .collect();
    std::fs::write(path, text).expect("write certd.toml");
}

#[test]
fn a_revoked_operator_certificate_issues_nothing_until_a_good_one_is_configured() {
    let sb = Sandbox::up("ltv-revoked");
    sb.pki_revoke("operator");
    let id = accepted(&sb);
    // The outcome is recorded, but no certificate is made with a revoked key.
    assert!(
        exported(&sb, &id, "never", Duration::from_secs(5)).is_none(),
        "a certificate was issued with a revoked operator certificate"
    );
    let status = sb.cli(&["status", "--json"]);
    assert!(!status.status.success(), "certd status must be unhealthy");
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status --json");
    let problems = json["problems"].to_string();
    assert!(
        problems.contains(&id) && problems.contains("revoked"),
        "{json:#}"
    );

    let (key, chain) = sb.pki_issue("operator2");
    configure_operator(&sb, &key, &chain);
    sb.service("stop", "certd");
    sb.service("start", "certd");
    let file = exported(&sb, &id, "reissued", WAIT)
        .unwrap_or_else(|| panic!("no certificate after the fix:\n{}", sb.log("certd.log")));
    let (ok, out) = certd_verify(&sb, &file, None);
    assert!(ok && out.contains("VALID, B-LTA"), "{out}");
    assert!(out.contains("operator2") || out.contains("VALID"), "{out}");
}

#[test]
fn renewal_adds_a_newer_document_timestamp_that_outlives_the_first_tsa() {
    let sb = Sandbox::up("ltv-renew");
    sb.tsa_cert("short");
    let id = accepted(&sb);
    let first = exported(&sb, &id, "first", WAIT).expect("certificate");
    let first_bytes = std::fs::read(&first).expect("read");

    // The TSA now signs with its long-lived certificate; the short one expires in 30 days.
    sb.tsa_cert("long");
    let out = sb.cli(&["certificates", "renew", "--before", "1y", "--json"]);
    let done: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert!(
        out.status.success(),
        "{done:#}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        done["renewed"].as_array().map(Vec::len),
        Some(1),
        "{done:#}"
    );
    let renewed = exported(&sb, &id, "renewed", WAIT).expect("renewed certificate");
    let renewed_bytes = std::fs::read(&renewed).expect("read");
    assert!(
        renewed_bytes.starts_with(&first_bytes),
        "the renewal is an incremental update of the first file"
    );
    // A second run finds nothing due.
    let again = sb.cli_json(&["certificates", "renew", "--before", "1y", "--json"]);
    assert_eq!(
        again["renewed"].as_array().map(Vec::len),
        Some(0),
        "{again:#}"
    );
    let show = sb.cli_json(&["contracts", "show", &id, "--json"]);
    assert!(
        show["events"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["kind"] == "certificate_renewed")),
        "{show:#}"
    );

    sb.stop_online_services();
    let trust = sb.get("TRUST_ANCHOR");
    // Six years on, the first TSA certificate (30 days) and the operator's (5 years) have
    // expired: the renewed file holds by its newer document time-stamp. (pyHanko's future
    // simulation needs a date past the leaves' expiry: before it, an embedded OCSP answer past
    // its nextUpdate is no proof; see docs/sandbox.md.)
    let r = referee(&renewed, trust, None, &[&years_from_now(6)]);
    assert!(r.ok, "pyHanko on the renewed certificate:\n{}", r.output);
    assert!(
        r.file()["doc_timestamps"].as_u64().is_some_and(|n| n >= 2),
        "{}",
        r.output
    );
    let (ok, out) = certd_verify(&sb, &renewed, Some(&years_from_now(6)));
    assert!(ok && out.contains("VALID, B-LTA"), "{out}");
}

#[test]
fn the_daemon_renews_due_certificates_by_itself() {
    let sb = Sandbox::up("ltv-daemon-renew");
    sb.tsa_cert("short");
    let id = accepted(&sb);
    exported(&sb, &id, "first", WAIT).expect("certificate");
    // certd renews once a day and at start-up (renew_before_days = 365 by default): a restart
    // with the long-lived TSA certificate in place renews the 30-day time-stamp unasked.
    sb.tsa_cert("long");
    sb.service("stop", "certd");
    sb.service("start", "certd");
    let deadline = Instant::now() + WAIT;
    loop {
        let show = sb.cli_json(&["contracts", "show", &id, "--json"]);
        let renewed = show["events"].as_array().and_then(|e| {
            e.iter()
                .find(|e| e["kind"] == "certificate_renewed")
                .cloned()
        });
        if let Some(event) = renewed {
            assert_eq!(event["data"]["version"], 2, "{event}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not renew:\n{}",
            sb.log("certd.log")
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let renewed = exported(&sb, &id, "renewed", WAIT).expect("renewed certificate");
    let (ok, out) = certd_verify(&sb, &renewed, None);
    assert!(ok && out.contains("VALID, B-LTA"), "{out}");
}
