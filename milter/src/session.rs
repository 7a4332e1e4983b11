//! The milter conversation with Postfix: thin indymilter callbacks over one [`Session`] per
//! connection, so that what each SMTP stage does is a plain method and its refusal one reply.

mod handoff;
mod rcpt;

pub use rcpt::{authorize, RcptDecision};

use crate::auth::Resolver;
use crate::classify::bare_address;
use crate::client::{CertdClient, LimitsCache};
use crate::config::Config;
use crate::reply::Reply;
use certmail_protocol::{AnswerKind, AuthMethod, Committed, CustomerInfo, Limits};
use indymilter::{
    ActionError, Actions, Callbacks, ContextActions, EomActions, MacroStage, NegotiateContext,
    ProtoOpts, SetErrorReply, SmtpReply, SocketInfo, Status,
};
use std::ffi::{CStr, CString};
use std::sync::Arc;

/// The header added to an archived original.
pub const CONTRACT_HEADER: &str = "X-Certmail-Contract";

/// Everything a session needs, shared by all connections.
pub struct Milter {
    pub config: Config,
    pub certd: CertdClient,
    pub resolver: Resolver,
    pub region: phonenumber::country::Id,
    /// certd's limits, lowered by `config.max_message_size` if set.
    pub limits: LimitsCache,
}

impl Milter {
    pub fn new(
        config: Config,
        certd: CertdClient,
        resolver: Resolver,
        region: phonenumber::country::Id,
    ) -> Self {
        Milter {
            limits: LimitsCache::new(config.max_message_size),
            config,
            certd,
            resolver,
            region,
        }
    }
}

/// One milter connection: what Postfix negotiated, who the client is, the message in progress.
///
/// - RCPT (`rcpt.rs`): classify the recipient; for a contract address learn certd's limits, ask
///   certd whether the customer (or answer token) exists, and check SMTP AUTH where the policy
///   allows it.
/// - DATA: no contract recipient → ACCEPT, Postfix stops calling us for this message.
/// - headers/body: collected (contract mail only), bounded by certd's `max_message_size`.
/// - end of message (`handoff.rs`): split, parse the Subject, verify DKIM where needed, refuse
///   destinations that are no counterparty, check the limits, hand over to certd, and only
///   after certd's commit let Postfix answer `250`.
#[derive(Default)]
pub struct Session {
    opts: Negotiated,
    client: Client,
    msg: Message,
}

/// What Postfix agreed to at negotiation, for the whole connection.
#[derive(Clone, Copy, Default)]
struct Negotiated {
    leading_space: bool,
    noreply_connect: bool,
    noreply_helo: bool,
    noreply_mail: bool,
}

/// The SMTP client as Postfix describes it, recorded with every contract and answer.
#[derive(Default)]
struct Client {
    addr: Option<String>,
    name: Option<String>,
    helo: Option<String>,
    /// Connected to the contract relay listener (`relay_daemon_name`): submissions carry their
    /// SMTP AUTH login in the submission service's `Received` header, not in this session.
    relayed: bool,
}

/// Per-message state, reset at MAIL and on abort.
#[derive(Default)]
struct Message {
    envelope_from: String,
    auth_login: Option<String>,
    auth_mech: Option<String>,
    kind: MessageKind,
    /// The contract recipients as Postfix passed them, for deletion at end of message.
    contract_rcpts: Vec<String>,
    ordinary_rcpts: usize,
    queue_id: Option<String>,
    /// The limits in force, learnt at the first contract recipient.
    limits: Option<Limits>,
    raw: Vec<u8>,
}

impl Message {
    fn max_size(&self) -> u64 {
        self.limits.unwrap_or_default().max_message_size
    }
}

/// What a message is to certmail, decided by its first contract recipient; one per message.
#[derive(Default)]
enum MessageKind {
    /// No contract recipient: Postfix stops calling us at DATA.
    #[default]
    Ordinary,
    /// A contract submitted to a customer's address.
    Submission(Target),
    /// A reply or a delivery report at an answer address.
    Answer(AnswerTarget),
}

/// The customer a message is submitted to.
struct Target {
    customer: CustomerInfo,
    address: String,
    proof: Proof,
}

/// How the sender of a submission is, or will be, shown to be the customer.
enum Proof {
    /// SMTP AUTH on this session proved it at RCPT.
    SmtpAuth(AuthMethod),
    /// DKIM decides at end of message.
    Dkim,
    /// Relayed by this server's submission service: its `Received` header's login decides at
    /// end of message, under the same policy as SMTP AUTH at RCPT ([`crate::relay`]).
    Relayed,
}

