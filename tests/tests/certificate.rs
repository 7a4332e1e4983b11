//! The evidence certificate end to end: real Postfix, certd, the loopback TSA, and independent
//! validators (pyHanko, poppler's pdfsig, qpdf, openssl) on what reaches the mailboxes.

use certmail_e2e::{answer_request, pdf_attachments, pdfsig, read_maildir, run, Sandbox};
use std::path::{Path, PathBuf};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(40);

fn submit(sb: &Sandbox, customer_address: &str, subject: &str, text: &str) -> String {
    sb.submit_contract(
        customer_address,
        subject,
        text,
        &[("anexo.pdf", "application/pdf", b"%PDF-1.4 anexo")],
    )
}

fn pyhanko() -> String {
    let venv = "/opt/certmail-validators/bin/pyhanko";
    if Path::new(venv).exists() {
        venv.into()
    } else {
        "pyhanko".into()
    }
}

/// Every validator's verdict on `pdf`: (name, accepted, output).
fn validate(sb: &Sandbox, pdf: &Path) -> Vec<(&'static str, bool, String)> {
    let trust = sb.get("TRUST_ANCHOR");
    let file = pdf.to_str().unwrap_or_default();
    let pdfsig = pdfsig(trust, pdf);
    let (_, hanko) = run(
        &pyhanko(),
        &["sign", "validate", "--trust", trust, "--pretty-print", file],
    );
    let (certd_ok, certd) = run(sb.get("CERTD_BIN"), &["verify", file, "--trust", trust]);
    vec![
        (
            "pdfsig",
            pdfsig.contains("Signature is Valid") && pdfsig.contains("Certificate is Trusted"),
            pdfsig,
        ),
        ("pyhanko", hanko.contains("judged VALID"), hanko),
        ("certd verify", certd_ok && certd.contains("VALID"), certd),
    ]
}

/// The RFC 3161 token from the PDF, checked by `openssl ts -verify` over the signature value.
fn openssl_ts_verify(sb: &Sandbox, pdf: &Path) -> (bool, String) {
    let dir = pdf.with_extension("ts");
    let _ = std::fs::create_dir_all(&dir);
    let token = dir.join("token.der");
    let sigval = dir.join("signature-value.bin");
    let (ok, out) = run(
        sb.get("CERTD_BIN"),
        &[
            "certificates",
            "token",
            pdf.to_str().unwrap_or_default(),
            "--token",
            token.to_str().unwrap_or_default(),
            "--signature-value",
            sigval.to_str().unwrap_or_default(),
        ],
    );
    if !ok {
        return (false, out);
    }
    run(
        "openssl",
        &[
            "ts",
            "-verify",
            "-in",
            token.to_str().unwrap_or_default(),
            "-token_in",
            "-data",
            sigval.to_str().unwrap_or_default(),
            "-CAfile",
            sb.get("TRUST_ANCHOR"),
        ],
    )
}

