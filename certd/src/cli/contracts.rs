//! `certd contracts …`: list, show, export.

use super::table::{sanitize, truncate, Table};
use super::{find_contract, print_json, short_time, unix_to_rfc3339, ContractsCmd};
use crate::error::Error;
use crate::evidence::{Instant, State};
use crate::store::{ChainError, EventRow, ListFilter, Store};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::Path;

pub(super) fn run(store: &Store, cmd: ContractsCmd) -> Result<bool, Error> {
    match cmd {
        ContractsCmd::List {
            state,
            customer,
            since,
            until,
            destination,
            limit,
            json,
        } => {
            if let Some(name) = &customer {
                if store.customer(name)?.is_none() {
                    return Err(Error::NotFound(format!("no customer named {name:?}")));
                }
            }
            // The parsers checked these already (cli/parse.rs).
            let list = store.list_contracts(&ListFilter {
                state: state.as_deref().and_then(State::parse),
                customer,
                since: since.as_deref().and_then(Instant::parse_rfc3339),
                before: until.as_deref().and_then(Instant::parse_rfc3339),
                destination,
                limit: Some(limit).filter(|l| *l > 0),
            })?;
            if json {
                print_json(&list)?;
                return Ok(true);
            }
            let mut t = Table::new(&[
                "SERIAL",
                "ID",
                "CUSTOMER",
                "STATE",
                "SUBMITTED",
                "DESTINATIONS",
                "SUBJECT",
            ])
            .right(0)
            .max_width(5, 40)
            .max_width(6, 40);
            for c in &list {
                t.row([
                    c.serial.to_string(),
                    c.id.clone(),
                    c.customer.clone(),
                    c.state.as_str().to_string(),
                    short_time(&c.submitted_at.rfc3339_millis()),
                    c.destinations.join(","),
                    c.subject_text.clone(),
                ]);
            }
            print!("{}", t.render());
            if list.len() as u64 == u64::from(limit) {
                eprintln!("(the newest {limit}; --limit 0 lists all)");
            }
            Ok(true)
        }
        ContractsCmd::Show { id, json } => show(store, &id, json),
        ContractsCmd::Export { id, output } => export(store, &id, &output).map(|()| true),
    }
}

fn chain_json(chain: &Result<usize, ChainError>) -> Value {
    match chain {
        Ok(n) => json!({"ok": true, "events": n}),
        Err(e) => json!({"ok": false, "error": e.to_string()}),
    }
}

fn show(store: &Store, id: &str, json: bool) -> Result<bool, Error> {
    let c = find_contract(store, id)?;
    let cid = c.summary.id.clone();
    let events = store.events(&cid)?;
    let chain = store.verify_chain(&cid)?;
    let effects = store.contract_effects(&cid)?;
    let answers = store.answers(&cid)?;
    let certificate = store.certificate_info(&cid)?;
    if json {
        print_json(&json!({
            "contract": c,
            "events": events,
            "chain": chain_json(&chain),
            "answers": answers,
            "outbox": effects,
            "certificate": certificate,
        }))?;
        return Ok(chain.is_ok());
    }
    let s = &c.summary;
    let mut t = Table::new(&["FIELD", "VALUE"]);
    t.row(["contract", s.id.as_str()]);
    t.row(["serial", &s.serial.to_string()]);
    t.row(["customer", &format!("{} <{}>", s.customer, c.recipient)]);
    t.row(["state", s.state.as_str()]);
    t.row(["submitted", &s.submitted_at.rfc3339_millis()]);
    if let Some(d) = c.deadline_at {
        t.row(["deadline", &d.rfc3339_seconds()]);
    }
    t.row(["from", &c.envelope_from]);
    t.row([
        "authenticated",
        &format!("{} ({})", c.auth_method, c.auth_identity),
    ]);
    t.row(["queue id", c.queue_id.as_deref().unwrap_or("-")]);
    t.row(["destinations", &s.destinations.join(", ")]);
    t.row(["subject", &s.subject_text]);
    t.row([
        "message",
        &format!("{} bytes, SHA-256 {}", c.raw_size, c.raw_sha256),
    ]);
    for a in &c.attachments {
        t.row([
            "attachment",
            &format!(
                "{} ({}, {} bytes) SHA-256 {}",
                a.filename.as_deref().unwrap_or("-"),
                a.content_type,
                a.size,
                a.sha256
            ),
        ]);
    }
    match &certificate {
        Some(cert) => t.row([
            "certificate",
            &format!(
                "issued {}, {} bytes, SHA-256 {}",
                cert.issued_at, cert.size, cert.sha256
            ),
        ]),
        None => t.row(["certificate", "not issued"]),
    }
    t.row([
        "hash chain",
        &match &chain {
            Ok(n) => format!("intact ({n} events)"),
            Err(e) => format!("BROKEN: {e}"),
        },
    ]);
    print!("{}", t.render().split_once('\n').map(|x| x.1).unwrap_or(""));

    println!("\nevents:");
    let mut t = Table::new(&["SEQ", "AT", "KIND", "DETAILS"])
        .right(0)
        .max_width(3, 100);
    for e in &events {
        t.row([
            e.seq.to_string(),
            short_time(&e.at.rfc3339_millis()),
            e.kind.clone(),
            summarize(&e.data.to_value()),
        ]);
    }
    print!("{}", indent(&t.render()));

    if !effects.is_empty() {
        println!("\noutbox:");
        let mut t = Table::new(&["ID", "KIND", "ATTEMPTS", "STATUS", "LAST ERROR"])
            .right(0)
            .right(2)
            .max_width(4, 80);
        for e in &effects {
            let status = match e.done_at {
                Some(d) => format!("done {}", unix_to_rfc3339(d)),
                None => format!("due {}", unix_to_rfc3339(e.due_at)),
            };
            t.row([
                e.id.to_string(),
                e.kind.clone(),
                e.attempts.to_string(),
                status,
                e.last_error.clone().unwrap_or_default(),
            ]);
        }
        print!("{}", indent(&t.render()));
    }
    if let Err(e) = &chain {
        eprintln!("certd: contract {cid}: hash chain broken: {e}");
    }
    Ok(chain.is_ok())
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}\n")).collect()
}

