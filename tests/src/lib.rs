//! Harness for the end-to-end tests: starts a sandbox (`contrib/sandbox`, real Postfix, certd
//! and certmilter on loopback) per test, speaks SMTP to it, and reads what it produced.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The repository root (this crate lives in `tests/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A running sandbox; stopped (by PID, through `contrib/sandbox down`) when dropped.
pub struct Sandbox {
    pub env: HashMap<String, String>,
    dir: PathBuf,
}

impl Sandbox {
    /// Starts a sandbox in a fresh directory named after the test.
    pub fn up(name: &str) -> Sandbox {
        Sandbox::up_with(name, &[])
    }

    /// Starts a sandbox with extra environment for `contrib/sandbox up` (its documented
    /// switches, e.g. `SANDBOX_MAX_MESSAGE_SIZE`). `CERTMAIL_STORE=postgres` in the test's
    /// environment runs certd on PostgreSQL (`SANDBOX_STORE`).
    pub fn up_with(name: &str, env: &[(&str, &str)]) -> Sandbox {
        let dir = std::env::temp_dir().join(format!("certmail-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = std::env::var("CERTMAIL_STORE").unwrap_or_else(|_| "sqlite".into());
        let out = Command::new(repo_root().join("contrib/sandbox"))
            .arg("up")
            .env("SANDBOX_DIR", &dir)
            .env("SANDBOX_STORE", store)
            .envs(env.iter().copied())
            .output()
            .expect("run contrib/sandbox up");
        assert!(
            out.status.success(),
            "sandbox up failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env = parse_env(&String::from_utf8_lossy(&out.stdout));
        Sandbox { env, dir }
    }

    pub fn get(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("sandbox printed no {key}"))
    }

    /// The first column of every row `sql` returns from certd's store, as text (sqlite3 or
    /// psql, whichever store the sandbox runs).
    pub fn sql_column(&self, sql: &str) -> Vec<String> {
        let out = if self.get("STORE") == "postgres" {
            Command::new("psql")
                .args(["-At", "-X", self.get("STORE_URL"), "-c", sql])
                .output()
        } else {
            Command::new("sqlite3")
                .args([self.get("CERTD_DB"), sql])
                .output()
        }
        .expect("run sqlite3 or psql");
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split('|').next().unwrap_or("").to_string())
            .collect()
    }

    pub fn smtp_port(&self) -> u16 {
        self.get("SMTP_PORT").parse().expect("SMTP_PORT is a port")
    }

    /// `contrib/sandbox stop|start certd|certmilter`.
    pub fn service(&self, action: &str, service: &str) {
        let out = Command::new(repo_root().join("contrib/sandbox"))
            .args([action, service])
            .env("SANDBOX_DIR", &self.dir)
            .output()
            .expect("run contrib/sandbox");
        assert!(
            out.status.success(),
            "sandbox {action} {service} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs the admin CLI (`CERTD_CLI`) and parses its JSON output.
    pub fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "certd {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("CLI prints JSON")
    }

    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        let cli = self.get("CERTD_CLI");
        let mut words = cli.split_whitespace();
        let program = words.next().expect("CERTD_CLI names a program");
        Command::new(program)
            .args(words)
            .args(args)
            .output()
            .expect("run CERTD_CLI")
    }

    pub fn contracts(&self) -> Vec<serde_json::Value> {
        match self.cli_json(&["contracts", "list", "--limit", "0", "--json"]) {
            serde_json::Value::Array(v) => v,
            other => panic!("contracts list is not an array: {other}"),
        }
    }

    /// The maildir of `who@example.test`.
    pub fn maildir(&self, who: &str) -> PathBuf {
        Path::new(self.get("MAILBOX_DIR"))
            .join("example.test")
            .join(who)
    }

    /// Waits (bounded) until `who` has at least `n` messages and returns them all.
    pub fn wait_for_mail(&self, who: &str, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            let msgs = read_maildir(&self.maildir(who));
            if msgs.len() >= n || Instant::now() > deadline {
                return msgs;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Reads a log file of the sandbox, for failure messages.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(Path::new(self.get("LOG_DIR")).join(name)).unwrap_or_default()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = Command::new(repo_root().join("contrib/sandbox"))
            .arg("down")
            .env("SANDBOX_DIR", &self.dir)
            .output();
    }
}

/// Parses `KEY=VALUE` lines as printed by `contrib/sandbox` (values possibly single-quoted).
pub fn parse_env(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| {
            !k.is_empty()
                && k.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        })
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .map(|v| v.replace("'\\''", "'"))
                .unwrap_or_else(|| v.replace("\\ ", " "));
            (k.to_string(), v)
        })
        .collect()
}

