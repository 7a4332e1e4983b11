//! certd's HTTP endpoint for the SMS gateway: delivery reports (`/dlr`) and inbound SMS
//! (`/mo`), as Kannel's `dlr-url` and `sms-service get-url` call them.
//!
//! Protection, in order: the peer address must be in `callback_allow`, checked on accept before
//! a byte is read (`403`, closed); the request head and body must arrive within
//! `callback_timeout_secs` together (`408`) and within `callback_max_request_bytes` (`413`, never
//! truncated); then the shared secret must match, compared in constant time, from HTTP Basic
//! credentials (`Proxy-Authorization` or `Authorization`) or `key=`, as `callback_secret_in`
//! says. Each connection has its own thread, at most `callback_max_clients` at once (one more
//! gets `503` with `Retry-After` from the accept loop), so a slow client delays nobody else.
//!
//! Parameters come in the query string (GET) or a form body (POST); one request per connection.
//! Answers: `200` stored (or a repeat of something stored), `400` malformed, `403` refused, `404`
//! unknown path, `405`, `408`, `411`, `413`, `414`, `431` (see [`Refusal`]), `500` the store
//! failed — the gateway retries, so nothing is lost while the database is busy — and `503`. The
//! body of a `200` is empty: Kannel would send any text back as an SMS.

use crate::config::{SecretIn, SmsConfig};
use crate::error::Error;
use crate::store::lock;
use crate::store::{DlrOutcome, DlrReport, MoOutcome, MoReport, Store};
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most header fields accepted in one request (Kannel sends five).
const MAX_HEADERS: usize = 32;
/// What a `503` asks the client to wait, in seconds (RFC 9110 10.2.3).
const RETRY_AFTER_SECS: u64 = 5;
/// After an error answer, input still arriving is read and dropped for at most this long (and
/// [`LINGER_BYTES`]): closing with unread input resets the connection, and the client could
/// lose the answer (RFC 9112 9.6).
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

/// What the endpoint answers: status and a short text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub text: String,
}

fn reply(status: u16, text: impl Into<String>) -> Reply {
    Reply {
        status,
        text: text.into(),
    }
}

/// The endpoint's limits, from `[sms]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The whole request, head and body, must arrive within this.
    pub deadline: Duration,
    /// Largest request, head and body.
    pub max_request: usize,
    /// Connections served at once.
    pub max_clients: usize,
}

impl Limits {
    pub fn from_config(c: &SmsConfig) -> Limits {
        Limits {
            deadline: Duration::from_secs(c.callback_timeout_secs),
            max_request: c.callback_max_request_bytes,
            max_clients: c.callback_max_clients,
        }
    }
}

/// One callback as received: the path without its query, the parameters of query and form
/// body, and the password of the HTTP Basic credentials, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackRequest {
    pub path: String,
    pub params: HashMap<String, String>,
    pub credential: Option<String>,
}

/// The endpoint's logic, without the HTTP server: unit-testable.
pub struct Callbacks {
    pub store: Arc<Mutex<Store>>,
    pub secret: String,
    pub secret_in: SecretIn,
    pub allow: Vec<IpAddr>,
    /// Nudges the outbox dispatcher after a decision.
    pub wake: SyncSender<()>,
}

