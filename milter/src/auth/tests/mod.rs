//! The authentication rooms' tests, answered from a TXT cache or a real dnsmasq on loopback:
//! shared fixtures (keys, signing, caches, dnsmasq) here, each room's cases in its own file.

mod evidence;
mod gate;

use super::domain::{is_same_or_subdomain, normalize_domain};
use super::phrase::one_line;
use super::resolver::Resolver;
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::dkim::DkimSigner;
use mail_auth::{ResolverCache, Txt};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

/// A `ResolverCache` holding pre-parsed `_domainkey` records, so that tests never touch
/// DNS: mail-auth consults the cache before the resolver.
/// When the second field is set, names not in the map are answered with it (NXDOMAIN)
/// instead of being left to the resolver.
struct KeyCache(Mutex<HashMap<Box<str>, Txt>>, Option<Txt>);

impl KeyCache {
    fn new() -> Self {
        KeyCache(Mutex::new(HashMap::new()), None)
    }

    /// Publishes `record` (a DKIM key TXT record) at `selector._domainkey.domain.`.
    fn publish(&self, selector: &str, domain: &str, record: &str) {
        let key = DomainKey::parse(record.as_bytes()).expect("test key record parses");
        self.put(selector, domain, Txt::from(key));
    }

    fn put(&self, selector: &str, domain: &str, txt: Txt) {
        self.put_name(&format!("{selector}._domainkey.{domain}."), txt);
    }

    /// Stores `txt` as the TXT lookup result for the fully qualified `name`.
    fn put_name(&self, name: &str, txt: Txt) {
        self.0.lock().unwrap().insert(name.into(), txt);
    }
}

impl ResolverCache<Box<str>, Txt> for KeyCache {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let found = self.0.lock().unwrap().get(name).cloned();
        found.or_else(|| self.1.clone())
    }

    fn remove<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().remove(name)
    }

    fn insert(&self, key: Box<str>, value: Txt, _valid_until: std::time::Instant) {
        self.0.lock().unwrap().insert(key, value);
    }
}

/// A fresh Ed25519 key pair: (PKCS#8 private key, `v=DKIM1` TXT record).
fn key_pair() -> (Vec<u8>, String) {
    let pkcs8 = Ed25519Key::generate_pkcs8().expect("generate key");
    let key = Ed25519Key::from_pkcs8_der(&pkcs8).expect("load key");
    let record = format!("v=DKIM1; k=ed25519; p={}", base64(&key.public_key()));
    (pkcs8, record)
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn message(from: &str) -> String {
    format!(
        "From: Customer <{from}>\r\n\
         To: contracts@certmail.test\r\n\
         Subject: Contract 4711\r\n\
         Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\
         Message-ID: <4711@example.test>\r\n\
         \r\n\
         Please find the signed contract attached.\r\n"
    )
}

/// `msg` with a DKIM-Signature header prepended, signed with `pkcs8` as d=`domain` s=`selector`.
fn sign(msg: &str, pkcs8: &[u8], domain: &str, selector: &str) -> String {
    let key = Ed25519Key::from_pkcs8_der(pkcs8).expect("load key");
    let signature = DkimSigner::from_key(key)
        .domain(domain)
        .selector(selector)
        .headers(["From", "To", "Subject", "Date", "Message-ID"])
        .sign(msg.as_bytes())
        .expect("sign");
    format!("{}{msg}", signature.to_header())
}

fn domains(list: &[&str]) -> Vec<String> {
    list.iter().map(|d| d.to_string()).collect()
}

/// A resolver pointed at a discard port: every test must be answered from the key cache (or
/// fail before any lookup).
fn offline_resolver() -> Resolver {
    Resolver::new(&["127.0.0.1:9".parse().unwrap()]).expect("resolver")
}

fn assert_sentence(reason: &str) {
    assert!(!reason.is_empty());
    assert!(reason.len() < 300, "too long: {reason:?}");
    assert!(!reason.contains(['\r', '\n']), "multi-line: {reason:?}");
}

/// A dnsmasq child process, killed (by PID, via `Child::kill`) and reaped when dropped,
/// also when the test panics.
struct Dnsmasq {
    child: std::process::Child,
    port: u16,
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_dnsmasq() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join("dnsmasq"))
        .find(|candidate| candidate.is_file())
}

/// Starts dnsmasq on 127.0.0.1 at a free high port serving `txt_records`
/// (`name,text`, text without commas); everything else below test is NXDOMAIN
/// (DMARC's tree walk also asks for `_dmarc.test`).
fn start_dnsmasq(binary: &std::path::Path, txt_records: &[String]) -> Dnsmasq {
    use std::process::{Command, Stdio};
    for _attempt in 0..5 {
        let port = {
            let probe = std::net::UdpSocket::bind("127.0.0.1:0").expect("probe port");
            probe.local_addr().expect("probe addr").port()
        };
        let mut command = Command::new(binary);
        command
            .arg(format!("--port={port}"))
            .args([
                "--keep-in-foreground",
                "--no-resolv",
                "--no-hosts",
                "--conf-file=/dev/null",
                "--bind-interfaces",
                "--listen-address=127.0.0.1",
                "--pid-file",
                "--log-facility=-",
                "--local=/test/",
            ])
            .args(txt_records.iter().map(|r| format!("--txt-record={r}")))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // As root dnsmasq would switch to "nobody", who may not exist in containers.
            command.arg("--user=root");
        }
        let child = command.spawn().expect("spawn dnsmasq");
        let mut server = Dnsmasq { child, port };
        // Bounded wait until it accepts TCP (it opens UDP and TCP together).
        for _ in 0..50 {
            if let Ok(Some(status)) = server.child.try_wait() {
                eprintln!("dnsmasq on port {port} exited early ({status}); retrying");
                break;
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        drop(server);
    }
    panic!("dnsmasq did not start");
}

#[test]
fn domain_relations() {
    assert!(is_same_or_subdomain("example.test", "example.test"));
    assert!(is_same_or_subdomain("a.b.example.test", "example.test"));
    assert!(!is_same_or_subdomain("badexample.test", "example.test"));
    assert!(!is_same_or_subdomain(".example.test", "example.test"));
    assert!(!is_same_or_subdomain("example.test", "a.example.test"));
    assert!(!is_same_or_subdomain("example.test", ""));
    assert_eq!(normalize_domain(" Example.TEST. "), "example.test");
}

#[test]
fn reasons_are_single_short_ascii_lines() {
    let long = format!("a\r\nb\t\u{e9}{}", "x ".repeat(400));
    let line = one_line(long);
    assert!(line.starts_with("a b ?x x"), "{line}");
    assert_sentence(&line);
}

#[test]
fn new_works_outside_a_runtime() {
    assert!(Resolver::new(&["127.0.0.1:53".parse().unwrap()]).is_ok());
    // The system configuration may legitimately be absent; it must not panic.
    let _ = Resolver::new(&[]);
}
