//! The evidence file built from a real database (the v7 fixture, written by the sandbox),
//! checked on its own and inside a rendered PDF, validated against `docs/evidence.schema.json`,
//! and its ETSI mapping walked over every transition of the lifecycle.

use super::*;
use crate::certificate::evidence_file::etsi::{mapping, ErdsEvent, Mapping, NoEvent};
use crate::evidence::event::{
    Applied, Arrival, Bounce, CertificateIssued, CertificateRenewed, CertificateResend, Deadline,
    DlrFailure, DsnBounce, EmailReply, Failed, MailSent, Refused, Reply, Requested, SmsDlr,
    SmsReply, SmsSent, Submitted,
};
use crate::evidence::{Decision, JobKind, Standing};
use crate::lifecycle::{self, Contract, Event, Policy};
use crate::store::{ListFilter, Store};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const OPERATOR: &str = "certmail sandbox operator";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A copy of the v7 fixture (a sandbox database: every state, SMS, late and foreign answers).
fn fixture(dir: &Path) -> Store {
    let dst = dir.join("certd.sqlite");
    std::fs::copy(repo().join("tests/fixtures/store-v7/certd-v7.sqlite"), &dst)
        .expect("copy the v7 fixture");
    std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    Store::open(&dst).expect("open the fixture")
}

/// Every contract's snapshot as the outbox saw it when it issued the certificate: the events
/// before `certificate_issued`, and that event's time as the issue time.
fn as_issued(store: &Store) -> Vec<(Snapshot, Instant)> {
    let mut out = Vec::new();
    for c in store.list_contracts(&ListFilter::default()).expect("list") {
        let mut s = store.snapshot(&c.id).expect("snapshot").expect("contract");
        let Some(i) = s.events.iter().position(|e| e.kind == "certificate_issued") else {
            continue;
        };
        let at = s.events[i].at;
        s.events.truncate(i);
        out.push((s, at));
    }
    out
}

fn one(store: &Store, serial: i64) -> (Snapshot, Instant) {
    as_issued(store)
        .into_iter()
        .find(|(s, _)| s.contract.summary.serial == serial)
        .expect("fixture contract")
}

#[test]
fn every_certified_contract_of_the_fixture_gives_a_file_that_checks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = fixture(dir.path());
    let issued = as_issued(&store);
    let mut states: Vec<State> = issued
        .iter()
        .map(|(s, _)| s.contract.summary.state)
        .collect();
    states.sort_by_key(|s| s.as_str());
    states.dedup();
    assert_eq!(states.len(), 4, "every final state: {states:?}");
    for (s, at) in &issued {
        let bytes = build(s, OPERATOR, *at).expect("build");
        let (n, head) = check_file(&bytes).expect("the file checks");
        assert_eq!(n, s.events.len());
        assert_eq!(Some(&head), s.events.last().map(|e| &e.hash));
        let file: EvidenceFile = serde_json::from_slice(&bytes).expect("typed");
        assert_eq!(file.final_state, s.contract.summary.state);
        // The deciding record carries the 319 522 event of the outcome.
        let codes: Vec<&str> = file
            .records
            .iter()
            .filter_map(|r| r.etsi.as_ref().map(|e| e.event_id.as_str()))
            .collect();
        let outcome = match s.contract.summary.state {
            State::Accepted => "ConsignmentAcceptance",
            State::Rejected => "ConsignmentRejection",
            State::NotDelivered => "ContentConsignmentFailure",
            State::Unanswered => "AcceptanceRejectionExpiry",
            other => panic!("not final: {other}"),
        };
        assert!(
            codes.contains(&format!("http://uri.etsi.org/19522/Event/{outcome}").as_str()),
            "{codes:?}"
        );
        assert_eq!(
            codes.first().copied(),
            Some("http://uri.etsi.org/19522/Event/SubmissionAcceptance")
        );
    }
}

/// The serial-1 file of the fixture, and its value.
fn sample(dir: &Path) -> (Vec<u8>, serde_json::Value) {
    let store = fixture(dir);
    let (s, at) = one(&store, 1);
    let bytes = build(&s, OPERATOR, at).expect("build");
    let value = serde_json::from_slice(&bytes).expect("json");
    (bytes, value)
}