/// Constant-time comparison, so the secret cannot be guessed byte by byte from timings.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Parses `a=b&c=d` (form encoding, UTF-8).
pub fn parse_params(query: &str) -> HashMap<String, String> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The password of HTTP Basic credentials: base64 of `user-id ":" password` (RFC 7617 2); the
/// scheme name is case-insensitive (RFC 9110 11.1).
fn basic_password(value: &[u8]) -> Option<String> {
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = data_encoding::BASE64.decode(token.trim().as_bytes()).ok()?;
    let (_, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some(password.to_string())
}

impl Callbacks {
    /// Whether `peer` may call back (an IPv4 peer of a dual-stack socket counts as IPv4).
    pub fn allows(&self, peer: IpAddr) -> bool {
        self.allow.contains(&peer.to_canonical())
    }

    /// Handles one request.
    pub fn handle(&self, peer: Option<IpAddr>, request: &CallbackRequest) -> Reply {
        if !peer.is_some_and(|p| self.allows(p)) {
            log::warn!("sms callback from {peer:?} refused: not in sms.callback_allow");
            return reply(403, "forbidden");
        }
        if !self.authorised(request) {
            return reply(403, "forbidden");
        }
        match request.path.as_str() {
            "/dlr" => self.dlr(&request.params),
            "/mo" => self.mo(&request.params),
            _ => reply(404, "no such callback"),
        }
    }

    fn authorised(&self, request: &CallbackRequest) -> bool {
        if self.secret.is_empty() {
            return true;
        }
        let offered = match self.secret_in {
            SecretIn::Header if request.params.contains_key("key") => {
                log::warn!(
                    "sms callback on {} refused: it carries key= in its URL, but \
                     sms.callback_secret_in is \"header\"; take the secret out of the gateway's \
                     URLs (they are logged) and give it as the gateway's HTTP proxy password",
                    request.path
                );
                return false;
            }
            SecretIn::Header => request.credential.as_deref(),
            SecretIn::Query => request.params.get("key").map(String::as_str),
        };
        let ok = offered.is_some_and(|k| same(k, &self.secret));
        if !ok {
            log::warn!(
                "sms callback on {} refused: wrong or missing secret",
                request.path
            );
        }
        ok
    }

    fn dlr(&self, p: &HashMap<String, String>) -> Reply {
        let Some(reference) = p.get("ref").filter(|r| !r.is_empty()) else {
            return reply(400, "missing ref");
        };
        let Some(status) = p.get("status").and_then(|s| s.parse::<i64>().ok()) else {
            return reply(400, "missing or non-numeric status");
        };
        let report = DlrReport {
            reference: reference.clone(),
            status,
            smsc_id: p.get("fid").cloned().unwrap_or_default(),
            gateway_time: p.get("ts").and_then(|t| t.parse().ok()),
            answer: p.get("answer").filter(|a| !a.is_empty()).cloned(),
        };
        let outcome = lock(&self.store).record_dlr(&report);
        match outcome {
            Ok(DlrOutcome::Recorded {
                contract_id,
                failed,
            }) => {
                log::info!(
                    "contract={contract_id} sms ref={reference} delivery report {status} ({}){}",
                    crate::store::dlr_status_name(status),
                    if failed { ": delivery failed" } else { "" }
                );
                let _ = self.wake.try_send(());
                reply(200, "")
            }
            Ok(DlrOutcome::Duplicate) => reply(200, ""),
            Ok(DlrOutcome::UnknownReference) => {
                // Acknowledged so the gateway stops retrying; nothing of ours to attach it to.
                log::warn!("sms delivery report for unknown ref={reference} ignored");
                reply(200, "")
            }
            Err(e) => store_failed(e),
        }
    }

    fn mo(&self, p: &HashMap<String, String>) -> Reply {
        let Some(sender) = p.get("from").filter(|f| !f.trim().is_empty()) else {
            return reply(400, "missing from");
        };
        let Some(text) = p.get("text") else {
            return reply(400, "missing text");
        };
        let report = MoReport {
            sender: sender.clone(),
            receiver: p.get("to").cloned(),
            text: text.clone(),
            gateway_id: p.get("id").filter(|i| !i.is_empty()).cloned(),
            gateway_time: p.get("ts").filter(|t| !t.is_empty()).cloned(),
        };
        let outcome = lock(&self.store).record_sms_answer(&report);
        match outcome {
            Ok(MoOutcome::Matched {
                contract_id,
                serial,
                decision,
                applied,
            }) => {
                log::info!(
                    "contract={contract_id} serial={serial} sms answer from {sender} decision={decision:?} {}",
                    if applied { "stored" } else { "stored, contract already decided" }
                );
                let _ = self.wake.try_send(());
                reply(200, "")
            }
            Ok(MoOutcome::Duplicate) => reply(200, ""),
            Ok(MoOutcome::Unmatched(why)) => {
                log::info!("sms from {sender} matches no contract ({why}): recorded, ignored");
                reply(200, "")
            }
            Err(e) => store_failed(e),
        }
    }
}

fn store_failed(e: Error) -> Reply {
    log::error!("sms callback not stored, the gateway will retry: {e}");
    reply(500, "not stored, retry")
}

/// Why a request is answered without reaching the callbacks: each is one HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// RFC 9110 15.5.1 `400`: not an HTTP request we can read.
    Malformed(&'static str),
    /// RFC 9110 15.5.6 `405`: only GET and POST (sent with `Allow`).
    MethodNotAllowed,
    /// RFC 9110 15.5.9 `408`: head and body not complete within the deadline.
    Timeout,
    /// RFC 9110 15.5.12 `411`: a chunked body; the gateway must send `Content-Length`.
    LengthRequired,
    /// RFC 9110 15.5.14 `413`: the body would exceed the request limit.
    TooLarge,
    /// RFC 9110 15.5.15 `414`: the request line alone exceeds the limit.
    UriTooLong,
    /// RFC 6585 5 `431`: the header section exceeds the limit (or has too many fields).
    HeadTooLarge,
}

impl Refusal {
    pub fn reply(self) -> Reply {
        match self {
            Refusal::Malformed(why) => reply(400, why),
            Refusal::MethodNotAllowed => reply(405, "use GET or POST"),
            Refusal::Timeout => reply(408, "request not complete within the deadline"),
            Refusal::LengthRequired => reply(411, "send the body with a Content-Length"),
            Refusal::TooLarge => reply(413, "request too large"),
            Refusal::UriTooLong => reply(414, "request line too long"),
            Refusal::HeadTooLarge => reply(431, "request header fields too large"),
        }
    }
}

/// The request methods the endpoint serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// A complete request head, as far as the endpoint needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub method: Method,
    /// The request target as sent (origin-form or absolute-form).
    pub target: String,
    pub http11: bool,
    /// Length of the head in bytes, up to and including the empty line.
    pub head_len: usize,
    /// The body's length from `Content-Length` (0 without one).
    pub body_len: usize,
    /// `Expect: 100-continue` (RFC 9110 10.1.1).
    pub expect_continue: bool,
    /// The password of `Proxy-Authorization`, else of `Authorization` (HTTP Basic).
    pub credential: Option<String>,
}

