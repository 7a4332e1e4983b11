//! Certificate throughput: render + sign + timestamp through certd's library, the same calls
//! the outbox makes when it issues a certificate (`certificate::render::render`, then
//! `Signer::sign_pdf` with a `TsaClient`), on one thread, with a timing breakdown per stage.

use crate::report::{self, floor_row, row};
use certd::certificate::{AttachmentLine, CertificateData, Embedded, Field, TimelineEntry};
use certd::signature::{HttpFetcher, Level, Signer};
use certd::timestamp::{Timestamper, TsaClient, TsaError};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// CPU seconds (user + system) consumed by this process so far.
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn f(label: &str, value: &str) -> Field {
    Field {
        label: label.into(),
        value: value.into(),
    }
}

fn eml(from: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
    let mut m = format!(
        "Received: from mua.example.test (mua.example.test [192.0.2.10])\r\n\tby mx.example.test (Postfix) with ESMTPSA id 4QX1Y2Z3\r\n\tfor <{to}>; Wed, 25 Nov 2026 06:50:00 +0000 (UTC)\r\nFrom: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <bench.{}@example.test>\r\nDate: Wed, 25 Nov 2026 06:50:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
        subject.len()
    );
    m.push_str(&body.replace('\n', "\r\n"));
    m.into_bytes()
}

fn embedded(name: &str, description: &str, bytes: Vec<u8>) -> Embedded {
    let sha256 = hex::encode(Sha256::digest(&bytes));
    Embedded {
        name: name.into(),
        description: format!("{description} — SHA-256 {sha256}"),
        mime_type: "message/rfc822".into(),
        bytes,
        sha256,
        relationship: certd::certificate::Relationship::Source,
    }
}

