//! End of message: a submission is split, checked and authenticated, an answer gets its
//! authentication evidence, and either goes to certd, whose commit alone lets Postfix say `250`.

use super::rcpt::{authorize, RcptDecision};
use super::{AnswerTarget, Client, Message, Milter, Proof, Target};
use crate::auth::{self, Arrival, DkimVerdict};
use crate::client::ClientError;
use crate::dedupe::dedupe_key;
use crate::reply::Reply;
use crate::split::{split, SplitReply};
use crate::subject::parse_subject;
use certmail_protocol::counterparty::Excluded;
use certmail_protocol::{
    Answer, AnswerKind, AuthMethod, AuthOutcome, CodecError, Committed, CustomerInfo, Request,
    Response, Submission,
};

/// `451 4.3.0`: certd unreachable, slow or failing, or the milter could not finish after its
/// commit; the sender retries.
pub(super) fn certd_unavailable() -> Reply {
    Reply::tempfail("the certification service is temporarily unavailable; please try again later")
}

/// Splits, authenticates and submits; `Err` is the SMTP reply to give instead of `250`.
pub(super) async fn submit(
    milter: &Milter,
    client: &Client,
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
    let proven = match &target.proof {
        Proof::SmtpAuth(a) => Some(a.clone()),
        Proof::Dkim => None,
        Proof::Relayed => relayed_auth(msg, &raw, target)?,
    };
    let auth = match proven {
        Some(a) => a,
        None => match auth::verify_aligned(&milter.resolver, &raw, &target.customer.dkim_domains)
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
        client_addr: client.addr.clone(),
        client_name: client.name.clone(),
        helo: client.helo.clone(),
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

/// A relayed submission: the login of the submission service's `Received` header, judged like
/// SMTP AUTH at RCPT (`Ok(None)`: DKIM decides, as the customer's policy allows).
fn relayed_auth(msg: &Message, raw: &[u8], target: &Target) -> Result<Option<AuthMethod>, Reply> {
    let hop = crate::relay::relayed_session(raw, msg.queue_id.as_deref());
    let login = hop.as_ref().and_then(|h| h.login.as_deref());
    let mechanism = hop.as_ref().and_then(|h| h.protocol.as_deref());
    match authorize(Some(&target.customer), &target.address, login, mechanism) {
        RcptDecision::Accept(a) => Ok(a),
        RcptDecision::Reject(r) => Err(r),
    }
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
pub(super) async fn answer(
    milter: &Milter,
    client: &Client,
    msg: &Message,
    raw: Vec<u8>,
    a: &AnswerTarget,
) -> Result<Committed, Reply> {
    let arrival = Arrival {
        client_ip: client.addr.as_deref().and_then(|s| s.parse().ok()),
        helo: client.helo.as_deref(),
        mail_from: &msg.envelope_from,
        receiver_host: milter
            .config
            .contract_domains
            .first()
            .map(String::as_str)
            .unwrap_or("localhost"),
    };
    let evidence = auth::authentication_results(&milter.resolver, &raw, &arrival).await;
    // Only an authenticated answer may decide (docs/lifecycle.md): when DNS trouble leaves
    // DMARC undecided, the sender's MTA retries later rather than the answer being judged
    // now on half the facts (RFC 7489 section 6.6.3: temperror, "try again later").
    if a.kind == AnswerKind::Reply && evidence.verdict.dmarc == AuthOutcome::TempError {
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
        client_addr: client.addr.clone(),
        client_name: client.name.clone(),
        helo: client.helo.clone(),
        auth: Some(evidence),
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
