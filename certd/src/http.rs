//! certd's small HTTP/1.1 server, shared by its endpoints (SMS callbacks, `/metrics`): one
//! request per connection, read under a deadline and a size limit, each client on its own thread.
//!
//! Protection, in order: the peer must be allowed by the endpoint, checked on accept before a
//! byte is read (`403`, closed); the request head and body must arrive within the deadline
//! together (`408`) and within the size limit (`413`, never truncated); at most `max_clients`
//! connections at once (one more gets `503` with `Retry-After` from the accept loop), so a slow
//! or stalled client delays nobody else. The endpoint's [`Handler`] answers complete requests.

use crate::error::Error;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most header fields accepted in one request (Kannel sends five, Prometheus six).
pub const MAX_HEADERS: usize = 32;
/// What a `503` asks the client to wait, in seconds (RFC 9110 10.2.3).
const RETRY_AFTER_SECS: u64 = 5;
/// After an error answer, input still arriving is read and dropped for at most this long (and
/// [`LINGER_BYTES`]): closing with unread input resets the connection, and the client could
/// lose the answer (RFC 9112 9.6).
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

/// Content type of the plain-text answers.
pub const TEXT: &str = "text/plain; charset=utf-8";

/// What the endpoint answers: status, a body and its content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub text: String,
    pub content_type: &'static str,
}

/// A plain-text answer.
pub fn reply(status: u16, text: impl Into<String>) -> Reply {
    Reply {
        status,
        text: text.into(),
        content_type: TEXT,
    }
}

/// An endpoint's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The whole request, head and body, must arrive within this.
    pub deadline: Duration,
    /// Largest request, head and body.
    pub max_request: usize,
    /// Connections served at once.
    pub max_clients: usize,
}

/// One endpoint served by [`serve_on`].
pub trait Handler: Send + Sync + 'static {
    /// The endpoint's name in logs and thread names, e.g. `sms callback`.
    const NAME: &'static str;
    /// The configuration keys of the allowed peers and of the client cap, named in logs.
    const ALLOW_KEY: &'static str;
    const MAX_CLIENTS_KEY: &'static str;
    /// The methods served, sent as `Allow` with a `405` (RFC 9110 10.2.1).
    const METHODS: &'static str;
    /// Whether `peer` may connect at all (an IPv4 peer of a dual-stack socket is IPv4).
    fn allows(&self, peer: IpAddr) -> bool;
    /// Answers one complete request.
    fn answer(&self, peer: IpAddr, head: &Head, body: &[u8]) -> Reply;
}

/// The password of HTTP Basic credentials: base64 of `user-id ":" password` (RFC 7617 2); the
/// scheme name is case-insensitive (RFC 9110 11.1).
pub fn basic_password(value: &[u8]) -> Option<String> {
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = data_encoding::BASE64.decode(token.trim().as_bytes()).ok()?;
    let (_, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some(password.to_string())
}

/// Why a request is answered without reaching the handler: each is one HTTP answer.
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
            Refusal::MethodNotAllowed => reply(405, "method not allowed"),
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
pub fn origin_form(target: &str) -> Option<String> {
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

fn write_reply(mut out: impl Write, r: &Reply, methods: &str) -> std::io::Result<()> {
    let extra = match r.status {
        405 => format!("Allow: {methods}\r\n"),
        503 => format!("Retry-After: {RETRY_AFTER_SECS}\r\n"),
        _ => String::new(),
    };
    let message = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
         Connection: close\r\n{extra}\r\n{}",
        r.status,
        reason(r.status),
        r.content_type,
        r.text.len(),
        r.text
    );
    out.write_all(message.as_bytes())?;
    out.flush()
}

/// Answers without reading anything (a refused peer, no free slot): a fresh socket's send
/// buffer takes the few bytes at once, and the non-blocking write can never stall the accept
/// loop. A client that already sent its request may see the connection reset instead.
fn answer_at_once(stream: TcpStream, r: &Reply, methods: &str) {
    let _ = stream.set_nonblocking(true);
    let _ = write_reply(&stream, r, methods);
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
fn serve_connection<H: Handler>(stream: TcpStream, peer: IpAddr, handler: &H, limits: Limits) {
    // Bounds the interim `100 Continue` too; the answer's write gets its own below.
    if stream.set_write_timeout(Some(limits.deadline)).is_err() {
        return;
    }
    let mut conn = Conn {
        stream,
        deadline: Instant::now() + limits.deadline,
    };
    let (answer, then_linger) = match conn.read_request(limits.max_request) {
        Ok((head, body)) => (handler.answer(peer, &head, &body), false),
        Err(Failure::Answer(refusal)) => {
            log::warn!("{} from {peer}: {refusal:?}", H::NAME);
            // A client too slow for the deadline sends nothing worth waiting for.
            (refusal.reply(), refusal != Refusal::Timeout)
        }
        Err(Failure::Gone) => return,
    };
    // The handler may have taken a while; the answer still gets a second to leave.
    let write_time = conn
        .remaining()
        .unwrap_or_default()
        .max(Duration::from_secs(1));
    if conn.stream.set_write_timeout(Some(write_time)).is_err()
        || write_reply(&conn.stream, &answer, H::METHODS).is_err()
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
fn admit<H: Handler>(
    stream: TcpStream,
    handler: &Arc<H>,
    active: &Arc<AtomicUsize>,
    limits: Limits,
) {
    let peer = stream.peer_addr().ok().map(|a| a.ip().to_canonical());
    let Some(peer) = peer.filter(|p| handler.allows(*p)) else {
        log::warn!(
            "{} connection from {peer:?} refused: not in {}",
            H::NAME,
            H::ALLOW_KEY
        );
        answer_at_once(stream, &reply(403, "forbidden"), H::METHODS);
        return;
    };
    if active.fetch_add(1, Ordering::SeqCst) >= limits.max_clients {
        active.fetch_sub(1, Ordering::SeqCst);
        log::warn!(
            "{} from {peer} refused: {} requests in progress ({})",
            H::NAME,
            limits.max_clients,
            H::MAX_CLIENTS_KEY
        );
        answer_at_once(stream, &reply(503, "busy, retry later"), H::METHODS);
        return;
    }
    let slot = Slot(Arc::clone(active));
    let handler = Arc::clone(handler);
    let spawned = std::thread::Builder::new()
        .name(H::NAME.replace(' ', "-"))
        .spawn(move || {
            let _slot = slot;
            serve_connection(stream, peer, &*handler, limits);
        });
    if let Err(e) = spawned {
        // The connection (and its slot) went with the closure: the client retries.
        log::error!(
            "{} from {peer} dropped: cannot start a thread: {e}",
            H::NAME
        );
    }
}

/// Serves `handler` on a bound listener: the accept loop runs on its own thread and only
/// accepts, checks the peer and hands the connection over.
pub fn serve_on<H: Handler>(
    listener: TcpListener,
    limits: Limits,
    handler: H,
) -> Result<std::thread::JoinHandle<()>, Error> {
    let handler = Arc::new(handler);
    let active = Arc::new(AtomicUsize::new(0));
    Ok(std::thread::Builder::new()
        .name(format!("{}s", H::NAME.replace(' ', "-")))
        .spawn(move || {
            for accepted in listener.incoming() {
                match accepted {
                    Ok(stream) => admit(stream, &handler, &active, limits),
                    Err(e) => {
                        // Out of descriptors, typically: wait instead of spinning.
                        log::warn!("{}: accept failed: {e}", H::NAME);
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        })?)
}
