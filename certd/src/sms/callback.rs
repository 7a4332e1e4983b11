//! certd's HTTP endpoint for the SMS gateway: delivery reports (`/dlr`) and inbound SMS
//! (`/mo`), as Kannel's `dlr-url` and `sms-service get-url` call them.
//!
//! Protection, in order: the peer address must be in `callback_allow`, checked on accept before
//! a byte is read (`403`, closed); the request head and body must arrive within
//! `callback_timeout_secs` together (`408`) and within `callback_max_request_bytes` (`413`, never
//! truncated); then the shared secret must match, compared in constant time, from HTTP Basic
//! credentials (`Proxy-Authorization` or `Authorization`) or `key=`, as `callback_secret_in`
//! says. Each connection has its own thread, at most `callback_max_clients` at once (one more
//! gets `503` with `Retry-After` from the accept loop), so a slow client delays nobody else:
//! the server is [`crate::http`]'s, this module is its [`Handler`].
//!
//! Parameters come in the query string (GET) or a form body (POST); one request per connection.
//! Answers: `200` stored (or a repeat of something stored), `400` malformed, `403` refused, `404`
//! unknown path, `405`, `408`, `411`, `413`, `414`, `431` (see [`Refusal`]), `500` the store
//! failed — the gateway retries, so nothing is lost while the database is busy — and `503`. The
//! body of a `200` is empty: Kannel would send any text back as an SMS.

use crate::config::{SecretIn, SmsConfig};
use crate::error::Error;
use crate::http::{origin_form, reply, serve_on, Handler, Head, Limits, Method, Refusal, Reply};
use crate::store::lock;
use crate::store::{DlrOutcome, DlrReport, MoOutcome, MoReport, Store};
use std::collections::HashMap;
use std::net::{IpAddr, TcpListener};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The endpoint's limits, from `[sms]`.
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

impl Handler for Callbacks {
    const NAME: &'static str = "sms callback";
    const ALLOW_KEY: &'static str = "sms.callback_allow";
    const MAX_CLIENTS_KEY: &'static str = "sms.callback_max_clients";
    const METHODS: &'static str = "GET, POST";

    fn allows(&self, peer: IpAddr) -> bool {
        Callbacks::allows(self, peer)
    }

    fn answer(&self, peer: IpAddr, head: &Head, body: &[u8]) -> Reply {
        match callback_request(head, body) {
            Ok(request) => self.handle(Some(peer), &request),
            Err(refusal) => refusal.reply(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{parse_head, MAX_HEADERS};
    use crate::store::tests_support::{alice, submission};
    use certmail_protocol::Destination;
    use std::io::{ErrorKind, Read, Write};
    use std::net::{Shutdown, SocketAddr, TcpStream};
    use std::time::Instant;

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
