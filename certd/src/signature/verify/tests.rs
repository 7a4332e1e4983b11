//! `certd verify` on B-T, B-LT and B-LTA files made by pyHanko, and on changed copies of them
//! (fixtures in `certd/tests/fixtures/pades-ltv`, made by its `generate.py`; times there:
//! signature time-stamp 2026-03-01T10:00:00Z, OCSP 10:05, document time-stamp 10:10, TSA
//! certificate valid until 2028-06-01).

use super::revisions::revision_ends;
use super::verify_pdf_at;
use crate::signature::{Level, VerifyReport};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pades-ltv/");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}{name}")).expect("fixture")
}

/// 2026-12-01T00:00:00Z: inside every certificate's validity.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_796_083_200)
}

fn date(s: &str) -> SystemTime {
    humantime::parse_rfc3339(s).expect("date")
}

fn verify_at(pdf: &[u8], at: SystemTime) -> VerifyReport {
    let anchors = String::from_utf8(fixture("root.pem")).expect("PEM");
    let report = verify_pdf_at(pdf, &anchors, at);
    for (name, ok, detail) in &report.checks {
        eprintln!("{} {name}: {detail}", if *ok { "ok  " } else { "FAIL" });
    }
    report
}

fn verify(pdf: &[u8]) -> VerifyReport {
    verify_at(pdf, now())
}

fn detail<'a>(r: &'a VerifyReport, name: &str) -> &'a str {
    r.checks
        .iter()
        .find(|c| c.0 == name)
        .map(|c| c.2.as_str())
        .unwrap_or_else(|| panic!("no check {name:?} in {r:#?}"))
}

fn failed(r: &VerifyReport) -> Vec<String> {
    r.checks
        .iter()
        .filter(|c| !c.1)
        .map(|c| format!("{}: {}", c.0, c.2))
        .collect()
}

#[test]
fn levels_of_pyhanko_files() {
    for (file, level) in [
        ("bt.pdf", Level::T),
        ("blt.pdf", Level::Lt),
        ("blta.pdf", Level::Lta),
    ] {
        let r = verify(&fixture(file));
        assert!(r.valid, "{file}: {:?}", failed(&r));
        assert_eq!(r.level, Some(level), "{file}");
        assert_eq!(r.at, "2026-12-01T00:00:00Z");
    }
    let r = verify(&fixture("blta.pdf"));
    // pyHanko keys /VRI by the SHA-1 of /Contents, as certd looks it up.
    assert!(
        detail(&r, "validation data")
            .contains("/VRI entries for the signature and 1 document time-stamp"),
        "{r:#?}"
    );
    assert!(detail(&r, "revocation (signature)").contains("OCSP good, issued 2026-03-01T10:05:00Z"));
    assert!(detail(&r, "revocation (signature)").contains("CRL of CN=Test Root"));
}

/// Without its validation-data revisions a file is back to what its signed revisions reach.
#[test]
fn dss_removed_lowers_the_level() {
    let blta = fixture("blta.pdf");
    let ends = revision_ends(&blta);
    assert_eq!(ends.len(), 5, "{ends:?}");
    for (revisions, level) in [(2, Level::T), (3, Level::Lt), (4, Level::Lta)] {
        let r = verify(&blta[..ends[revisions - 1]]);
        assert!(r.valid, "{revisions} revisions: {:?}", failed(&r));
        assert_eq!(r.level, Some(level), "{revisions} revisions");
    }
}

#[test]
fn revoked_certificate_in_dss_is_invalid() {
    let r = verify(&fixture("revoked.pdf"));
    assert!(!r.valid);
    assert_eq!(r.level, None);
    let bad = failed(&r);
    assert!(
        bad.iter().any(|f| f.starts_with("revocation (signature)")
            && f.contains("CN=certmail operator")
            && f.contains("revoked at 2026-02-28T10:00:00Z (KeyCompromise)")),
        "{bad:?}"
    );
}

/// An OCSP response produced the day before the signature time-stamp proves nothing about
/// the signature (ETSI EN 319 102-1 freshness): still a valid B-T, not B-LT.
#[test]
fn stale_ocsp_is_not_b_lt() {
    let r = verify(&fixture("stale.pdf"));
    assert!(r.valid, "{:?}", failed(&r));
    assert_eq!(r.level, Some(Level::T));
    assert!(
        detail(&r, "revocation (signature)").contains(
            "CN=certmail operator,O=certmail test: not fresh: OCSP good but issued \
             2026-02-28T10:00:00Z, before 2026-03-01T10:00:00Z"
        ),
        "{r:#?}"
    );
}

#[test]
fn shadow_attacks_are_modifications_after_signing() {
    for (file, names) in [
        (
            "shadow-content.pdf",
            "object 3 0 (content stream of page 1) changed",
        ),
        (
            "shadow-annot.pdf",
            "object 4 0 (page 1): annotation object 33 0 (/Type /Annot /Subtype /FreeText) added",
        ),
    ] {
        let r = verify(&fixture(file));
        assert!(!r.valid, "{file}");
        let bad = failed(&r);
        assert!(
            bad.iter()
                .any(|f| f.starts_with("modifications after signing")
                    && f.contains(&format!("revision 6: {names}"))),
            "{file}: {bad:?}"
        );
        // Everything else about the file is fine: only the modification makes it INVALID.
        assert_eq!(bad.len(), 1, "{file}: {bad:?}");
    }
}

