//! Intake latency: concurrent SMTP senders, each alternating a contract submission (AUTH as the
//! customer, to the contract address, a counterparty in the Subject) and an ordinary mail
//! (same login, same size, to a mailbox) through the same Postfix port, timing "." → 250.

use crate::report::{self, floor_row, row};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    pub fn connect(port: u16) -> Result<Client, String> {
        let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(120))).ok();
        s.set_nodelay(true).ok();
        let mut c = Client {
            r: BufReader::new(s.try_clone().map_err(|e| e.to_string())?),
            w: s,
        };
        c.expect(220, "greeting")?;
        c.cmd("EHLO bench.example.test", 250)?;
        Ok(c)
    }

    /// Reads one (possibly multi-line) reply: code and last line.
    fn reply(&mut self) -> Result<(u16, String), String> {
        loop {
            let mut line = String::new();
            if self.r.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                return Err("connection closed".into());
            }
            let code = line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| format!("bad reply {line:?}"))?;
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, line.trim_end().to_string()));
            }
        }
    }

    fn expect(&mut self, code: u16, what: &str) -> Result<String, String> {
        let (c, l) = self.reply()?;
        if c != code {
            return Err(format!("{what}: {l}"));
        }
        Ok(l)
    }

    fn cmd(&mut self, line: &str, code: u16) -> Result<String, String> {
        self.w
            .write_all(format!("{line}\r\n").as_bytes())
            .map_err(|e| e.to_string())?;
        self.expect(code, line)
    }

    pub fn auth(&mut self, user: &str, password: &str) -> Result<(), String> {
        let token = data_encoding::BASE64.encode(format!("\0{user}\0{password}").as_bytes());
        self.cmd(&format!("AUTH PLAIN {token}"), 235).map(|_| ())
    }

    /// Sends one message; returns the time from writing the final "." to reading the 250.
    pub fn send(&mut self, from: &str, to: &str, message: &[u8]) -> Result<Duration, String> {
        self.cmd(&format!("MAIL FROM:<{from}>"), 250)?;
        self.cmd(&format!("RCPT TO:<{to}>"), 250)?;
        self.cmd("DATA", 354)?;
        // The message is built with CRLF and no line starting with ".".
        self.w.write_all(message).map_err(|e| e.to_string())?;
        self.w.flush().map_err(|e| e.to_string())?;
        let t = Instant::now();
        self.w.write_all(b".\r\n").map_err(|e| e.to_string())?;
        let (c, l) = self.reply()?;
        let took = t.elapsed();
        if c != 250 {
            return Err(format!("end of data: {l}"));
        }
        Ok(took)
    }

    pub fn quit(mut self) {
        let _ = self.cmd("QUIT", 221);
    }
}

/// A message of about `body_bytes`, CRLF line ends, unique Message-ID.
pub fn message(from: &str, to: &str, subject: &str, tag: &str, body_bytes: usize) -> Vec<u8> {
    let line = "This agreement is made by email and certified by certmail. Bench text.\r\n";
    let mut m = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{tag}@bench.example.test>\r\nDate: Wed, 25 Nov 2026 07:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{tag}\r\n"
    );
    while m.len() < body_bytes {
        m.push_str(line);
    }
    m.into_bytes()
}

pub struct IntakeArgs<'a> {
    pub port: u16,
    /// A second node's listener: odd-numbered senders use it.
    pub also_port: Option<u16>,
    /// The report section's title.
    pub section: String,
    pub user: &'a str,
    pub password: &'a str,
    pub from: &'a str,
    pub contract_to: &'a str,
    pub plain_to: &'a str,
    pub counterparty: &'a str,
    pub senders: &'a [usize],
    pub messages_per_level: usize,
    pub body_bytes: usize,
    pub watch_pid: Option<u32>,
}

/// VmRSS / VmHWM of a process, in KiB.
pub fn rss_kib(pid: u32) -> (Option<u64>, Option<u64>) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn run_level(a: &IntakeArgs, senders: usize, run_id: &str) -> Result<(Vec<f64>, Vec<f64>), String> {
    let per_sender = a.messages_per_level.div_ceil(senders).max(2);
    let handles: Vec<_> = (0..senders)
        .map(|s| {
            let port = match a.also_port {
                Some(p) if s % 2 == 1 => p,
                _ => a.port,
            };
            let (user, pw) = (a.user.to_string(), a.password.to_string());
            let (from, cto, pto, cp) = (
                a.from.to_string(),
                a.contract_to.to_string(),
                a.plain_to.to_string(),
                a.counterparty.to_string(),
            );
            let (body, run_id) = (a.body_bytes, run_id.to_string());
            std::thread::spawn(move || -> Result<(Vec<f64>, Vec<f64>), String> {
                let mut c = Client::connect(port)?;
                c.auth(&user, &pw)?;
                let (mut contract, mut plain) = (Vec::new(), Vec::new());
                for i in 0..per_sender {
                    let tag = format!("{run_id}.{senders}.{s}.{i}");
                    // Alternate which kind goes first so neither always follows the other.
                    let kinds = if i % 2 == 0 {
                        [true, false]
                    } else {
                        [false, true]
                    };
                    for is_contract in kinds {
                        let (to, subject) = if is_contract {
                            (cto.as_str(), format!("{cp} Bench contract {tag}"))
                        } else {
                            (pto.as_str(), format!("Bench note {tag}"))
                        };
                        let m = message(&from, to, &subject, &tag, body);
                        let d = c.send(&from, to, &m)?.as_secs_f64() * 1e3;
                        if is_contract {
                            contract.push(d)
                        } else {
                            plain.push(d)
                        }
                    }
                }
                c.quit();
                Ok((contract, plain))
            })
        })
        .collect();
    let (mut contract, mut plain) = (Vec::new(), Vec::new());
    for h in handles {
        let (c, p) = h.join().map_err(|_| "sender thread panicked")??;
        contract.extend(c);
        plain.extend(p);
    }
    Ok((contract, plain))
}

