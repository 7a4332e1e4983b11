//! The evidence file inside real certificates (docs/evidence.md): an accepted and a NOEX
//! contract through the sandbox; `certd verify` checks the file against the signed head, and
//! the documented recipe (pdfdetach, jq, sha256sum) and the JSON Schema agree on what it holds.

use certmail_e2e::{answer_request, run, Sandbox};
use std::path::{Path, PathBuf};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(40);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `sh` block after the `recompute` marker in docs/evidence.md.
fn documented_recipe() -> String {
    let doc = std::fs::read_to_string(repo().join("docs/evidence.md")).expect("docs/evidence.md");
    let after = doc
        .split_once("<!-- recompute")
        .map(|(_, rest)| rest)
        .expect("recompute marker");
    let block = after
        .split_once("```sh\n")
        .map(|(_, b)| b)
        .expect("sh block");
    block
        .split_once("```")
        .map(|(b, _)| b.to_string())
        .expect("end of block")
}

fn python_with_jsonschema() -> &'static str {
    [
        "/opt/certmail-validators/bin/python",
        "python3",
        "/usr/bin/python3",
    ]
    .into_iter()
    .find(|p| {
        run(
            p,
            &["-c", "import jsonschema; jsonschema.Draft202012Validator"],
        )
        .0
    })
    .expect("a Python with jsonschema (apt-get install python3-jsonschema)")
}

/// Everything a verifier can check about the evidence of contract `id`'s certificate `pdf`;
/// returns the chain head.
fn check_certificate(sb: &Sandbox, id: &str, pdf: &[u8], name: &str) -> String {
    let dir = PathBuf::from(sb.get("SANDBOX_DIR")).join(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let path = dir.join("certificate.pdf");
    std::fs::write(&path, pdf).expect("write pdf");
    let file = path.to_str().unwrap_or_default();

    // The chain as the store has it, up to the certificate.
    let show = sb.cli_json(&["contracts", "show", id, "--json"]);
    let events = show["events"].as_array().expect("events");
    let issued = events
        .iter()
        .position(|e| e["kind"] == "certificate_issued")
        .expect("certificate_issued");
    let head = events[issued - 1]["hash"]
        .as_str()
        .expect("hash")
        .to_string();
    assert_eq!(events[issued]["data"]["chain_head"], head.as_str());

    // certd verify: valid, and the evidence line names the events and the head.
    let (ok, out) = run(
        sb.get("CERTD_BIN"),
        &["verify", file, "--trust", sb.get("TRUST_ANCHOR")],
    );
    assert!(ok && out.contains("VALID"), "{out}");
    let line = format!(
        "ok   evidence file: {issued} events, chain verifies, head {head} as in the signed revision"
    );
    assert!(out.contains(&line), "{line}\n{out}");

    // The embedded file: the documented recipe recomputes the chain to the same head, the
    // schema accepts it, and its records are the store's events.
    let json = dir.join("evidence.json");
    let (ok, out) = run(
        "pdfdetach",
        &[
            "-savefile",
            "evidence.json",
            "-o",
            json.to_str().unwrap_or_default(),
            file,
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = run(
        "bash",
        &[
            "-c",
            &documented_recipe(),
            "recipe",
            json.to_str().unwrap_or_default(),
        ],
    );
    assert!(ok, "{out}");
    assert_eq!(out.trim(), format!("chain verifies, head {head}"));
    let (ok, out) = run(
        python_with_jsonschema(),
        &[
            "-c",
            "import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[2])), \
             json.load(open(sys.argv[1])), cls=jsonschema.Draft202012Validator)",
            repo()
                .join("docs/evidence.schema.json")
                .to_str()
                .unwrap_or_default(),
            json.to_str().unwrap_or_default(),
        ],
    );
    assert!(ok, "the schema refuses it: {out}");
    let evidence: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("read")).expect("json");
    let records = evidence["records"].as_array().expect("records");
    assert_eq!(records.len(), issued);
    for (r, e) in records.iter().zip(events) {
        for key in ["seq", "at", "kind", "prev_hash", "hash"] {
            assert_eq!(r["event"][key], e[key], "{key}");
        }
        assert_eq!(r["certmail"], e["data"]);
    }
    assert_eq!(
        records[0]["etsi"]["ERDSEventId"],
        "http://uri.etsi.org/19522/Event/SubmissionAcceptance"
    );

    // The head is printed, and the file is still a clean PDF.
    let (_, text) = run("pdftotext", &[file, "-"]);
    assert!(text.contains(&head), "{text}");
    let (ok, out) = run("qpdf", &["--check", file]);
    assert!(
        ok && out.contains("No syntax or stream encoding errors"),
        "{out}"
    );
    head
}

#[test]
fn accepted_and_noex_certificates_carry_evidence_that_verifies() {
    let sb = Sandbox::up("evidence");
    let accepted = sb.submit_contract(
        "alice@contract.test",
        "bob@example.test Alquiler",
        "Contrato de arrendamiento: 900 € al mes.",
        &[("anexo.pdf", "application/pdf", b"%PDF-1.4 anexo")],
    );
    let request = sb.request_mail("bob", WAIT);
    answer_request(sb.smtp_port(), &request, "bob@example.test", "Acepto.");
    let first = sb.certificate_mail("alice", &[], WAIT);
    check_certificate(&sb, &accepted, &first, "accepted");
    let evidence = PathBuf::from(sb.get("SANDBOX_DIR")).join("accepted/evidence.json");
    let text = std::fs::read_to_string(evidence).expect("evidence");
    assert!(
        text.contains("http://uri.etsi.org/19522/Event/ConsignmentAcceptance"),
        "{text}"
    );

    let noex = sb.submit_contract(
        "alice@contract.test",
        "nobody@example.test Servicio",
        "Texto.",
        &[],
    );
    let second = sb.certificate_mail("alice", &[first], WAIT);
    check_certificate(&sb, &noex, &second, "noex");
    let evidence = PathBuf::from(sb.get("SANDBOX_DIR")).join("noex/evidence.json");
    let text = std::fs::read_to_string(evidence).expect("evidence");
    assert!(
        text.contains("http://uri.etsi.org/19522/Event/ContentConsignmentFailure"),
        "{text}"
    );
}
