//! The milter conversation with Postfix: what happens at each SMTP stage.
//!
//! - RCPT: classify the recipient; for a contract address learn certd's limits, ask certd
//!   whether the customer exists and is active, and check SMTP AUTH where the policy allows it.
//! - DATA: no contract recipient → ACCEPT, Postfix stops calling us for this message.
//! - headers/body: collected (contract mail only), bounded by certd's `max_message_size`.
//! - end of message: split, parse the Subject, verify DKIM where needed, refuse destinations
//!   that are no counterparty, check the limits, hand over to certd, and only after certd's
//!   commit let Postfix answer `250`.

use crate::classify::{bare_address, classify, Recipient};
use crate::client::{CertdClient, ClientError, LimitsCache};
use crate::config::Config;
use crate::dedupe::dedupe_key;
use crate::dkim::{DkimVerdict, DkimVerifier};
use crate::reply::Reply;
use crate::split::{split, SplitReply};
use crate::subject::parse_subject;
use certmail_protocol::counterparty::Excluded;
use certmail_protocol::{
    Answer, AnswerKind, AuthEvidence, AuthMethod, AuthOutcome, CodecError, Committed, CustomerInfo,
    CustomerPolicy, Limits, Request, Response, Submission,
};
use indymilter::{
    Actions, Callbacks, ContextActions, EomContext, MacroStage, NegotiateContext, ProtoOpts,
    SetErrorReply, SmtpReply, SocketInfo, Status,
};
use std::ffi::{CStr, CString};
use std::sync::Arc;

/// The header added to an archived original.
pub const CONTRACT_HEADER: &str = "X-Certmail-Contract";

/// Everything a session needs, shared by all connections.
pub struct Milter {
    pub config: Config,
    pub certd: CertdClient,
    pub dkim: DkimVerifier,
    pub region: phonenumber::country::Id,
    /// certd's limits, lowered by `config.max_message_size` if set.
    pub limits: LimitsCache,
}

impl Milter {
    pub fn new(
        config: Config,
        certd: CertdClient,
        dkim: DkimVerifier,
        region: phonenumber::country::Id,
    ) -> Self {
        Milter {
            limits: LimitsCache::new(config.max_message_size),
            config,
            certd,
            dkim,
            region,
        }
    }
}

/// Per-connection state.
#[derive(Default)]
pub struct Conn {
    leading_space: bool,
    noreply_connect: bool,
    noreply_helo: bool,
    noreply_mail: bool,
    client_addr: Option<String>,
    client_name: Option<String>,
    helo: Option<String>,
    msg: Message,
}