/// All messages in a maildir (new/ and cur/), oldest first by file name.
pub fn read_maildir(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = ["new", "cur"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(dir.join(sub)).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    files.iter().filter_map(|f| std::fs::read(f).ok()).collect()
}

/// One SMTP reply: code and the text of its last line (with the enhanced status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpReply {
    pub code: u16,
    pub text: String,
}

impl SmtpReply {
    /// `"550 5.7.1"` style prefix, for assertions.
    pub fn status(&self) -> String {
        let enhanced = self.text.split_whitespace().next().unwrap_or("");
        format!("{} {enhanced}", self.code)
    }
}

/// A minimal SMTP client that exposes every reply, so tests can assert exact codes.
pub struct Smtp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Smtp {
    pub fn connect(port: u16) -> Smtp {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to sandbox SMTP");
        s.set_read_timeout(Some(Duration::from_secs(60))).ok();
        let mut me = Smtp {
            reader: BufReader::new(s.try_clone().expect("clone stream")),
            writer: s,
        };
        let greeting = me.reply();
        assert_eq!(greeting.code, 220, "greeting: {greeting:?}");
        me.cmd("EHLO e2e.example.test");
        me
    }

    pub fn reply(&mut self) -> SmtpReply {
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).expect("read SMTP reply");
            assert!(n > 0, "server closed the connection");
            let line = line.trim_end();
            let code = line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .expect("reply code");
            if line.as_bytes().get(3) != Some(&b'-') {
                let text = line.get(4..).unwrap_or("").to_string();
                return SmtpReply { code, text };
            }
        }
    }

    pub fn cmd(&mut self, line: &str) -> SmtpReply {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .expect("write SMTP command");
        self.reply()
    }

    pub fn auth(&mut self, user: &str, password: &str) -> SmtpReply {
        let token = data_encoding::BASE64.encode(format!("\0{user}\0{password}").as_bytes());
        self.cmd(&format!("AUTH PLAIN {token}"))
    }

    /// Sends DATA and the message (dot-stuffed), returning the final reply.
    pub fn data(&mut self, message: &[u8]) -> SmtpReply {
        let r = self.cmd("DATA");
        if r.code != 354 {
            return r;
        }
        let text = String::from_utf8_lossy(message).replace("\r\n", "\n");
        // The final line break belongs to the last line, not to an extra empty one.
        let text = text.strip_suffix('\n').unwrap_or(&text);
        let mut out = Vec::new();
        for line in text.split('\n') {
            if line.starts_with('.') {
                out.push(b'.');
            }
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        self.writer.write_all(&out).expect("write message");
        self.reply()
    }

    pub fn quit(mut self) {
        let _ = self.cmd("QUIT");
    }
}

/// Result of a whole transaction: the reply of the stage that ended it.
#[derive(Debug)]
pub struct Outcome {
    pub mail: SmtpReply,
    pub rcpts: Vec<SmtpReply>,
    pub data: Option<SmtpReply>,
}