/// pyHanko's difference analysis agrees: the shadow files have illegal modifications, the
/// B-LTA file only acceptable ones.
#[test]
fn pyhanko_agrees_on_modifications() {
    let exe = ["/opt/certmail-validators/bin/pyhanko", "pyhanko"]
        .into_iter()
        .find(|e| {
            Command::new(e)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    let Some(exe) = exe else {
        eprintln!("SKIPPED pyHanko: not installed (pip install pyhanko pyhanko-cli)");
        return;
    };
    for (file, illegal) in [
        ("blta.pdf", false),
        ("shadow-content.pdf", true),
        ("shadow-annot.pdf", true),
    ] {
        let out = Command::new(exe)
            .args([
                "sign",
                "adesverify",
                "--no-revocation-check",
                "--trust-replace",
                "--trust",
            ])
            .arg(format!("{DIR}root.pem"))
            .arg(format!("{DIR}{file}"))
            .output()
            .expect("pyhanko");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            text.contains("ILLEGAL_MODIFICATIONS"),
            illegal,
            "{file}: {text}"
        );
        assert_eq!(verify(&fixture(file)).valid, !illegal, "{file}");
    }
}

/// Ten years on, the TSA certificate has expired: pyHanko's future-validation simulation
/// assumes the time-stamp chain is maintained, and so does certd, saying renewal is due.
#[test]
fn ten_years_ahead_is_b_lta_with_a_renewal_line() {
    let r = verify_at(&fixture("blta.pdf"), date("2036-03-01T00:00:00Z"));
    assert!(r.valid, "{:?}", failed(&r));
    assert_eq!(r.level, Some(Level::Lta));
    assert_eq!(r.at, "2036-03-01T00:00:00Z");
    assert_eq!(
        detail(&r, "renewal"),
        "renewal needed before 2028-06-01T00:00:00Z: after that date the file is valid only if \
         `certd certificates renew` added a newer document time-stamp"
    );
    // The signature time-stamp's chain is checked when the document time-stamp proves it.
    assert!(detail(&r, "timestamp certificate").contains("valid at 2026-03-01T10:10:00Z"));
    // Before the TSA certificate expires, no renewal line.
    let r = verify_at(&fixture("blta.pdf"), date("2028-01-01T00:00:00Z"));
    assert!(
        r.valid && !r.checks.iter().any(|c| c.0 == "renewal"),
        "{r:#?}"
    );
}

#[test]
fn validation_before_the_time_stamps_is_invalid() {
    let r = verify_at(&fixture("blta.pdf"), date("2026-03-01T10:05:00Z"));
    assert!(!r.valid);
    assert!(
        failed(&r)
            .iter()
            .any(|f| f.starts_with("validation time") && f.contains("2026-03-01T10:10:00Z")),
        "{r:#?}"
    );
}

/// A byte changed in any revision a signature or time-stamp covers makes the file INVALID.
/// The last revision (validation data for the document time-stamp) is covered by none, as in
/// every B-LTA file: a change there is judged by what it changes (a metadata date may change;
/// content may not, see `shadow_attacks_are_modifications_after_signing`).
#[test]
fn flipped_byte_in_each_revision_is_invalid() {
    let blta = fixture("blta.pdf");
    let ends = revision_ends(&blta);
    let mut start = 0;
    for (i, end) in ends.iter().enumerate() {
        // A byte a quarter into the revision (a revision's middle may be a /Contents hole,
        // which is covered too, but differently).
        let at = start + (end - start) / 4;
        let mut bad = blta.clone();
        bad[at] ^= 0x04;
        let r = verify(&bad);
        if i + 1 < ends.len() {
            assert!(
                !r.valid,
                "revision {} byte {at} ({:?} -> {:?}) went unnoticed",
                i + 1,
                blta[at] as char,
                bad[at] as char
            );
        } else {
            assert!(
                blta[at - 30..at].windows(9).any(|w| w == b"/ModDate "),
                "the byte is in the document information's /ModDate"
            );
            assert!(r.valid, "{:?}", failed(&r));
            assert!(detail(&r, "revisions").contains("5: /DSS, document metadata"));
        }
        start = *end;
    }
}

#[test]
fn appended_garbage_and_truncations_never_panic() {
    let blta = fixture("blta.pdf");
    let mut appended = blta.clone();
    appended.extend_from_slice(b"\n1 0 obj\n<< /Type /Catalog >>\nendobj\n");
    let r = verify(&appended);
    assert!(!r.valid);
    assert!(
        failed(&r).iter().any(|f| f.starts_with("byte range")),
        "{r:#?}"
    );
    for len in (0..blta.len()).step_by(211) {
        let r = verify(&blta[..len]);
        assert!(!r.checks.is_empty());
    }
}