/// Parses the head at the start of `buf`: `Ok(None)` while it is incomplete. `max_request`
/// bounds head and body together.
pub fn parse_head(buf: &[u8], max_request: usize) -> Result<Option<Head>, Refusal> {
    let too_long = || {
        if buf.contains(&b'\n') {
            Refusal::HeadTooLarge
        } else {
            Refusal::UriTooLong
        }
    };
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut fields);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n <= max_request => n,
        Ok(httparse::Status::Complete(_)) => return Err(too_long()),
        Ok(httparse::Status::Partial) if buf.len() >= max_request => return Err(too_long()),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Refusal::HeadTooLarge),
        Err(_) => return Err(Refusal::Malformed("malformed request")),
    };
    let method = match req.method {
        Some("GET") => Method::Get,
        Some("POST") => Method::Post,
        _ => return Err(Refusal::MethodNotAllowed),
    };
    let mut content_length: Option<usize> = None;
    let mut transfer_encoding: Option<&[u8]> = None;
    let (mut proxy_credential, mut credential, mut expect_continue) = (None, None, false);
    for field in req.headers.iter() {
        let name = field.name;
        if name.eq_ignore_ascii_case("content-length") {
            // RFC 9112 6.3: a list of one repeated value is that value; anything else is
            // invalid and gets 400.
            let value = std::str::from_utf8(field.value)
                .map_err(|_| Refusal::Malformed("invalid Content-Length"))?;
            for part in value.split(',').map(str::trim) {
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(Refusal::Malformed("invalid Content-Length"));
                }
                // Too many digits for usize: larger than any limit.
                let n = part.parse::<usize>().unwrap_or(usize::MAX);
                if content_length.is_some_and(|c| c != n) {
                    return Err(Refusal::Malformed("conflicting Content-Length"));
                }
                content_length = Some(n);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = Some(field.value);
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue = field.value.eq_ignore_ascii_case(b"100-continue");
        } else if name.eq_ignore_ascii_case("proxy-authorization") {
            proxy_credential = basic_password(field.value);
        } else if name.eq_ignore_ascii_case("authorization") {
            credential = basic_password(field.value);
        }
    }
    if let Some(te) = transfer_encoding {
        // RFC 9112 6.1: both framings at once is how requests are smuggled; refused. RFC 9112
        // 6.3: a final coding other than chunked leaves the length unknown: 400.
        if content_length.is_some() {
            return Err(Refusal::Malformed(
                "both Transfer-Encoding and Content-Length",
            ));
        }
        let last = te.rsplit(|&b| b == b',').next().unwrap_or_default();
        return Err(if last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
            Refusal::LengthRequired
        } else {
            Refusal::Malformed("unsupported Transfer-Encoding")
        });
    }
    let body_len = content_length.unwrap_or(0);
    if body_len > max_request - head_len {
        return Err(Refusal::TooLarge);
    }
    Ok(Some(Head {
        method,
        target: req.path.unwrap_or_default().to_string(),
        http11: req.version == Some(1),
        head_len,
        body_len,
        expect_continue,
        credential: proxy_credential.or(credential),
    }))
}

/// The path and query of a request target: origin-form as is, absolute-form (what a client
/// sends to a proxy, as Kannel does with `http-proxy-host`) without scheme and authority
/// (RFC 9112 3.2.2).
fn origin_form(target: &str) -> Option<String> {
    if target.starts_with('/') {
        return Some(target.to_string());
    }
    let scheme_end = target.find("://")?;
    if !["http", "https"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(&target[..scheme_end]))
    {
        return None;
    }
    let rest = &target[scheme_end + 3..];
    Some(match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => rest[i..].to_string(),
        Some(i) => format!("/{}", &rest[i..]),
        None => "/".to_string(),
    })
}

/// The callback carried by a complete request.
pub fn callback_request(head: &Head, body: &[u8]) -> Result<CallbackRequest, Refusal> {
    let target =
        origin_form(&head.target).ok_or(Refusal::Malformed("unsupported request target"))?;
    let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
    let mut params = parse_params(query);
    if head.method == Method::Post {
        let form =
            std::str::from_utf8(body).map_err(|_| Refusal::Malformed("body is not UTF-8"))?;
        params.extend(parse_params(form));
    }
    Ok(CallbackRequest {
        path: path.to_string(),
        params,
        credential: head.credential.clone(),
    })
}

/// Why no callback could be read from a connection.
enum Failure {
    /// Answer this, then close.
    Answer(Refusal),
    /// The client left or the socket failed: nothing to answer.
    Gone,
}

