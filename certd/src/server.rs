//! The socket server: answers the milter's requests, one request per connection.

use crate::dsn;
use crate::error::Error;
use crate::inbound;
use crate::metrics;
use crate::store::lifecycle::TokenTarget;
use crate::store::lock;
use crate::store::{Store, SubmitOutcome};
use certmail_protocol::{
    read_frame, write_frame, Answer, AnswerKind, CodecError, Committed, LimitViolation, Limits,
    Refusal, Request, Response, Submission, TokenInfo,
};
use std::io::Read;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Connections served at once; more get an immediate `Error` answer (the milter tempfails).
const MAX_CONNECTIONS: usize = 64;
/// A milter that does not finish its request in this time is cut off.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Server {
    pub store: Arc<Mutex<Store>>,
    /// Commits submissions, several per fsync.
    pub committer: Committer,
    /// The limits in force; the frame limit bounds every request read.
    pub limits: Limits,
    /// Nudges the outbox dispatcher after a commit.
    pub wake: SyncSender<()>,
}

/// Most submissions committed by one transaction.
const MAX_BATCH: usize = 64;

type Job = (Submission, mpsc::Sender<Result<SubmitOutcome, Error>>);

/// Group commit: one thread commits submissions, and everything that queued up while the
/// previous commit was waiting for its fsync goes into the next transaction together. With N
/// milters handing over at once, a contract waits for about two fsyncs instead of up to N;
/// each still gets its answer (and Postfix its `250`) only after its commit is on disk.
pub struct Committer {
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl Committer {
    pub fn start(store: Arc<Mutex<Store>>) -> Result<Committer, Error> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("committer".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    let subs: Vec<&Submission> = batch.iter().map(|(s, _)| s).collect();
                    let outcome = lock(&store).submit_batch(&subs);
                    match outcome {
                        Ok(results) => {
                            for ((_, reply), result) in batch.iter().zip(results) {
                                let _ = reply.send(result);
                            }
                        }
                        Err(e) => {
                            for (_, reply) in &batch {
                                let _ = reply.send(Err(Error::Database(e.to_string())));
                            }
                        }
                    }
                }
            })?;
        Ok(Committer {
            jobs: Mutex::new(tx),
        })
    }

    /// Commits `s` (with whatever else is waiting) and returns its outcome.
    pub fn submit(&self, s: Submission) -> Result<SubmitOutcome, Error> {
        let (reply, answer) = mpsc::channel();
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send((s, reply))
            .map_err(|_| Error::Database("the committer thread is gone".into()))?;
        answer
            .recv()
            .map_err(|_| Error::Database("the committer thread is gone".into()))?
    }
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
        let response = match read_frame::<_, Request>(&mut conn, self.limits.max_frame_bytes) {
            Ok(req) => self.answer(req),
            Err(CodecError::TooLarge { len, max }) => {
                // Only when the milter's idea of the limits is stale: a permanent answer, not
                // a 4xx retried for days. Drained first, so that the milter, still writing,
                // reads it instead of a broken pipe.
                log::warn!("refused a {len}-byte request over the {max}-byte frame limit");
                let _ = std::io::copy(&mut (&mut conn).take(len), &mut std::io::sink());
                let refusal = LimitViolation::FrameTooLarge { len, max }.refusal();
                metrics::SUBMISSIONS_REFUSED.inc(&refusal.enhanced);
                Response::Refused(refusal)
            }
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
            Request::Limits => Response::Limits(self.limits),
            Request::LookupCustomer { name } => match lock(&self.store).customer_info(&name) {
                Ok(c) => Response::Customer(c),
                Err(e) => internal(e),
            },
            Request::Submit(s) => {
                let queue_id = s.queue_id.clone().unwrap_or_else(|| "-".into());
                let customer = s.customer.clone();
                let outcome = self.committer.submit(*s);
                match outcome {
                    Ok(SubmitOutcome::Committed(c)) => {
                        if !c.duplicate {
                            metrics::SUBMISSIONS_ACCEPTED.inc();
                        }
                        log::info!(
                            "contract={} serial={} queue={queue_id} customer={customer} {}",
                            c.contract_id,
                            c.serial,
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
                        metrics::SUBMISSIONS_REFUSED.inc(&r.enhanced);
                        log::info!(
                            "queue={queue_id} customer={customer} refused: {} {} {}",
                            r.code,
                            r.enhanced,
                            r.text
                        );
                        Response::Refused(r)
                    }
                    Err(e) => internal(e),
                }
            }
            Request::LookupToken { token, kind } => {
                // An older milter does not say which address the token came with: either kind
                // passes RCPT, and `answer_received` checks the kind of the handed-over answer.
                let kinds = match kind {
                    Some(k) => vec![k],
                    None => vec![AnswerKind::Reply, AnswerKind::Bounce],
                };
                let store = lock(&self.store);
                let found = kinds
                    .into_iter()
                    .map(|k| store.token_target(&token, k))
                    .find(|t| !matches!(t, Ok(None)))
                    .unwrap_or(Ok(None));
                match found {
                    Ok(t) => Response::Token(t.map(|t| TokenInfo {
                        contract_id: t.contract_id,
                        serial: t.serial,
                    })),
                    Err(e) => internal(e),
                }
            }
            Request::Answer(a) => self.answer_received(&a),
        }
    }

    /// A reply or a DSN: parse it into evidence and an event, then store both at once.
    fn answer_received(&self, a: &Answer) -> Response {
        let target = match lock(&self.store).token_target(&a.token, a.kind) {
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
                let (e, v) = inbound::read_reply(a, &target.destination);
                (Some(e), v)
            }
            AnswerKind::Bounce => match self.read_bounce(a, &target) {
                Ok(x) => x,
                Err(e) => return internal(e),
            },
        };
        let decision = evidence.decision();
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
                        .map(|d| format!("decision={} ", d.as_str()))
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

    /// A message at `bounce+`: checked against the destination's secret envelope id, so that
    /// only a report from the mail system can decide ([`dsn`]).
    fn read_bounce(
        &self,
        a: &Answer,
        target: &TokenTarget,
    ) -> Result<(Option<crate::lifecycle::Event>, crate::evidence::EventData), Error> {
        let (route, sent) = {
            let store = lock(&self.store);
            (
                store.bounce_route(&target.contract_id, &target.destination)?,
                store.sent_message_ids(target)?,
            )
        };
        let route = route.ok_or_else(|| {
            Error::Database(format!(
                "contract {}: no bounce route for {}",
                target.contract_id, target.destination
            ))
        })?;
        Ok(dsn::read_bounce(
            &a.raw,
            &a.envelope_from,
            &dsn::Expected {
                destination: &target.destination,
                envid_secret: &route.envid_secret,
                sent_message_ids: &sent,
            },
        ))
    }
}