/// Changes the digit right after the first `needle` (one byte, the JSON stays canonical).
fn flip_digit_after(bytes: &mut [u8], needle: &[u8]) {
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle")
        + needle.len();
    assert!(bytes[at].is_ascii_digit());
    bytes[at] = if bytes[at] == b'9' {
        b'1'
    } else {
        bytes[at] + 1
    };
}

fn canonical(v: &serde_json::Value) -> Vec<u8> {
    serde_json_canonicalizer::to_vec(v).expect("jcs")
}

#[test]
fn one_byte_changed_in_an_event_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut bytes, _) = sample(dir.path());
    assert!(check_file(&bytes).is_ok());
    // Inside record 1's hashed data text (escaped quotes: only there, not in `certmail`).
    flip_digit_after(&mut bytes, br#"\"raw_size\":"#);
    match check_file(&bytes) {
        Err(EvidenceError::Chain(ChainError::Content { seq: 1 })) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn reordered_records_fail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, mut v) = sample(dir.path());
    let records = v["records"].as_array_mut().expect("records");
    records.swap(2, 3);
    match check_file(&canonical(&v)) {
        Err(EvidenceError::Chain(ChainError::Gap {
            seq: 4,
            expected: 3,
        })) => {}
        other => panic!("{other:?}"),
    }
    // Renumbered too: the links give it away.
    let records = v["records"].as_array_mut().expect("records");
    records[2]["event"]["seq"] = 3.into();
    records[3]["event"]["seq"] = 4.into();
    match check_file(&canonical(&v)) {
        Err(EvidenceError::Chain(ChainError::Link { seq: 3 })) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_dropped_last_record_or_a_changed_readable_copy_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (bytes, v) = sample(dir.path());
    let mut short = v.clone();
    short["records"].as_array_mut().expect("records").pop();
    short["chain"]["events"] = (short["records"].as_array().expect("records").len()).into();
    assert!(matches!(
        check_file(&canonical(&short)),
        Err(EvidenceError::Head { .. })
    ));
    // The readable copy and the ETSI code must say what the hashed text says.
    let mut copy = v.clone();
    copy["records"][4]["certmail"]["decision"] = "reject".into();
    assert!(matches!(
        check_file(&canonical(&copy)),
        Err(EvidenceError::Readable { seq: 5 })
    ));
    let mut code = v.clone();
    code["records"][0]["etsi"]["ERDSEventId"] =
        "http://uri.etsi.org/19522/Event/SubmissionRejection".into();
    assert!(matches!(
        check_file(&canonical(&code)),
        Err(EvidenceError::Code { seq: 1 })
    ));
    // Pretty-printed is the same JSON but not RFC 8785.
    let pretty = serde_json::to_vec_pretty(&v).expect("pretty");
    assert!(matches!(
        check_file(&pretty),
        Err(EvidenceError::NotCanonical)
    ));
    assert!(matches!(
        check_file(&bytes[1..]),
        Err(EvidenceError::NotJson(_))
    ));
}

/// A Python with `jsonschema` (Draft 2020-12): pyHanko's venv, else the system's.
fn python_with_jsonschema() -> PathBuf {
    for p in [
        "/opt/certmail-validators/bin/python",
        "python3",
        "/usr/bin/python3",
    ] {
        let ok = Command::new(p)
            .args(["-c", "import jsonschema; jsonschema.Draft202012Validator"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return PathBuf::from(p);
        }
    }
    panic!("no Python with jsonschema: apt-get install python3-jsonschema (contrib/deps)");
}

const VALIDATE: &str = r#"
import json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
v = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
for f in sys.argv[2:]:
    errors = sorted(v.iter_errors(json.load(open(f))), key=lambda e: e.json_path)
    print(f, "ok" if not errors else "; ".join(e.json_path + ": " + e.message for e in errors[:3]))
"#;

/// `path -> "ok"` or the first errors, for each file.
fn validate(files: &[PathBuf]) -> Vec<(PathBuf, String)> {
    let out = Command::new(python_with_jsonschema())
        .arg("-c")
        .arg(VALIDATE)
        .arg(repo().join("docs/evidence.schema.json"))
        .args(files)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (f, verdict) = l.split_once(' ').unwrap_or((l, ""));
            (PathBuf::from(f), verdict.to_string())
        })
        .collect()
}