/// One line for any event's data, whatever its kind (kinds added later, such as the SMS
/// leg's, are shown the same way): scalar fields as `key=value`, nested ones by size.
fn summarize(data: &Value) -> String {
    let Value::Object(map) = data else {
        return sanitize(&data.to_string());
    };
    let mut parts = Vec::new();
    for (k, v) in map {
        let shown = match v {
            Value::Null => continue,
            Value::String(s) => truncate(&sanitize(s), 48),
            Value::Array(a) => match a.as_slice() {
                [] => continue,
                [Value::String(s)] => truncate(&sanitize(s), 48),
                _ => format!("[{} items]", a.len()),
            },
            Value::Object(o) if o.is_empty() => continue,
            Value::Object(_) => "{…}".into(),
            other => other.to_string(),
        };
        parts.push(format!("{k}={shown}"));
    }
    parts.join(" ")
}

/// One file of an evidence bundle, as listed in its manifest.
struct Written {
    name: String,
    what: String,
    sha256: String,
    size: usize,
}

fn write_file(dir: &Path, name: &str, what: &str, bytes: &[u8]) -> Result<Written, Error> {
    std::fs::write(dir.join(name), bytes).map_err(|e| {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("cannot write {}: {e}", dir.join(name).display()),
        ))
    })?;
    Ok(Written {
        name: name.into(),
        what: what.into(),
        sha256: hex::encode(Sha256::digest(bytes)),
        size: bytes.len(),
    })
}

fn to_json_bytes(v: &Value) -> Result<Vec<u8>, Error> {
    let mut s = serde_json::to_vec_pretty(v).map_err(|e| Error::Invalid(e.to_string()))?;
    s.push(b'\n');
    Ok(s)
}

/// Creates the bundle directory: a new one, or an existing empty one, never mixing two
/// bundles. Mode 0700: the bundle holds contract text and personal data.
fn bundle_dir(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Error::Conflict(format!(
                    "{} exists and is not empty",
                    dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| {
                Error::Io(std::io::Error::new(
                    e.kind(),
                    format!("cannot create {}: {e}", dir.display()),
                ))
            }),
        Err(e) => Err(Error::Io(std::io::Error::new(
            e.kind(),
            format!("cannot use {} as the bundle directory: {e}", dir.display()),
        ))),
    }
}

