//! `certd certificates …` and `certd verify`.

use super::{find_contract, print_json, CertificatesCmd};
use crate::certificate::evidence_file;
use crate::error::Error;
use crate::signature::VerifyReport;
use crate::store::Store;
use serde_json::json;
use std::path::Path;

pub(super) fn run(store: &mut Store, cmd: CertificatesCmd) -> Result<bool, Error> {
    match cmd {
        CertificatesCmd::Export { id, output } => {
            let (_, pdf) = stored(store, &id)?;
            if output.as_os_str() == "-" {
                use std::io::Write;
                std::io::stdout().write_all(&pdf)?;
            } else {
                std::fs::write(&output, &pdf).map_err(|e| {
                    Error::Io(std::io::Error::new(
                        e.kind(),
                        format!("cannot write {}: {e}", output.display()),
                    ))
                })?;
                eprintln!("wrote {} ({} bytes)", output.display(), pdf.len());
            }
            Ok(true)
        }
        CertificatesCmd::Verify {
            id,
            trust,
            at,
            json,
        } => {
            let (label, pdf) = stored(store, &id)?;
            let anchors = read_text(&trust)?;
            let report = verify(&pdf, &anchors, at);
            print_report(&label, &report, json)?;
            Ok(report.valid)
        }
        CertificatesCmd::Resend { id, to, json } => {
            let c = find_contract(store, &id)?;
            let cid = c.summary.id;
            if store.certificate_info(&cid)?.is_none() {
                return Err(no_certificate(&cid, c.summary.state.as_str()));
            }
            let to = if to.is_empty() {
                let snapshot = store
                    .snapshot(&cid)?
                    .ok_or_else(|| Error::NotFound(format!("no contract {cid}")))?;
                crate::certificate::build::copies_to(&snapshot)
            } else {
                to
            };
            let keys = store.resend_certificate(&cid, &to)?;
            if json {
                print_json(&json!({ "contract_id": cid, "to": to, "keys": keys }))?;
            } else {
                eprintln!(
                    "certificate of contract {cid} queued for {}; certd sends it from its outbox",
                    to.join(", ")
                );
            }
            Ok(true)
        }
        CertificatesCmd::Token {
            file,
            token: t,
            signature_value,
        } => token(&file, &t, &signature_value).map(|()| true),
        CertificatesCmd::Renew { .. } => Err(Error::Invalid("handled by the caller".into())),
    }
}

/// `certd certificates renew`: renews what is due now, in this process (the daemon may run
/// meanwhile: a version stored twice is stored once).
pub(super) fn renew(
    config: &crate::config::Config,
    store: Store,
    before_secs: u64,
    limit: usize,
    json: bool,
) -> Result<bool, Error> {
    let c = config.certificate.as_ref().ok_or_else(|| {
        Error::Config("no [certificate] section: there is no TSA to renew with".into())
    })?;
    let certifier = crate::certificate::Certifier::from_config(c)?;
    let store = std::sync::Mutex::new(store);
    let done = crate::certificate::renew::renew_due(
        &store,
        &certifier,
        i64::try_from(before_secs).unwrap_or(i64::MAX),
        limit,
        crate::evidence::Instant::now(),
    )?;
    let ok = done.failed.is_empty() && done.stopped.is_none();
    if json {
        print_json(&done)?;
        return Ok(ok);
    }
    for (id, version, by) in &done.renewed {
        println!("renewed {id}: version {version}, renew again by {by}");
    }
    for (id, why) in &done.failed {
        println!("FAILED  {id}: {why}");
    }
    if let Some(why) = &done.stopped {
        println!("stopped: {why}");
    }
    println!(
        "{} certificate(s) checked, {} renewed, {} failed",
        done.checked,
        done.renewed.len(),
        done.failed.len()
    );
    Ok(ok)
}

fn no_certificate(id: &str, state: &str) -> Error {
    Error::NotFound(format!(
        "contract {id} (state {state}) has no certificate yet"
    ))
}

/// The stored PDF of a contract and a label for messages.
fn stored(store: &Store, id: &str) -> Result<(String, Vec<u8>), Error> {
    let c = find_contract(store, id)?;
    let pdf = store
        .certificate(&c.summary.id)?
        .ok_or_else(|| no_certificate(&c.summary.id, c.summary.state.as_str()))?;
    Ok((
        format!(
            "certificate of contract {} (serial {})",
            c.summary.id, c.summary.serial
        ),
        pdf,
    ))
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::Invalid(format!("cannot read {}: {e}", path.display())))
}

fn read_text(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path)
        .map_err(|e| Error::Invalid(format!("cannot read {}: {e}", path.display())))
}

/// `certd verify FILE`: needs no configuration or database, so a recipient can run it too.
pub(super) fn verify_file(
    file: &Path,
    trust: &Path,
    at: Option<std::time::SystemTime>,
    json: bool,
) -> Result<bool, Error> {
    let pdf = read_bytes(file)?;
    let anchors = read_text(trust)?;
    let report = verify(&pdf, &anchors, at);
    print_report(&file.display().to_string(), &report, json)?;
    Ok(report.valid)
}

/// Adds the evidence file's check (docs/evidence.md): one that does not verify makes the
/// report invalid.
fn with_evidence(mut report: VerifyReport, pdf: &[u8]) -> VerifyReport {
    let (ok, detail) = evidence_file::verdict(pdf);
    report.checks.push(("evidence file".into(), ok, detail));
    report.valid &= ok;
    if !ok {
        // No level is reached by a certificate whose evidence does not verify.
        report.level = None;
    }
    report
}

/// The signature at every level (at `at`, default now) and the embedded evidence file.
fn verify(pdf: &[u8], anchors: &str, at: Option<std::time::SystemTime>) -> VerifyReport {
    with_evidence(
        crate::signature::verify_pdf_at(
            pdf,
            anchors,
            at.unwrap_or_else(std::time::SystemTime::now),
        ),
        pdf,
    )
}

fn print_report(label: &str, report: &VerifyReport, json: bool) -> Result<(), Error> {
    if json {
        return print_json(report);
    }
    for (check, ok, detail) in &report.checks {
        println!("{} {check}: {detail}", if *ok { "ok  " } else { "FAIL" });
    }
    match (report.valid, report.level) {
        (true, Some(level)) => println!("{label}: VALID, {level} (at {})", report.at),
        (true, None) => println!("{label}: VALID (at {})", report.at),
        (false, _) => println!("{label}: INVALID (at {})", report.at),
    }
    Ok(())
}

/// `certd certificates token`: works on a PDF file alone.
pub(super) fn token(file: &Path, token: &Path, signature_value: &Path) -> Result<(), Error> {
    let pdf = read_bytes(file)?;
    let (tok, sig) = crate::signature::timestamp_parts(&pdf)
        .map_err(|e| Error::Invalid(format!("{}: {e}", file.display())))?;
    std::fs::write(token, tok)?;
    std::fs::write(signature_value, sig)?;
    Ok(())
}
