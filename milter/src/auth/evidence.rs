//! Counterparty evidence: how a reply or bounce authenticated (DKIM, SPF, DMARC), in RFC 8601
//! words and as typed verdicts, recorded for certd to weigh; nothing here refuses mail.

use std::net::IpAddr;

use super::domain::normalize_domain;
use super::phrase::{describe_error, one_line, result_error};
use super::resolver::{with_txt_cache, Resolver, VERIFY_DEADLINE};
use certmail_protocol::{AuthEvidence, AuthOutcome, AuthVerdict};
use mail_auth::common::cache::NoCache;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::dmarc::Policy;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimOutput, DkimResult, DmarcOutput, DmarcResult,
    DnsError, Error as AuthError, ResolverCache, SpfOutput, SpfResult, Txt,
};

/// The SMTP session an answer arrived in, and who received it.
#[derive(Clone, Copy, Debug)]
pub struct Arrival<'a> {
    /// The client's address; `None` when Postfix did not give one (then SPF is not checked).
    pub client_ip: Option<IpAddr>,
    pub helo: Option<&'a str>,
    /// MAIL FROM, with or without angle brackets; empty or `<>` for a null sender.
    pub mail_from: &'a str,
    /// Our host name: the authserv-id (RFC 8601 section 2.5) and SPF's `%{r}`.
    pub receiver_host: &'a str,
}

/// Why DKIM and DMARC results are `permerror` for a message mail-auth cannot parse.
const UNPARSEABLE: &str = "the message could not be parsed";

/// Computes DKIM, SPF and DMARC results for `raw` (a complete message as received from a
/// counterparty), for the record.
///
/// Each text is a single printable-ASCII line: a result keyword (`pass`, `fail`, `softfail`,
/// `neutral`, `none`, `temperror`, `permerror`) optionally followed by details in parentheses,
/// e.g. `pass (d=example.test s=sel)` or `fail (d=x s=y: body hash mismatch)` per signature
/// (`none` when unsigned), `pass (mailfrom=bob@example.test ip=127.0.0.1)` for SPF,
/// `pass (p=none, from=example.test)` for DMARC. The header is an RFC 8601
/// Authentication-Results field value (without the field name and the final CRLF; it may
/// contain folding CRLF TAB sequences) written by mail-auth, with the receiver host as
/// authserv-id. The verdict holds the same results as types: what certd decides on.
///
/// DKIM and SPF run concurrently, then DMARC; all three share one deadline of
/// `VERIFY_DEADLINE` (15 s), so the call never takes much longer than that. DNS trouble and
/// timeouts become `temperror` results; this never fails or panics.
pub async fn authentication_results(
    resolver: &Resolver,
    raw: &[u8],
    arrival: &Arrival<'_>,
) -> AuthEvidence {
    with_cache(resolver, raw, arrival, None::<&NoCache<Box<str>, Txt>>).await
}