fn export(store: &Store, id: &str, dir: &Path) -> Result<(), Error> {
    let c = find_contract(store, id)?;
    let cid = c.summary.id.clone();
    // Everything is read before anything is written, so a failed read leaves no half bundle.
    let raw = store
        .raw_message(&cid)?
        .ok_or_else(|| Error::Database(format!("contract {cid}: raw message missing")))?;
    let answers = store.answers(&cid)?;
    let certificate = store.certificate(&cid)?;
    let events = store.events(&cid)?;
    let texts = store.event_texts(&cid)?;
    let chain = store.verify_chain(&cid)?;
    bundle_dir(dir)?;

    let mut files = vec![write_file(
        dir,
        "submission.eml",
        "the customer's submission as received",
        &raw,
    )?];
    for (i, a) in answers.iter().enumerate() {
        let kind = if a.kind == "bounce" {
            "delivery report"
        } else {
            "counterparty's reply"
        };
        files.push(write_file(
            dir,
            &format!("answer-{:02}-{}.eml", i + 1, sanitize_name(&a.kind)),
            &format!("{kind} received {}", a.received_at),
            &a.raw,
        )?);
    }
    if let Some(pdf) = &certificate {
        files.push(write_file(
            dir,
            &format!("certificate-{}.pdf", c.summary.serial),
            "the signed evidence certificate",
            pdf,
        )?);
    }
    files.push(write_file(
        dir,
        "contract.json",
        "the contract as stored",
        &to_json_bytes(&serde_json::to_value(&c).map_err(|e| Error::Invalid(e.to_string()))?)?,
    )?);
    files.push(write_file(
        dir,
        "events.json",
        "the event log; data_text is the exact hashed text",
        &to_json_bytes(&events_json(&cid, &events, &texts, &chain))?,
    )?);
    let manifest = json!({
        "format": "certmail-evidence-bundle-1",
        "contract_id": cid,
        "serial": c.summary.serial,
        "state": c.summary.state,
        "exported_at": crate::evidence::Instant::now(),
        "exported_by": format!("certd {}", env!("CARGO_PKG_VERSION")),
        "chain": chain_json(&chain),
        "chain_rule": "hash = hex(SHA-256(\"certmail-event-v1\\n\" + prev_hash + \"\\n\" + contract_id + \"\\n\" + seq + \"\\n\" + at + \"\\n\" + kind + \"\\n\" + data_text)); the first prev_hash is 64 zeros",
        "files": files.iter().map(|f| json!({
            "name": f.name, "sha256": f.sha256, "size": f.size, "what": f.what,
        })).collect::<Vec<_>>(),
    });
    write_file(dir, "manifest.json", "", &to_json_bytes(&manifest)?)?;
    eprintln!(
        "wrote {} files and manifest.json to {}",
        files.len(),
        dir.display()
    );
    if let Err(e) = &chain {
        eprintln!("certd: warning: contract {cid}: hash chain broken: {e}");
    }
    Ok(())
}

fn sanitize_name(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn events_json(
    cid: &str,
    events: &[EventRow],
    texts: &[(i64, String)],
    chain: &Result<usize, ChainError>,
) -> Value {
    let list: Vec<Value> = events
        .iter()
        .map(|e| {
            let text = texts
                .iter()
                .find(|(seq, _)| *seq == e.seq)
                .map(|(_, t)| t.as_str());
            json!({
                "seq": e.seq, "at": e.at, "kind": e.kind, "data": e.data.to_value(),
                "data_text": text, "prev_hash": e.prev_hash, "hash": e.hash,
            })
        })
        .collect();
    json!({ "contract_id": cid, "chain": chain_json(chain), "events": list })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_summaries_are_generic_and_one_line() {
        let s = summarize(&json!({
            "to": "bob@example.test", "attempt": 1, "smtp": "250 2.0.0 Ok: queued\nas X",
            "received": ["a", "b"], "auth": {"spf": "pass"}, "none": null, "one": ["x"],
        }));
        assert!(!s.contains('\n') && !s.contains("none="), "{s}");
        for part in [
            "attempt=1",
            "auth={…}",
            "one=x",
            "received=[2 items]",
            "smtp=250 2.0.0 Ok: queued as X",
            "to=bob@example.test",
        ] {
            assert!(s.contains(part), "{part} missing in {s}");
        }
        // A kind certd has never heard of is summarised the same way.
        assert_eq!(
            summarize(&json!({"dlr": 1, "gateway": "kannel"})),
            "dlr=1 gateway=kannel"
        );
        assert_eq!(summarize(&json!("text")), "\"text\"");
    }

    #[test]
    fn a_bundle_never_lands_in_a_used_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let fresh = tmp.path().join("a/b");
        bundle_dir(&fresh).unwrap();
        bundle_dir(&fresh).unwrap();
        std::fs::write(fresh.join("x"), b"x").unwrap();
        assert!(matches!(bundle_dir(&fresh), Err(Error::Conflict(_))));
        use std::os::unix::fs::PermissionsExt;
        let tmp2 = tempfile::tempdir().unwrap();
        let d = tmp2.path().join("bundle");
        bundle_dir(&d).unwrap();
        let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
}