/// MAIL, RCPTs and DATA on an open session; DATA only if some recipient was accepted.
pub fn transaction(s: &mut Smtp, from: &str, to: &[&str], message: &[u8]) -> Outcome {
    let mail = s.cmd(&format!("MAIL FROM:<{from}>"));
    let rcpts: Vec<SmtpReply> = to
        .iter()
        .map(|t| s.cmd(&format!("RCPT TO:<{t}>")))
        .collect();
    let data = if mail.code == 250 && rcpts.iter().any(|r| r.code == 250) {
        Some(s.data(message))
    } else {
        let _ = s.cmd("RSET");
        None
    };
    Outcome { mail, rcpts, data }
}

/// A MIME message with a text part and attachments, CRLF line ends.
pub fn mime_message(
    from: &str,
    to: &str,
    subject: &str,
    text: &str,
    attachments: &[(&str, &str, &[u8])],
) -> Vec<u8> {
    let boundary = "=_certmail_e2e_boundary";
    let id = format!("<{}.{:x}@e2e.example.test>", std::process::id(), rand_u64());
    let mut m = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {id}\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    );
    if attachments.is_empty() {
        m.push_str(
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        );
        m.push_str(&text.replace('\n', "\r\n"));
        m.push_str("\r\n");
        return m.into_bytes();
    }
    m.push_str(&format!(
        "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\nThis is a MIME message.\r\n"
    ));
    m.push_str(&format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}\r\n",
        text.replace('\n', "\r\n")
    ));
    for (name, ctype, bytes) in attachments {
        let b64 = data_encoding::BASE64_MIME.encode(bytes);
        m.push_str(&format!(
            "--{boundary}\r\nContent-Type: {ctype}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}"
        ));
    }
    m.push_str(&format!("--{boundary}--\r\n"));
    m.into_bytes()
}

/// A little entropy for Message-IDs and test payloads, without a dependency.
pub fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    h.finish()
}

/// Pseudo-random bytes (every value occurs: xorshift), for attachments, without a dependency.
pub fn noise(n: usize) -> Vec<u8> {
    let mut x = rand_u64() | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Sends until the MTA answers 250 (certd may be down: 451), bounded.
pub fn send_until_accepted(
    port: u16,
    auth: Option<(&str, &str)>,
    from: &str,
    to: &str,
    msg: &[u8],
) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut s = Smtp::connect(port);
        if let Some((u, p)) = auth {
            assert_eq!(s.auth(u, p).code, 235);
        }
        let out = transaction(&mut s, from, &[to], msg);
        s.quit();
        let code = out
            .data
            .as_ref()
            .map(|d| d.code)
            .unwrap_or(out.rcpts[0].code);
        if code == 250 {
            return;
        }
        assert!(
            code / 100 == 4,
            "permanent failure while certd crashes: {out:?}"
        );
        assert!(Instant::now() < deadline, "never accepted: {out:?}");
        std::thread::sleep(Duration::from_millis(150));
    }
}

/// The contract code in a request SMS a phone received (`SMS_GATEWAY inbox` JSON): the word
/// after the answer instruction (YES / ACEPTO).
pub fn code_from_request(sms: &serde_json::Value) -> String {
    let text = sms["text"].as_str().unwrap_or_default();
    let words: Vec<&str> = text.split_whitespace().collect();
    let i = words
        .iter()
        .position(|w| *w == "YES" || *w == "ACEPTO")
        .unwrap_or_else(|| panic!("no answer instructions in {text:?}"));
    words[i + 1].to_string()
}

