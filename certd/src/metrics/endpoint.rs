//! `GET /metrics` on a listener of its own ([`crate::http`]'s bounded server): a stalled or slow
//! scraper holds only its own thread, and the store is read only once the request is complete,
//! through a connection of the endpoint's own (`lib.rs`), never the daemon's store lock.

use super::encode::CONTENT_TYPE;
use crate::error::Error;
use crate::evidence::Instant;
use crate::http::{reply, serve_on, Handler, Head, Limits, Method, Reply};
use crate::store::Store;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A scrape's request must arrive within this; Prometheus sends it at once.
const DEADLINE: Duration = Duration::from_secs(10);
/// Largest request: a head, no body.
const MAX_REQUEST: usize = 8 * 1024;
/// Scrapes served at once (one Prometheus, a spare for a person with curl).
const MAX_CLIENTS: usize = 4;

/// The endpoint's logic.
pub struct Metrics {
    pub store: Arc<Mutex<Store>>,
    pub allow: Vec<IpAddr>,
}

impl Handler for Metrics {
    const NAME: &'static str = "metrics scrape";
    const ALLOW_KEY: &'static str = "metrics.allow";
    const MAX_CLIENTS_KEY: &'static str = "the fixed cap of metrics scrapes";
    const METHODS: &'static str = "GET";

    fn allows(&self, peer: IpAddr) -> bool {
        self.allow.contains(&peer.to_canonical())
    }

    fn answer(&self, _peer: IpAddr, head: &Head, _body: &[u8]) -> Reply {
        if head.method != Method::Get {
            return reply(405, "use GET");
        }
        let path = crate::http::origin_form(&head.target).unwrap_or_default();
        let path = path.split('?').next().unwrap_or_default();
        if path != "/metrics" {
            return reply(404, "metrics are at /metrics");
        }
        match super::scrape::scrape(&self.store, Instant::now()) {
            Ok(text) => Reply {
                status: 200,
                text,
                content_type: CONTENT_TYPE,
            },
            Err(e) => {
                // Prometheus records the failed scrape (`up` 0): the alert names certd.
                log::error!("metrics: the store could not be read: {e}");
                reply(500, "the store could not be read")
            }
        }
    }
}

/// Serves the endpoint on `listen` (`metrics.listen`) to the peers in `allow`. Takes the
/// values rather than the configuration: the time-stamp client counts into this module, and
/// the configuration names the signature levels.
pub fn serve(
    listen: SocketAddr,
    allow: Vec<IpAddr>,
    store: Arc<Mutex<Store>>,
) -> Result<std::thread::JoinHandle<()>, Error> {
    let listener = TcpListener::bind(listen)
        .map_err(|e| Error::Config(format!("cannot listen on {listen} for metrics: {e}")))?;
    log::info!("metrics on http://{listen}/metrics");
    serve_on(
        listener,
        Limits {
            deadline: DEADLINE,
            max_request: MAX_REQUEST,
            max_clients: MAX_CLIENTS,
        },
        Metrics { store, allow },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::scrape::tests::{sample, well_formed};
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream};

    fn start(allow: IpAddr) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics = Metrics {
            store: Arc::new(Mutex::new(Store::open_in_memory().unwrap())),
            allow: vec![allow],
        };
        let limits = Limits {
            deadline: Duration::from_secs(60),
            max_request: MAX_REQUEST,
            // Room for the refused requests still lingering (`http::LINGER`).
            max_clients: 16,
        };
        serve_on(listener, limits, metrics).unwrap();
        addr
    }

    fn exchange(addr: SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let _ = s.write_all(request.as_bytes());
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn metrics_are_served_to_a_get_while_another_client_stalls() {
        let addr = start(IpAddr::from([127, 0, 0, 1]));
        // Says half a request and waits: it holds its own thread, nobody else's.
        let mut stalled = TcpStream::connect(addr).unwrap();
        stalled.write_all(b"GET /metr").unwrap();
        let got = exchange(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        let (head, body) = got.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(
            head.contains(&format!("Content-Type: {CONTENT_TYPE}\r\n")),
            "{head}"
        );
        well_formed(body);
        assert_eq!(
            sample(body, r#"certmail_contracts{state="requested"}"#),
            Some(0.0)
        );
        for (request, status) in [
            ("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "405"),
            ("GET / HTTP/1.1\r\n\r\n", "404"),
            ("PUT /metrics HTTP/1.1\r\n\r\n", "405"),
            ("GARBAGE\r\n\r\n", "400"),
        ] {
            let got = exchange(addr, request);
            assert_eq!(got.split(' ').nth(1), Some(status), "{request:?}: {got}");
            if status == "405" {
                assert!(got.contains("Allow: GET\r\n"), "{got}");
            }
        }
        // A query string is allowed (some scrapers add one).
        let got = exchange(addr, "GET /metrics?x=1 HTTP/1.0\r\n\r\n");
        assert!(got.starts_with("HTTP/1.1 200 "), "{got}");
    }

    #[test]
    fn a_peer_not_allowed_gets_403_and_no_figures() {
        let addr = start(IpAddr::from([127, 0, 0, 2]));
        let got = exchange(addr, "GET /metrics HTTP/1.1\r\n\r\n");
        assert!(got.is_empty() || got.starts_with("HTTP/1.1 403 "), "{got}");
        assert!(!got.contains("certmail_"), "{got}");
    }
}