#[test]
fn generated_files_validate_against_the_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = fixture(dir.path());
    let mut files = Vec::new();
    for (s, at) in as_issued(&store) {
        let path = dir
            .path()
            .join(format!("{}.json", s.contract.summary.serial));
        std::fs::write(&path, build(&s, OPERATOR, at).expect("build")).expect("write");
        files.push(path);
    }
    // The same contracts with the events after issue (certificate_issued, resend) too.
    for c in store.list_contracts(&ListFilter::default()).expect("list") {
        let s = store.snapshot(&c.id).expect("snapshot").expect("contract");
        if !s.contract.summary.state.is_final() {
            continue;
        }
        let path = dir.path().join(format!("{}-later.json", c.serial));
        std::fs::write(&path, build(&s, OPERATOR, Instant::now()).expect("build")).expect("write");
        files.push(path);
    }
    files.push(repo().join("docs/evidence.example.json"));
    // And one the schema must refuse: an event code that is not one of ours.
    let mut bad: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&files[0]).expect("read")).expect("json");
    bad["records"][0]["etsi"]["ERDSEventId"] = "http://example.test/Event".into();
    let bad_path = dir.path().join("bad.json");
    std::fs::write(&bad_path, canonical(&bad)).expect("write");
    files.push(bad_path.clone());

    let verdicts = validate(&files);
    assert_eq!(verdicts.len(), files.len(), "{verdicts:?}");
    for (f, verdict) in &verdicts {
        if *f == bad_path {
            assert!(verdict.contains("ERDSEventId"), "{verdict}");
        } else {
            assert_eq!(verdict, "ok", "{}", f.display());
        }
    }
}

/// `docs/evidence.example.json` is the file of fixture contract 1 (accepted by email after an
/// unclear, a foreign and a late answer) as it was issued. `CERTMAIL_WRITE_EXAMPLE=1` writes it.
#[test]
fn the_example_in_docs_is_what_build_gives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (bytes, _) = sample(dir.path());
    let path = repo().join("docs/evidence.example.json");
    if std::env::var_os("CERTMAIL_WRITE_EXAMPLE").is_some() {
        std::fs::write(&path, &bytes).expect("write the example");
    }
    let committed = std::fs::read(&path).expect("docs/evidence.example.json");
    assert!(
        committed == bytes,
        "the example is stale: CERTMAIL_WRITE_EXAMPLE=1"
    );
    assert!(check_file(&committed).is_ok());
}

// --- inside the PDF -------------------------------------------------------------------------

/// The certificate of fixture contract `serial` as rendered (unsigned), or `None` without fonts.
fn rendered(store: &Store, serial: i64) -> Option<(crate::certificate::CertificateData, Vec<u8>)> {
    let (s, at) = one(store, serial);
    let data = crate::certificate::build::build(&s, OPERATOR, "sentence", at).expect("build");
    match crate::certificate::render::render(&data) {
        Err(crate::error::Error::Config(e)) => {
            eprintln!("fonts missing, skipping: {e}");
            None
        }
        other => Some((data, other.expect("render"))),
    }
}

#[test]
fn the_rendered_certificate_carries_the_file_and_the_head() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = fixture(dir.path());
    let Some((data, pdf)) = rendered(&store, 3) else {
        return;
    };
    let checked = check(&pdf).expect("check");
    assert_eq!(checked.head, data.chain_head);
    assert!(!checked.signed);
    let evidence = data
        .embedded
        .iter()
        .find(|e| e.name == FILE_NAME)
        .expect("evidence embedded");
    assert_eq!(
        evidence.relationship,
        crate::certificate::Relationship::Data
    );
    assert_eq!(checked.events, check_file(&evidence.bytes).expect("file").0);
    // The file sits in the catalog's /AF with /AFRelationship /Data and its MIME subtype.
    let text = String::from_utf8_lossy(&pdf);
    assert!(text.contains("/AFRelationship/Data"), "AF relationship");
    assert!(text.contains("/Subtype/application#2Fjson"), "MIME subtype");
    assert!(text.contains(&format!("{HEAD_KEYWORD}{}", data.chain_head)));
}