/// A reply or bounce address whose token certd knows.
struct AnswerTarget {
    token: String,
    kind: AnswerKind,
    address: String,
}

impl Session {
    /// A connection on which Postfix offered `mta_opts` (we ask for a subset of them).
    fn negotiated(mta_opts: ProtoOpts) -> Session {
        Session {
            opts: Negotiated {
                leading_space: mta_opts.contains(ProtoOpts::LEADING_SPACE),
                noreply_connect: mta_opts.contains(ProtoOpts::NOREPLY_CONNECT),
                noreply_helo: mta_opts.contains(ProtoOpts::NOREPLY_HELO),
                noreply_mail: mta_opts.contains(ProtoOpts::NOREPLY_MAIL),
            },
            ..Session::default()
        }
    }

    fn on_connect(&mut self, hostname: String, addr: Option<String>, relayed: bool) -> Status {
        self.client.name = Some(hostname);
        self.client.addr = addr;
        self.client.relayed = relayed;
        no_reply_if(self.opts.noreply_connect)
    }

    fn on_helo(&mut self, helo: String) -> Status {
        self.client.helo = Some(helo);
        no_reply_if(self.opts.noreply_helo)
    }

    /// MAIL starts a message; it is never refused here (authorisation happens at RCPT).
    fn on_mail(
        &mut self,
        envelope_from: String,
        auth_login: Option<String>,
        auth_mech: Option<String>,
    ) -> Status {
        self.msg = Message {
            envelope_from,
            auth_login,
            auth_mech,
            ..Message::default()
        };
        no_reply_if(self.opts.noreply_mail)
    }

    fn on_data(&mut self, queue_id: Option<String>) -> Status {
        self.msg.queue_id = queue_id;
        match self.msg.kind {
            // Ordinary mail: stop here, Postfix calls us no more for this message.
            MessageKind::Ordinary => Status::Accept,
            MessageKind::Submission(_) | MessageKind::Answer(_) => Status::Continue,
        }
    }

    fn on_header(&mut self, name: &[u8], value: &[u8]) -> Result<(), Reply> {
        let raw = &mut self.msg.raw;
        raw.extend_from_slice(name);
        raw.push(b':');
        if !self.opts.leading_space {
            raw.push(b' ');
        }
        push_crlf(raw, value);
        raw.extend_from_slice(b"\r\n");
        self.msg.within_size()
    }

    fn on_eoh(&mut self) {
        self.msg.raw.extend_from_slice(b"\r\n");
    }

    fn on_body(&mut self, chunk: &[u8]) -> Result<(), Reply> {
        self.msg.raw.extend_from_slice(chunk);
        self.msg.within_size()
    }

    /// End of message: hand the contract mail over to certd and, after its commit, take the
    /// contract recipients out; `Err` is the SMTP reply to give instead of `250`.
    async fn on_eom(
        &mut self,
        milter: &Milter,
        queue_id: Option<String>,
        actions: &EomActions,
    ) -> Result<Status, Reply> {
        if queue_id.is_some() {
            self.msg.queue_id = queue_id;
        }
        let mut msg = std::mem::take(&mut self.msg);
        // The raw message moves into the request to certd rather than being copied: for a large
        // contract that copy was a third of the milter's peak memory (docs/performance.md).
        let raw = std::mem::take(&mut msg.raw);
        let kind = std::mem::take(&mut msg.kind);
        let qid = msg.queue_id.clone().unwrap_or_else(|| "-".into());
        let committed = match &kind {
            MessageKind::Ordinary => return Ok(Status::Accept),
            MessageKind::Answer(answer) => {
                let c = handoff::answer(milter, &self.client, &msg, raw, answer)
                    .await
                    .inspect_err(|r| {
                        log::info!(
                            "queue={qid} from=<{}> rcpt=<{}> {r}",
                            msg.envelope_from,
                            answer.address
                        )
                    })?;
                log::info!(
                    "queue={qid} contract={} serial={} from=<{}> rcpt=<{}> {:?} stored",
                    c.contract_id,
                    c.serial,
                    msg.envelope_from,
                    answer.address,
                    answer.kind
                );
                c
            }
            MessageKind::Submission(target) => {
                let c = handoff::submit(milter, &self.client, &msg, raw, target)
                    .await
                    .inspect_err(|r| {
                        log::info!(
                            "queue={qid} from=<{}> rcpt=<{}> {}: {r}",
                            msg.envelope_from,
                            target.address,
                            if r.is_temporary() {
                                "deferred"
                            } else {
                                "rejected"
                            }
                        )
                    })?;
                log::info!(
                    "queue={qid} contract={} serial={} from=<{}> rcpt=<{}> {}",
                    c.contract_id,
                    c.serial,
                    msg.envelope_from,
                    target.address,
                    if c.duplicate {
                        "retry of a stored contract"
                    } else {
                        "stored"
                    }
                );
                c
            }
        };
        self.reroute(milter, actions, &msg, &committed)
            .await
            .map_err(|e| {
                // Stored but the original could not be rerouted: tempfail; the retry is
                // recognised by its dedupe key, so the contract is still stored once.
                log::error!(
                    "queue={qid} contract={}: milter action failed: {e}",
                    committed.contract_id
                );
                handoff::certd_unavailable()
            })
    }

