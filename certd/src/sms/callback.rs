//! certd's HTTP endpoint for the SMS gateway: delivery reports (`/dlr`) and inbound SMS
//! (`/mo`), as Kannel's `dlr-url` and `sms-service get-url` call them.
//!
//! Protection, in order: the peer address must be in `callback_allow` (403 before anything
//! is parsed), then the `key` parameter must equal the shared secret (compared in constant
//! time). Parameters come in the query string (GET) or a form body (POST). Answers:
//! `200` stored (or a repeat of something stored), `400` malformed, `403` refused, `404`
//! unknown path, `500` the store failed — the gateway retries, so nothing is lost while the
//! database is busy. The body of a `200` is empty: Kannel would send any text back as an SMS.

use crate::config::SmsConfig;
use crate::error::Error;
use crate::outbox::lock;
use crate::store::{DlrOutcome, DlrReport, MoOutcome, MoReport, Store};
use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};

/// Largest callback body accepted.
const MAX_BODY: u64 = 16 * 1024;

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

/// The endpoint's logic, without the HTTP server: unit-testable.
pub struct Callbacks {
    pub store: Arc<Mutex<Store>>,
    pub secret: String,
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
    /// Handles one request: `path` without the query, `params` from query and body.
    pub fn handle(
        &self,
        peer: Option<IpAddr>,
        path: &str,
        params: &HashMap<String, String>,
    ) -> Reply {
        if !peer.is_some_and(|p| self.allow.contains(&p)) {
            log::warn!("sms callback from {peer:?} refused: not in sms.callback_allow");
            return reply(403, "forbidden");
        }
        if !self.secret.is_empty() && !params.get("key").is_some_and(|k| same(k, &self.secret)) {
            log::warn!("sms callback on {path} refused: wrong or missing key");
            return reply(403, "forbidden");
        }
        match path {
            "/dlr" => self.dlr(params),
            "/mo" => self.mo(params),
            _ => reply(404, "no such callback"),
        }
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

/// Serves the endpoint on `config.callback_listen`, one request at a time (callbacks are
/// small, and the store takes one writer anyway).
pub fn serve(
    config: &SmsConfig,
    callbacks: Callbacks,
) -> Result<std::thread::JoinHandle<()>, Error> {
    let server = tiny_http::Server::http(config.callback_listen).map_err(|e| {
        Error::Config(format!(
            "cannot listen on {} for SMS callbacks: {e}",
            config.callback_listen
        ))
    })?;
    log::info!("sms callbacks on http://{}", config.callback_listen);
    Ok(std::thread::Builder::new()
        .name("sms-callbacks".into())
        .spawn(move || {
            for mut request in server.incoming_requests() {
                let peer = request.remote_addr().map(|a| a.ip());
                let url = request.url().to_string();
                let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
                let mut params = parse_params(query);
                if *request.method() == tiny_http::Method::Post {
                    let mut body = String::new();
                    if request
                        .as_reader()
                        .take(MAX_BODY)
                        .read_to_string(&mut body)
                        .is_err()
                    {
                        let _ = request.respond(
                            tiny_http::Response::from_string("bad body").with_status_code(400),
                        );
                        continue;
                    }
                    params.extend(parse_params(&body));
                }
                let r = callbacks.handle(peer, path, &params);
                let _ = request
                    .respond(tiny_http::Response::from_string(r.text).with_status_code(r.status));
            }
        })?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests_support::{alice, submission};
    use certmail_protocol::Destination;

    fn callbacks(secret: &str) -> (Callbacks, String) {
        let mut s = Store::open_in_memory().unwrap();
        s.add_customer(&alice()).unwrap();
        let mut sub = submission("k1");
        sub.destinations = vec![Destination::Phone("+34600111222".into())];
        let id = match s.submit(&sub).unwrap() {
            crate::store::SubmitOutcome::Committed(c) => c.contract_id,
            other => panic!("{other:?}"),
        };
        let (tx, _rx) = std::sync::mpsc::sync_channel(1);
        (
            Callbacks {
                store: Arc::new(Mutex::new(s)),
                secret: secret.into(),
                allow: vec![IpAddr::from([127, 0, 0, 1])],
                wake: tx,
            },
            id,
        )
    }

    const LOCAL: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    #[test]
    fn refuses_strangers_and_wrong_keys() {
        let (cb, _) = callbacks("s3cret");
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
            let got = cb.handle(peer, path, &parse_params(query)).status;
            assert_eq!(got, status, "{peer:?} {path}?{query}");
        }
    }

    #[test]
    fn malformed_callbacks_are_400() {
        let (cb, _) = callbacks("");
        for (path, query, status) in [
            ("/mo", "text=x", 400),
            ("/mo", "from=%2B1", 400),
            ("/dlr", "status=1", 400),
            ("/dlr", "ref=a&status=x", 400),
            // An unknown reference is acknowledged: the gateway must stop retrying it.
            ("/dlr", "ref=a&status=1", 200),
        ] {
            let got = cb.handle(LOCAL, path, &parse_params(query)).status;
            assert_eq!(got, status, "{path}?{query}");
        }
    }

    #[test]
    fn an_sms_answer_decides_the_contract() {
        let (cb, id) = callbacks("");
        let code = lock(&cb.store)
            .sms_context(&id, "+34600111222")
            .unwrap()
            .unwrap()
            .code;
        let q = format!("from=%2B34600111222&to=22123&text=ACEPTO+{code}&id=abc&ts=1795588959");
        assert_eq!(cb.handle(LOCAL, "/mo", &parse_params(&q)).status, 200);
        assert_eq!(
            cb.handle(LOCAL, "/mo", &parse_params(&q)).status,
            200,
            "repeat"
        );
        let state = lock(&cb.store)
            .contract(&id)
            .unwrap()
            .unwrap()
            .summary
            .state;
        assert_eq!(state, "accepted");
    }
}