#[test]
fn a_certificate_whose_file_or_head_differs_fails_and_an_old_one_has_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = fixture(dir.path());
    let Some((data, _)) = rendered(&store, 4) else {
        return;
    };
    let render = |d: &crate::certificate::CertificateData| {
        crate::certificate::render::render(d).expect("render")
    };
    // One byte of an event in the embedded file.
    let mut tampered = data.clone();
    let file = tampered
        .embedded
        .iter_mut()
        .find(|e| e.name == FILE_NAME)
        .expect("evidence");
    flip_digit_after(&mut file.bytes, br#"\"raw_size\":"#);
    assert!(matches!(
        check(&render(&tampered)),
        Err(EvidenceError::Chain(ChainError::Content { seq: 1 }))
    ));
    // A head on the page (and in /Keywords) that is not the file's.
    let mut other_head = data.clone();
    other_head.chain_head = "ab".repeat(32);
    assert!(matches!(
        check(&render(&other_head)),
        Err(EvidenceError::SignedHead { .. })
    ));
    // A certificate from before evidence files: nothing embedded under that name.
    let mut old = data.clone();
    old.embedded.retain(|e| e.name != FILE_NAME);
    assert!(matches!(check(&render(&old)), Err(EvidenceError::Absent)));
}

/// An incremental update appended to `pdf`: `objects` (number, body) and a trailer naming
/// the same /Root and /Info, chained to the previous cross-reference section.
fn append_update(pdf: &[u8], objects: &[(u32, String)]) -> Vec<u8> {
    let doc = lopdf::Document::load_mem(pdf).expect("load");
    let root = doc
        .trailer
        .get(b"Root")
        .and_then(|o| o.as_reference())
        .expect("root");
    let info = doc
        .trailer
        .get(b"Info")
        .and_then(|o| o.as_reference())
        .expect("info");
    let text = String::from_utf8_lossy(pdf);
    let prev: usize = text
        .rsplit("startxref")
        .next()
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("startxref");
    let size = doc
        .max_id
        .max(objects.iter().map(|o| o.0).max().unwrap_or(0))
        + 1;
    let mut out = pdf.to_vec();
    let mut xref = String::from("xref\n");
    for (n, body) in objects {
        xref.push_str(&format!("{n} 1\n{:010} 00000 n \n", out.len()));
        out.extend_from_slice(format!("{n} 0 obj\n{body}\nendobj\n").as_bytes());
    }
    let at = out.len();
    out.extend_from_slice(xref.as_bytes());
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {size} /Root {} {} R /Info {} {} R /Prev {prev} >>\nstartxref\n{at}\n%%EOF\n",
            root.0, root.1, info.0, info.1
        )
        .as_bytes(),
    );
    out
}

#[test]
fn only_the_signed_revision_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = fixture(dir.path());
    let Some((data, pdf)) = rendered(&store, 6) else {
        return;
    };
    let doc = lopdf::Document::load_mem(&pdf).expect("load");
    let info = doc
        .trailer
        .get(b"Info")
        .and_then(|o| o.as_reference())
        .expect("info");
    let sig = doc.max_id + 1;
    // A stand-in for the signature revision: a /Sig whose /ByteRange covers the file up to its
    // own end (the width of the numbers is fixed, so the length is known beforehand).
    let with_sig = |end: usize| {
        append_update(
            &pdf,
            &[(
                sig,
                format!("<< /Type /Sig /ByteRange [0 {end:010} {end:010} 0000000000] >>"),
            )],
        )
    };
    let signed_len = with_sig(0).len();
    let signed = with_sig(signed_len);
    assert_eq!(signed.len(), signed_len);
    // A /ByteRange past the end of the file is refused with the reason, not read.
    assert!(matches!(
        check(&with_sig(signed_len + 100)),
        Err(EvidenceError::ByteRange { .. })
    ));
    let checked = check(&signed).expect("signed revision checks");
    assert!(checked.signed);
    assert_eq!(checked.head, data.chain_head);
    assert_eq!(
        verdict(&signed),
        (
            true,
            format!(
                "{} events, chain verifies, head {} as in the signed revision",
                checked.events, data.chain_head
            )
        )
    );
    // A later revision rewrites /Keywords with another head: the signed one still counts.
    let forged = format!("<< /Keywords ({HEAD_KEYWORD}{}) >>", "cd".repeat(32));
    let later = append_update(&signed, &[(info.0, forged.clone())]);
    let checked = check(&later).expect("the later revision is not read");
    assert_eq!(checked.head, data.chain_head);
    // Had the signature covered that revision, the heads would differ.
    let covered = append_update(&pdf, &[(info.0, forged)]);
    let end = covered.len();
    let covered_then_signed = {
        let probe = append_update(
            &covered,
            &[(
                sig,
                format!("<< /Type /Sig /ByteRange [0 {end:010} {end:010} 0000000000] >>"),
            )],
        );
        let len = probe.len();
        append_update(
            &covered,
            &[(
                sig,
                format!("<< /Type /Sig /ByteRange [0 {len:010} {len:010} 0000000000] >>"),
            )],
        )
    };
    assert!(matches!(
        check(&covered_then_signed),
        Err(EvidenceError::SignedHead { .. })
    ));
}