#[test]
fn accepted_contract_gives_both_parties_the_same_valid_certificate() {
    let sb = Sandbox::up("cert-accept");
    let text = "Contrato de arrendamiento.\nEl arrendatario pagará 900 € al mes; señal: 1.800 €.";
    let id = submit(
        &sb,
        "alice@contract.test",
        "bob@example.test Alquiler Calle Mayor",
        text,
    );
    let request = sb.request_mail("bob", WAIT);
    answer_request(sb.smtp_port(), &request, "bob@example.test", "Acepto.");

    let for_alice = sb.certificate_mail("alice", &[], WAIT);
    let for_bob = sb.certificate_mail("bob", &[], WAIT);
    assert_eq!(for_alice, for_bob, "both parties get the same signed PDF");
    assert_eq!(
        sb.cli_json(&["contracts", "show", &id, "--json"])["contract"]["state"],
        "accepted"
    );

    let dir = PathBuf::from(sb.get("SANDBOX_DIR"));
    let pdf = dir.join("certificate.pdf");
    std::fs::write(&pdf, &for_alice).expect("write pdf");
    for (name, ok, out) in validate(&sb, &pdf) {
        assert!(ok, "{name} rejects a good certificate:\n{out}");
    }
    let (ok, out) = run("qpdf", &["--check", pdf.to_str().unwrap_or_default()]);
    assert!(
        ok && out.contains("No syntax or stream encoding errors"),
        "{out}"
    );
    let (ok, out) = openssl_ts_verify(&sb, &pdf);
    assert!(
        ok && out.contains("Verification: OK"),
        "openssl ts -verify: {out}"
    );
    let (_, extracted) = run("pdftotext", &[pdf.to_str().unwrap_or_default(), "-"]);
    assert!(extracted.contains("pagará 900 € al mes"), "{extracted}");
    assert!(extracted.contains(&id), "{extracted}");

    // One flipped byte inside the signed range: every validator must now refuse it.
    let mut tampered = for_alice.clone();
    let at = tampered
        .windows(4)
        .position(|w| w == b"/Pro" || w == b"/Typ")
        .expect("a PDF name inside the first signed range");
    tampered[at + 1] ^= 0x20;
    let bad = dir.join("tampered.pdf");
    std::fs::write(&bad, &tampered).expect("write tampered");
    for (name, ok, out) in validate(&sb, &bad) {
        assert!(!ok, "{name} accepts a tampered certificate:\n{out}");
    }

    // The admin can export it, byte for byte.
    let exported = dir.join("exported.pdf");
    let out = sb.cli(&[
        "certificates",
        "export",
        &id,
        "--output",
        exported.to_str().unwrap_or_default(),
    ]);
    assert!(out.status.success());
    assert_eq!(std::fs::read(&exported).unwrap_or_default(), for_alice);
}

#[test]
fn noex_and_noresp_certificates_go_to_the_customer_only() {
    let sb = Sandbox::up("cert-noex");
    let noex = submit(
        &sb,
        "alice@contract.test",
        "nobody@example.test Servicio",
        "Texto.",
    );
    let pdf = sb.certificate_mail("alice", &[], WAIT);
    let path = PathBuf::from(sb.get("SANDBOX_DIR")).join("noex.pdf");
    std::fs::write(&path, &pdf).expect("write");
    for (name, ok, out) in validate(&sb, &path) {
        assert!(ok, "{name}: {out}");
    }
    let (_, text) = run("pdftotext", &[path.to_str().unwrap_or_default(), "-"]);
    assert!(text.contains("NOEX") && text.contains("5.1.1"), "{text}");
    assert_eq!(
        sb.cli_json(&["contracts", "show", &noex, "--json"])["contract"]["state"],
        "not_delivered"
    );

    let out = sb.cli(&[
        "customers",
        "add",
        "quick",
        "--email",
        "carol@example.test",
        "--smtp-login",
        "alice",
        "--deadline",
        "2s",
        "--language",
        "ja",
    ]);
    assert!(out.status.success());
    let noresp = submit(
        &sb,
        "quick@contract.test",
        "bob@example.test 業務委託契約",
        "本契約は業務委託に関するものです。",
    );
    let pdf = sb.certificate_mail("carol", &[], WAIT);
    let path = PathBuf::from(sb.get("SANDBOX_DIR")).join("noresp.pdf");
    std::fs::write(&path, &pdf).expect("write");
    for (name, ok, out) in validate(&sb, &path) {
        assert!(ok, "{name}: {out}");
    }
    let (_, text) = run("pdftotext", &[path.to_str().unwrap_or_default(), "-"]);
    assert!(
        text.contains("本契約は業務委託に関するものです。"),
        "{text}"
    );
    assert_eq!(
        sb.cli_json(&["contracts", "show", &noresp, "--json"])["contract"]["state"],
        "unanswered"
    );
    // Bob got a request but no certificate: NORESP goes to the customer only.
    assert!(read_maildir(&sb.maildir("bob"))
        .iter()
        .all(|m| pdf_attachments(m)
            .iter()
            .all(|(n, _)| !n.starts_with("certificate-"))));
}