/// `from` answers a request mail with `words`, at its Reply-To, as a mail client would; the
/// MTA must take it (250).
pub fn answer_request(smtp_port: u16, request: &[u8], from: &str, words: &str) {
    let reply_to = header(request, "Reply-To").unwrap_or_default();
    let answer = mime_message(from, &reply_to, "Re: contrato", words, &[]);
    let mut s = Smtp::connect(smtp_port);
    assert_eq!(
        transaction(&mut s, from, &[&reply_to], &answer)
            .data
            .map(|d| d.code),
        Some(250)
    );
    s.quit();
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// Signs `message` with the sandbox's DKIM key (Ed25519, PKCS#8 PEM at `key_pem`), as a
/// customer's outbound MTA would, and returns the message with its DKIM-Signature header.
pub fn dkim_sign(message: &[u8], key_pem: &Path, domain: &str, selector: &str) -> Vec<u8> {
    use mail_auth::common::crypto::Ed25519Key;
    use mail_auth::common::headers::HeaderWriter;
    use mail_auth::dkim::DkimSigner;
    let pem = std::fs::read_to_string(key_pem).expect("read DKIM key");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = data_encoding::BASE64
        .decode(b64.as_bytes())
        .expect("PEM base64");
    let key = Ed25519Key::from_pkcs8_maybe_unchecked_der(&der).expect("Ed25519 PKCS#8 key");
    let signature = DkimSigner::from_key(key)
        .domain(domain)
        .selector(selector)
        .headers(["From", "To", "Subject", "Message-ID", "Date"])
        .sign(message)
        .expect("sign");
    let mut out = signature.to_header().into_bytes();
    out.extend_from_slice(message);
    out
}

/// A header field's value from a raw message (first occurrence, unfolded).
pub fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    let head = text.split("\n\n").next().unwrap_or("");
    let mut found: Option<String> = None;
    for line in head.lines() {
        if let Some(v) = found.as_mut() {
            if line.starts_with([' ', '\t']) {
                v.push(' ');
                v.push_str(line.trim());
                continue;
            }
            break;
        }
        if let Some((n, v)) = line.split_once(':') {
            if n.eq_ignore_ascii_case(name) {
                found = Some(v.trim().to_string());
            }
        }
    }
    found
}

impl Sandbox {
    /// Kills a sandbox daemon with SIGKILL, as a crash or the OOM killer would.
    pub fn kill9(&self, service: &str) {
        let pidfile = self.dir.join("run").join(format!("{service}.pid"));
        if let Ok(pid) = std::fs::read_to_string(&pidfile) {
            let _ = Command::new("kill").args(["-9", pid.trim()]).status();
        }
    }