/// A certificate as the outbox would build it for an accepted contract with one destination:
/// a page of contract text, two attachments listed, the request and the answer embedded.
pub fn sample_data(serial: u64) -> CertificateData {
    let clause = "The seller transfers ownership of the bicycle described in the attached \
                  invoice to the buyer, who pays 100 EUR on delivery. Delivery takes place \
                  at the seller's address within seven days of this agreement. ";
    let contract_text = format!(
        "Sale of a bicycle\n\n{}\n\nSigned by email, Alice Example.",
        (1..=8)
            .map(|i| format!("{i}. {clause}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let request = eml(
        "Alice Example <alice@example.test>",
        "alice@contract.test",
        "bob@example.test Sale of my bicycle",
        &contract_text,
    );
    let answer = eml(
        "Bob Example <bob@example.test>",
        "reply+abcdefghijklmnopqrstuvwxyz@contract.test",
        "Re: Sale of my bicycle",
        &format!("ACCEPT\n\n> {}", contract_text.replace('\n', "\n> ")),
    );
    let hash = |b: &[u8]| hex::encode(Sha256::digest(b));
    CertificateData {
        language: "en".into(),
        title: "Certificate of contract".into(),
        operator: "certmail bench operator".into(),
        serial,
        contract_id: format!("bench{serial:021}"),
        outcome: "accepted".into(),
        outcome_sentence: "The counterparty accepted the contract.".into(),
        request_fields: vec![
            f("Operator", "certmail bench operator"),
            f("Customer", "Alice Example <alice@example.test> (alice@contract.test)"),
            f("Authentication", "smtp-auth (alice)"),
            f("Submitted", "2026-11-25T06:50:00.123Z"),
            f("Destinations", "bob@example.test"),
            f("Subject", "Sale of my bicycle"),
            f("Message-ID", "<bench.1@example.test>"),
            f("Client", "mua.example.test [192.0.2.10] HELO mua.example.test"),
            f("Queue id", "4QX1Y2Z3"),
            f(
                "Message",
                &format!("{} bytes, SHA-256 {}", request.len(), hash(&request)),
            ),
            f("Deadline", "2026-12-09T06:50:00Z"),
        ],
        contract_text,
        attachments: vec![
            AttachmentLine {
                filename: "invoice.pdf".into(),
                content_type: "application/pdf".into(),
                size: 48_213,
                sha256: hash(b"invoice"),
            },
            AttachmentLine {
                filename: "photo.jpg".into(),
                content_type: "image/jpeg".into(),
                size: 1_204_233,
                sha256: hash(b"photo"),
            },
        ],
        request_timeline: vec![
            TimelineEntry {
                at: "2026-11-25T06:50:00.123Z".into(),
                what: "submitted".into(),
            },
            TimelineEntry {
                at: "2026-11-25T06:50:00.130Z".into(),
                what: "requested, deadline 2026-12-09T06:50:00Z".into(),
            },
            TimelineEntry {
                at: "2026-11-25T06:50:01.002Z".into(),
                what: "request_sent to bob@example.test — 250 2.0.0 Ok: queued as 4QX9".into(),
            },
        ],
        response_fields: vec![
            f("Outcome", "accepted"),
            f("Channel", "email"),
            f(
                "Responder",
                "Bob Example <bob@example.test> (envelope <bob@example.test>, for bob@example.test)",
            ),
            f("Answered", "2026-11-25T07:10:00.456Z"),
            f("Client", "mx.example.test [192.0.2.20] HELO mx.example.test"),
            f("Queue id", "4QXA"),
            f("Message-ID", "<bench.2@example.test>"),
            f(
                "Received",
                "from mx.example.test by mx.contract.test; Wed, 25 Nov 2026 07:10:00 +0000",
            ),
            f(
                "Authentication",
                "DKIM: pass (d=example.test s=sel)\nSPF: pass\nDMARC: pass",
            ),
            f("Decision", "accept"),
        ],
        response_text: Some("ACCEPT".into()),
        embedded: vec![
            embedded("contract-1.eml", "Original request", request),
            embedded("answer-1.eml", "Answer", answer),
        ],
        chain_head: hash(b"chain"),
        issued_at: "2026-11-25T07:10:01.000Z".into(),
    }
}

/// Wraps the TSA client to time its round trips.
struct TimedTsa {
    inner: TsaClient,
    times: Mutex<Vec<f64>>,
}

impl Timestamper for TimedTsa {
    fn timestamp(&self, sha256: &[u8; 32]) -> Result<Vec<u8>, TsaError> {
        let t = Instant::now();
        let r = self.inner.timestamp(sha256);
        self.times
            .lock()
            .expect("tsa times")
            .push(t.elapsed().as_secs_f64() * 1e3);
        r
    }
}

pub struct Args<'a> {
    pub key: &'a Path,
    pub chain: &'a Path,
    pub tsa_url: &'a str,
    pub level: Level,
    pub seconds: f64,
    pub unsigned_pdf_out: &'a Path,
    pub pyhanko: Option<Value>,
    pub openssl: Option<Value>,
}

/// Runs the loop on this thread for `seconds`; returns the results fragment.
pub fn run(a: &Args) -> Result<Value, String> {
    let signer = Signer::from_pem_files(a.key, a.chain).map_err(|e| e.to_string())?;
    let tsa = TimedTsa {
        inner: TsaClient::new(vec![a.tsa_url.to_string()], Duration::from_secs(10)),
        times: Mutex::new(Vec::new()),
    };
    // The unsigned PDF of the same certificate is what pyHanko signs: same size, same content.
    let first = certd::certificate::render::render(&sample_data(1)).map_err(|e| e.to_string())?;
    std::fs::write(a.unsigned_pdf_out, &first).map_err(|e| e.to_string())?;
    let revocation = HttpFetcher::new(Duration::from_secs(10));
    let sign = |pdf: &[u8], reason: &str| {
        signer
            .sign(pdf, reason, &tsa, a.level, &revocation, &[])
            .map_err(|e| e.to_string())
    };
    let warm = sign(&first, "warm-up")?;
    tsa.times.lock().expect("tsa times").clear();

    let (mut render_ms, mut sign_ms, mut total_ms) = (Vec::new(), Vec::new(), Vec::new());
    // TSA time per certificate (B-LTA asks the TSA twice).
    let mut tsa_ms: Vec<f64> = Vec::new();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut serial = 2;
    while t0.elapsed().as_secs_f64() < a.seconds || total_ms.len() < 3 {
        let data = sample_data(serial);
        serial += 1;
        let asked = tsa.times.lock().expect("tsa times").len();
        let t = Instant::now();
        let pdf = certd::certificate::render::render(&data).map_err(|e| e.to_string())?;
        let r = t.elapsed();
        let reason = format!("{} — serial {}", data.title, data.serial);
        let signed = sign(&pdf, &reason)?;
        std::hint::black_box(&signed);
        let all = t.elapsed();
        render_ms.push(r.as_secs_f64() * 1e3);
        sign_ms.push((all - r).as_secs_f64() * 1e3);
        total_ms.push(all.as_secs_f64() * 1e3);
        tsa_ms.push(tsa.times.lock().expect("tsa times")[asked..].iter().sum());
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let n = total_ms.len() as f64;
    let sign_local: Vec<f64> = sign_ms.iter().zip(&tsa_ms).map(|(s, t)| s - t).collect();
    let ours_wall = n / wall;
    let ours_cpu = n / cpu;
    let mut rows = vec![
        row(
            &format!("certd {}: certificates/s, 1 thread (wall)", a.level),
            ours_wall,
            "cert/s",
            &format!("{} certificates in {wall:.1} s", n as u64),
        ),
        row(
            &format!("certd {}: certificates per CPU-second of certd", a.level),
            ours_cpu,
            "cert/s/core",
            "render+sign in-process; the TSA's and the OCSP responder's CPU is not counted",
        ),
        row("certd: median render", report::median(&render_ms), "ms", ""),
        row(
            "certd: median sign (without TSA; with OCSP for B-LT/B-LTA)",
            report::median(&sign_local),
            "ms",
            "",
        ),
        row(
            "certd: median TSA time per certificate",
            report::median(&tsa_ms),
            "ms",
            "contrib/tsa: python + openssl ts per request",
        ),
        row(
            "certd: median total",
            report::median(&total_ms),
            "ms",
            &format!(
                "unsigned {} bytes, signed {} bytes",
                first.len(),
                warm.len()
            ),
        ),
    ];
    let mut raw = json!({
        "certd": {
            "level": a.level,
            "certificates": n, "wall_s": wall, "cpu_s": cpu,
            "render_ms_median": report::median(&render_ms),
            "sign_local_ms_median": report::median(&sign_local),
            "tsa_ms_median": report::median(&tsa_ms),
            "total_ms_median": report::median(&total_ms),
            "total_ms_p99": report::percentile(&total_ms, 99.0),
            "unsigned_bytes": first.len(), "signed_bytes": warm.len(),
        }
    });
    if let Some(p) = &a.pyhanko {
        let docs = p["docs"].as_f64().unwrap_or(f64::NAN);
        let p_wall = docs / p["wall_s"].as_f64().unwrap_or(f64::NAN);
        let p_cpu = docs / p["cpu_s"].as_f64().unwrap_or(f64::NAN);
        rows.push(row(
            "pyHanko: PDFs signed/s, 1 process (wall)",
            p_wall,
            "doc/s",
            &format!(
                "same key, same TSA, same {}-byte PDF",
                p["input_bytes"].as_u64().unwrap_or(0)
            ),
        ));
        rows.push(row(
            "pyHanko: PDFs per CPU-second of pyHanko",
            p_cpu,
            "doc/s/core",
            "sign only (no rendering)",
        ));
        rows.push(row(
            "pyHanko: median per PDF",
            p["median_ms"].as_f64().unwrap_or(f64::NAN),
            "ms",
            "",
        ));
        let per_core = ours_cpu / p_cpu;
        rows.push(floor_row(
            "ratio certd/pyHanko per core (CPU-second)",
            per_core,
            "x",
            ">= 10x",
            per_core >= 10.0,
        ));
        rows.push(row(
            "ratio certd/pyHanko wall, 1 worker each",
            ours_wall / p_wall,
            "x",
            "both wait on the same TSA",
        ));
        raw["pyhanko"] = p.clone();
    }
    if let Some(o) = &a.openssl {
        let ec = o["ecdsap256_sign_per_s"].as_f64().unwrap_or(f64::NAN);
        rows.push(row(
            "openssl speed: ECDSA P-256 sign",
            ec,
            "op/s",
            "raw limit: one signature per certificate",
        ));
        rows.push(row(
            "openssl speed: RSA-2048 sign",
            o["rsa2048_sign_per_s"].as_f64().unwrap_or(f64::NAN),
            "op/s",
            "",
        ));
        rows.push(row(
            "openssl speed: SHA-256 (16 KiB blocks)",
            o["sha256_bytes_per_s"].as_f64().unwrap_or(f64::NAN) / 1e6,
            "MB/s",
            "",
        ));
        rows.push(row(
            "certd per core as a fraction of the ECDSA sign limit",
            ours_cpu / ec,
            "ratio",
            "the rest is rendering, PDF and CMS work",
        ));
        raw["openssl"] = o.clone();
    }
    Ok(report::fragment("certificates", rows, raw))
}

/// Parses `openssl speed -mr` output (lines `+F:…:sha256:RATE`, `+F2:…:2048:SIGN:VERIFY`,
/// `+F4:…:256:SIGN:VERIFY`; OpenSSL 3 prints operations per second).
pub fn parse_openssl_speed(text: &str) -> Value {
    let mut out = json!({});
    for line in text.lines() {
        let parts: Vec<&str> = line.trim().split(':').collect();
        match parts.as_slice() {
            ["+F", _, "sha256", rate, ..] => {
                out["sha256_bytes_per_s"] = json!(rate.parse::<f64>().ok());
            }
            ["+F2", _, "2048", sign, ..] => {
                out["rsa2048_sign_per_s"] = json!(sign.parse::<f64>().ok());
            }
            ["+F4", _, "256", sign, ..] => {
                out["ecdsap256_sign_per_s"] = json!(sign.parse::<f64>().ok());
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn openssl_speed_machine_readable_lines() {
        let v = super::parse_openssl_speed(
            "+H:16384\n+F:6:sha256:1448008282.35\n+F2:2:2048:1395.45:48955.38\n+F4:3:256:35710.93:12570.58\n",
        );
        assert_eq!(v["sha256_bytes_per_s"], 1448008282.35);
        assert_eq!(v["rsa2048_sign_per_s"], 1395.45);
        assert_eq!(v["ecdsap256_sign_per_s"], 35710.93);
    }
}