/// [`authentication_results`] with an optional pre-filled TXT record cache (DKIM keys, SPF and
/// DMARC records), consulted before DNS: tests use it instead of a DNS server.
pub(super) async fn with_cache<C>(
    resolver: &Resolver,
    raw: &[u8],
    arrival: &Arrival<'_>,
    txt_cache: Option<&C>,
) -> AuthEvidence
where
    C: ResolverCache<Box<str>, Txt>,
{
    let deadline = tokio::time::Instant::now() + VERIFY_DEADLINE;
    let receiver_host = one_line(arrival.receiver_host.to_string());
    let sender = envelope_sender(arrival.mail_from);
    let helo = arrival.helo.map(normalize_domain).filter(|h| !h.is_empty());
    let message = AuthenticatedMessage::parse(raw);

    let dkim_check = async {
        let message = message.as_ref()?;
        let verification = resolver
            .authenticator
            .verify_dkim(with_txt_cache(message, txt_cache));
        Some(tokio::time::timeout_at(deadline, verification).await.ok())
    };
    let spf_check = spf_check(
        resolver,
        arrival.client_ip,
        helo.as_deref(),
        &sender,
        &receiver_host,
        txt_cache,
        deadline,
    );
    let (dkim_outputs, spf) = tokio::join!(dkim_check, spf_check);

    let mut header = AuthenticationResults::new(&receiver_host);
    let timeout_error = || AuthError::Dns(DnsError::Resolver("timed out".into()));

    // DKIM, one line per signature.
    let (dkim, dkim_outputs) = match (&message, dkim_outputs) {
        // RFC 8601 section 2.7.1, permerror: "The message could not be verified due to some
        // error that is unrecoverable, such as a required header field being absent."
        (None, _) | (_, None) => {
            header = header.with_dkim_result(&DkimOutput::perm_err(AuthError::NoHeadersFound), "");
            (vec![one_line(format!("permerror ({UNPARSEABLE})"))], None)
        }
        (Some(_), Some(None)) => {
            header = header.with_dkim_result(&DkimOutput::temp_err(timeout_error()), "");
            (
                vec![format!(
                    "temperror (DKIM verification did not finish within {} seconds)",
                    VERIFY_DEADLINE.as_secs()
                )],
                None,
            )
        }
        (Some(message), Some(Some(outputs))) => {
            header = header.with_dkim_results(&outputs, "");
            let mut lines: Vec<String> = outputs.iter().map(dkim_line).collect();
            if lines.is_empty() {
                // RFC 8601 section 2.7.1, none: "The message was not signed."
                lines.push(if message.has_dkim_errors {
                    "permerror (the DKIM-Signature header could not be parsed)".into()
                } else {
                    "none".into()
                });
            }
            (lines, Some(outputs))
        }
    };

    let mut verdict = AuthVerdict {
        spf: spf_outcome(spf.output.result()),
        dkim_pass: dkim_outputs
            .iter()
            .flatten()
            .filter(|o| matches!(o.result(), DkimResult::Pass))
            .filter_map(|o| o.signature().map(|sig| normalize_domain(&sig.d)))
            .collect(),
        ..AuthVerdict::default()
    };

    // SPF.
    if let Some(ip) = spf.client_ip {
        header = if sender.is_empty() {
            header.with_spf_ehlo_result(&spf.output, ip, helo.as_deref().unwrap_or(""))
        } else {
            header.with_spf_mailfrom_result(&spf.output, ip, &sender, helo.as_deref().unwrap_or(""))
        };
    }

    // DMARC: needs the parsed message and the DKIM outputs; without DKIM outputs (the check
    // timed out) it can still pass through SPF alignment, but nothing else is conclusive.
    let dmarc = match &message {
        None => {
            verdict.dmarc = AuthOutcome::PermError;
            one_line(format!("permerror ({UNPARSEABLE})"))
        }
        Some(message) => {
            let no_outputs = Vec::new();
            let outputs = dkim_outputs.as_deref().unwrap_or(&no_outputs);
            // The identity SPF checked: MAIL FROM's domain, else (null sender or no domain,
            // RFC 7208 section 2.4) the HELO name.
            let mail_from_domain = match sender.rsplit_once('@') {
                Some((_, domain)) => normalize_domain(domain),
                None => helo.clone().unwrap_or_default(),
            };
            let params = DmarcParameters::new(message, outputs, &mail_from_domain, &spf.output);
            let verification = resolver
                .authenticator
                .verify_dmarc(with_txt_cache(params, txt_cache));
            // RFC 7489 section 6.6.1: the Author Domain is the domain of the RFC5322.From field;
            // without a single From address there is none.
            let from_domain = || match message.from.as_slice() {
                [address] => address
                    .rsplit_once('@')
                    .map(|(_, d)| normalize_domain(d))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            let timed_out = |what: &str, domain: String| {
                let output = DmarcOutput::default()
                    .with_domain(&domain)
                    .with_dkim_result(DmarcResult::TempError(timeout_error()))
                    .with_spf_result(DmarcResult::TempError(timeout_error()));
                let from = if domain.is_empty() {
                    String::new()
                } else {
                    format!("from={domain}: ")
                };
                let text = format!(
                    "temperror ({from}{what} did not finish within {} seconds)",
                    VERIFY_DEADLINE.as_secs()
                );
                (output, text)
            };
            let (output, text) = match tokio::time::timeout_at(deadline, verification).await {
                Err(_) => timed_out("the DMARC check", from_domain()),
                Ok(output)
                    if dkim_outputs.is_none()
                        && !output.domain().is_empty()
                        && output.result() != DmarcResult::Pass =>
                {
                    timed_out("DKIM verification", output.domain().to_string())
                }
                Ok(output) => {
                    let text = dmarc_text(&output);
                    (output, text)
                }
            };
            if !output.domain().is_empty() {
                header = header.with_dmarc_result(&output);
                verdict.from_domain = Some(output.domain().to_string());
            }
            verdict.dmarc = dmarc_outcome(&output, &text);
            one_line(text)
        }
    };

    let header = header.to_header();
    let header = header
        .strip_prefix("Authentication-Results: ")
        .unwrap_or(&header)
        .trim_end_matches("\r\n")
        .to_string();
    AuthEvidence {
        dkim: dkim.into_iter().map(one_line).collect(),
        spf: one_line(spf.text),
        dmarc,
        header,
        verdict,
    }
}

/// The outcome of an SPF check: the text for [`AuthEvidence::spf`], the output for DMARC and
/// the header, and the client address when a check was actually made.
struct SpfCheck {
    text: String,
    output: SpfOutput,
    client_ip: Option<IpAddr>,
}

/// SPF for the MAIL FROM identity, or the HELO identity for a null sender, bounded by
/// `deadline`.
async fn spf_check<C>(
    resolver: &Resolver,
    client_ip: Option<IpAddr>,
    helo: Option<&str>,
    sender: &str,
    receiver_host: &str,
    txt_cache: Option<&C>,
    deadline: tokio::time::Instant,
) -> SpfCheck
where
    C: ResolverCache<Box<str>, Txt>,
{
    let helo_domain = helo.unwrap_or("");
    // RFC 7208 section 2.4: "When the reverse-path is null, this document defines the "MAIL
    // FROM" identity to be the mailbox composed of the local-part "postmaster" and the "HELO"
    // identity".
    let (params, identity, domain) = if sender.is_empty() {
        (
            client_ip.map(|ip| SpfParameters::verify_ehlo(ip, helo_domain, receiver_host)),
            format!("helo={helo_domain}"),
            helo_domain,
        )
    } else {
        (
            client_ip
                .map(|ip| SpfParameters::verify_mail_from(ip, helo_domain, receiver_host, sender)),
            format!("mailfrom={sender}"),
            sender.rsplit_once('@').map_or(helo_domain, |(_, d)| d),
        )
    };
    let unchecked = |text: &str| SpfCheck {
        text: text.into(),
        output: SpfOutput::new(domain.to_string()),
        client_ip: None,
    };
    // RFC 7208 section 2.6.1: "none" means no valid domain name was extracted from the SMTP
    // session to be authorized, or no SPF records were retrieved; without a client address
    // there is nothing to authorize either.
    let (Some(params), Some(ip)) = (params, client_ip) else {
        return unchecked("none (no client address)");
    };
    if sender.is_empty() && helo_domain.is_empty() {
        return unchecked("none (neither a MAIL FROM nor a HELO identity)");
    }
    let verification = resolver
        .authenticator
        .verify_spf(with_txt_cache(params, txt_cache));
    match tokio::time::timeout_at(deadline, verification).await {
        Ok(output) => SpfCheck {
            text: format!("{} ({identity} ip={ip})", spf_keyword(output.result())),
            output,
            client_ip: Some(ip),
        },
        Err(_) => SpfCheck {
            text: format!(
                "temperror ({identity} ip={ip}: the SPF check did not finish within {} seconds)",
                VERIFY_DEADLINE.as_secs()
            ),
            output: SpfOutput::new(domain.to_string()).with_result(SpfResult::TempError),
            client_ip: Some(ip),
        },
    }
}

/// The envelope sender without surrounding whitespace and angle brackets; empty for `<>`.
fn envelope_sender(mail_from: &str) -> String {
    let trimmed = mail_from.trim();
    trimmed
        .strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(trimmed)
        .trim()
        .to_string()
}

/// One [`AuthEvidence::dkim`] line for one signature (RFC 8601 section 2.7.1 keywords).
fn dkim_line(output: &DkimOutput<'_>) -> String {
    let result = output.result();
    let keyword = match result {
        DkimResult::Pass => "pass",
        DkimResult::Neutral(_) => "neutral",
        DkimResult::Fail(_) => "fail",
        DkimResult::PermError(_) => "permerror",
        DkimResult::TempError(_) => "temperror",
        DkimResult::None => "none",
    };
    let signature = output.signature();
    let reason = result_error(result).map(|err| describe_error(err, signature));
    match (signature, reason) {
        (Some(sig), None) => format!("{keyword} (d={} s={})", normalize_domain(&sig.d), sig.s),
        (Some(sig), Some(reason)) => format!(
            "{keyword} (d={} s={}: {reason})",
            normalize_domain(&sig.d),
            sig.s
        ),
        (None, Some(reason)) => {
            format!("{keyword} (unusable DKIM-Signature header: {reason})")
        }
        (None, None) => keyword.into(),
    }
}

/// RFC 7208 section 2.6 result names, as RFC 8601 section 2.7.2 records them.
fn spf_keyword(result: SpfResult) -> &'static str {
    match result {
        SpfResult::Pass => "pass",
        SpfResult::Fail => "fail",
        SpfResult::SoftFail => "softfail",
        SpfResult::Neutral => "neutral",
        SpfResult::TempError => "temperror",
        SpfResult::PermError => "permerror",
        SpfResult::None => "none",
    }
}