/// A client connection and the deadline of its request.
struct Conn {
    stream: TcpStream,
    deadline: Instant,
}

impl Conn {
    fn remaining(&self) -> Option<Duration> {
        self.deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }

    /// One read, waiting no longer than the deadline; `Ok(0)` at end of stream.
    fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, Failure> {
        loop {
            let left = self.remaining().ok_or(Failure::Answer(Refusal::Timeout))?;
            self.stream
                .set_read_timeout(Some(left))
                .map_err(|_| Failure::Gone)?;
            match self.stream.read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(Failure::Answer(Refusal::Timeout))
                }
                Err(_) => return Err(Failure::Gone),
            }
        }
    }

    /// Reads one request, head and body, within the deadline and `max_request` bytes.
    fn read_request(&mut self, max_request: usize) -> Result<(Head, Vec<u8>), Failure> {
        let mut buf = Vec::with_capacity(1024);
        let mut chunk = [0u8; 4096];
        let head = loop {
            if let Some(head) = parse_head(&buf, max_request).map_err(Failure::Answer)? {
                break head;
            }
            // parse_head refuses a partial head of max_request bytes: there is room.
            let room = (max_request - buf.len()).min(chunk.len());
            let n = self.read_some(&mut chunk[..room])?;
            if n == 0 {
                return Err(if buf.is_empty() {
                    Failure::Gone
                } else {
                    Failure::Answer(Refusal::Malformed("incomplete request"))
                });
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let mut body = buf.split_off(head.head_len);
        // Anything after the body (a pipelined request) is not served: one request per
        // connection.
        body.truncate(head.body_len);
        if head.expect_continue && head.http11 && body.len() < head.body_len {
            // RFC 9110 10.1.1: the client waits for this before it sends the body.
            self.stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .map_err(|_| Failure::Gone)?;
        }
        while body.len() < head.body_len {
            let want = (head.body_len - body.len()).min(chunk.len());
            let n = self.read_some(&mut chunk[..want])?;
            if n == 0 {
                return Err(Failure::Answer(Refusal::Malformed(
                    "body shorter than its Content-Length",
                )));
            }
            body.extend_from_slice(&chunk[..n]);
        }
        Ok((head, body))
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

fn write_reply(mut out: impl Write, r: &Reply) -> std::io::Result<()> {
    let extra = match r.status {
        405 => "Allow: GET, POST\r\n".to_string(),
        503 => format!("Retry-After: {RETRY_AFTER_SECS}\r\n"),
        _ => String::new(),
    };
    let message = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n{extra}\r\n{}",
        r.status,
        reason(r.status),
        r.text.len(),
        r.text
    );
    out.write_all(message.as_bytes())?;
    out.flush()
}

/// Answers without reading anything (a refused peer, no free slot): a fresh socket's send
/// buffer takes the few bytes at once, and the non-blocking write can never stall the accept
/// loop. A client that already sent its request may see the connection reset instead.
fn answer_at_once(stream: TcpStream, r: &Reply) {
    let _ = stream.set_nonblocking(true);
    let _ = write_reply(&stream, r);
}

/// Reads and drops what the client still sends, briefly, after half-closing (see [`LINGER`]).
fn linger(mut stream: TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let until = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    let mut dropped = 0;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        if left.is_zero() || dropped > LINGER_BYTES || stream.set_read_timeout(Some(left)).is_err()
        {
            break;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => dropped += n,
        }
    }
}

/// Serves one connection: one request under the deadline, one answer, close.
fn serve_connection(stream: TcpStream, peer: IpAddr, callbacks: &Callbacks, limits: Limits) {
    // Bounds the interim `100 Continue` too; the answer's write gets its own below.
    if stream.set_write_timeout(Some(limits.deadline)).is_err() {
        return;
    }
    let mut conn = Conn {
        stream,
        deadline: Instant::now() + limits.deadline,
    };
    let (answer, then_linger) = match conn.read_request(limits.max_request) {
        Ok((head, body)) => match callback_request(&head, &body) {
            Ok(request) => (callbacks.handle(Some(peer), &request), false),
            Err(refusal) => (refusal.reply(), false),
        },
        Err(Failure::Answer(refusal)) => {
            log::warn!("sms callback from {peer}: {refusal:?}");
            // A client too slow for the deadline sends nothing worth waiting for.
            (refusal.reply(), refusal != Refusal::Timeout)
        }
        Err(Failure::Gone) => return,
    };
    // The store may have taken a while; the answer still gets a second to leave.
    let write_time = conn
        .remaining()
        .unwrap_or_default()
        .max(Duration::from_secs(1));
    if conn.stream.set_write_timeout(Some(write_time)).is_err()
        || write_reply(&conn.stream, &answer).is_err()
    {
        return;
    }
    if then_linger {
        linger(conn.stream);
    }
}

/// Frees a connection slot when its thread ends, however it ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Takes one accepted connection: refused at once unless the peer is allowed and a slot is
/// free; otherwise served on its own thread.
fn admit(stream: TcpStream, callbacks: &Arc<Callbacks>, active: &Arc<AtomicUsize>, limits: Limits) {
    let peer = stream.peer_addr().ok().map(|a| a.ip().to_canonical());
    let Some(peer) = peer.filter(|p| callbacks.allows(*p)) else {
        log::warn!("sms callback connection from {peer:?} refused: not in sms.callback_allow");
        answer_at_once(stream, &reply(403, "forbidden"));
        return;
    };
    if active.fetch_add(1, Ordering::SeqCst) >= limits.max_clients {
        active.fetch_sub(1, Ordering::SeqCst);
        log::warn!(
            "sms callback from {peer} refused: {} callbacks in progress (sms.callback_max_clients)",
            limits.max_clients
        );
        answer_at_once(stream, &reply(503, "busy, retry later"));
        return;
    }
    let slot = Slot(Arc::clone(active));
    let callbacks = Arc::clone(callbacks);
    let spawned = std::thread::Builder::new()
        .name("sms-callback".into())
        .spawn(move || {
            let _slot = slot;
            serve_connection(stream, peer, &callbacks, limits);
        });
    if let Err(e) = spawned {
        // The connection (and its slot) went with the closure: the gateway retries.
        log::error!("sms callback from {peer} dropped: cannot start a thread: {e}");
    }
}

/// Serves the endpoint on `config.callback_listen`.
pub fn serve(
    config: &SmsConfig,
    callbacks: Callbacks,
) -> Result<std::thread::JoinHandle<()>, Error> {
    let listener = TcpListener::bind(config.callback_listen).map_err(|e| {
        Error::Config(format!(
            "cannot listen on {} for SMS callbacks: {e}",
            config.callback_listen
        ))
    })?;
    log::info!("sms callbacks on http://{}", config.callback_listen);
    serve_on(listener, Limits::from_config(config), callbacks)
}

/// Serves the endpoint on a bound listener: the accept loop runs on its own thread and only
/// accepts, checks the peer and hands the connection over.
pub fn serve_on(
    listener: TcpListener,
    limits: Limits,
    callbacks: Callbacks,
) -> Result<std::thread::JoinHandle<()>, Error> {
    let callbacks = Arc::new(callbacks);
    let active = Arc::new(AtomicUsize::new(0));
    Ok(std::thread::Builder::new()
        .name("sms-callbacks".into())
        .spawn(move || {
            for accepted in listener.incoming() {
                match accepted {
                    Ok(stream) => admit(stream, &callbacks, &active, limits),
                    Err(e) => {
                        // Out of descriptors, typically: wait instead of spinning.
                        log::warn!("sms callbacks: accept failed: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        })?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests_support::{alice, submission};
    use certmail_protocol::Destination;
    use std::net::SocketAddr;

    const PHONE: &str = "+34600111222";
    const LOCAL: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    /// Longest any test waits for an answer that must come; far below the stalled clients'
    /// deadline, far above any machine's delay.
    const ANSWER_WITHIN: Duration = Duration::from_secs(20);

    fn callbacks(secret: &str, secret_in: SecretIn) -> (Callbacks, String) {
        let mut s = crate::store::test_store::test_store();
        s.add_customer(&alice(), crate::evidence::Instant::now())
            .unwrap();
        let mut sub = submission("k1");
        sub.destinations = vec![Destination::Phone(PHONE.into())];
        let id = match s.submit(&sub).unwrap() {
            crate::store::SubmitOutcome::Committed(c) => c.contract_id,
            other => panic!("{other:?}"),
        };
        let (tx, _rx) = std::sync::mpsc::sync_channel(1);
        (
            Callbacks {
                store: Arc::new(Mutex::new(s)),
                secret: secret.into(),
                secret_in,
                allow: vec![IpAddr::from([127, 0, 0, 1])],
                wake: tx,
            },
            id,
        )
    }

    fn request(path: &str, query: &str) -> CallbackRequest {
        CallbackRequest {
            path: path.into(),
            params: parse_params(query),
            credential: None,
        }
    }

    fn code(store: &Arc<Mutex<Store>>, id: &str) -> String {
        lock(store).sms_context(id, PHONE).unwrap().unwrap().code
    }

    fn state(store: &Arc<Mutex<Store>>, id: &str) -> String {
        lock(store)
            .contract(id)
            .unwrap()
            .unwrap()
            .summary
            .state
            .to_string()
    }

    fn inbound_sms(store: &Arc<Mutex<Store>>) -> i64 {
        lock(store)
            .conn()
            .query_row("SELECT count(*) FROM sms_inbound", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn refuses_strangers_and_wrong_keys() {
        let (cb, _) = callbacks("s3cret", SecretIn::Query);
        let good = "key=s3cret&from=%2B34600111222&text=YES";
        let stranger = Some(IpAddr::from([10, 0, 0, 1]));
        for (peer, path, query, status) in [
            (stranger, "/mo", good, 403),
            (None, "/mo", good, 403),
            (LOCAL, "/mo", "key=s3creT&from=1&text=x", 403),
            (LOCAL, "/mo", "from=1&text=x", 403),
            (LOCAL, "/other", good, 404),
            (LOCAL, "/mo", good, 200),
        ] {
            let got = cb.handle(peer, &request(path, query)).status;
            assert_eq!(got, status, "{peer:?} {path}?{query}");
        }
    }

    #[test]
    fn the_secret_from_a_header_never_from_the_url_in_header_mode() {
        let (cb, _) = callbacks("s3cret", SecretIn::Header);
        let mut r = request("/mo", "from=%2B34600111222&text=YES");
        assert_eq!(cb.handle(LOCAL, &r).status, 403, "no credential");
        r.credential = Some("s3creT".into());
        assert_eq!(cb.handle(LOCAL, &r).status, 403, "wrong credential");
        r.credential = Some("s3cret".into());
        assert_eq!(cb.handle(LOCAL, &r).status, 200);
        // The secret in the URL is refused even when right: it would end up in logs.
        let mut leaky = request("/mo", "key=s3cret&from=%2B34600111222&text=YES");
        leaky.credential = Some("s3cret".into());
        assert_eq!(cb.handle(LOCAL, &leaky).status, 403);
        // A mapped IPv4 peer of a dual-stack socket is that IPv4 peer.
        let mapped = "::ffff:127.0.0.1".parse().ok();
        assert_eq!(cb.handle(mapped, &r).status, 200);
    }

    #[test]
    fn malformed_callbacks_are_400() {
        let (cb, _) = callbacks("", SecretIn::Header);
        for (path, query, status) in [
            ("/mo", "text=x", 400),
            ("/mo", "from=%2B1", 400),
            ("/dlr", "status=1", 400),
            ("/dlr", "ref=a&status=x", 400),
            // An unknown reference is acknowledged: the gateway must stop retrying it.
            ("/dlr", "ref=a&status=1", 200),
        ] {
            let got = cb.handle(LOCAL, &request(path, query)).status;
            assert_eq!(got, status, "{path}?{query}");
        }
    }

    #[test]
    fn an_sms_answer_decides_the_contract() {
        let (cb, id) = callbacks("", SecretIn::Header);
        let code = code(&cb.store, &id);
        let q = format!("from=%2B34600111222&to=22123&text=ACEPTO+{code}&id=abc&ts=1795588959");
        assert_eq!(cb.handle(LOCAL, &request("/mo", &q)).status, 200);
        assert_eq!(cb.handle(LOCAL, &request("/mo", &q)).status, 200, "repeat");
        assert_eq!(state(&cb.store, &id), "accepted");
    }

    #[test]
    fn heads_are_parsed_or_refused_precisely() {
        let max = 1024;
        let head = |text: &str| parse_head(text.as_bytes(), max);
        let kannel = "GET http://127.0.0.1:8026/mo?from=%2B1&text=YES HTTP/1.1\r\n\
                      Connection: keep-alive\r\nUser-Agent: Kannel/1.4.5\r\n\
                      Proxy-Authorization: Basic Y2VydG1haWw6czNjcmV0\r\nHost: 127.0.0.1:8026\r\n\r\n";
        let h = head(kannel).unwrap().unwrap();
        assert_eq!(h.credential.as_deref(), Some("s3cret"), "certmail:s3cret");
        assert_eq!(
            (h.method, h.body_len, h.head_len),
            (Method::Get, 0, kannel.len())
        );
        let r = callback_request(&h, b"").unwrap();
        assert_eq!(r.path, "/mo");
        assert_eq!(r.params["from"], "+1");
        assert_eq!(
            head("GET /mo HTTP/1.1\r\nHost: x\r\n").unwrap(),
            None,
            "partial"
        );
        for (text, refusal) in [
            ("GARBAGE\r\n\r\n", Refusal::Malformed("malformed request")),
            ("PUT /mo HTTP/1.1\r\n\r\n", Refusal::MethodNotAllowed),
            (
                "POST /mo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                Refusal::LengthRequired,
            ),
            (
                "POST /mo HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
                Refusal::Malformed("unsupported Transfer-Encoding"),
            ),
            (
                "POST /mo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
                Refusal::Malformed("both Transfer-Encoding and Content-Length"),
            ),
            (
                "POST /mo HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                Refusal::Malformed("invalid Content-Length"),
            ),
            (
                "POST /mo HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\n",
                Refusal::Malformed("conflicting Content-Length"),
            ),
            (
                "POST /mo HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                Refusal::TooLarge,
            ),
            (
                "POST /mo HTTP/1.1\r\nContent-Length: 1000\r\n\r\n",
                Refusal::TooLarge,
            ),
        ] {
            assert_eq!(head(text), Err(refusal), "{text:?}");
        }
        assert_eq!(
            head("POST /mo HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\n")
                .unwrap()
                .map(|h| h.body_len),
            Some(3)
        );
        let long_line = format!("GET /mo?{} HTTP/1.1", "a".repeat(max));
        assert_eq!(head(&long_line), Err(Refusal::UriTooLong));
        let long_head = format!("GET /mo HTTP/1.1\r\nX: {}\r\n", "a".repeat(max));
        assert_eq!(head(&long_head), Err(Refusal::HeadTooLarge));
        let many = format!(
            "GET /mo HTTP/1.1\r\n{}\r\n",
            "X: y\r\n".repeat(MAX_HEADERS + 1)
        );
        assert_eq!(head(&many), Err(Refusal::HeadTooLarge));
        let star = parse_head(b"GET * HTTP/1.1\r\n\r\n", max).unwrap().unwrap();
        assert!(callback_request(&star, b"").is_err());
        let post = parse_head(b"POST /mo HTTP/1.1\r\nContent-Length: 2\r\n\r\n", max)
            .unwrap()
            .unwrap();
        assert!(callback_request(&post, b"\xff\xfe").is_err(), "not UTF-8");
    }

    // The server, with real TCP clients.

    fn limits(deadline_secs: u64, max_clients: usize) -> Limits {
        Limits {
            deadline: Duration::from_secs(deadline_secs),
            max_request: 64 * 1024,
            max_clients,
        }
    }

    fn start(cb: Callbacks, limits: Limits) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        serve_on(listener, limits, cb).unwrap();
        addr
    }

    fn connect(addr: SocketAddr) -> TcpStream {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(ANSWER_WITHIN)).unwrap();
        s
    }

    /// Everything the server sends until it closes; panics when nothing comes in time.
    fn answer(mut s: TcpStream) -> String {
        let mut out = Vec::new();
        match s.read_to_end(&mut out) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset && !out.is_empty() => {}
            Err(e) => panic!("no answer within {ANSWER_WITHIN:?}: {e} (got {out:?})"),
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn status(answer: &str) -> u16 {
        answer
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
    }

    fn exchange(addr: SocketAddr, request: &str) -> String {
        let mut s = connect(addr);
        s.write_all(request.as_bytes()).unwrap();
        answer(s)
    }

    /// A client that declares an 8000-byte body, sends 10 bytes of it and stalls. (Over 1 KiB:
    /// tiny_http, used before, read bodies up to 1 KiB on its connection threads and larger
    /// ones on the one request loop, which a stalled body then blocked.)
    fn stall(addr: SocketAddr) -> TcpStream {
        let mut s = connect(addr);
        s.write_all(b"POST /dlr HTTP/1.1\r\nHost: x\r\nContent-Length: 8000\r\n\r\nref=a&stat")
            .unwrap();
        s
    }

    #[test]
    fn a_stalled_client_does_not_delay_another_clients_answer() {
        let (cb, id) = callbacks("", SecretIn::Header);
        let store = Arc::clone(&cb.store);
        let code = code(&store, &id);
        let addr = start(cb, limits(120, 16));
        let mut stalled = stall(addr);
        let mo = format!(
            "GET /mo?from=%2B34600111222&to=22123&text=YES+{code}&id=m1 HTTP/1.1\r\nHost: x\r\n\r\n"
        );
        let got = exchange(addr, &mo);
        assert_eq!(status(&got), 200, "{got}");
        assert_eq!(state(&store, &id), "accepted");
        // ... while the stalled client is still waiting (its deadline is minutes away).
        stalled.set_nonblocking(true).unwrap();
        let mut byte = [0u8; 1];
        let pending = stalled.read(&mut byte);
        assert!(
            matches!(&pending, Err(e) if e.kind() == ErrorKind::WouldBlock),
            "the stalled client was answered or closed: {pending:?}"
        );
    }

    #[test]
    fn a_stalled_client_gets_408_at_the_deadline() {
        let (cb, _) = callbacks("", SecretIn::Header);
        let store = Arc::clone(&cb.store);
        let addr = start(cb, limits(1, 16));
        let got = answer(stall(addr));
        assert_eq!(status(&got), 408, "{got}");
        assert!(got.contains("Connection: close"), "{got}");
        // A client that connects and says nothing is timed out the same way.
        assert_eq!(status(&answer(connect(addr))), 408);
        assert_eq!(inbound_sms(&store), 0);
    }

    #[test]
    fn a_body_over_the_limit_is_413_and_nothing_is_stored() {
        let (cb, id) = callbacks("", SecretIn::Header);
        let store = Arc::clone(&cb.store);
        let code = code(&store, &id);
        let addr = start(cb, limits(30, 16));
        // A complete, valid answer first, then padding past the 64 KiB limit: truncating would
        // store it.
        let body = format!(
            "from=%2B34600111222&text=YES+{code}&id=big&pad={}",
            "a".repeat(70 * 1024)
        );
        let post = |body: &str| {
            let mut s = connect(addr);
            let head = format!(
                "POST /mo HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                 Content-Length: {}\r\n\r\n",
                body.len()
            );
            s.write_all(head.as_bytes()).unwrap();
            // The server may answer before taking the body: write what it takes.
            let _ = s.write_all(body.as_bytes());
            answer(s)
        };
        let got = post(&body);
        assert_eq!(status(&got), 413, "{got}");
        assert_eq!(inbound_sms(&store), 0, "nothing stored");
        assert_eq!(state(&store, &id), "requested");
        // The same answer under the limit, as a form body, is taken.
        let small = format!("from=%2B34600111222&text=YES+{code}&id=small");
        assert_eq!(status(&post(&small)), 200);
        assert_eq!(state(&store, &id), "accepted");
    }

    #[test]
    fn a_refused_peer_is_answered_before_it_sends_anything() {
        let (mut cb, _) = callbacks("", SecretIn::Header);
        cb.allow = vec![IpAddr::from([127, 0, 0, 2])];
        let store = Arc::clone(&cb.store);
        let addr = start(cb, limits(120, 16));
        // Nothing sent: only a server that never reads answers this.
        let got = answer(connect(addr));
        assert_eq!(status(&got), 403, "{got}");
        // A full request from the same peer stores nothing (answered 403 or reset).
        let mut s = connect(addr);
        let _ = s.write_all(b"GET /mo?from=%2B34600111222&text=YES&id=x HTTP/1.1\r\n\r\n");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        assert!(
            out.is_empty() || status(&String::from_utf8_lossy(&out)) == 403,
            "{out:?}"
        );
        assert_eq!(inbound_sms(&store), 0);
    }

    #[test]
    fn over_the_client_cap_is_503_with_retry_after() {
        let (cb, _) = callbacks("", SecretIn::Header);
        let addr = start(cb, limits(120, 1));
        let _stalled = stall(addr);
        // The slot is taken once the server has accepted the stalled client; retry until then.
        let deadline = Instant::now() + ANSWER_WITHIN;
        let got = loop {
            let got = answer(connect(addr));
            if status(&got) == 503 || Instant::now() > deadline {
                break got;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(status(&got), 503, "{got}");
        assert!(got.contains("Retry-After: 5\r\n"), "{got}");
    }

    #[test]
    fn requests_as_kannel_and_other_clients_send_them() {
        let (cb, id) = callbacks("s3cret", SecretIn::Header);
        let store = Arc::clone(&cb.store);
        let code = code(&store, &id);
        let addr = start(cb, limits(30, 16));
        let mo = |auth: &str, id: &str| {
            format!(
                "GET http://{addr}/mo?from=%2B34600111222&to=22123&text=NO+{code}&id={id} HTTP/1.1\r\n\
                 Connection: keep-alive\r\nUser-Agent: Kannel/1.4.5\r\n{auth}Host: {addr}\r\n\r\n"
            )
        };
        // base64("certmail:wrong") and base64("certmail:s3cret").
        let wrong = "Proxy-Authorization: Basic Y2VydG1haWw6d3Jvbmc=\r\n";
        let right = "Proxy-Authorization: Basic Y2VydG1haWw6czNjcmV0\r\n";
        assert_eq!(status(&exchange(addr, &mo("", "m1"))), 403);
        assert_eq!(status(&exchange(addr, &mo(wrong, "m2"))), 403);
        assert_eq!(inbound_sms(&store), 0);
        assert_eq!(status(&exchange(addr, &mo(right, "m3"))), 200);
        assert_eq!(state(&store, &id), "rejected");
        let authorization = "Authorization: Basic Y2VydG1haWw6czNjcmV0\r\n";
        let got = exchange(
            addr,
            &format!("GET /dlr?ref=unknown&status=1 HTTP/1.0\r\n{authorization}\r\n"),
        );
        assert_eq!(status(&got), 200, "{got}");
        assert!(got.ends_with("\r\n\r\n"), "empty body: {got:?}");
        // Expect: 100-continue is honoured before the body is sent.
        let mut s = connect(addr);
        s.write_all(
            format!(
                "POST /dlr HTTP/1.1\r\n{authorization}Expect: 100-continue\r\nContent-Length: 21\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
        let mut interim = [0u8; 25];
        s.read_exact(&mut interim).unwrap();
        assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
        s.write_all(b"ref=unknown&status=16").unwrap();
        assert_eq!(status(&answer(s)), 200);
        for (request, code) in [
            ("PUT /mo HTTP/1.1\r\n\r\n", 405),
            ("GARBAGE\r\n\r\n", 400),
            (
                "POST /mo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                411,
            ),
            (
                "GET /nothing HTTP/1.1\r\nAuthorization: Basic Y2VydG1haWw6czNjcmV0\r\n\r\n",
                404,
            ),
        ] {
            let got = exchange(addr, request);
            assert_eq!(status(&got), code, "{request:?}: {got}");
        }
        assert!(exchange(addr, "PUT /mo HTTP/1.1\r\n\r\n").contains("Allow: GET, POST\r\n"));
        // A body that ends early is malformed, not waited for until the deadline.
        let mut s = connect(addr);
        s.write_all(b"POST /mo HTTP/1.1\r\nContent-Length: 50\r\n\r\nfrom=1")
            .unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        assert_eq!(status(&answer(s)), 400);
    }
}