    /// After the commit: take the contract recipients out of the message. Contract-only mail is
    /// discarded (certd holds the original) or, with `archive_recipient`, delivered to the
    /// archive with the contract id in a header; ordinary recipients get their copy untouched.
    async fn reroute(
        &self,
        milter: &Milter,
        actions: &EomActions,
        msg: &Message,
        c: &Committed,
    ) -> Result<Status, ActionError> {
        for rcpt in &msg.contract_rcpts {
            actions.delete_recipient(rcpt.as_str()).await?;
        }
        if msg.ordinary_rcpts > 0 {
            return Ok(Status::Accept);
        }
        match &milter.config.archive_recipient {
            Some(archive) => {
                actions
                    .add_header(
                        CONTRACT_HEADER,
                        // With LEADING_SPACE negotiated, Postfix takes the value verbatim.
                        format!(
                            "{}{}; serial={}",
                            if self.opts.leading_space { " " } else { "" },
                            c.contract_id,
                            c.serial
                        ),
                    )
                    .await?;
                actions.add_recipient(format!("<{archive}>")).await?;
                Ok(Status::Accept)
            }
            None => Ok(Status::Discard),
        }
    }

    fn on_abort(&mut self) {
        self.msg = Message::default();
    }
}

impl Message {
    /// Refuses the message as soon as it is over the size limit, while it streams (memory
    /// bounded), with the same sentence certd would give.
    fn within_size(&self) -> Result<(), Reply> {
        let (size, max) = (self.raw.len() as u64, self.max_size());
        if size > max {
            let over = certmail_protocol::LimitViolation::MessageTooLarge { size, max };
            Err(Reply::refused(over.refusal()))
        } else {
            Ok(())
        }
    }
}

/// The callbacks, bound to `milter`: each reads what indymilter passes, calls one [`Session`]
/// method and turns its answer into a milter status.
pub fn callbacks(milter: Arc<Milter>) -> Callbacks<Session> {
    let m_rcpt = Arc::clone(&milter);
    let m_connect = Arc::clone(&milter);
    let m_eom = milter;
    Callbacks::new()
        .on_negotiate(|cx, _actions, mta_opts| Box::pin(negotiate(cx, mta_opts)))
        .on_connect(move |cx, hostname, socket| {
            let milter = Arc::clone(&m_connect);
            Box::pin(async move {
                let addr = match socket {
                    SocketInfo::Inet(addr) => Some(addr.ip().to_string()),
                    _ => None,
                };
                // `{daemon_name}` is the listener's milter_macro_daemon_name, set by the
                // operator in master.cf: no SMTP client can choose it.
                let relayed = milter
                    .config
                    .relay_daemon_name
                    .as_deref()
                    .is_some_and(|name| {
                        macro_str(&cx.macros, c"{daemon_name}").as_deref() == Some(name)
                    });
                session(&mut cx.data).on_connect(lossy(&hostname), addr, relayed)
            })
        })
        .on_helo(|cx, helo| Box::pin(async move { session(&mut cx.data).on_helo(lossy(&helo)) }))
        .on_mail(|cx, args| {
            Box::pin(async move {
                let envelope_from = args
                    .first()
                    .map(|a| bare_address(&lossy(a)).to_string())
                    .unwrap_or_default();
                let auth_login = macro_str(&cx.macros, c"{auth_authen}");
                let auth_mech = macro_str(&cx.macros, c"{auth_type}");
                session(&mut cx.data).on_mail(envelope_from, auth_login, auth_mech)
            })
        })
        .on_rcpt(move |cx, args| {
            let milter = Arc::clone(&m_rcpt);
            Box::pin(async move {
                let Some(rcpt) = args.first().map(lossy) else {
                    return Status::Continue;
                };
                let result = session(&mut cx.data).on_rcpt(&milter, &rcpt).await;
                status(&mut cx.reply, result)
            })
        })
        .on_data(|cx| {
            Box::pin(async move {
                let queue_id = macro_str(&cx.macros, c"i");
                session(&mut cx.data).on_data(queue_id)
            })
        })
        .on_header(|cx, name, value| {
            Box::pin(async move {
                let result = session(&mut cx.data).on_header(name.as_bytes(), value.as_bytes());
                status(&mut cx.reply, result)
            })
        })
        .on_eoh(|cx| {
            Box::pin(async move {
                session(&mut cx.data).on_eoh();
                Status::Continue
            })
        })
        .on_body(|cx, chunk| {
            Box::pin(async move {
                let result = session(&mut cx.data).on_body(&chunk);
                status(&mut cx.reply, result)
            })
        })
        .on_eom(move |cx| {
            let milter = Arc::clone(&m_eom);
            Box::pin(async move {
                let queue_id = macro_str(&cx.macros, c"i");
                let Some(session) = cx.data.as_mut() else {
                    return Status::Continue;
                };
                match session.on_eom(&milter, queue_id, &cx.actions).await {
                    Ok(status) => status,
                    Err(r) => set_reply(&mut cx.reply, &r),
                }
            })
        })
        .on_abort(|cx| {
            Box::pin(async move {
                if let Some(session) = cx.data.as_mut() {
                    session.on_abort();
                }
                Status::Continue
            })
        })
}

