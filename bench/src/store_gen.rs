//! Generates a large store through the store API (`Store::add_customer`, `Store::submit`,
//! `Store::expire`): the same transactions certd runs for each submission, on a connection
//! switched to `synchronous=OFF` (`Store::bulk_load_without_fsync`, bench-only) so that one
//! million contracts take minutes instead of an fsync each.

use certd::store::{DbAccess, Location, NewCustomer, Store, SubmitOutcome};
use certmail_protocol::{AttachmentInfo, AuthMethod, CustomerPolicy, Destination, Submission};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Instant;

pub const CUSTOMERS: usize = 100;

pub fn customer_name(i: usize) -> String {
    format!("cust{i:03}")
}

fn submission(n: usize) -> Submission {
    let customer = customer_name(n % CUSTOMERS);
    let peer = format!("peer{}@example.test", n % 5000);
    let subject_text = format!("Agreement number {n}");
    let text = format!(
        "Agreement {n} between {customer} and {peer}: the parties agree on the delivery of \
         goods as described, payment within thirty days."
    );
    let raw = format!(
        "From: {customer}@example.test\r\nTo: {customer}@contract.test\r\nSubject: {peer} {subject_text}\r\nMessage-ID: <gen.{n}@example.test>\r\n\r\n{text}\r\n"
    )
    .into_bytes();
    let dedupe_key = hex::encode(Sha256::digest(&raw));
    Submission {
        customer: customer.clone(),
        recipient: format!("{customer}@contract.test"),
        auth: AuthMethod::SmtpAuth {
            login: customer.clone(),
            mechanism: "PLAIN".into(),
        },
        envelope_from: format!("{customer}@example.test"),
        from_header: Some(format!("{customer}@example.test")),
        message_id: Some(format!("<gen.{n}@example.test>")),
        subject: format!("{peer} {subject_text}"),
        subject_text,
        destinations: vec![Destination::Email(peer)],
        text,
        attachments: if n % 4 == 0 {
            vec![AttachmentInfo {
                filename: Some(format!("annex-{n}.pdf")),
                content_type: "application/pdf".into(),
                size: 20_000 + (n as u64 % 1000),
                sha256: hex::encode(Sha256::digest(n.to_le_bytes())),
            }]
        } else {
            Vec::new()
        },
        queue_id: Some(format!("Q{n:X}")),
        client_addr: Some("192.0.2.10".into()),
        client_name: None,
        helo: Some("mua.example.test".into()),
        dedupe_key,
        raw,
    }
}

/// A customer of the generated store, authenticated by its own SMTP login.
fn bench_customer(name: &str) -> NewCustomer {
    NewCustomer {
        name: name.to_string(),
        email: format!("{name}@example.test"),
        display_name: None,
        policy: CustomerPolicy::SmtpAuth,
        language: "en".into(),
        deadline_secs: 172_800,
        smtp_logins: vec![name.to_string()],
        dkim_domains: Vec::new(),
        phones: Vec::new(),
    }
}

/// Adds contracts until the store holds `total`; every 10th one is then expired (state
/// `unanswered`) so that state filters have something to find. Returns a JSON summary.
pub fn generate(location: &Location, total: usize) -> Result<Value, String> {
    let e = |e: certd::Error| e.to_string();
    let mut store = Store::open_location(location, &DbAccess::default()).map_err(e)?;
    store.bulk_load_without_fsync().map_err(e)?;
    for i in 0..CUSTOMERS {
        let name = customer_name(i);
        if store.customer(&name).map_err(e)?.is_none() {
            store
                .add_customer(&bench_customer(&name), certd::evidence::Instant::now())
                .map_err(e)?;
        }
    }
    let have = store
        .list_contracts(&certd::store::ListFilter {
            limit: Some(1),
            ..Default::default()
        })
        .map_err(e)?
        .first()
        .map(|c| c.serial as usize)
        .unwrap_or(0);
    let t = Instant::now();
    let far_future = certd::evidence::Instant::now().plus_secs(10 * 365 * 86_400);
    let mut made = 0;
    for n in have..total {
        match store.submit(&submission(n)).map_err(e)? {
            SubmitOutcome::Committed(c) => {
                if n % 10 == 9 {
                    let _ = store.expire(&c.contract_id, far_future).map_err(e)?;
                }
            }
            SubmitOutcome::Refused(r) => return Err(format!("submission {n} refused: {r:?}")),
        }
        made += 1;
        if made % 100_000 == 0 {
            eprintln!(
                "store-gen: {} contracts ({:.0}/s)",
                n + 1,
                made as f64 / t.elapsed().as_secs_f64()
            );
        }
    }
    let secs = t.elapsed().as_secs_f64();
    Ok(json!({
        "contracts": total, "generated_now": made, "seconds": secs,
        "per_second": if made > 0 { made as f64 / secs } else { 0.0 },
        "db_bytes": match location {
            Location::Sqlite(db) => std::fs::metadata(db).map(|m| m.len()).unwrap_or(0),
            Location::Postgres(_) => 0,
        },
    }))
}

/// The certd commit alone: `Store::submit` with certd's own durability (`synchronous=FULL`,
/// one fsync'd transaction per contract) on a fresh database in `dir`, and the raw
/// `fdatasync` latency of that file system beside it. Rows for the intake section.
pub fn commit_latency(dir: &Path, n: usize) -> Result<Vec<Value>, String> {
    use crate::report::{percentile, row};
    use std::io::Write;
    let e = |e: certd::Error| e.to_string();
    let db = dir.join("commit-latency.sqlite");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let mut store = Store::open(&db).map_err(e)?;
    let name = customer_name(0);
    store
        .add_customer(&bench_customer(&name), certd::evidence::Instant::now())
        .map_err(e)?;
    let mut ms = Vec::new();
    for i in 0..n {
        // Every submission for customer 0 (n * CUSTOMERS keeps that).
        let s = submission(i * CUSTOMERS);
        let t = Instant::now();
        store.submit(&s).map_err(e)?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let path = dir.join("fdatasync.test");
    let mut f = std::fs::File::create(&path).map_err(|e| e.to_string())?;
    let mut sync_ms = Vec::new();
    for _ in 0..n {
        f.write_all(&[b'x'; 4096]).map_err(|e| e.to_string())?;
        let t = Instant::now();
        f.sync_data().map_err(|e| e.to_string())?;
        sync_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let _ = std::fs::remove_file(&path);
    Ok(vec![
        row(
            "breakdown: Store::submit alone (synchronous=FULL) p50",
            percentile(&ms, 50.0),
            "ms",
            &format!(
                "p99 {:.2} ms; {n} commits, one thread",
                percentile(&ms, 99.0)
            ),
        ),
        row(
            "breakdown: fdatasync of 4 KiB on the same file system p50",
            percentile(&sync_ms, 50.0),
            "ms",
            &format!("p99 {:.2} ms", percentile(&sync_ms, 99.0)),
        ),
    ])
}