fn spf_outcome(result: SpfResult) -> AuthOutcome {
    match result {
        SpfResult::Pass => AuthOutcome::Pass,
        SpfResult::Fail => AuthOutcome::Fail,
        SpfResult::SoftFail => AuthOutcome::SoftFail,
        SpfResult::Neutral => AuthOutcome::Neutral,
        SpfResult::TempError => AuthOutcome::TempError,
        SpfResult::PermError => AuthOutcome::PermError,
        SpfResult::None => AuthOutcome::None,
    }
}

/// The typed DMARC outcome; `text` tells a check that timed out (a temperror whatever the
/// partial output says).
fn dmarc_outcome(output: &DmarcOutput, text: &str) -> AuthOutcome {
    if text.starts_with("temperror") {
        return AuthOutcome::TempError;
    }
    match output.result() {
        DmarcResult::Pass => AuthOutcome::Pass,
        DmarcResult::Fail(_) => AuthOutcome::Fail,
        DmarcResult::TempError(_) => AuthOutcome::TempError,
        DmarcResult::PermError(_) => AuthOutcome::PermError,
        DmarcResult::None => AuthOutcome::None,
    }
}

/// The [`AuthEvidence::dmarc`] text for a completed DMARC check.
fn dmarc_text(output: &DmarcOutput) -> String {
    let domain = output.domain();
    if domain.is_empty() {
        // mail-auth exempts messages without a single From domain from DMARC.
        return "none (the message has no single From domain)".into();
    }
    let result = output.result();
    let (keyword, error) = match &result {
        DmarcResult::Pass => ("pass", None),
        DmarcResult::Fail(_) => ("fail", None),
        DmarcResult::TempError(err) => ("temperror", Some(err)),
        DmarcResult::PermError(err) => ("permerror", Some(err)),
        DmarcResult::None => ("none", None),
    };
    match (output.dmarc_record(), error) {
        (_, Some(err)) => format!("{keyword} (from={domain}: {})", describe_dns_error(err)),
        (Some(_), None) => {
            let policy = match output.policy() {
                Policy::Reject => "reject",
                Policy::Quarantine => "quarantine",
                Policy::None | Policy::Unspecified => "none",
            };
            format!("{keyword} (p={policy}, from={domain})")
        }
        (None, None) => format!("{keyword} (no DMARC record for {domain})"),
    }
}

/// A short phrase for an error met while looking up SPF or DMARC records.
fn describe_dns_error(err: &AuthError) -> String {
    match err {
        AuthError::Dns(DnsError::Resolver(msg)) if msg.is_empty() => "DNS error".into(),
        AuthError::Dns(DnsError::Resolver(msg)) => format!("DNS error: {msg}"),
        AuthError::Dns(DnsError::RecordNotFound(code)) => format!("no record found ({code})"),
        AuthError::Dns(DnsError::InvalidRecordType) | AuthError::ParseError => {
            "invalid DNS record".into()
        }
        other => other.to_string(),
    }
}
