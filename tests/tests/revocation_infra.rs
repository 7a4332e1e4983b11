//! The sandbox's revocation infrastructure end to end: the test PKI's AIA/CRL URLs, the real OCSP
//! responder and CRL server on loopback, revocation and re-issue, the short-lived TSA, and pyHanko
//! as referee of a B-LTA file with every online service stopped (docs/sandbox.md, issue 14).

use certmail_e2e::{
    http_get, http_post, now_iso, pyhanko_adesverify, pyhanko_sign, referee, run, years_from_now,
    OcspAnswer, Sandbox,
};
use std::path::{Path, PathBuf};

/// `openssl x509 -text` of the first certificate in `pem`.
fn cert_text(pem: &Path) -> String {
    let (ok, out) = run(
        "openssl",
        &["x509", "-in", &pem.to_string_lossy(), "-noout", "-text"],
    );
    assert!(ok, "openssl x509: {out}");
    out
}

/// The CRL at CRL_URL: served as DER with `application/pkix-crl`, read by `openssl crl -inform
/// DER`; returns its text.
fn crl_text(sb: &Sandbox, scratch: &Path) -> String {
    let (status, ctype, body) = http_get(sb.get("CRL_URL")).expect("GET CRL_URL");
    assert_eq!(status, 200);
    assert_eq!(ctype, "application/pkix-crl");
    assert_eq!(body.first(), Some(&0x30), "DER, not PEM");
    let f = scratch.join("ca.crl");
    std::fs::write(&f, &body).unwrap();
    let (ok, out) = run(
        "openssl",
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            &f.to_string_lossy(),
            "-noout",
            "-text",
            "-CAfile",
            sb.get("CA_CERT"),
        ],
    );
    assert!(ok, "openssl crl cannot read the CRL: {out}");
    assert!(out.contains("verify OK"), "CRL signature: {out}");
    out
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("certmail-e2e-{name}-files-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn leaves_point_at_loopback_ocsp_and_crl_and_revocation_flips_both() {
    let sb = Sandbox::up("revinfra");
    let tmp = scratch("revinfra");
    let (ocsp_url, crl_url, ca_url) =
        (sb.get("OCSP_URL"), sb.get("CRL_URL"), sb.get("CA_CERT_URL"));
    for url in [ocsp_url, crl_url, ca_url] {
        assert!(url.starts_with("http://127.0.0.1:"), "loopback only: {url}");
    }

    // Every leaf names the responder, the CA certificate and the CRL (RFC 5280 4.2.2.1, 4.2.1.13).
    for leaf in [
        "operator.pem",
        "operator-rsa.pem",
        "tsa.pem",
        "tsa-short.pem",
    ] {
        let t = cert_text(&sb.pki_file(leaf));
        assert!(t.contains(&format!("OCSP - URI:{ocsp_url}")), "{leaf}: {t}");
        assert!(
            t.contains(&format!("CA Issuers - URI:{ca_url}")),
            "{leaf}: {t}"
        );
        assert!(t.contains(&format!("URI:{crl_url}")), "{leaf}: {t}");
    }
    // The delegated responder: OCSPSigning and id-pkix-ocsp-nocheck (RFC 6960 4.2.2.2).
    let r = cert_text(Path::new(sb.get("OCSP_RESPONDER_CERT")));
    assert!(
        r.contains("OCSP Signing") && r.contains("OCSP No Check"),
        "{r}"
    );
    // The CA is the trust anchor: no AIA, no CRL distribution point; it outlives the leaves.
    let ca = cert_text(Path::new(sb.get("CA_CERT")));
    assert!(!ca.contains("Authority Information Access") && !ca.contains("CRL Distribution"));

    // The CA certificate over HTTP, DER.
    let (status, ctype, body) = http_get(ca_url).expect("GET CA_CERT_URL");
    assert_eq!((status, ctype.as_str()), (200, "application/pkix-cert"));
    let der = tmp.join("ca.der");
    std::fs::write(&der, body).unwrap();
    let (ok, out) = run(
        "openssl",
        &[
            "x509",
            "-inform",
            "DER",
            "-in",
            &der.to_string_lossy(),
            "-noout",
            "-subject",
        ],
    );
    assert!(ok && out.contains("certmail sandbox test CA"), "{out}");

    // OCSP: good for every leaf the CA issued, unknown for one it never recorded.
    let operator = sb.pki_file("operator.pem");
    assert_eq!(sb.ocsp_status(&operator), OcspAnswer::Good);
    assert_eq!(sb.ocsp_status(&sb.pki_file("tsa.pem")), OcspAnswer::Good);
    let stray = tmp.join("stray.pem");
    let (ok, out) = run(
        "openssl",
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            &sb.pki_file("operator.key").to_string_lossy(),
            "-subj",
            "/CN=stray",
            "-days",
            "1",
            "-CA",
            sb.get("CA_CERT"),
            "-CAkey",
            &sb.pki_file("ca.key").to_string_lossy(),
            "-set_serial",
            "4242",
            "-out",
            &stray.to_string_lossy(),
        ],
    );
    assert!(ok, "{out}");
    assert_eq!(sb.ocsp_status(&stray), OcspAnswer::Unknown);
    let crl = crl_text(&sb, &tmp);
    assert!(crl.contains("No Revoked Certificates"), "{crl}");

    // GET (RFC 6960 appendix A.1), as NSS (pdfsig) asks: the URL-encoded base64 of the request.
    let req = tmp.join("req.der");
    let (ok, out) = run(
        "openssl",
        &[
            "ocsp",
            "-issuer",
            sb.get("CA_CERT"),
            "-cert",
            &operator.to_string_lossy(),
            "-no_nonce",
            "-reqout",
            &req.to_string_lossy(),
        ],
    );
    assert!(ok, "{out}");
    let b64 = data_encoding::BASE64.encode(&std::fs::read(&req).unwrap());
    let path = b64
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let (status, ctype, body) = http_get(&format!("{ocsp_url}{path}")).expect("OCSP GET");
    assert_eq!((status, ctype.as_str()), (200, "application/ocsp-response"));
    let resp = tmp.join("resp.der");
    std::fs::write(&resp, body).unwrap();
    let (ok, out) = run(
        "openssl",
        &[
            "ocsp",
            "-respin",
            &resp.to_string_lossy(),
            "-resp_text",
            "-noverify",
        ],
    );
    assert!(ok && out.contains("Cert Status: good"), "{out}");

    // Bad input to the responders: an undecodable OCSP request gets an OCSP answer
    // malformedRequest (RFC 6960 4.2.1), not silence; other content types and paths are refused.
    let (status, ctype, body) =
        http_post(ocsp_url, "application/ocsp-request", b"garbage").unwrap();
    assert_eq!((status, ctype.as_str()), (200, "application/ocsp-response"));
    assert_eq!(body, [0x30, 0x03, 0x0a, 0x01, 0x01]);
    let (status, _, _) = http_post(ocsp_url, "text/plain", b"x").unwrap();
    assert_eq!(status, 400);
    let (status, _, _) = http_get(&crl_url.replace("ca.crl", "nothing")).unwrap();
    assert_eq!(status, 404);

    // Revoking the operator flips OCSP and the CRL at once.
    let serial = sb.pki_revoke("operator");
    assert_eq!(sb.ocsp_status(&operator), OcspAnswer::Revoked);
    let crl = crl_text(&sb, &tmp);
    assert!(
        crl.contains(&format!("Serial Number: {serial}")),
        "{serial} not in {crl}"
    );
    // A fresh operator certificate is good.
    let (key, chain) = sb.pki_issue("operator2");
    assert!(key.exists());
    assert_eq!(sb.ocsp_status(&chain), OcspAnswer::Good);

    // Stopped is stopped: no answer, no CRL; started again on the same ports.
    sb.stop_online_services();
    assert!(matches!(sb.ocsp_status(&chain), OcspAnswer::NoAnswer(_)));
    assert!(http_get(crl_url).is_err());
    assert!(http_get(sb.get("TSA_URL")).is_err());
    sb.start_online_services();
    assert_eq!(sb.ocsp_status(&operator), OcspAnswer::Revoked);
    assert_eq!(sb.ocsp_status(&chain), OcspAnswer::Good);
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn pyhanko_referee_passes_a_genuine_b_lta_offline_and_fails_a_b_t() {
    let sb = Sandbox::up("referee");
    let tmp = scratch("referee");
    let input = certmail_e2e::repo_root().join("fuzz/seeds/verify_pdf/unsigned.pdf");
    let (key, chain) = (sb.pki_file("operator.key"), sb.pki_file("operator.pem"));
    let lta = tmp.join("lta.pdf");
    let bt = tmp.join("bt.pdf");
    pyhanko_sign(&sb, &key, &chain, &input, &lta, true);
    pyhanko_sign(&sb, &key, &chain, &input, &bt, false);
    let trust = sb.get("TRUST_ANCHOR");

    // With every responder and the TSA stopped, only the file speaks.
    sb.stop_online_services();
    // After the operator and TSA certificates (5 years) expired; and ten years ahead (CA: 20).
    let (after_expiry, ten) = (years_from_now(6), years_from_now(10));
    let r = referee(&lta, trust, None, &[&after_expiry, &ten]);
    assert!(r.ok, "{}", r.output);
    let f = r.file();
    assert_eq!(f["level"], "B-LTA", "{}", r.output);
    assert_eq!(f["dss"], true);
    assert!(f["dss_ocsps"].as_u64().unwrap_or(0) + f["dss_crls"].as_u64().unwrap_or(0) > 0);
    assert_eq!(f["doc_timestamps"], 1);
    for mode in ["at", "future"] {
        let sigs = r.signatures(mode);
        assert!(!sigs.is_empty(), "{}", r.output);
        for s in sigs {
            assert_eq!(s["ades"], "PASSED", "{mode}: {}", r.output);
            assert_eq!(s["trusted"], true);
            assert_eq!(s["modification"], "LTA_UPDATES");
        }
    }
    assert_eq!(r.signatures("future").len(), 2);
    // Offline "now" holds while the embedded OCSP answers are fresh (nextUpdate: 24 h), not only
    // in the first minutes (with openssl's 5-minute -nmin this was INDETERMINATE).
    let (ok, later) = run("date", &["-u", "-d", "+2 hours", "+%FT%TZ"]);
    assert!(ok, "{later}");
    let r = referee(&lta, trust, Some(later.trim()), &[]);
    assert!(r.ok, "two hours later, offline: {}", r.output);
    // pyHanko's own CLI agrees, offline (point-in-time mode: see pyhanko_adesverify).
    let (ok, out) = pyhanko_adesverify(&lta, trust, &now_iso());
    assert!(ok, "pyhanko sign adesverify: {out}");

    // A B-T file carries no revocation data: offline, the referee cannot validate it.
    let r = referee(&bt, trust, None, &[&after_expiry]);
    assert!(!r.ok, "a B-T file passed offline: {}", r.output);
    assert_eq!(r.file()["level"], "B-T");
    assert!(r.signatures("future").iter().all(|s| s["ades"] != "PASSED"));
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn short_lived_tsa_at_up_and_switch_to_the_long_one() {
    let sb = Sandbox::up_with("tsashort", &[("SANDBOX_TSA_SHORT", "1")]);
    let tmp = scratch("tsashort");
    assert_eq!(sb.get("TSA_SHORT"), "1");
    let url = sb.get("TSA_URL").to_string();
    // The token's signer, by the TSA name openssl prints.
    let signer = |tag: &str| -> String {
        let q = tmp.join(format!("{tag}.tsq"));
        let data = tmp.join("data");
        std::fs::write(&data, tag).unwrap();
        let (ok, out) = run(
            "openssl",
            &[
                "ts",
                "-query",
                "-data",
                &data.to_string_lossy(),
                "-sha256",
                "-cert",
                "-out",
                &q.to_string_lossy(),
            ],
        );
        assert!(ok, "{out}");
        let reply = tmp.join(format!("{tag}.tsr"));
        let (status, _, body) = http_post(
            &url,
            "application/timestamp-query",
            &std::fs::read(&q).unwrap(),
        )
        .expect("POST to the TSA");
        assert_eq!(status, 200, "TSA at {url}");
        std::fs::write(&reply, body).unwrap();
        let (ok, out) = run(
            "openssl",
            &["ts", "-reply", "-in", &reply.to_string_lossy(), "-text"],
        );
        assert!(ok, "{out}");
        out
    };
    let short = signer("one");
    assert!(short.contains("TSA (short-lived)"), "{short}");
    let t = cert_text(Path::new(sb.get("TSA_SHORT_CERT")));
    let (ok, days) = run(
        "openssl",
        &[
            "x509",
            "-in",
            sb.get("TSA_SHORT_CERT"),
            "-noout",
            "-checkend",
            &(31 * 86400).to_string(),
        ],
    );
    assert!(!ok, "tsa-short.pem outlives 31 days: {days} {t}");

    sb.tsa_cert("long");
    assert_eq!(sb.get("TSA_URL"), url);
    let long = signer("two");
    assert!(
        long.contains("certmail sandbox TSA") && !long.contains("short-lived"),
        "{long}"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