async fn negotiate(cx: &mut NegotiateContext<Session>, mta_opts: ProtoOpts) -> Status {
    cx.requested_actions = Actions::ADD_HEADER | Actions::DELETE_RCPT | Actions::ADD_RCPT;
    // Ask only for what the MTA offers; each NOREPLY saves a round trip on every connection.
    let wanted = ProtoOpts::NO_UNKNOWN
        | ProtoOpts::NOREPLY_CONNECT
        | ProtoOpts::NOREPLY_HELO
        // MAIL is never refused here (authorisation happens at RCPT): one round trip less
        // per message, which is most of what ordinary mail pays (docs/performance.md).
        | ProtoOpts::NOREPLY_MAIL
        | ProtoOpts::LEADING_SPACE;
    cx.requested_opts = wanted & mta_opts;
    cx.data = Some(Session::negotiated(mta_opts));
    if let Ok(m) = CString::new("{daemon_name}") {
        cx.requested_macros.insert(MacroStage::Connect, m);
    }
    if let Ok(m) = CString::new("{auth_authen} {auth_type} {mail_addr}") {
        cx.requested_macros.insert(MacroStage::Mail, m);
    }
    if let Ok(m) = CString::new("i") {
        cx.requested_macros.insert(MacroStage::Data, m.clone());
        cx.requested_macros.insert(MacroStage::Eom, m);
    }
    Status::Continue
}

/// The connection's session (created if negotiation did not, as indymilter-test may skip it).
fn session(data: &mut Option<Session>) -> &mut Session {
    data.get_or_insert_with(Session::default)
}

/// `Continue`, or the stage's refusal as a reply.
fn status(reply: &mut SmtpReply, result: Result<(), Reply>) -> Status {
    match result {
        Ok(()) => Status::Continue,
        Err(r) => set_reply(reply, &r),
    }
}

/// Every reply the milter gives goes through here, its text through [`Reply::wire_text`].
fn set_reply(reply: &mut SmtpReply, r: &Reply) -> Status {
    let code = r.code.to_string();
    if let Err(e) = reply.set_error_reply(&code, Some(r.enhanced), [r.wire_text()]) {
        log::error!("cannot set SMTP reply {r}: {e}");
    }
    if r.is_temporary() {
        Status::Tempfail
    } else {
        Status::Reject
    }
}

/// `Noreply` where Postfix agreed not to wait for our answer at this stage.
fn no_reply_if(negotiated: bool) -> Status {
    if negotiated {
        Status::Noreply
    } else {
        Status::Continue
    }
}

fn macro_str(m: &indymilter::Macros, name: &CStr) -> Option<String> {
    m.get(name)
        .map(|v| v.to_string_lossy().into_owned())
        .filter(|v| !v.is_empty())
}

fn lossy(c: &CString) -> String {
    c.to_string_lossy().into_owned()
}

/// Makes every line end in CRLF (Postfix may pass header continuations with bare LF).
fn push_crlf(out: &mut Vec<u8>, text: &[u8]) {
    let mut prev = 0u8;
    for &b in text {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_normalisation() {
        let mut v = Vec::new();
        push_crlf(&mut v, b"a\n\tb\r\n\tc");
        assert_eq!(v, b"a\r\n\tb\r\n\tc");
    }
}