fn internal(e: Error) -> Response {
    log::error!("{e}");
    Response::Error {
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests_support::{alice, submission};

    #[test]
    fn token_lookups_answer_only_for_the_kind_of_address() {
        let mut store = crate::store::test_store::test_store();
        store
            .add_customer(&alice(), crate::evidence::Instant::now())
            .unwrap();
        store.submit(&submission("k1")).unwrap();
        let (reply, bounce): (String, String) = store
            .conn()
            .query_row("SELECT token, bounce_token FROM destinations", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        let store = Arc::new(Mutex::new(store));
        let server = Server {
            committer: Committer::start(Arc::clone(&store)).unwrap(),
            store,
            limits: certmail_protocol::Limits::default(),
            wake: mpsc::sync_channel(1).0,
        };
        let found = |token: &str, kind| {
            matches!(
                server.answer(Request::LookupToken {
                    token: token.into(),
                    kind,
                }),
                Response::Token(Some(_))
            )
        };
        assert!(found(&reply, Some(AnswerKind::Reply)));
        assert!(found(&bounce, Some(AnswerKind::Bounce)));
        assert!(!found(&reply, Some(AnswerKind::Bounce)));
        assert!(!found(&bounce, Some(AnswerKind::Reply)));
        // An older milter names no kind: either passes RCPT (the handoff checks the kind).
        assert!(found(&reply, None) && found(&bounce, None));
        assert!(!found("unknown", None));
    }

    #[test]
    fn concurrent_submissions_are_all_committed_once_with_gap_free_serials() {
        let mut store = crate::store::test_store::test_store();
        store
            .add_customer(&alice(), crate::evidence::Instant::now())
            .unwrap();
        let store = Arc::new(Mutex::new(store));
        let committer = Arc::new(Committer::start(Arc::clone(&store)).unwrap());
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let c = Arc::clone(&committer);
                // Two senders per key: a retry racing its original commits once.
                std::thread::spawn(move || c.submit(submission(&format!("k{}", i / 2))))
            })
            .collect();
        let mut serials = Vec::new();
        let mut duplicates = 0;
        for t in threads {
            match t.join().unwrap().unwrap() {
                SubmitOutcome::Committed(c) => {
                    serials.push(c.serial);
                    duplicates += usize::from(c.duplicate);
                }
                other => panic!("{other:?}"),
            }
        }
        serials.sort_unstable();
        serials.dedup();
        assert_eq!(serials, (1..=8).collect::<Vec<u64>>());
        assert_eq!(duplicates, 8);
    }
}