/// The certificates the previous release stored (signed, time-stamped, no evidence file) pass
/// `certd verify`'s evidence line with a note; a bad file fails it.
#[test]
fn certificates_from_before_evidence_files_pass_with_a_note() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = fixture(dir.path());
    let mut old = 0;
    for c in store.list_contracts(&ListFilter::default()).expect("list") {
        let Some(pdf) = store.certificate(&c.id).expect("certificate") else {
            continue;
        };
        assert!(matches!(check(&pdf), Err(EvidenceError::Absent)));
        let (ok, line) = verdict(&pdf);
        assert!(ok, "{line}");
        assert_eq!(
            line,
            "no embedded evidence file (issued before certd embedded certmail-evidence/1)"
        );
        old += 1;
    }
    assert_eq!(old, 5, "the fixture's five certificates");
    let (ok, line) = verdict(b"not a pdf");
    assert!(!ok && line.starts_with("the PDF cannot be read"), "{line}");
}

#[test]
fn what_is_no_pdf_is_refused_with_the_reason() {
    for bad in [&b""[..], b"%PDF-1.7\n1 0 obj <<", b"\x00\xff garbage"] {
        assert!(matches!(check(bad), Err(EvidenceError::Pdf(_))), "{bad:?}");
    }
}

/// Cost of the evidence file for fixture contract 1 (11 events): build, check, and the PDF's
/// growth; run with `cargo test --release -p certd evidence_timing -- --ignored --nocapture`.
#[test]
#[ignore]
fn evidence_timing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = fixture(dir.path());
    let (s, at) = one(&store, 1);
    let runs = 200;
    let t = std::time::Instant::now();
    let mut bytes = Vec::new();
    for _ in 0..runs {
        bytes = build(&s, OPERATOR, at).expect("build");
    }
    let built = t.elapsed() / runs;
    let t = std::time::Instant::now();
    for _ in 0..runs {
        check_file(&bytes).expect("check");
    }
    let checked = t.elapsed() / runs;
    let data = crate::certificate::build::build(&s, OPERATOR, "sentence", at).expect("build");
    let mut without = data.clone();
    without.embedded.retain(|e| e.name != FILE_NAME);
    let (Ok(a), Ok(b)) = (
        crate::certificate::render::render(&data),
        crate::certificate::render::render(&without),
    ) else {
        return;
    };
    eprintln!(
        "evidence.json {} bytes: build {built:?}, check {checked:?}; PDF {} -> {} bytes",
        bytes.len(),
        b.len(),
        a.len()
    );
}

// --- the mapping covers the lifecycle -------------------------------------------------------

fn arrival() -> Arrival {
    Arrival {
        raw_sha256: "00".repeat(32),
        raw_size: 1,
        envelope_from: "bob@example.test".into(),
        ..Arrival::default()
    }
}

fn reply_data(from: &str, decision: Decision, standing: Standing) -> EventData {
    let answer = if from.starts_with('+') {
        ReplyBy::Sms(SmsReply {
            destination: from.into(),
            sender: from.into(),
            receiver: None,
            code: "A1B2C3".into(),
            response_text: "YES".into(),
            gateway_id: None,
            gateway_time: None,
            decision,
            sms_inbound_id: 1,
        })
    } else {
        ReplyBy::Email(Box::new(EmailReply {
            destination: from.into(),
            from_header: None,
            subject: None,
            message_id: None,
            date: None,
            received: Vec::new(),
            response_text: "yes".into(),
            decision,
            standing: Some(standing),
            authenticity: None,
            not_decisive_because: None,
            arrival: arrival(),
        }))
    };
    let r = Reply {
        answer,
        applied: Applied::default(),
    };
    // docs/lifecycle.md, "Answers": `reply` when decisive, else `reply_noted`.
    if standing == Standing::Decisive {
        EventData::Reply(r)
    } else {
        EventData::ReplyNoted(r)
    }
}