/// Per-message state, reset at MAIL and on abort.
#[derive(Default)]
struct Message {
    envelope_from: String,
    auth_login: Option<String>,
    auth_mech: Option<String>,
    target: Option<Target>,
    /// Set instead of `target` for a reply or a delivery report.
    answer: Option<AnswerTarget>,
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

/// The customer a message is submitted to.
struct Target {
    customer: CustomerInfo,
    address: String,
    /// Set when SMTP AUTH already proved the sender; `None` means DKIM decides at EOM.
    auth: Option<AuthMethod>,
}

/// A reply or bounce address whose token certd knows.
struct AnswerTarget {
    token: String,
    kind: AnswerKind,
    address: String,
}

/// The decision at RCPT for a submission address.
#[derive(Debug, PartialEq, Eq)]
pub enum RcptDecision {
    /// Accept; `None` = authenticity still to be proven by DKIM at end of message.
    Accept(Option<AuthMethod>),
    Reject(Reply),
}

/// Whitelist and SMTP AUTH check (claim 2 of the patent), a pure function of what certd said
/// and what the SMTP session shows.
pub fn authorize(
    info: Option<&CustomerInfo>,
    address: &str,
    login: Option<&str>,
    mechanism: Option<&str>,
) -> RcptDecision {
    let Some(c) = info else {
        return RcptDecision::Reject(Reply::new(
            550,
            "5.7.1",
            format!("<{address}> is not a certmail customer address"),
        ));
    };
    if !c.active {
        return RcptDecision::Reject(Reply::new(
            550,
            "5.7.1",
            format!("the certmail customer <{address}> is disabled; contact your operator"),
        ));
    }
    let login_ok = login.is_some_and(|l| c.smtp_logins.iter().any(|x| x == l));
    let smtp_auth = || {
        Some(AuthMethod::SmtpAuth {
            login: login.unwrap_or_default().to_string(),
            mechanism: mechanism.unwrap_or("unknown").to_string(),
        })
    };
    match (c.policy, login_ok, login) {
        (CustomerPolicy::SmtpAuth | CustomerPolicy::Any, true, _) => RcptDecision::Accept(smtp_auth()),
        (CustomerPolicy::SmtpAuth, false, Some(l)) => RcptDecision::Reject(Reply::new(
            550,
            "5.7.1",
            format!("SMTP AUTH user {l:?} may not submit contracts for <{address}>"),
        )),
        (CustomerPolicy::SmtpAuth, false, None) => RcptDecision::Reject(Reply::new(
            550,
            "5.7.1",
            format!(
                "contracts for <{address}> must be sent with SMTP AUTH: log in to the submission server with your customer account"
            ),
        )),
        (CustomerPolicy::Dkim | CustomerPolicy::Any, _, _) => RcptDecision::Accept(None),
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

/// The callbacks, bound to `milter`.
pub fn callbacks(milter: Arc<Milter>) -> Callbacks<Conn> {
    let m_rcpt = Arc::clone(&milter);
    let m_eom = milter;
    Callbacks::new()
        .on_negotiate(|cx, _actions, mta_opts| Box::pin(negotiate(cx, mta_opts)))
        .on_connect(|cx, hostname, socket| {
            Box::pin(async move {
                let conn = cx.data.get_or_insert_with(Conn::default);
                conn.client_name = Some(lossy(&hostname));
                conn.client_addr = match socket {
                    SocketInfo::Inet(addr) => Some(addr.ip().to_string()),
                    _ => None,
                };
                if conn.noreply_connect {
                    Status::Noreply
                } else {
                    Status::Continue
                }
            })
        })
        .on_helo(|cx, helo| {
            Box::pin(async move {
                let conn = cx.data.get_or_insert_with(Conn::default);
                conn.helo = Some(lossy(&helo));
                if conn.noreply_helo {
                    Status::Noreply
                } else {
                    Status::Continue
                }
            })
        })
        .on_mail(|cx, args| {
            Box::pin(async move {
                let auth_login = macro_str(&cx.macros, c"{auth_authen}");
                let auth_mech = macro_str(&cx.macros, c"{auth_type}");
                let conn = cx.data.get_or_insert_with(Conn::default);
                conn.msg = Message {
                    envelope_from: args
                        .first()
                        .map(|a| bare_address(&lossy(a)).to_string())
                        .unwrap_or_default(),
                    auth_login,
                    auth_mech,
                    ..Message::default()
                };
                if conn.noreply_mail {
                    Status::Noreply
                } else {
                    Status::Continue
                }
            })
        })
        .on_rcpt(move |cx, args| {
            let milter = Arc::clone(&m_rcpt);
            Box::pin(async move {
                let Some(rcpt) = args.first().map(lossy) else {
                    return Status::Continue;
                };
                let conn = cx.data.get_or_insert_with(Conn::default);
                let (status, reply) = rcpt_stage(&milter, conn, &rcpt).await;
                match reply {
                    Some(r) => set_reply(&mut cx.reply, &r),
                    None => status,
                }
            })
        })
        .on_data(|cx| {
            Box::pin(async move {
                let queue_id = macro_str(&cx.macros, c"i");
                let conn = cx.data.get_or_insert_with(Conn::default);
                conn.msg.queue_id = queue_id;
                if conn.msg.target.is_none() && conn.msg.answer.is_none() {
                    // Ordinary mail: stop here, Postfix calls us no more for this message.
                    Status::Accept
                } else {
                    Status::Continue
                }
            })
        })
        .on_header(move |cx, name, value| {
            Box::pin(async move {
                let conn = cx.data.get_or_insert_with(Conn::default);
                let max = conn.msg.max_size();
                let raw = &mut conn.msg.raw;
                raw.extend_from_slice(name.as_bytes());
                raw.push(b':');
                if !conn.leading_space {
                    raw.push(b' ');
                }
                push_crlf(raw, value.as_bytes());
                raw.extend_from_slice(b"\r\n");
                too_large(&mut cx.reply, raw.len() as u64, max)
            })
        })
        .on_eoh(|cx| {
            Box::pin(async move {
                let conn = cx.data.get_or_insert_with(Conn::default);
                conn.msg.raw.extend_from_slice(b"\r\n");
                Status::Continue
            })
        })
        .on_body(move |cx, chunk| {
            Box::pin(async move {
                let conn = cx.data.get_or_insert_with(Conn::default);
                let max = conn.msg.max_size();
                conn.msg.raw.extend_from_slice(&chunk);
                too_large(&mut cx.reply, conn.msg.raw.len() as u64, max)
            })
        })
        .on_eom(move |cx| {
            let milter = Arc::clone(&m_eom);
            Box::pin(async move { eom_stage(&milter, cx).await })
        })
        .on_abort(|cx| {
            Box::pin(async move {
                if let Some(conn) = cx.data.as_mut() {
                    conn.msg = Message::default();
                }
                Status::Continue
            })
        })
}

async fn negotiate(cx: &mut NegotiateContext<Conn>, mta_opts: ProtoOpts) -> Status {
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
    let conn = Conn {
        leading_space: mta_opts.contains(ProtoOpts::LEADING_SPACE),
        noreply_connect: mta_opts.contains(ProtoOpts::NOREPLY_CONNECT),
        noreply_helo: mta_opts.contains(ProtoOpts::NOREPLY_HELO),
        noreply_mail: mta_opts.contains(ProtoOpts::NOREPLY_MAIL),
        ..Conn::default()
    };
    cx.data = Some(conn);
    if let Ok(m) = CString::new("{auth_authen} {auth_type} {mail_addr}") {
        cx.requested_macros.insert(MacroStage::Mail, m);
    }
    if let Ok(m) = CString::new("i") {
        cx.requested_macros.insert(MacroStage::Data, m.clone());
        cx.requested_macros.insert(MacroStage::Eom, m);
    }
    Status::Continue
}

/// Refuses the message as soon as it is over the size limit, while it streams (memory
/// bounded), with the same sentence certd would give.
fn too_large(reply: &mut SmtpReply, size: u64, max: u64) -> Status {
    if size > max {
        let over = certmail_protocol::LimitViolation::MessageTooLarge { size, max };
        set_reply(reply, &Reply::refused(over.refusal()))
    } else {
        Status::Continue
    }
}

/// RCPT: returns the status, or a reply to reject/tempfail this recipient with.
async fn rcpt_stage(milter: &Milter, conn: &mut Conn, rcpt: &str) -> (Status, Option<Reply>) {
    let class = classify(rcpt, &milter.config.contract_domains);
    if class == Recipient::Ordinary {
        conn.msg.ordinary_rcpts += 1;
        return (Status::Continue, None);
    }
    // Contract traffic: its body is collected, within certd's limits.
    match milter.limits.get(&milter.certd).await {
        Ok(l) => conn.msg.limits = Some(l),
        Err(e) => {
            log::error!(
                "rcpt=<{}>: cannot learn certd's limits: {e}",
                bare_address(rcpt)
            );
            return (Status::Tempfail, Some(certd_unavailable()));
        }
    }
    match class {
        Recipient::Ordinary => (Status::Continue, None),
        Recipient::Reply { token, address } => {
            answer_rcpt(milter, conn, rcpt, token, AnswerKind::Reply, address).await
        }
        Recipient::Bounce { token, address } => {
            answer_rcpt(milter, conn, rcpt, token, AnswerKind::Bounce, address).await
        }
        Recipient::Submission { customer, address } => {
            if conn.msg.answer.is_some() {
                return (Status::Tempfail, Some(one_per_message(&address)));
            }
            if let Some(t) = &conn.msg.target {
                if t.customer.name == customer {
                    conn.msg.contract_rcpts.push(rcpt.to_string());
                    return (Status::Continue, None);
                }
                return (Status::Tempfail, Some(one_per_message(&address)));
            }
            let info = match milter
                .certd
                .call(Request::LookupCustomer {
                    name: customer.clone(),
                })
                .await
            {
                Ok(Response::Customer(info)) => info,
                Ok(other) => {
                    log::error!("certd answered a customer look-up with {other:?}");
                    return (Status::Tempfail, Some(certd_unavailable()));
                }
                Err(e) => {
                    log::error!("rcpt=<{address}>: {e}");
                    return (Status::Tempfail, Some(certd_unavailable()));
                }
            };
            let m = &conn.msg;
            match authorize(
                info.as_ref(),
                &address,
                m.auth_login.as_deref(),
                m.auth_mech.as_deref(),
            ) {
                RcptDecision::Reject(r) => {
                    log::info!(
                        "from=<{}> rcpt=<{address}> client={} rejected: {r}",
                        m.envelope_from,
                        conn.client_addr.as_deref().unwrap_or("-")
                    );
                    (Status::Reject, Some(r))
                }
                RcptDecision::Accept(auth) => {
                    if let Some(customer) = info {
                        conn.msg.target = Some(Target {
                            customer,
                            address,
                            auth,
                        });
                        conn.msg.contract_rcpts.push(rcpt.to_string());
                    }
                    (Status::Continue, None)
                }
            }
        }
    }
}

fn one_per_message(address: &str) -> Reply {
    Reply::new(
        452,
        "4.5.3",
        format!("one contract per message: send to <{address}> in a separate message"),
    )
}

/// RCPT of `reply+<token>@` / `bounce+<token>@`: known tokens of that kind only, so forged,
/// stale or swapped addresses (a reply token at `bounce+`) are refused before the body is sent.
async fn answer_rcpt(
    milter: &Milter,
    conn: &mut Conn,
    rcpt: &str,
    token: String,
    kind: AnswerKind,
    address: String,
) -> (Status, Option<Reply>) {
    if let Some(a) = &conn.msg.answer {
        if a.token == token && a.kind == kind {
            conn.msg.contract_rcpts.push(rcpt.to_string());
            return (Status::Continue, None);
        }
    }
    if conn.msg.answer.is_some() || conn.msg.target.is_some() {
        return (Status::Tempfail, Some(one_per_message(&address)));
    }
    match milter
        .certd
        .call(Request::LookupToken {
            token: token.clone(),
            // A reply token is no bounce token and vice versa: certd checks the kind too.
            kind: Some(kind),
        })
        .await
    {
        Ok(Response::Token(Some(_))) => {
            conn.msg.answer = Some(AnswerTarget {
                token,
                kind,
                address,
            });
            conn.msg.contract_rcpts.push(rcpt.to_string());
            (Status::Continue, None)
        }
        Ok(Response::Token(None)) => {
            log::info!(
                "from=<{}> rcpt=<{address}> client={} rejected: unknown answer token",
                conn.msg.envelope_from,
                conn.client_addr.as_deref().unwrap_or("-")
            );
            (
                Status::Reject,
                Some(Reply::new(
                    550,
                    "5.1.1",
                    format!("<{address}>: no contract is waiting for an answer at this address"),
                )),
            )
        }
        Ok(other) => {
            log::error!("certd answered a token look-up with {other:?}");
            (Status::Tempfail, Some(certd_unavailable()))
        }
        Err(e) => {
            log::error!("rcpt=<{address}>: {e}");
            (Status::Tempfail, Some(certd_unavailable()))
        }
    }
}

fn certd_unavailable() -> Reply {
    Reply::tempfail("the certification service is temporarily unavailable; please try again later")
}

async fn eom_stage(milter: &Milter, cx: &mut EomContext<Conn>) -> Status {
    let queue_id = macro_str(&cx.macros, c"i");
    let Some(conn) = cx.data.as_mut() else {
        return Status::Continue;
    };
    if queue_id.is_some() {
        conn.msg.queue_id = queue_id;
    }
    let mut msg = std::mem::take(&mut conn.msg);
    // The raw message moves into the request to certd rather than being copied: for a large
    // contract that copy was a third of the milter's peak memory (docs/performance.md).
    let raw = std::mem::take(&mut msg.raw);
    if let Some(answer) = msg.answer.as_ref() {
        let leading_space = conn.leading_space;
        let qid = msg.queue_id.clone().unwrap_or_else(|| "-".into());
        let committed = match hand_over_answer(milter, conn, &msg, raw, answer).await {
            Ok(c) => c,
            Err(r) => {
                log::info!(
                    "queue={qid} from=<{}> rcpt=<{}> {r}",
                    msg.envelope_from,
                    answer.address
                );
                return set_reply(&mut cx.reply, &r);
            }
        };
        log::info!(
            "queue={qid} contract={} serial={} from=<{}> rcpt=<{}> {:?} stored",
            committed.contract_id,
            committed.serial,
            msg.envelope_from,
            answer.address,
            answer.kind
        );
        return match finish(milter, cx, &msg, &committed, leading_space).await {
            Ok(status) => status,
            Err(e) => {
                log::error!("queue={qid}: milter action failed: {e}");
                set_reply(&mut cx.reply, &certd_unavailable())
            }
        };
    }
    let Some(target) = msg.target.as_ref() else {
        return Status::Accept;
    };
    let leading_space = conn.leading_space;
    let qid = msg.queue_id.clone().unwrap_or_else(|| "-".into());
    let committed = match hand_over(milter, conn, &msg, raw, target).await {
        Ok(c) => c,
        Err(r) => {
            log::info!(
                "queue={qid} from=<{}> rcpt=<{}> {}: {r}",
                msg.envelope_from,
                target.address,
                if r.is_temporary() {
                    "deferred"
                } else {
                    "rejected"
                }
            );
            return set_reply(&mut cx.reply, &r);
        }
    };
    log::info!(
        "queue={qid} contract={} serial={} from=<{}> rcpt=<{}> {}",
        committed.contract_id,
        committed.serial,
        msg.envelope_from,
        target.address,
        if committed.duplicate {
            "retry of a stored contract"
        } else {
            "stored"
        }
    );
    match finish(milter, cx, &msg, &committed, leading_space).await {
        Ok(status) => status,
        Err(e) => {
            // Stored but the original could not be rerouted: tempfail; the retry is
            // recognised by its dedupe key, so the contract is still stored once.
            log::error!(
                "queue={qid} contract={}: milter action failed: {e}",
                committed.contract_id
            );
            set_reply(&mut cx.reply, &certd_unavailable())
        }
    }
}

/// Splits, authenticates and submits; `Err` is the SMTP reply to give instead of `250`.
async fn hand_over(
    milter: &Milter,
    conn: &Conn,
    msg: &Message,
    raw: Vec<u8>,
    target: &Target,
) -> Result<Committed, Reply> {
    let limits = msg.limits.unwrap_or_default();
    let parts = split(&raw).map_err(|e| e.reply())?;
    let subject = parts.subject.clone().unwrap_or_default();
    limits
        .check_subject(&subject)
        .map_err(|e| Reply::refused(e.refusal()))?;
    let parsed = parse_subject(&subject, milter.region).map_err(|e| e.reply())?;
    let auth = match &target.auth {
        Some(a) => a.clone(),
        None => match milter
            .dkim
            .verify_aligned(&raw, &target.customer.dkim_domains)
            .await
        {
            DkimVerdict::Pass { domain, selector } => AuthMethod::Dkim { domain, selector },
            DkimVerdict::Fail { reason } => {
                return Err(Reply::new(
                    550,
                    "5.7.1",
                    format!(
                        "the sender of contracts for <{}> is not authenticated: {reason}",
                        target.address
                    ),
                ))
            }
            DkimVerdict::TempError { reason } => {
                return Err(Reply::new(
                    451,
                    "4.4.3",
                    format!("DKIM key look-up failed, try again later: {reason}"),
                ))
            }
        },
    };
    // After authentication, so that only the customer learns which of its own addresses and
    // numbers are registered.
    not_a_counterparty(milter, msg, &target.customer, parts.from.as_deref())
        .check(&parsed.destinations)
        .map_err(|e| Reply::refused(e.refusal()))?;
    let submission = Submission {
        customer: target.customer.name.clone(),
        recipient: target.address.clone(),
        auth,
        envelope_from: msg.envelope_from.clone(),
        from_header: parts.from,
        message_id: parts.message_id,
        subject,
        subject_text: parsed.text,
        destinations: parsed.destinations,
        text: parts.text,
        attachments: parts.attachments,
        queue_id: msg.queue_id.clone(),
        client_addr: conn.client_addr.clone(),
        client_name: conn.client_name.clone(),
        helo: conn.helo.clone(),
        dedupe_key: dedupe_key(&target.customer.name, &raw),
        raw,
    };
    limits
        .check_submission(&submission)
        .map_err(|e| Reply::refused(e.refusal()))?;
    certd_result(
        milter
            .certd
            .call_within(
                Request::Submit(Box::new(submission)),
                limits.max_frame_bytes,
            )
            .await,
    )
}

/// What the Subject may not name: the contract domains, and the customer itself (its
/// registered email, its SMTP logins that are addresses, this message's envelope sender and
/// From address, its registered phones).
fn not_a_counterparty<'a>(
    milter: &'a Milter,
    msg: &'a Message,
    customer: &'a CustomerInfo,
    from: Option<&'a str>,
) -> Excluded<'a> {
    let mut addresses: Vec<&str> = customer
        .smtp_logins
        .iter()
        .map(String::as_str)
        .filter(|l| l.contains('@'))
        .collect();
    addresses.extend(customer.email.as_deref());
    addresses.push(&msg.envelope_from);
    addresses.extend(from);
    Excluded {
        service_domains: milter
            .config
            .contract_domains
            .iter()
            .map(String::as_str)
            .collect(),
        addresses,
        phones: customer.phones.iter().map(String::as_str).collect(),
    }
}

/// A reply or DSN: its authentication evidence, then the handoff.
async fn hand_over_answer(
    milter: &Milter,
    conn: &Conn,
    msg: &Message,
    raw: Vec<u8>,
    a: &AnswerTarget,
) -> Result<Committed, Reply> {
    let ip = conn.client_addr.as_deref().and_then(|s| s.parse().ok());
    let receiver = milter
        .config
        .contract_domains
        .first()
        .map(String::as_str)
        .unwrap_or("localhost");
    let auth = milter
        .dkim
        .authentication_results(&raw, ip, conn.helo.as_deref(), &msg.envelope_from, receiver)
        .await;
    // Only an authenticated answer may decide (docs/lifecycle.md): when DNS trouble leaves
    // DMARC undecided, the sender's MTA retries later rather than the answer being judged
    // now on half the facts (RFC 7489 section 6.6.3: temperror, "try again later").
    if a.kind == AnswerKind::Reply && auth.verdict.dmarc == AuthOutcome::TempError {
        return Err(Reply::new(
            451,
            "4.4.3",
            "the sender's domain could not be checked for authentication (DNS trouble); please try again later",
        ));
    }
    let answer = Answer {
        token: a.token.clone(),
        kind: a.kind,
        recipient: a.address.clone(),
        envelope_from: msg.envelope_from.clone(),
        queue_id: msg.queue_id.clone(),
        client_addr: conn.client_addr.clone(),
        client_name: conn.client_name.clone(),
        helo: conn.helo.clone(),
        auth: Some(AuthEvidence {
            dkim: auth.dkim,
            spf: auth.spf,
            dmarc: auth.dmarc,
            header: auth.header,
            verdict: auth.verdict,
        }),
        dedupe_key: dedupe_key(&a.token, &raw),
        raw,
    };
    certd_result(milter.certd.call(Request::Answer(Box::new(answer))).await)
}

/// Maps certd's answer to a handoff: committed, or the SMTP reply to give instead.
fn certd_result(r: Result<Response, ClientError>) -> Result<Committed, Reply> {
    match r {
        Ok(Response::Committed(c)) => Ok(c),
        Ok(Response::Refused(r)) => Err(Reply::refused(r)),
        // The limits were checked, so this cannot happen unless they are wrong; a frame
        // certd would refuse is refused for good, not retried for days.
        Err(ClientError::Codec(CodecError::TooLarge { len, max })) => {
            log::error!("a {len}-byte submission frame exceeds certd's {max}-byte frame limit");
            let over = certmail_protocol::LimitViolation::FrameTooLarge { len, max };
            Err(Reply::refused(over.refusal()))
        }
        Ok(Response::Error { message }) => {
            log::error!("certd could not store the message: {message}");
            Err(certd_unavailable())
        }
        Ok(other) => {
            log::error!("certd answered a handoff with {other:?}");
            Err(certd_unavailable())
        }
        Err(e) => {
            log::error!("{e}");
            Err(certd_unavailable())
        }
    }
}

/// After the commit: take the contract recipients out of the message. Contract-only mail is
/// discarded (certd holds the original) or, with `archive_recipient`, delivered to the
/// archive with the contract id in a header; ordinary recipients get their copy untouched.
async fn finish(
    milter: &Milter,
    cx: &mut EomContext<Conn>,
    msg: &Message,
    c: &Committed,
    leading_space: bool,
) -> Result<Status, indymilter::ActionError> {
    for rcpt in &msg.contract_rcpts {
        cx.actions.delete_recipient(rcpt.as_str()).await?;
    }
    if msg.ordinary_rcpts > 0 {
        return Ok(Status::Accept);
    }
    match &milter.config.archive_recipient {
        Some(archive) => {
            cx.actions
                .add_header(
                    CONTRACT_HEADER,
                    // With LEADING_SPACE negotiated, Postfix takes the value verbatim.
                    format!(
                        "{}{}; serial={}",
                        if leading_space { " " } else { "" },
                        c.contract_id,
                        c.serial
                    ),
                )
                .await?;
            cx.actions.add_recipient(format!("<{archive}>")).await?;
            Ok(Status::Accept)
        }
        None => Ok(Status::Discard),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(policy: CustomerPolicy, active: bool) -> CustomerInfo {
        CustomerInfo {
            name: "alice".into(),
            active,
            policy,
            smtp_logins: vec!["alice".into()],
            dkim_domains: vec!["example.test".into()],
            email: Some("alice@example.test".into()),
            phones: vec![],
        }
    }

    fn reject_code(d: RcptDecision) -> String {
        match d {
            RcptDecision::Reject(r) => format!("{} {}", r.code, r.enhanced),
            RcptDecision::Accept(a) => panic!("accepted {a:?}"),
        }
    }

    #[test]
    fn unknown_and_disabled_customers() {
        assert_eq!(
            reject_code(authorize(None, "zed@c.test", Some("alice"), None)),
            "550 5.7.1"
        );
        let c = customer(CustomerPolicy::SmtpAuth, false);
        assert_eq!(
            reject_code(authorize(Some(&c), "a@c.test", Some("alice"), None)),
            "550 5.7.1"
        );
    }

    #[test]
    fn smtp_auth_policy() {
        let c = customer(CustomerPolicy::SmtpAuth, true);
        assert!(matches!(
            authorize(Some(&c), "a@c.test", Some("alice"), Some("PLAIN")),
            RcptDecision::Accept(Some(AuthMethod::SmtpAuth { .. }))
        ));
        // Logged in as someone else, or not at all: spoofing attempts.
        match authorize(Some(&c), "a@c.test", Some("bob"), Some("PLAIN")) {
            RcptDecision::Reject(r) => assert!(r.text.contains("\"bob\""), "{r}"),
            other => panic!("{other:?}"),
        }
        match authorize(Some(&c), "a@c.test", None, None) {
            RcptDecision::Reject(r) => assert!(r.text.contains("SMTP AUTH"), "{r}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn dkim_and_any_policies_defer_to_end_of_message() {
        let c = customer(CustomerPolicy::Dkim, true);
        assert_eq!(
            authorize(Some(&c), "a@c.test", Some("alice"), None),
            RcptDecision::Accept(None)
        );
        let c = customer(CustomerPolicy::Any, true);
        assert_eq!(
            authorize(Some(&c), "a@c.test", None, None),
            RcptDecision::Accept(None)
        );
        assert!(matches!(
            authorize(Some(&c), "a@c.test", Some("alice"), None),
            RcptDecision::Accept(Some(_))
        ));
    }

    #[test]
    fn crlf_normalisation() {
        let mut v = Vec::new();
        push_crlf(&mut v, b"a\n\tb\r\n\tc");
        assert_eq!(v, b"a\r\n\tb\r\n\tc");
    }
}
