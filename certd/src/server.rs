//! The socket server: answers the milter's requests, one request per connection.

use crate::error::Error;
use crate::inbound;
use crate::outbox::lock;
use crate::store::{Store, SubmitOutcome};
use certmail_protocol::{
    read_frame, write_frame, Answer, AnswerKind, Committed, Refusal, Request, Response, TokenInfo,
};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Connections served at once; more get an immediate `Error` answer (the milter tempfails).
const MAX_CONNECTIONS: usize = 64;
/// A milter that does not finish its request in this time is cut off.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Server {
    pub store: Arc<Mutex<Store>>,
    pub max_frame: u32,
    /// Nudges the outbox dispatcher after a commit.
    pub wake: SyncSender<()>,
}

impl Server {
    /// Accepts connections for ever, one thread each.
    pub fn serve(self: Arc<Self>, listener: UnixListener) -> Result<(), Error> {
        let active = Arc::new(AtomicUsize::new(0));
        for conn in listener.incoming() {
            let mut conn = match conn {
                Ok(c) => c,
                Err(e) => {
                    log::error!("accept on certd socket failed: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                active.fetch_sub(1, Ordering::SeqCst);
                let _ = write_frame(
                    &mut conn,
                    &Response::Error {
                        message: "certd is busy".into(),
                    },
                );
                continue;
            }
            let me = Arc::clone(&self);
            let active = Arc::clone(&active);
            std::thread::spawn(move || {
                me.handle(conn);
                active.fetch_sub(1, Ordering::SeqCst);
            });
        }
        Ok(())
    }

    fn handle(&self, mut conn: UnixStream) {
        let _ = conn.set_read_timeout(Some(IO_TIMEOUT));
        let _ = conn.set_write_timeout(Some(IO_TIMEOUT));
        let response = match read_frame::<_, Request>(&mut conn, self.max_frame) {
            Ok(req) => self.answer(req),
            Err(e) => {
                log::warn!("bad request on certd socket: {e}");
                Response::Error {
                    message: format!("bad request: {e}"),
                }
            }
        };
        if let Err(e) = write_frame(&mut conn, &response) {
            // The milter gave up (timeout): it tempfailed, the sender retries, and the
            // dedupe key makes the retry find this commit.
            log::warn!("could not answer the milter: {e}");
        }
    }

    /// Answers one request. Public for tests.
    pub fn answer(&self, req: Request) -> Response {
        match req {
            Request::Ping => Response::Pong,
            Request::LookupCustomer { name } => match lock(&self.store).customer_info(&name) {
                Ok(c) => Response::Customer(c),
                Err(e) => internal(e),
            },
            Request::Submit(s) => {
                let outcome = lock(&self.store).submit(&s);
                match outcome {
                    Ok(SubmitOutcome::Committed(c)) => {
                        log::info!(
                            "contract={} serial={} queue={} customer={} {}",
                            c.contract_id,
                            c.serial,
                            s.queue_id.as_deref().unwrap_or("-"),
                            s.customer,
                            if c.duplicate {
                                "retry of a committed submission"
                            } else {
                                "committed"
                            }
                        );
                        let _ = self.wake.try_send(());
                        Response::Committed(c)
                    }
                    Ok(SubmitOutcome::Refused(r)) => {
                        log::info!(
                            "queue={} customer={} refused: {} {} {}",
                            s.queue_id.as_deref().unwrap_or("-"),
                            s.customer,
                            r.code,
                            r.enhanced,
                            r.text
                        );
                        Response::Refused(r)
                    }
                    Err(e) => internal(e),
                }
            }
            Request::LookupToken { token } => match lock(&self.store).token_target(&token) {
                Ok(t) => Response::Token(t.map(|t| TokenInfo {
                    contract_id: t.contract_id,
                    serial: t.serial,
                })),
                Err(e) => internal(e),
            },
            Request::Answer(a) => self.answer_received(&a),
        }
    }

    /// A reply or a DSN: parse it into evidence and an event, then store both at once.
    fn answer_received(&self, a: &Answer) -> Response {
        let target = match lock(&self.store).token_target(&a.token) {
            Ok(Some(t)) => t,
            Ok(None) => {
                return Response::Refused(Refusal {
                    code: 550,
                    enhanced: "5.1.1".into(),
                    text: format!(
                        "<{}>: no contract is waiting for an answer at this address",
                        a.recipient
                    ),
                })
            }
            Err(e) => return internal(e),
        };
        let (event, evidence) = match a.kind {
            AnswerKind::Reply => {
                let (e, v) = inbound::read_reply(&a.raw, &target.destination);
                (Some(e), v)
            }
            AnswerKind::Bounce => inbound::read_bounce(&a.raw, &target.destination),
        };
        let decision = evidence.get("decision").cloned();
        let result = lock(&self.store).record_answer(a, &target, event.as_ref(), evidence);
        match result {
            Ok(duplicate) => {
                log::info!(
                    "contract={} serial={} queue={} {:?} from <{}> {}{}",
                    target.contract_id,
                    target.serial,
                    a.queue_id.as_deref().unwrap_or("-"),
                    a.kind,
                    a.envelope_from,
                    decision
                        .map(|d| format!("decision={d} "))
                        .unwrap_or_default(),
                    if duplicate {
                        "(retry, already stored)"
                    } else {
                        "stored"
                    }
                );
                let _ = self.wake.try_send(());
                Response::Committed(Committed {
                    contract_id: target.contract_id,
                    serial: target.serial,
                    duplicate,
                })
            }
            Err(e) => internal(e),
        }
    }
}

fn internal(e: Error) -> Response {
    log::error!("{e}");
    Response::Error {
        message: e.to_string(),
    }
}