fn bounce_data(destination: &str, report: usize) -> EventData {
    let report = match report {
        0 => BounceReport::Dsn(Box::new(DsnBounce {
            destination: destination.into(),
            decisive: Some(true),
            reason: None,
            delivery_status_report: Some(true),
            envelope_id_present: Some(true),
            action: Some("failed".into()),
            status: Some("5.1.1".into()),
            diagnostic: Some("550 5.1.1 no such user".into()),
            original_recipient: None,
            final_recipient: Some(destination.into()),
            remote_mta: None,
            reporting_mta: None,
            returned_message_id: None,
            returned_message_is_ours: None,
            received: Vec::new(),
            arrival: arrival(),
        })),
        1 => BounceReport::Smtp(Refused {
            destination: destination.into(),
            diagnostic: "550 5.1.1 unknown".into(),
        }),
        2 => BounceReport::SmsGateway(Refused {
            destination: destination.into(),
            diagnostic: "refused".into(),
        }),
        _ => BounceReport::SmsDlr(DlrFailure {
            destination: destination.into(),
            status: "2 (undelivered)".into(),
            diagnostic: None,
            reporting_mta: "smsc".into(),
            reference: "r".into(),
        }),
    };
    EventData::Bounce(Bounce {
        report,
        applied: Applied::default(),
    })
}

/// The contracts the walk starts from: email only, email and phone, phone only, with and
/// without clarifications left, in every state.
fn contracts() -> Vec<Contract> {
    let mut out = Vec::new();
    for state in State::ALL {
        for (emails, phones) in [
            (vec!["bob@example.test"], vec![]),
            (vec!["bob@example.test"], vec!["+34600111222"]),
            (vec![], vec!["+34600111222"]),
            (vec!["bob@example.test", "carol@example.test"], vec![]),
        ] {
            for clarifications in [0, 3] {
                out.push(Contract {
                    id: "c".into(),
                    state,
                    emails: emails.iter().map(|s| s.to_string()).collect(),
                    phones: phones.iter().map(|s| s.to_string()).collect(),
                    bounced: Vec::new(),
                    deadline_at: Some(Instant::from_unix_secs(100)),
                    clarifications: emails
                        .iter()
                        .chain(&phones)
                        .map(|d| (d.to_string(), clarifications))
                        .collect(),
                });
            }
        }
    }
    out
}

/// Every event the lifecycle can be given for `c`, with the data `record.rs` would store.
fn events(c: &Contract) -> Vec<(Event, EventData)> {
    let mut out = vec![(
        Event::Start,
        EventData::Requested(Requested {
            deadline_at: Instant::default(),
            applied: Applied::default(),
        }),
    )];
    out.push((
        Event::Deadline,
        EventData::Deadline(Deadline {
            deadline_at: Instant::from_unix_secs(100),
            applied: Applied::default(),
        }),
    ));
    for d in c.emails.iter().chain(&c.phones) {
        for decision in [Decision::Accept, Decision::Reject, Decision::Unclear] {
            for standing in [
                Standing::Decisive,
                Standing::Foreign,
                Standing::Unauthenticated,
                Standing::Automatic,
            ] {
                out.push((
                    Event::Reply {
                        from: d.clone(),
                        decision,
                        standing,
                    },
                    reply_data(d, decision, standing),
                ));
            }
        }
        let reports: &[usize] = if d.starts_with('+') { &[2, 3] } else { &[0, 1] };
        for &r in reports {
            out.push((
                Event::Bounce {
                    destination: d.clone(),
                },
                bounce_data(d, r),
            ));
        }
    }
    out
}