pub fn intake(a: &IntakeArgs) -> Result<Value, String> {
    let run_id = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    );
    // RSS of certd while the senders run, sampled every 50 ms.
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = a.watch_pid.map(|pid| {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut max = 0;
            while !stop.load(Ordering::Relaxed) {
                if let (Some(r), _) = rss_kib(pid) {
                    max = max.max(r);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            max
        })
    });
    let idle = a.watch_pid.map(rss_kib);
    let mut rows = Vec::new();
    let mut raw = json!({ "levels": [] });
    let mut worst_p99: f64 = 0.0;
    for &n in a.senders {
        let (c, p) = run_level(a, n, &run_id)?;
        let (c50, c99, p50, p99) = (
            report::percentile(&c, 50.0),
            report::percentile(&c, 99.0),
            report::percentile(&p, 50.0),
            report::percentile(&p, 99.0),
        );
        worst_p99 = worst_p99.max(c99);
        rows.push(row(
            &format!("{n} sender(s): ordinary mail p50 / p99"),
            p50,
            "ms",
            &format!("p99 {p99:.2} ms; baseline, {} mails", p.len()),
        ));
        rows.push(row(
            &format!("{n} sender(s): contract p50"),
            c50,
            "ms",
            &format!(
                "added over ordinary p50: {:.2} ms; {} contracts",
                c50 - p50,
                c.len()
            ),
        ));
        rows.push(floor_row(
            &format!("{n} sender(s): contract p99"),
            c99,
            "ms",
            &format!("< 20 ms (added over ordinary p99: {:.2} ms)", c99 - p99),
            c99 < 20.0,
        ));
        raw["levels"].as_array_mut().expect("array").push(json!({
            "senders": n, "contract_ms": c, "plain_ms": p,
            "contract_p50": c50, "contract_p99": c99, "plain_p50": p50, "plain_p99": p99,
        }));
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(s) = sampler {
        let max = s.join().unwrap_or(0);
        let pid = a.watch_pid.expect("pid");
        let (_, hwm) = rss_kib(pid);
        raw["certd_rss_kib"] =
            json!({ "idle": idle.and_then(|i| i.0), "load_max": max, "hwm": hwm });
        rows.push(row(
            "certd VmRSS at idle (before the senders)",
            idle.and_then(|i| i.0).unwrap_or(0) as f64 / 1024.0,
            "MiB",
            "",
        ));
        rows.push(row(
            "certd VmRSS under intake load (max sampled)",
            max as f64 / 1024.0,
            "MiB",
            &format!("VmHWM {:.1} MiB", hwm.unwrap_or(0) as f64 / 1024.0),
        ));
    }
    raw["worst_contract_p99_ms"] = json!(worst_p99);
    Ok(report::fragment(&a.section, rows, raw))
}

/// One contract with an attachment of `attachment_bytes` (base64, as a MUA sends it); returns
/// the "." → 250 time and the total SMTP time.
pub fn big_contract(a: &IntakeArgs, attachment_bytes: usize) -> Result<(f64, f64, usize), String> {
    let tag = format!(
        "big.{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    );
    let mut m = format!(
        "From: {}\r\nTo: {}\r\nSubject: {} Contract with a large annex {tag}\r\nMessage-ID: <{tag}@bench.example.test>\r\nDate: Wed, 25 Nov 2026 07:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b-{tag}\"\r\n\r\n--b-{tag}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe annex is part of this contract.\r\n--b-{tag}\r\nContent-Type: application/octet-stream; name=\"annex.bin\"\r\nContent-Disposition: attachment; filename=\"annex.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
        a.from, a.contract_to, a.counterparty
    )
    .into_bytes();
    // Incompressible-looking but deterministic content (a simple LCG).
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let data: Vec<u8> = (0..attachment_bytes)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect();
    let b64 = data_encoding::BASE64.encode(&data);
    for chunk in b64.as_bytes().chunks(76) {
        m.extend_from_slice(chunk);
        m.extend_from_slice(b"\r\n");
    }
    m.extend_from_slice(format!("--b-{tag}--\r\n").as_bytes());
    let t = Instant::now();
    let mut c = Client::connect(a.port)?;
    c.auth(a.user, a.password)?;
    let eod = c.send(a.from, a.contract_to, &m)?;
    let total = t.elapsed();
    c.quit();
    Ok((eod.as_secs_f64() * 1e3, total.as_secs_f64() * 1e3, m.len()))
}