    /// Waits up to `timeout` for the first request certd mailed to `who` (a mail whose Reply-To
    /// is a reply address) and returns it.
    pub fn request_mail(&self, who: &str, timeout: Duration) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = read_maildir(&self.maildir(who))
                .into_iter()
                .find(|m| header(m, "Reply-To").is_some_and(|r| r.contains("reply+")))
            {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "no request for {who}; certd log:\n{}",
                self.log("certd.log")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits up to `timeout` for a certificate PDF (`certificate-*.pdf`) in `who`'s mailbox
    /// other than those in `seen`.
    pub fn certificate_mail(&self, who: &str, seen: &[Vec<u8>], timeout: Duration) -> Vec<u8> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            for m in read_maildir(&self.maildir(who)) {
                for (name, pdf) in pdf_attachments(&m) {
                    if name.starts_with("certificate-") && !seen.contains(&pdf) {
                        return pdf;
                    }
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no certificate for {who}:\n{}",
                self.log("certd.log")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits (bounded) until the contract `id` reaches `state`; returns its `show --json`.
    pub fn wait_for_state(&self, id: &str, state: &str, timeout: Duration) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            let show = self.cli_json(&["contracts", "show", id, "--json"]);
            if show["contract"]["state"] == state || Instant::now() > deadline {
                return show;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Mail as the sandbox's people send it.
impl Sandbox {
    /// Adds customer `name` (alice's address and SMTP login) whose counterparties have only
    /// `deadline` (e.g. `2s`) to answer: for unanswered contracts.
    pub fn add_customer_with_deadline(&self, name: &str, deadline: &str) {
        let out = self.cli(&[
            "customers",
            "add",
            name,
            "--email",
            "alice@example.test",
            "--smtp-login",
            "alice",
            "--deadline",
            deadline,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// alice submits a contract to `contract_address` (SMTP AUTH, as a mail client does);
    /// asserts the `250` and returns the id of the newest contract.
    pub fn submit_contract(
        &self,
        contract_address: &str,
        subject: &str,
        text: &str,
        attachments: &[(&str, &str, &[u8])],
    ) -> String {
        let msg = mime_message(
            "alice@example.test",
            contract_address,
            subject,
            text,
            attachments,
        );
        let mut s = Smtp::connect(self.smtp_port());
        assert_eq!(s.auth("alice", self.get("CUSTOMER_PASSWORD")).code, 235);
        let out = transaction(&mut s, "alice@example.test", &[contract_address], &msg);
        s.quit();
        assert_eq!(
            out.data.map(|d| d.code),
            Some(250),
            "{}",
            self.log("certmilter.log")
        );
        self.contracts()[0]["id"]
            .as_str()
            .expect("contract id")
            .to_string()
    }

    /// `from` sends `body` to `to` without authentication (a counterparty's answer).
    pub fn send_answer(&self, from: &str, to: &str, body: &str) -> Outcome {
        let msg = mime_message(from, to, "Re: contract", body, &[]);
        let mut s = Smtp::connect(self.smtp_port());
        let out = transaction(&mut s, from, &[to], &msg);
        s.quit();
        out
    }
}

/// The phones of the sandbox, through its `SMS_GATEWAY` command.
impl Sandbox {
    fn sms_command(&self, args: &[&str]) -> std::process::Output {
        let gateway = self.get("SMS_GATEWAY");
        let mut words = gateway.split_whitespace();
        let program = words.next().expect("SMS_GATEWAY names a program");
        Command::new(program)
            .args(words)
            .args(args)
            .output()
            .expect("run SMS_GATEWAY")
    }

    /// Phone `from` answers with `text`.
    pub fn sms_send(&self, from: &str, text: &str) {
        let out = self.sms_command(&["send", from, text]);
        assert!(
            out.status.success(),
            "SMS_GATEWAY send failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The SMS phone `number` has received, concatenated parts joined.
    pub fn sms_inbox(&self, number: &str) -> Vec<serde_json::Value> {
        let out = self.sms_command(&["inbox", number]);
        assert!(out.status.success(), "SMS_GATEWAY inbox failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("inbox prints JSON lines"))
            .collect()
    }

    /// Waits (bounded) until `number` has received at least `n` SMS; returns them all.
    pub fn wait_for_sms(
        &self,
        number: &str,
        n: usize,
        timeout: Duration,
    ) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.sms_inbox(number);
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The PDF attachments of a mail, decoded.
pub fn pdf_attachments(raw: &[u8]) -> Vec<(String, Vec<u8>)> {
    use mail_parser::MimeHeaders;
    let Some(m) = mail_parser::MessageParser::default().parse(raw) else {
        return Vec::new();
    };
    m.attachments()
        .filter(|p| {
            p.content_type()
                .is_some_and(|ct| ct.subtype() == Some("pdf"))
        })
        .map(|p| {
            (
                p.attachment_name().unwrap_or("").to_string(),
                p.contents().to_vec(),
            )
        })
        .collect()
}

/// Runs a command, returning (success, stdout + stderr).
pub fn run(program: &str, args: &[&str]) -> (bool, String) {
    match Command::new(program).args(args).output() {
        Ok(o) => (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        ),
        Err(e) => (false, format!("cannot run {program}: {e}")),
    }
}

// ---- the test PKI's revocation services, the TSA, and pyHanko as referee (docs/sandbox.md) ----

impl Sandbox {
    /// Runs `contrib/sandbox ARGS...` on this sandbox; panics with its stderr if it fails.
    pub fn sandbox_cmd(&self, args: &[&str]) -> String {
        let out = Command::new(repo_root().join("contrib/sandbox"))
            .args(args)
            .env("SANDBOX_DIR", &self.dir)
            .output()
            .expect("run contrib/sandbox");
        assert!(
            out.status.success(),
            "sandbox {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Stops the OCSP responder, the CRL server and the TSA: from now on only what a file
    /// embeds can validate it. `start_online_services` brings them back on the same ports.
    pub fn stop_online_services(&self) {
        for s in ["ocsp", "crl", "tsa"] {
            self.sandbox_cmd(&["stop", s]);
        }
    }

    pub fn start_online_services(&self) {
        for s in ["ocsp", "crl", "tsa"] {
            self.sandbox_cmd(&["start", s]);
        }
    }

    /// Revokes `$PKI_DIR/NAME.pem` in the test CA (OCSP and CRL show it at once); returns the
    /// serial number (uppercase hex).
    pub fn pki_revoke(&self, name: &str) -> String {
        let out = self.sandbox_cmd(&["pki", "revoke", name]);
        parse_env(&out)
            .remove("REVOKED_SERIAL")
            .unwrap_or_else(|| panic!("pki revoke printed no serial: {out}"))
    }

    /// Issues a fresh operator key and chain `$PKI_DIR/NAME.key`, `NAME.pem` (good in OCSP).
    pub fn pki_issue(&self, name: &str) -> (PathBuf, PathBuf) {
        let out = self.sandbox_cmd(&["pki", "issue", name]);
        let e = parse_env(&out);
        (
            PathBuf::from(&e["ISSUED_KEY"]),
            PathBuf::from(&e["ISSUED_CHAIN"]),
        )
    }

    /// Restarts the TSA (same URL) with `tsa-short.pem` (`short`, 30 days) or `tsa.pem` (`long`).
    pub fn tsa_cert(&self, which: &str) {
        self.sandbox_cmd(&["tsa-cert", which]);
    }

    /// A file of the test PKI (`$PKI_DIR/NAME`).
    pub fn pki_file(&self, name: &str) -> PathBuf {
        Path::new(self.get("PKI_DIR")).join(name)
    }

    /// Asks the sandbox's OCSP responder about the first certificate of `chain` with `openssl
    /// ocsp`, the response verified against the CA.
    pub fn ocsp_status(&self, chain: &Path) -> OcspAnswer {
        let ca = self.pki_file("ca.pem");
        let (ca, chain) = (ca.to_string_lossy(), chain.to_string_lossy());
        let (ok, out) = run(
            "openssl",
            &[
                "ocsp",
                "-issuer",
                &ca,
                "-cert",
                &chain,
                "-url",
                self.get("OCSP_URL"),
                "-CAfile",
                &ca,
                "-timeout",
                "10",
            ],
        );
        let status = out
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{chain}: ")))
            .map(str::trim);
        match status {
            Some("good") if ok && out.contains("Response verify OK") => OcspAnswer::Good,
            Some("revoked") if ok && out.contains("Response verify OK") => OcspAnswer::Revoked,
            Some("unknown") if ok && out.contains("Response verify OK") => OcspAnswer::Unknown,
            _ => OcspAnswer::NoAnswer(out),
        }
    }
}

/// An OCSP answer as `openssl ocsp` reports it (RFC 6960 4.2.1 CertStatus).
#[derive(Debug, PartialEq, Eq)]
pub enum OcspAnswer {
    Good,
    Revoked,
    Unknown,
    /// No verified answer (responder stopped, error response): openssl's output.
    NoAnswer(String),
}

/// A plain HTTP/1.0 GET on loopback: (status, Content-Type, body).
pub fn http_get(url: &str) -> std::io::Result<(u16, String, Vec<u8>)> {
    http_request(url, None)
}

/// A plain HTTP/1.0 POST of `body` with Content-Type `ctype`: (status, Content-Type, body).
pub fn http_post(url: &str, ctype: &str, body: &[u8]) -> std::io::Result<(u16, String, Vec<u8>)> {
    http_request(url, Some((ctype, body)))
}

fn http_request(url: &str, post: Option<(&str, &[u8])>) -> std::io::Result<(u16, String, Vec<u8>)> {
    use std::io::Read;
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| bad("not http://"))?;
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut s = TcpStream::connect(host)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    match post {
        None => write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n")?,
        Some((ctype, body)) => {
            write!(
                s,
                "POST {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )?;
            s.write_all(body)?;
        }
    }
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    let ctype = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    Ok((status, ctype, raw[split + 4..].to_vec()))
}

/// The pyHanko venv's `pyhanko` (the referee's own signer, for reference files).
pub const PYHANKO: &str = "/opt/certmail-validators/bin/pyhanko";

/// Signs `input` with pyHanko as PAdES (`--use-pades`, signature timestamp from the sandbox TSA),
/// with `lta` also `--use-pades-lta --with-validation-info` (DSS with OCSP/CRL fetched from the
/// sandbox's responders, then a document timestamp): a genuine B-LTA made by someone else.
pub fn pyhanko_sign(
    sb: &Sandbox,
    key: &Path,
    chain: &Path,
    input: &Path,
    output: &Path,
    lta: bool,
) {
    // pyHanko wants the signer's certificate alone and the rest as --chain.
    let leaf = output.with_extension("signer.pem");
    let (ok, out) = run(
        "openssl",
        &[
            "x509",
            "-in",
            &chain.to_string_lossy(),
            "-out",
            &leaf.to_string_lossy(),
        ],
    );
    assert!(ok, "openssl x509: {out}");
    let ca = sb.pki_file("ca.pem");
    let (key, leaf, ca) = (
        key.to_string_lossy(),
        leaf.to_string_lossy(),
        ca.to_string_lossy(),
    );
    let (input, output) = (input.to_string_lossy(), output.to_string_lossy());
    let mut args = vec!["sign", "addsig", "--field", "Sig1", "--use-pades"];
    if lta {
        args.extend(["--use-pades-lta", "--with-validation-info"]);
    }
    args.extend([
        "--timestamp-url",
        sb.get("TSA_URL"),
        "--trust",
        sb.get("TRUST_ANCHOR"),
        "--trust-replace",
        "pemder",
        "--key",
        &key,
        "--cert",
        &leaf,
        "--chain",
        &ca,
        "--no-pass",
        &input,
        &output,
    ]);
    let (ok, out) = run(PYHANKO, &args);
    assert!(ok, "pyhanko sign addsig failed: {out}");
}

/// What `contrib/pyhanko-check` said about a file: `ok` (exit 0: every signature PASSED in every
/// mode run) and its JSON lines.
pub struct Referee {
    pub ok: bool,
    pub lines: Vec<serde_json::Value>,
    pub output: String,
}

impl Referee {
    /// The `{"kind": "file"}` line.
    pub fn file(&self) -> &serde_json::Value {
        self.lines
            .iter()
            .find(|l| l["kind"] == "file")
            .unwrap_or_else(|| panic!("no file line: {}", self.output))
    }

    /// The signature lines of one mode ("at" or "future").
    pub fn signatures(&self, mode: &str) -> Vec<&serde_json::Value> {
        self.lines
            .iter()
            .filter(|l| l["kind"] == "signature" && l["mode"] == mode)
            .collect()
    }
}

/// Runs the pyHanko referee (fetching off) on `file` with `trust`, at now (or `at`), plus a
/// future LTA simulation at each of `futures` (ISO dates).
pub fn referee(file: &Path, trust: &str, at: Option<&str>, futures: &[&str]) -> Referee {
    let script = repo_root().join("contrib/pyhanko-check");
    let mut cmd = Command::new(&script);
    cmd.arg(file).args(["--trust", trust]);
    if let Some(at) = at {
        cmd.args(["--at", at]);
    }
    for f in futures {
        cmd.args(["--future", f]);
    }
    let out = cmd.output().expect("run contrib/pyhanko-check");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    Referee {
        ok: out.status.success(),
        lines,
        output: format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)),
    }
}

/// `pyhanko sign adesverify --trust TRUST --trust-replace --validation-time T FILE` (the CLI the
/// issue names). `T` must be given when the responders are stopped: without it pyHanko validates
/// in "now" mode, fails to fetch and judges UNTRUSTED despite the DSS (docs/sandbox.md).
/// Returns (judged TRUSTED and exit 0, output).
pub fn pyhanko_adesverify(file: &Path, trust: &str, validation_time: &str) -> (bool, String) {
    let (ok, out) = run(
        PYHANKO,
        &[
            "sign",
            "adesverify",
            "--trust",
            trust,
            "--trust-replace",
            "--validation-time",
            validation_time,
            &file.to_string_lossy(),
        ],
    );
    let trusted = out.lines().any(|l| l.contains(":INTACT:TRUSTED"));
    (ok && trusted, out)
}

/// The current time as ISO 8601 with zone (for `--validation-time`).
pub fn now_iso() -> String {
    let (ok, out) = run("date", &["-u", "+%FT%T+00:00"]);
    assert!(ok, "date: {out}");
    out.trim().to_string()
}

/// An ISO date `years` years from today (UTC), for future validations.
pub fn years_from_now(years: u32) -> String {
    let (ok, out) = run("date", &["-u", "-d", &format!("+{years} years"), "+%F"]);
    assert!(ok, "date: {out}");
    out.trim().to_string()
}

/// poppler's `pdfsig` on `file` with the PEM `trust` anchor in a fresh NSS database beside the
/// file: its report. (It asks the OCSP responder itself and ignores the `/DSS`.)
pub fn pdfsig(trust: &str, file: &Path) -> String {
    let nss = file.with_extension("nssdb");
    let _ = std::fs::create_dir_all(&nss);
    let db = format!("sql:{}", nss.display());
    run("certutil", &["-N", "-d", &db, "--empty-password"]);
    run(
        "certutil",
        &[
            "-A",
            "-d",
            &db,
            "-n",
            "certmail-test-ca",
            "-t",
            "CT,C,C",
            "-i",
            trust,
        ],
    );
    run(
        "pdfsig",
        &["-nssdir", &db, file.to_str().unwrap_or_default()],
    )
    .1
}

/// The operator's mail path (docs/sandbox.md): the general MX, the submission service and the
/// contract relay beside the contract listener (`SMTP_PORT`).
impl Sandbox {
    /// A port the sandbox printed (`MX_PORT`, `SUBMISSION_PORT`, ...).
    pub fn port(&self, key: &str) -> u16 {
        self.get(key)
            .parse()
            .unwrap_or_else(|_| panic!("{key} is a port"))
    }

    /// One message through the listener `port_key`, logged in as `login` (the sandbox password)
    /// if given.
    pub fn send_via(
        &self,
        port_key: &str,
        login: Option<&str>,
        from: &str,
        to: &[&str],
        message: &[u8],
    ) -> Outcome {
        let mut s = Smtp::connect(self.port(port_key));
        if let Some(user) = login {
            assert_eq!(s.auth(user, self.get("CUSTOMER_PASSWORD")).code, 235);
        }
        let out = transaction(&mut s, from, to, message);
        s.quit();
        out
    }

    /// The names of the certificate PDFs (`certificate-<serial>.pdf`) in `who`'s mailbox, one
    /// entry per copy received.
    pub fn certificate_names(&self, who: &str) -> Vec<String> {
        read_maildir(&self.maildir(who))
            .iter()
            .flat_map(|m| pdf_attachments(m))
            .map(|(name, _)| name)
            .filter(|name| name.starts_with("certificate-"))
            .collect()
    }
}

/// certd (`bin`) run with `--config config` and `args`: success, stdout and stderr.
pub fn certd_with_config(bin: &str, config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin)
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("run certd");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_lines() {
        let e = parse_env("A=1\nB='x y'\nnoise\nC=a\\ b\nlower=no\n");
        assert_eq!(e["A"], "1");
        assert_eq!(e["B"], "x y");
        assert_eq!(e["C"], "a b");
        assert!(!e.contains_key("lower"));
    }
}