#[test]
fn every_transition_of_the_lifecycle_has_an_event_code_or_a_reason() {
    let policy = Policy::default();
    let mut reached: Vec<(State, ErdsEvent)> = Vec::new();
    let mut codes: Vec<ErdsEvent> = Vec::new();
    let mut transitions = 0;
    for c in contracts() {
        for (event, mut data) in events(&c) {
            for now in [Instant::from_unix_secs(50), Instant::from_unix_secs(150)] {
                let step = lifecycle::step(&c, &event, now, &policy);
                let applied = match &step {
                    Ok(s) => Applied {
                        state: Some(s.state),
                        ignored: None,
                    },
                    Err(illegal) => Applied {
                        state: None,
                        ignored: Some(illegal.to_string()),
                    },
                };
                data.set_applied(applied);
                transitions += 1;
                let m = mapping(&data);
                match (&step, m) {
                    (Err(_), m) => assert_eq!(m, Mapping::None(NoEvent::Ignored), "{data:?}"),
                    (Ok(s), Mapping::Event(e)) => {
                        codes.push(e);
                        if s.state.is_final() && s.state != c.state {
                            reached.push((s.state, e));
                        }
                    }
                    (Ok(s), Mapping::None(why)) => {
                        // Only a step that leaves the contract open may be without a code.
                        assert!(
                            !s.state.is_final(),
                            "{:?} -> {} has no code",
                            event,
                            s.state
                        );
                        assert!(!why.reason().is_empty());
                    }
                }
            }
        }
    }
    assert!(transitions > 1000, "{transitions} transitions");
    // Every final state is reached, and only with the codes that state it.
    for state in State::ALL.into_iter().filter(|s| s.is_final()) {
        let by: Vec<ErdsEvent> = reached
            .iter()
            .filter(|(s, _)| *s == state)
            .map(|(_, e)| *e)
            .collect();
        assert!(!by.is_empty(), "{state} is never reached");
        let allowed: &[ErdsEvent] = match state {
            State::Accepted => &[ErdsEvent::ConsignmentAcceptance],
            State::Rejected => &[ErdsEvent::ConsignmentRejection],
            State::NotDelivered => &[
                ErdsEvent::ContentConsignmentFailure,
                ErdsEvent::RelayToNonErdsFailure,
                ErdsEvent::NotificationForAcceptanceFailure,
            ],
            State::Unanswered => &[ErdsEvent::AcceptanceRejectionExpiry],
            State::Received | State::Requested => &[],
        };
        assert!(by.iter().all(|e| allowed.contains(e)), "{state}: {by:?}");
    }
    // The other kinds: every job's sent and failed record, and the records of no transition.
    let mut others = vec![
        EventData::Submitted(Submitted {
            serial: 1,
            recipient: "c@contract.test".into(),
            auth: certmail_protocol::AuthMethod::SmtpAuth {
                login: "alice".into(),
                mechanism: "PLAIN".into(),
            },
            envelope_from: "alice@example.test".into(),
            from_header: None,
            message_id: None,
            queue_id: None,
            client_addr: None,
            client_name: None,
            helo: None,
            destinations: Vec::new(),
            attachments: Vec::new(),
            raw_sha256: "00".repeat(32),
            raw_size: 1,
        }),
        EventData::SmsDlr(SmsDlr {
            reference: "r".into(),
            to: "+34600111222".into(),
            purpose: JobKind::SmsRequest,
            status: 1,
            status_name: "delivered".into(),
            smsc_id: "s".into(),
            gateway_time: None,
            answer: None,
        }),
        EventData::CertificateIssued(CertificateIssued {
            sha256: "00".repeat(32),
            size: 1,
            chain_head: "00".repeat(32),
            timestamp: None,
            copies_to: Vec::new(),
        }),
        EventData::CertificateResend(CertificateResend {
            to: Vec::new(),
            keys: Vec::new(),
            by: "admin".into(),
        }),
        EventData::CertificateRenewed(CertificateRenewed {
            version: 2,
            sha256: "00".repeat(32),
            size: 1,
            timestamp: None,
            renew_by: Instant::from_unix_secs(100),
        }),
        EventData::Other {
            kind: "from_the_future".into(),
            data: serde_json::json!({}),
        },
    ];
    for job in JobKind::ALL {
        others.push(EventData::Failed(
            job,
            Failed {
                error: "no".into(),
                attempt: 1,
            },
        ));
        others.push(if job.is_sms() {
            EventData::SmsSent(
                job,
                SmsSent {
                    to: "+34600111222".into(),
                    reference: "r".into(),
                    gateway: "g".into(),
                    coding: "GSM-7".into(),
                    parts: 1,
                    text: "t".into(),
                    attempt: 1,
                },
            )
        } else {
            EventData::MailSent(
                job,
                MailSent {
                    to: "bob@example.test".into(),
                    message_id: "<m@x>".into(),
                    smtp: "250 2.0.0 Ok".into(),
                    attempt: 1,
                },
            )
        });
    }
    for data in &others {
        match mapping(data) {
            Mapping::Event(e) => codes.push(e),
            Mapping::None(why) => assert!(!why.reason().is_empty(), "{}", data.kind()),
        }
    }
    // No code is listed that no event can produce.
    for e in ErdsEvent::ALL {
        assert!(codes.contains(&e), "{} is never produced", e.name());
    }
}
