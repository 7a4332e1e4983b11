//! DKIM sender authentication.
//!
//! A customer proves that contract mail really comes from them by having their outbound
//! server sign it with DKIM (RFC 6376) for one of the domains registered for them. A bare
//! valid signature is not enough: anyone can sign any message with a key for a domain they
//! control, so we also require DMARC-style *identifier alignment* (RFC 7489 section 3.1.1)
//! between the signing domain (`d=`) and the domain of the RFC 5322 From address, which is
//! the identity a human reader (and certd) attributes the message to.
//!
//! Cryptography, canonicalisation and key lookup are done by `mail-auth`; this module adds
//! the policy: exactly one From address, From domain registered for the customer, and at
//! least one passing signature whose `d=` is aligned with it and itself registered.
//!
//! [`DkimVerifier::authentication_results`] separately records, as evidence for a
//! certificate, how a counterparty's reply authenticated (DKIM, SPF, DMARC); its outcome
//! never decides whether mail is accepted.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use certmail_protocol::{AuthOutcome, AuthVerdict};
use mail_auth::common::cache::NoCache;
use mail_auth::common::crypto::CryptoError;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{DkimError, Signature};
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::dmarc::Policy;
use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use mail_auth::hickory_resolver::system_conf::read_system_conf;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimOutput, DkimResult, DmarcOutput, DmarcResult,
    DnsError, Error as AuthError, MessageAuthenticator, Parameters, RecordSet, ResolverCache,
    SpfOutput, SpfResult, Txt, MX,
};
use serde::{Deserialize, Serialize};

/// Per-query timeout. The milter holds an SMTP session open while we look keys up, so DNS
/// trouble must turn into a prompt tempfail rather than a hung session.
const DNS_TIMEOUT: Duration = Duration::from_secs(2);
/// Attempts per query (hickory retries across the configured servers).
const DNS_ATTEMPTS: usize = 2;
/// Upper bound for verifying all signatures of one message, whatever their number.
const VERIFY_DEADLINE: Duration = Duration::from_secs(15);
/// Reason sentences end up in SMTP replies; keep them well inside a reply line.
const MAX_REASON_LEN: usize = 299;

/// The outcome of checking a message's DKIM signatures against a customer's domains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DkimVerdict {
    /// A valid signature whose d= is aligned with the From domain, which is one of the
    /// customer's domains.
    Pass { domain: String, selector: String },
    /// No acceptable signature; `reason` is a sentence for the SMTP reply.
    Fail { reason: String },
    /// DNS trouble: the sender should retry.
    TempError { reason: String },
}

/// How a message authenticated, as evidence for a certificate (RFC 8601 vocabulary). Each
/// text is a single printable-ASCII line: a result keyword (`pass`, `fail`, `softfail`,
/// `neutral`, `none`, `temperror`, `permerror`) optionally followed by details in
/// parentheses. Recorded only; never a reason to refuse mail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthResults {
    /// One line per DKIM-Signature, e.g. `pass (d=example.test s=sel)` or
    /// `fail (d=x s=y: body hash mismatch)`; `["none"]` when the message is unsigned.
    pub dkim: Vec<String>,
    /// SPF for the MAIL FROM identity (the HELO identity for a null sender `<>`), e.g.
    /// `pass (mailfrom=bob@example.test ip=127.0.0.1)`.
    pub spf: String,
    /// DMARC for the RFC 5322 From domain, e.g. `pass (p=none, from=example.test)`.
    pub dmarc: String,
    /// An RFC 8601 Authentication-Results header field value (without the field name and
    /// the final CRLF; it may contain folding CRLF TAB sequences) written by mail-auth's
    /// [`AuthenticationResults`], with the receiver host as authserv-id.
    pub header: String,
    /// The same results as types: what certd decides on.
    #[serde(default)]
    pub verdict: AuthVerdict,
}

/// Verifies DKIM signatures with a resolver pointed at configured name servers.
#[derive(Clone)]
pub struct DkimVerifier {
    authenticator: MessageAuthenticator,
}

impl DkimVerifier {
    /// Builds a verifier whose DNS resolver queries exactly `nameservers` (UDP, falling back
    /// to TCP for truncated answers — DKIM key records are often larger than 512 bytes), with
    /// a 2 s timeout and 2 attempts per query.
    ///
    /// `nameservers` empty: the system resolver configuration (`/etc/resolv.conf`), with its
    /// timeout and attempts capped at the same values so that a slow resolver cannot stall
    /// the SMTP session.
    pub fn new(nameservers: &[SocketAddr]) -> Result<DkimVerifier, String> {
        let (config, mut opts) = if nameservers.is_empty() {
            read_system_conf().map_err(|err| {
                one_line(format!(
                    "cannot read the system DNS resolver configuration: {err}"
                ))
            })?
        } else {
            let servers = nameservers.iter().map(|addr| name_server(*addr)).collect();
            let mut opts = ResolverOpts::default();
            // Only the configured servers are authoritative for us; never consult /etc/hosts.
            opts.use_hosts_file = ResolveHosts::Never;
            (ResolverConfig::from_name_servers(servers), opts)
        };
        opts.timeout = opts.timeout.min(DNS_TIMEOUT);
        opts.attempts = opts.attempts.clamp(1, DNS_ATTEMPTS);

        let authenticator = MessageAuthenticator::new(config, opts)
            .map_err(|err| one_line(format!("cannot set up the DNS resolver for DKIM: {err}")))?;
        Ok(DkimVerifier { authenticator })
    }

    /// Verifies `raw` (a complete RFC 5322 message, headers and body) and decides whether it
    /// is authentically from one of `allowed_domains`; see [`DkimVerdict`].
    ///
    /// Policy, in order:
    /// 1. The message must carry exactly one From address (RFC 5322 permits several authors,
    ///    but then "who sent it" is ambiguous; DMARC, RFC 7489 section 6.6.1, likewise
    ///    requires a single author domain).
    /// 2. The From domain must be one of `allowed_domains` or a subdomain of one.
    /// 3. Some DKIM signature must verify (RFC 6376 section 6) with a `d=` that is aligned
    ///    with the From domain and is itself within `allowed_domains`.
    pub async fn verify_aligned(&self, raw: &[u8], allowed_domains: &[String]) -> DkimVerdict {
        self.verify_with_key_cache(raw, allowed_domains, None::<&NoCache<Box<str>, Txt>>)
            .await
    }

    /// [`Self::verify_aligned`] with an optional pre-filled cache of `_domainkey` TXT records,
    /// consulted before DNS: tests inject public keys through it instead of a DNS server.
    async fn verify_with_key_cache<C>(
        &self,
        raw: &[u8],
        allowed_domains: &[String],
        key_cache: Option<&C>,
    ) -> DkimVerdict
    where
        C: ResolverCache<Box<str>, Txt>,
    {
        let Some(message) = AuthenticatedMessage::parse(raw) else {
            return fail("the message could not be parsed for DKIM");
        };

        let from_domain = match single_from_domain(&message.from) {
            Ok(domain) => domain,
            Err(reason) => return fail(reason),
        };

        let allowed = normalized_domains(allowed_domains);
        if !allowed
            .iter()
            .any(|d| is_same_or_subdomain(&from_domain, d))
        {
            return fail(format!(
                "From domain {from_domain} is not registered for DKIM for this customer"
            ));
        }

        if message.dkim_headers.is_empty() && !message.has_dkim_errors {
            return fail("the message carries no DKIM signature");
        }

        let verification = async {
            match key_cache {
                Some(cache) => {
                    self.authenticator
                        .verify_dkim(Parameters::new(&message).with_txt_cache(cache))
                        .await
                }
                None => {
                    self.authenticator
                        .verify_dkim(Parameters::new(&message))
                        .await
                }
            }
        };
        match tokio::time::timeout(VERIFY_DEADLINE, verification).await {
            Ok(outputs) => judge(&outputs, &from_domain, &allowed, message.has_dkim_errors),
            Err(_) => temp_error(format!(
                "DKIM verification did not finish within {} seconds, please retry later",
                VERIFY_DEADLINE.as_secs()
            )),
        }
    }
}

impl DkimVerifier {
    /// Computes DKIM, SPF and DMARC results for `raw` (a complete message as received from
    /// a counterparty), for the record; see [`AuthResults`].
    ///
    /// `client_ip`, `helo` and `mail_from` describe the SMTP session the message arrived in
    /// (`mail_from` with or without angle brackets; empty or `<>` for a null sender, in which
    /// case SPF checks the HELO identity). `receiver_host` is our host name, used as the
    /// authserv-id and as SPF's `%{r}`.
    ///
    /// DKIM and SPF run concurrently, then DMARC; all three share one deadline of
    /// [`VERIFY_DEADLINE`], so the call never takes much longer than that. DNS trouble and
    /// timeouts become `temperror` results; this never fails or panics.
    pub async fn authentication_results(
        &self,
        raw: &[u8],
        client_ip: Option<IpAddr>,
        helo: Option<&str>,
        mail_from: &str,
        receiver_host: &str,
    ) -> AuthResults {
        self.authentication_results_with_cache(
            raw,
            client_ip,
            helo,
            mail_from,
            receiver_host,
            None::<&NoCache<Box<str>, Txt>>,
        )
        .await
    }

    /// [`Self::authentication_results`] with an optional pre-filled TXT record cache
    /// (DKIM keys, SPF and DMARC records), consulted before DNS: tests use it instead of a
    /// DNS server.
    async fn authentication_results_with_cache<C>(
        &self,
        raw: &[u8],
        client_ip: Option<IpAddr>,
        helo: Option<&str>,
        mail_from: &str,
        receiver_host: &str,
        txt_cache: Option<&C>,
    ) -> AuthResults
    where
        C: ResolverCache<Box<str>, Txt>,
    {
        let deadline = tokio::time::Instant::now() + VERIFY_DEADLINE;
        let receiver_host = one_line(receiver_host.to_string());
        let sender = envelope_sender(mail_from);
        let helo = helo.map(normalize_domain).filter(|h| !h.is_empty());
        let message = AuthenticatedMessage::parse(raw);

        let dkim_check = async {
            let message = message.as_ref()?;
            let verification = self
                .authenticator
                .verify_dkim(with_txt_cache(message, txt_cache));
            Some(tokio::time::timeout_at(deadline, verification).await.ok())
        };
        let spf_check = self.spf_check(
            client_ip,
            helo.as_deref(),
            &sender,
            &receiver_host,
            txt_cache,
            deadline,
        );
        let (dkim_outputs, spf) = tokio::join!(dkim_check, spf_check);

        let mut header = AuthenticationResults::new(&receiver_host);
        let timeout_error = || AuthError::Dns(DnsError::Resolver("timed out".into()));

        // DKIM.
        let (dkim, dkim_outputs) = match (&message, dkim_outputs) {
            (None, _) | (_, None) => {
                header =
                    header.with_dkim_result(&DkimOutput::perm_err(AuthError::NoHeadersFound), "");
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
                header.with_spf_mailfrom_result(
                    &spf.output,
                    ip,
                    &sender,
                    helo.as_deref().unwrap_or(""),
                )
            };
        }

        // DMARC: needs the parsed message and the DKIM outputs; without DKIM outputs (the
        // check timed out) it can still pass through SPF alignment, but nothing else is
        // conclusive.
        let dmarc = match &message {
            None => {
                verdict.dmarc = AuthOutcome::PermError;
                one_line(format!("permerror ({UNPARSEABLE})"))
            }
            Some(message) => {
                let no_outputs = Vec::new();
                let outputs = dkim_outputs.as_deref().unwrap_or(&no_outputs);
                // The identity SPF checked: MAIL FROM's domain, else (null sender or no
                // domain, RFC 7208 section 2.4) the HELO name.
                let mail_from_domain = match sender.rsplit_once('@') {
                    Some((_, domain)) => normalize_domain(domain),
                    None => helo.clone().unwrap_or_default(),
                };
                let params = DmarcParameters::new(message, outputs, &mail_from_domain, &spf.output);
                let verification = self
                    .authenticator
                    .verify_dmarc(with_txt_cache(params, txt_cache));
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
        AuthResults {
            dkim: dkim.into_iter().map(one_line).collect(),
            spf: one_line(spf.text),
            dmarc,
            header,
            verdict,
        }
    }

    /// SPF for the MAIL FROM identity, or the HELO identity for a null sender, bounded by
    /// `deadline`.
    async fn spf_check<C>(
        &self,
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
        let (params, identity, domain) = if sender.is_empty() {
            (
                client_ip.map(|ip| SpfParameters::verify_ehlo(ip, helo_domain, receiver_host)),
                format!("helo={helo_domain}"),
                helo_domain,
            )
        } else {
            (
                client_ip.map(|ip| {
                    SpfParameters::verify_mail_from(ip, helo_domain, receiver_host, sender)
                }),
                format!("mailfrom={sender}"),
                sender.rsplit_once('@').map_or(helo_domain, |(_, d)| d),
            )
        };
        let unchecked = |text: &str| SpfCheck {
            text: text.into(),
            output: SpfOutput::new(domain.to_string()),
            client_ip: None,
        };
        let (Some(params), Some(ip)) = (params, client_ip) else {
            return unchecked("none (no client address)");
        };
        if sender.is_empty() && helo_domain.is_empty() {
            return unchecked("none (neither a MAIL FROM nor a HELO identity)");
        }
        let verification = self
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
}

/// Why DKIM and DMARC results are `permerror` for a message mail-auth cannot parse.
const UNPARSEABLE: &str = "the message could not be parsed";

/// The outcome of an SPF check: the text for [`AuthResults::spf`], the output for DMARC and
/// the header, and the client address when a check was actually made.
struct SpfCheck {
    text: String,
    output: SpfOutput,
    client_ip: Option<IpAddr>,
}

/// mail-auth parameters with an optional TXT cache `C` and no other caches.
type TxtCachedParameters<'x, P, C> = Parameters<
    'x,
    P,
    C,
    NoCache<Box<str>, RecordSet<MX>>,
    NoCache<Box<str>, RecordSet<Ipv4Addr>>,
    NoCache<Box<str>, RecordSet<Ipv6Addr>>,
    NoCache<IpAddr, RecordSet<Box<str>>>,
>;

/// mail-auth parameters around `params` whose TXT lookups consult `txt_cache` first.
fn with_txt_cache<'x, P, C>(params: P, txt_cache: Option<&'x C>) -> TxtCachedParameters<'x, P, C>
where
    C: ResolverCache<Box<str>, Txt>,
{
    Parameters {
        params,
        cache_txt: txt_cache,
        cache_mx: None,
        cache_ptr: None,
        cache_ipv4: None,
        cache_ipv6: None,
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

/// One [`AuthResults::dkim`] line for one signature.
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

/// The [`AuthResults::dmarc`] text for a completed DMARC check.
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

/// A name server entry for `addr`: UDP first, TCP for truncated answers, at `addr`'s port
/// (which need not be 53, e.g. a local dnsmasq).
fn name_server(addr: SocketAddr) -> NameServerConfig {
    let mut udp = ConnectionConfig::udp();
    udp.port = addr.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = addr.port();
    NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
}

/// Turns mail-auth's per-signature results into a verdict.
///
/// Each signature is first classified as *acceptable* or not: its `d=` must be the From
/// domain or a parent of it (the "From is a subdomain of d=" half of DMARC relaxed
/// alignment, RFC 7489 section 3.1.1; we do not accept `d=` below the From domain because
/// deciding that needs the Public Suffix List's organizational domain), and `d=` must itself
/// lie within the customer's domains, so that a signature by e.g. a shared parent domain
/// the customer does not own cannot vouch for them.
///
/// Then: any acceptable pass → Pass. Else an acceptable signature with a temporary DNS error
/// → TempError (a retry may well pass). Else Fail, naming the most relevant problem:
/// an acceptable signature's failure, then a non-acceptable signature, then a malformed
/// DKIM-Signature header.
///
/// `had_malformed_headers`: the message has DKIM-Signature headers mail-auth could not parse.
fn judge(
    outputs: &[DkimOutput<'_>],
    from_domain: &str,
    allowed: &[String],
    had_malformed_headers: bool,
) -> DkimVerdict {
    let mut acceptable_temp: Option<String> = None;
    let mut acceptable_fail: Option<String> = None;
    let mut unacceptable: Option<String> = None;
    let mut malformed: Option<String> = None;

    for output in outputs {
        let Some(signature) = output.signature() else {
            // A DKIM-Signature header mail-auth could not even parse (or refused, e.g. l=).
            if malformed.is_none() {
                if let Some(err) = result_error(output.result()) {
                    malformed = Some(format!(
                        "the DKIM-Signature header could not be used: {}",
                        describe_error(err, None)
                    ));
                }
            }
            continue;
        };
        let d = normalize_domain(&signature.d);
        if let Err(reason) = acceptability(&d, from_domain, allowed) {
            unacceptable.get_or_insert(reason);
            continue;
        }
        match output.result() {
            DkimResult::Pass => {
                return DkimVerdict::Pass {
                    domain: d,
                    selector: signature.s.clone(),
                };
            }
            DkimResult::TempError(err) => {
                acceptable_temp.get_or_insert_with(|| {
                    format!(
                        "the DKIM key for d={d} s={} could not be looked up ({}), please retry later",
                        signature.s,
                        describe_error(err, Some(signature))
                    )
                });
            }
            DkimResult::Fail(err) | DkimResult::Neutral(err) | DkimResult::PermError(err) => {
                acceptable_fail.get_or_insert_with(|| {
                    format!(
                        "DKIM signature d={d} did not verify: {}",
                        describe_error(err, Some(signature))
                    )
                });
            }
            DkimResult::None => {
                acceptable_fail
                    .get_or_insert_with(|| format!("DKIM signature d={d} did not verify"));
            }
        }
    }

    if let Some(reason) = acceptable_temp {
        return temp_error(reason);
    }
    match acceptable_fail.or(unacceptable).or(malformed) {
        Some(reason) => fail(reason),
        // mail-auth reports only some kinds of malformed DKIM-Signature headers as results.
        None if had_malformed_headers => fail("the DKIM-Signature header could not be parsed"),
        None => fail("the message carries no DKIM signature"),
    }
}

/// Whether a signature by `d` (normalized) may vouch for `from_domain`; `Err` says why not.
fn acceptability(d: &str, from_domain: &str, allowed: &[String]) -> Result<(), String> {
    if !is_same_or_subdomain(from_domain, d) {
        return Err(format!(
            "DKIM signature d={d} is not aligned with From domain {from_domain}"
        ));
    }
    if !allowed.iter().any(|a| is_same_or_subdomain(d, a)) {
        return Err(format!(
            "DKIM signature d={d} is not for a domain registered for this customer"
        ));
    }
    Ok(())
}

fn result_error(result: &DkimResult) -> Option<&AuthError> {
    match result {
        DkimResult::Neutral(err)
        | DkimResult::Fail(err)
        | DkimResult::PermError(err)
        | DkimResult::TempError(err) => Some(err),
        DkimResult::Pass | DkimResult::None => None,
    }
}

/// A short lower-case phrase for a mail-auth error, for use inside a reason sentence.
fn describe_error(err: &AuthError, signature: Option<&Signature>) -> String {
    let key_name = signature
        .map(|s| format!(" at {}._domainkey.{}", s.s, normalize_domain(&s.d)))
        .unwrap_or_default();
    match err {
        AuthError::Dkim(DkimError::FailedBodyHashMatch) => "body hash mismatch".into(),
        AuthError::Dkim(DkimError::SignatureExpired) => "the signature has expired".into(),
        AuthError::Dkim(DkimError::FailedAuidMatch) => {
            "the i= identity is not within the d= domain".into()
        }
        AuthError::Dkim(DkimError::RevokedPublicKey) => {
            format!("the public key{key_name} has been revoked")
        }
        AuthError::Dkim(DkimError::SignatureLength) => {
            "signatures with an l= body length tag are not accepted".into()
        }
        AuthError::Dkim(DkimError::UnsupportedVersion) => "unsupported DKIM version".into(),
        AuthError::Dkim(DkimError::UnsupportedAlgorithm) => "unsupported signing algorithm".into(),
        AuthError::Dkim(DkimError::UnsupportedCanonicalization) => {
            "unsupported canonicalization".into()
        }
        AuthError::Dkim(DkimError::UnsupportedKeyType) => {
            format!("unsupported key type in the DNS record{key_name}")
        }
        // ring reports a signature that does not verify as an opaque library error.
        AuthError::Crypto(CryptoError::FailedVerification | CryptoError::Library(_)) => {
            format!("the header signature does not match the public key{key_name}")
        }
        AuthError::Crypto(CryptoError::IncompatibleAlgorithms) => {
            format!("the signature algorithm does not match the key type{key_name}")
        }
        AuthError::Dns(DnsError::RecordNotFound(code)) => {
            format!("no DKIM key record found{key_name} ({code})")
        }
        AuthError::Dns(DnsError::InvalidRecordType) | AuthError::ParseError => {
            format!("invalid DKIM key record{key_name}")
        }
        AuthError::Dns(DnsError::Resolver(msg)) => format!("DNS error: {msg}"),
        AuthError::Base64 => "invalid base64 data".into(),
        other => other.to_string(),
    }
}

/// The domain of the single RFC 5322 From address; `Err` is a reason sentence.
/// mail-auth already lower-cases the addresses it collects from all From headers.
fn single_from_domain(from: &[String]) -> Result<String, String> {
    let address = match from {
        [address] => address,
        [] => return Err("the message has no usable From address".into()),
        _ => {
            return Err(format!(
                "the message has {} From addresses, exactly one is required",
                from.len()
            ))
        }
    };
    match address.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !normalize_domain(domain).is_empty() => {
            Ok(normalize_domain(domain))
        }
        _ => Err("the From address has no domain".into()),
    }
}

fn normalized_domains(domains: &[String]) -> Vec<String> {
    domains
        .iter()
        .map(|d| normalize_domain(d))
        .filter(|d| !d.is_empty())
        .collect()
}

/// Lower-case, trimmed, without the root label's trailing dot: DNS names compare
/// case-insensitively (RFC 4343) and `example.test.` is `example.test`.
fn normalize_domain(domain: &str) -> String {
    domain.trim().trim_end_matches('.').to_lowercase()
}

/// `name` equals `parent` or lies below it, on a label boundary (`badexample.test` is not
/// below `example.test`). Both must already be normalized.
fn is_same_or_subdomain(name: &str, parent: &str) -> bool {
    if parent.is_empty() {
        return false;
    }
    name == parent
        || name
            .strip_suffix(parent)
            .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.'))
}

fn fail(reason: impl Into<String>) -> DkimVerdict {
    DkimVerdict::Fail {
        reason: one_line(reason.into()),
    }
}

fn temp_error(reason: impl Into<String>) -> DkimVerdict {
    DkimVerdict::TempError {
        reason: one_line(reason.into()),
    }
}

/// Makes `text` safe for an SMTP reply line: printable ASCII only (CR/LF and other controls
/// become spaces, anything else `?`; parts of it come from the message), runs of spaces
/// collapsed, at most [`MAX_REASON_LEN`] characters.
fn one_line(text: String) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_REASON_LEN));
    for c in text.chars() {
        let c = match c {
            ' '..='~' => c,
            c if c.is_control() || c.is_whitespace() => ' ',
            _ => '?',
        };
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        if out.len() >= MAX_REASON_LEN {
            break;
        }
        out.push(c);
    }
    out.truncate(out.trim_end().len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_auth::common::crypto::Ed25519Key;
    use mail_auth::common::headers::HeaderWriter;
    use mail_auth::common::parse::TxtRecordParser;
    use mail_auth::common::verify::DomainKey;
    use mail_auth::dkim::DkimSigner;
    use mail_auth::dmarc::Dmarc;
    use mail_auth::spf::Spf;
    use std::borrow::Borrow;
    use std::collections::HashMap;
    use std::hash::Hash;
    use std::sync::Mutex;

    /// A `ResolverCache` holding pre-parsed `_domainkey` records, so that tests never touch
    /// DNS: mail-auth consults the cache before the resolver.
    /// When the second field is set, names not in the map are answered with it (NXDOMAIN)
    /// instead of being left to the resolver.
    struct KeyCache(Mutex<HashMap<Box<str>, Txt>>, Option<Txt>);

    impl KeyCache {
        fn new() -> Self {
            KeyCache(Mutex::new(HashMap::new()), None)
        }

        /// Publishes `record` (a DKIM key TXT record) at `selector._domainkey.domain.`.
        fn publish(&self, selector: &str, domain: &str, record: &str) {
            let key = DomainKey::parse(record.as_bytes()).expect("test key record parses");
            self.put(selector, domain, Txt::from(key));
        }

        fn put(&self, selector: &str, domain: &str, txt: Txt) {
            self.put_name(&format!("{selector}._domainkey.{domain}."), txt);
        }

        /// Stores `txt` as the TXT lookup result for the fully qualified `name`.
        fn put_name(&self, name: &str, txt: Txt) {
            self.0.lock().unwrap().insert(name.into(), txt);
        }
    }

    impl ResolverCache<Box<str>, Txt> for KeyCache {
        fn get<Q>(&self, name: &Q) -> Option<Txt>
        where
            Box<str>: Borrow<Q>,
            Q: Hash + Eq + ?Sized,
        {
            let found = self.0.lock().unwrap().get(name).cloned();
            found.or_else(|| self.1.clone())
        }

        fn remove<Q>(&self, name: &Q) -> Option<Txt>
        where
            Box<str>: Borrow<Q>,
            Q: Hash + Eq + ?Sized,
        {
            self.0.lock().unwrap().remove(name)
        }

        fn insert(&self, key: Box<str>, value: Txt, _valid_until: std::time::Instant) {
            self.0.lock().unwrap().insert(key, value);
        }
    }

    /// A fresh Ed25519 key pair: (PKCS#8 private key, `v=DKIM1` TXT record).
    fn key_pair() -> (Vec<u8>, String) {
        let pkcs8 = Ed25519Key::generate_pkcs8().expect("generate key");
        let key = Ed25519Key::from_pkcs8_der(&pkcs8).expect("load key");
        let record = format!("v=DKIM1; k=ed25519; p={}", base64(&key.public_key()));
        (pkcs8, record)
    }

    fn base64(data: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    fn message(from: &str) -> String {
        format!(
            "From: Customer <{from}>\r\n\
             To: contracts@certmail.test\r\n\
             Subject: Contract 4711\r\n\
             Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\
             Message-ID: <4711@example.test>\r\n\
             \r\n\
             Please find the signed contract attached.\r\n"
        )
    }

    /// `msg` with a DKIM-Signature header prepended, signed with `pkcs8` as d=`domain` s=`selector`.
    fn sign(msg: &str, pkcs8: &[u8], domain: &str, selector: &str) -> String {
        let key = Ed25519Key::from_pkcs8_der(pkcs8).expect("load key");
        let signature = DkimSigner::from_key(key)
            .domain(domain)
            .selector(selector)
            .headers(["From", "To", "Subject", "Date", "Message-ID"])
            .sign(msg.as_bytes())
            .expect("sign");
        format!("{}{msg}", signature.to_header())
    }

    fn domains(list: &[&str]) -> Vec<String> {
        list.iter().map(|d| d.to_string()).collect()
    }

    /// A verifier whose resolver points at a discard port: every test below must be answered
    /// from the key cache (or fail before any lookup).
    fn offline_verifier() -> DkimVerifier {
        DkimVerifier::new(&["127.0.0.1:9".parse().unwrap()]).expect("verifier")
    }

    async fn check(raw: &[u8], allowed: &[&str], cache: &KeyCache) -> DkimVerdict {
        offline_verifier()
            .verify_with_key_cache(raw, &domains(allowed), Some(cache))
            .await
    }

    fn assert_fail_contains(verdict: &DkimVerdict, needle: &str) {
        match verdict {
            DkimVerdict::Fail { reason } => {
                assert!(
                    reason.contains(needle),
                    "reason {reason:?} lacks {needle:?}"
                );
                assert_sentence(reason);
            }
            other => panic!("expected Fail containing {needle:?}, got {other:?}"),
        }
    }

    fn assert_sentence(reason: &str) {
        assert!(!reason.is_empty());
        assert!(reason.len() < 300, "too long: {reason:?}");
        assert!(!reason.contains(['\r', '\n']), "multi-line: {reason:?}");
    }

    #[tokio::test]
    async fn valid_aligned_signature_passes() {
        let (pkcs8, record) = key_pair();
        let cache = KeyCache::new();
        cache.publish("sel", "example.test", &record);
        let raw = sign(
            &message("alice@example.test"),
            &pkcs8,
            "example.test",
            "sel",
        );

        let verdict = check(raw.as_bytes(), &["Example.TEST"], &cache).await;
        assert_eq!(
            verdict,
            DkimVerdict::Pass {
                domain: "example.test".into(),
                selector: "sel".into()
            }
        );
    }

    #[tokio::test]
    async fn body_modified_after_signing_fails() {
        let (pkcs8, record) = key_pair();
        let cache = KeyCache::new();
        cache.publish("sel", "example.test", &record);
        let raw = sign(
            &message("alice@example.test"),
            &pkcs8,
            "example.test",
            "sel",
        )
        .replace("signed contract", "forged contract");

        let verdict = check(raw.as_bytes(), &["example.test"], &cache).await;
        assert_fail_contains(
            &verdict,
            "DKIM signature d=example.test did not verify: body hash mismatch",
        );
    }

    #[tokio::test]
    async fn header_modified_after_signing_fails() {
        let (pkcs8, record) = key_pair();
        let cache = KeyCache::new();
        cache.publish("sel", "example.test", &record);
        let raw = sign(
            &message("alice@example.test"),
            &pkcs8,
            "example.test",
            "sel",
        )
        .replace("Contract 4711", "Contract 4712");

        let verdict = check(raw.as_bytes(), &["example.test"], &cache).await;
        assert_fail_contains(
            &verdict,
            "did not verify: the header signature does not match",
        );
    }

    #[tokio::test]
    async fn signature_by_other_domain_is_not_aligned() {
        let (pkcs8, record) = key_pair();
        let cache = KeyCache::new();
        cache.publish("sel", "evil.test", &record);
        let raw = sign(&message("alice@example.test"), &pkcs8, "evil.test", "sel");

        let verdict = check(raw.as_bytes(), &["example.test", "evil.test"], &cache).await;
        assert_fail_contains(
            &verdict,
            "DKIM signature d=evil.test is not aligned with From domain example.test",
        );
    }

    #[tokio::test]
    async fn from_domain_not_registered_fails() {
        let (pkcs8, record) = key_pair();
        let cache = KeyCache::new();
        cache.publish("sel", "example.test", &record);
        let raw = sign(
            &message("alice@example.test"),
            &pkcs8,
            "example.test",
            "sel",
        );

        let verdict = check(raw.as_bytes(), &["other.test", "badexample.test"], &cache).await;
        assert_fail_contains(
            &verdict,
            "From domain example.test is not registered for DKIM for this customer",
        );
    }

    #[tokio::test]
    async fn unsigned_message_fails() {
        let cache = KeyCache::new();
        let raw = message("alice@example.test");
        let verdict = check(raw.as_bytes(), &["example.test"], &cache).await;
        assert_fail_contains(&verdict, "the message carries no DKIM signature");
    }

    #[tokio::test]
    async fn malformed_signature_header_fails() {
        let cache = KeyCache::new();
        for header in [
            "DKIM-Signature: v=1; a=rsa-sha512; d=example.test; s=sel; bh=; b=",
            "DKIM-Signature: ;;;",
        ] {
            let raw = format!("{header}\r\n{}", message("alice@example.test"));
            let verdict = check(raw.as_bytes(), &["example.test"], &cache).await;
            assert_fail_contains(&verdict, "DKIM-Signature header could not be");
        }
    }

    #[tokio::test]
    async fn subdomain_from_with_parent_signature_passes() {
        let (pkcs8, record) = key_pair();
        let cache = KeyCache::new();
        cache.publish("sel", "example.test", &record);
        let raw = sign(
            &message("a@mail.example.test"),
            &pkcs8,
            "example.test",
            "sel",
        );

        let verdict = check(raw.as_bytes(), &["example.test"], &cache).await;
        assert_eq!(
            verdict,
            DkimVerdict::Pass {
                domain: "example.test".into(),
                selector: "sel".into()
            }
        );
    }

    #[tokio::test]
    async fn signing_domain_outside_registered_domains_fails() {
        // From mail.example.test is registered, but the signature is by the parent
        // example.test, which the customer has not registered.
        let (pkcs8, record) = key_pair();
        let cache = KeyCache::new();
        cache.publish("sel", "example.test", &record);
        let raw = sign(
            &message("a@mail.example.test"),
            &pkcs8,
            "example.test",
            "sel",
        );

        let verdict = check(raw.as_bytes(), &["mail.example.test"], &cache).await;
        assert_fail_contains(&verdict, "d=example.test is not for a domain registered");
    }

    #[tokio::test]
    async fn aligned_pass_wins_over_unaligned_and_broken_signatures() {
        let (good, good_record) = key_pair();
        let (evil, evil_record) = key_pair();
        let cache = KeyCache::new();
        cache.publish("sel", "example.test", &good_record);
        cache.publish("s2", "evil.test", &evil_record);
        let signed = sign(&message("alice@example.test"), &good, "example.test", "sel");
        let raw = sign(&signed, &evil, "evil.test", "s2");
        let raw = format!("DKIM-Signature: v=1; a=bogus; d=example.test\r\n{raw}");

        let verdict = check(raw.as_bytes(), &["example.test"], &cache).await;
        assert!(
            matches!(verdict, DkimVerdict::Pass { ref domain, .. } if domain == "example.test")
        );
    }

    #[tokio::test]
    async fn missing_key_record_fails() {
        let (pkcs8, _) = key_pair();
        let cache = KeyCache::new();
        cache.put(
            "sel",
            "example.test",
            Txt::Error(AuthError::Dns(DnsError::InvalidRecordType)),
        );
        let raw = sign(
            &message("alice@example.test"),
            &pkcs8,
            "example.test",
            "sel",
        );
        let verdict = check(raw.as_bytes(), &["example.test"], &cache).await;
        assert_fail_contains(
            &verdict,
            "did not verify: invalid DKIM key record at sel._domainkey.example.test",
        );
    }

    #[tokio::test]
    async fn wrong_key_fails() {
        let (pkcs8, _) = key_pair();
        let (_, other_record) = key_pair();
        let cache = KeyCache::new();
        cache.publish("sel", "example.test", &other_record);
        let raw = sign(
            &message("alice@example.test"),
            &pkcs8,
            "example.test",
            "sel",
        );
        let verdict = check(raw.as_bytes(), &["example.test"], &cache).await;
        assert_fail_contains(&verdict, "d=example.test did not verify");
    }

    #[tokio::test]
    async fn dns_trouble_is_a_temporary_error() {
        let (pkcs8, _) = key_pair();
        let cache = KeyCache::new();
        cache.put(
            "sel",
            "example.test",
            Txt::Error(AuthError::Dns(DnsError::Resolver(
                "request timed out".into(),
            ))),
        );
        let raw = sign(
            &message("alice@example.test"),
            &pkcs8,
            "example.test",
            "sel",
        );
        match check(raw.as_bytes(), &["example.test"], &cache).await {
            DkimVerdict::TempError { reason } => {
                assert!(reason.contains("sel"), "{reason}");
                assert_sentence(&reason);
            }
            other => panic!("expected TempError, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn unreachable_name_server_is_a_temporary_error() {
        // Nothing listens on the discard port: the real resolver path must give TempError
        // (connection refused / timeout), within the configured bounds.
        let (pkcs8, _) = key_pair();
        let raw = sign(
            &message("alice@example.test"),
            &pkcs8,
            "example.test",
            "sel",
        );
        let started = std::time::Instant::now();
        let verdict = offline_verifier()
            .verify_aligned(raw.as_bytes(), &domains(&["example.test"]))
            .await;
        assert!(
            matches!(verdict, DkimVerdict::TempError { .. }),
            "{verdict:?}"
        );
        assert!(started.elapsed() < VERIFY_DEADLINE + Duration::from_secs(1));
    }

    #[tokio::test]
    async fn multiple_or_missing_from_addresses_fail() {
        let cache = KeyCache::new();
        let two = message("alice@example.test").replace(
            "From: Customer <alice@example.test>",
            "From: alice@example.test, bob@example.test",
        );
        let verdict = check(two.as_bytes(), &["example.test"], &cache).await;
        assert_fail_contains(&verdict, "2 From addresses, exactly one is required");

        let none =
            message("alice@example.test").replace("From: Customer <alice@example.test>\r\n", "");
        let verdict = check(none.as_bytes(), &["example.test"], &cache).await;
        assert_fail_contains(&verdict, "no usable From address");
    }

    #[tokio::test]
    async fn garbage_never_panics() {
        let (pkcs8, record) = key_pair();
        let cache = KeyCache::new();
        cache.publish("sel", "example.test", &record);
        let signed = sign(
            &message("alice@example.test"),
            &pkcs8,
            "example.test",
            "sel",
        );

        let mut inputs: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"\r\n\r\n".to_vec(),
            b"\x00\xff\xfe garbage \x01\x02".to_vec(),
            b"DKIM-Signature: v=1; a=ed25519-sha256; d=; s=; b=; bh=\r\n\r\n".to_vec(),
            b"From: \r\nDKIM-Signature:\r\n\r\n".to_vec(),
            b"From: <@>\r\nDKIM-Signature: v=1\r\n\r\nx".to_vec(),
        ];
        // Deterministic mutations of a genuine signed message (xorshift PRNG).
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..300 {
            let mut bytes = signed.clone().into_bytes();
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let pos = (state % bytes.len() as u64) as usize;
                bytes[pos] = (state >> 32) as u8;
            }
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            bytes.truncate((state % (bytes.len() as u64 + 1)) as usize);
            inputs.push(bytes);
        }

        let verifier = offline_verifier();
        let allowed = domains(&["example.test"]);
        for input in &inputs {
            match verifier
                .verify_with_key_cache(input, &allowed, Some(&cache))
                .await
            {
                DkimVerdict::Pass { domain, .. } => assert_eq!(domain, "example.test"),
                DkimVerdict::Fail { reason } | DkimVerdict::TempError { reason } => {
                    assert_sentence(&reason)
                }
            }
        }
        assert_fail_contains(
            &verifier
                .verify_with_key_cache(b"", &allowed, Some(&cache))
                .await,
            "the message could not be parsed for DKIM",
        );
    }

    #[test]
    fn domain_relations() {
        assert!(is_same_or_subdomain("example.test", "example.test"));
        assert!(is_same_or_subdomain("a.b.example.test", "example.test"));
        assert!(!is_same_or_subdomain("badexample.test", "example.test"));
        assert!(!is_same_or_subdomain(".example.test", "example.test"));
        assert!(!is_same_or_subdomain("example.test", "a.example.test"));
        assert!(!is_same_or_subdomain("example.test", ""));
        assert_eq!(normalize_domain(" Example.TEST. "), "example.test");
    }

    #[test]
    fn reasons_are_single_short_ascii_lines() {
        let long = format!("a\r\nb\t\u{e9}{}", "x ".repeat(400));
        let line = one_line(long);
        assert!(line.starts_with("a b ?x x"), "{line}");
        assert_sentence(&line);
    }

    #[test]
    fn new_works_outside_a_runtime() {
        assert!(DkimVerifier::new(&["127.0.0.1:53".parse().unwrap()]).is_ok());
        // The system configuration may legitimately be absent; it must not panic.
        let _ = DkimVerifier::new(&[]);
    }

    /// A dnsmasq child process, killed (by PID, via `Child::kill`) and reaped when dropped,
    /// also when the test panics.
    struct Dnsmasq {
        child: std::process::Child,
        port: u16,
    }

    impl Drop for Dnsmasq {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn find_dnsmasq() -> Option<std::path::PathBuf> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain(["/usr/sbin".into(), "/sbin".into()])
            .map(|dir| dir.join("dnsmasq"))
            .find(|candidate| candidate.is_file())
    }

    /// Starts dnsmasq on 127.0.0.1 at a free high port serving `txt_records`
    /// (`name,text`, text without commas); everything else below test is NXDOMAIN
    /// (DMARC's tree walk also asks for `_dmarc.test`).
    fn start_dnsmasq(binary: &std::path::Path, txt_records: &[String]) -> Dnsmasq {
        use std::process::{Command, Stdio};
        for _attempt in 0..5 {
            let port = {
                let probe = std::net::UdpSocket::bind("127.0.0.1:0").expect("probe port");
                probe.local_addr().expect("probe addr").port()
            };
            let mut command = Command::new(binary);
            command
                .arg(format!("--port={port}"))
                .args([
                    "--keep-in-foreground",
                    "--no-resolv",
                    "--no-hosts",
                    "--conf-file=/dev/null",
                    "--bind-interfaces",
                    "--listen-address=127.0.0.1",
                    "--pid-file",
                    "--log-facility=-",
                    "--local=/test/",
                ])
                .args(txt_records.iter().map(|r| format!("--txt-record={r}")))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // SAFETY: geteuid has no preconditions.
            if unsafe { libc::geteuid() } == 0 {
                // As root dnsmasq would switch to "nobody", who may not exist in containers.
                command.arg("--user=root");
            }
            let child = command.spawn().expect("spawn dnsmasq");
            let mut server = Dnsmasq { child, port };
            // Bounded wait until it accepts TCP (it opens UDP and TCP together).
            for _ in 0..50 {
                if let Ok(Some(status)) = server.child.try_wait() {
                    eprintln!("dnsmasq on port {port} exited early ({status}); retrying");
                    break;
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return server;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            drop(server);
        }
        panic!("dnsmasq did not start");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn verifies_through_real_dns_with_dnsmasq() {
        let Some(binary) = find_dnsmasq() else {
            eprintln!(
                "SKIPPED verifies_through_real_dns_with_dnsmasq: dnsmasq not found on PATH \
                 (install the dnsmasq-base package)"
            );
            return;
        };
        let (pkcs8, record) = key_pair();
        let server = start_dnsmasq(
            &binary,
            // No shell, so no quotes: dnsmasq only unquotes in configuration files.
            &[format!("sel._domainkey.example.test,{record}")],
        );
        let verifier = DkimVerifier::new(&[SocketAddr::from(([127, 0, 0, 1], server.port))])
            .expect("verifier");
        let allowed = domains(&["example.test"]);

        let raw = sign(
            &message("alice@example.test"),
            &pkcs8,
            "example.test",
            "sel",
        );
        assert_eq!(
            verifier.verify_aligned(raw.as_bytes(), &allowed).await,
            DkimVerdict::Pass {
                domain: "example.test".into(),
                selector: "sel".into()
            }
        );

        let tampered = raw.replace("signed contract", "forged contract");
        assert_fail_contains(
            &verifier.verify_aligned(tampered.as_bytes(), &allowed).await,
            "body hash mismatch",
        );

        // A selector that is not published: NXDOMAIN is a permanent failure.
        let unknown = sign(
            &message("alice@example.test"),
            &pkcs8,
            "example.test",
            "nosel",
        );
        assert_fail_contains(
            &verifier.verify_aligned(unknown.as_bytes(), &allowed).await,
            "no DKIM key record found at nosel._domainkey.example.test",
        );
        drop(server);
    }

    // --- authentication_results ---

    const SPF_RECORD: &str = "v=spf1 ip4:127.0.0.1 -all";
    const DMARC_RECORD: &str = "v=DMARC1; p=reject";
    const RECEIVER: &str = "certmail.test";

    fn nxdomain() -> Txt {
        Txt::Error(AuthError::Dns(DnsError::RecordNotFound(
            mail_auth::hickory_resolver::proto::op::ResponseCode::NXDomain,
        )))
    }

    /// A cache publishing, for example.test, the DKIM key `dkim_record` at `sel` (if any),
    /// the SPF record [`SPF_RECORD`] (if `spf`, else no SPF record) and the DMARC record
    /// [`DMARC_RECORD`]; every other name is NXDOMAIN, so that nothing is left to the
    /// (unreachable) resolver.
    fn reply_cache(dkim_record: Option<&str>, spf: bool) -> KeyCache {
        let mut cache = KeyCache::new();
        cache.1 = Some(nxdomain());
        if let Some(record) = dkim_record {
            cache.publish("sel", "example.test", record);
        }
        let spf_txt = if spf {
            Txt::from(Spf::parse(SPF_RECORD.as_bytes()).expect("SPF record parses"))
        } else {
            Txt::Error(AuthError::Dns(DnsError::RecordNotFound(
                mail_auth::hickory_resolver::proto::op::ResponseCode::NoError,
            )))
        };
        cache.put_name("example.test.", spf_txt);
        cache.put_name(
            "_dmarc.example.test.",
            Txt::from(Dmarc::parse(DMARC_RECORD.as_bytes()).expect("DMARC record parses")),
        );
        cache
    }

    const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    async fn reply_results(
        raw: &[u8],
        client_ip: Option<IpAddr>,
        helo: Option<&str>,
        mail_from: &str,
        cache: &KeyCache,
    ) -> AuthResults {
        offline_verifier()
            .authentication_results_with_cache(
                raw,
                client_ip,
                helo,
                mail_from,
                RECEIVER,
                Some(cache),
            )
            .await
    }

    fn assert_results_well_formed(results: &AuthResults) {
        assert!(!results.dkim.is_empty(), "{results:?}");
        for line in results.dkim.iter().chain([&results.spf, &results.dmarc]) {
            assert_sentence(line);
        }
        assert!(
            results.header.starts_with(&format!("{RECEIVER};")),
            "{results:?}"
        );
        assert!(!results.header.ends_with('\n'), "{results:?}");
    }

    #[tokio::test]
    async fn reply_all_checks_pass() {
        let (pkcs8, record) = key_pair();
        let cache = reply_cache(Some(&record), true);
        let raw = sign(
            &message("alice@example.test"),
            &pkcs8,
            "example.test",
            "sel",
        );

        let results = reply_results(
            raw.as_bytes(),
            Some(LOCALHOST),
            Some("mx.example.test"),
            "<Bob@example.test>",
            &cache,
        )
        .await;
        assert_eq!(
            results.dkim,
            vec!["pass (d=example.test s=sel)".to_string()]
        );
        assert_eq!(results.spf, "pass (mailfrom=Bob@example.test ip=127.0.0.1)");
        assert_eq!(results.dmarc, "pass (p=reject, from=example.test)");
        assert_eq!(
            results.verdict,
            AuthVerdict {
                from_domain: Some("example.test".into()),
                dmarc: AuthOutcome::Pass,
                spf: AuthOutcome::Pass,
                dkim_pass: vec!["example.test".into()],
            }
        );
        for needle in [
            "dkim=pass header.d=example.test header.s=sel",
            "spf=pass",
            "smtp.mailfrom=Bob@example.test",
            "dmarc=pass header.from=example.test policy.dmarc=reject",
        ] {
            assert!(
                results.header.contains(needle),
                "{needle}: {}",
                results.header
            );
        }
        assert_results_well_formed(&results);

        // The evidence survives a serde round trip.
        let text = toml::to_string(&results).expect("serialize");
        assert_eq!(
            toml::from_str::<AuthResults>(&text).expect("parse"),
            results
        );
    }

    #[tokio::test]
    async fn reply_aligned_dkim_passes_dmarc_despite_spf_fail() {
        let (pkcs8, record) = key_pair();
        let cache = reply_cache(Some(&record), true);
        let raw = sign(
            &message("alice@example.test"),
            &pkcs8,
            "example.test",
            "sel",
        );
        let other_ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

        let results = reply_results(
            raw.as_bytes(),
            Some(other_ip),
            Some("mx.example.test"),
            "bob@example.test",
            &cache,
        )
        .await;
        assert_eq!(
            results.dkim,
            vec!["pass (d=example.test s=sel)".to_string()]
        );
        assert_eq!(results.spf, "fail (mailfrom=bob@example.test ip=127.0.0.2)");
        assert_eq!(results.dmarc, "pass (p=reject, from=example.test)");
        assert_eq!(
            (results.verdict.dmarc, results.verdict.spf),
            (AuthOutcome::Pass, AuthOutcome::Fail)
        );
        assert_eq!(results.verdict.dkim_pass, vec!["example.test".to_string()]);
        assert!(results.header.contains("spf=fail"), "{}", results.header);
        assert_results_well_formed(&results);

        // The other way round: a broken signature, but aligned SPF passes DMARC.
        let tampered = raw.replace("signed contract", "forged contract");
        let results = reply_results(
            tampered.as_bytes(),
            Some(LOCALHOST),
            None,
            "bob@example.test",
            &cache,
        )
        .await;
        assert_eq!(
            results.dkim,
            vec!["neutral (d=example.test s=sel: body hash mismatch)".to_string()]
        );
        assert_eq!(results.spf, "pass (mailfrom=bob@example.test ip=127.0.0.1)");
        assert_eq!(results.dmarc, "pass (p=reject, from=example.test)");
        assert!(
            results.header.contains("dkim=neutral"),
            "{}",
            results.header
        );
        assert_results_well_formed(&results);
    }

    #[tokio::test]
    async fn reply_without_signature_or_spf_record_fails_dmarc() {
        let cache = reply_cache(None, false);
        let raw = message("alice@example.test");

        let results = reply_results(
            raw.as_bytes(),
            Some(LOCALHOST),
            Some("mx.example.test"),
            "bob@example.test",
            &cache,
        )
        .await;
        assert_eq!(results.dkim, vec!["none".to_string()]);
        assert_eq!(results.spf, "none (mailfrom=bob@example.test ip=127.0.0.1)");
        // A DMARC record exists but nothing aligned passed: mail-auth reports fail.
        assert_eq!(results.dmarc, "fail (p=reject, from=example.test)");
        assert_eq!(
            (results.verdict.dmarc, results.verdict.spf),
            (AuthOutcome::Fail, AuthOutcome::None)
        );
        assert!(results.verdict.dkim_pass.is_empty());
        assert!(!results.header.contains("dkim="), "{}", results.header);
        assert!(results.header.contains("spf=none"), "{}", results.header);
        assert!(results.header.contains("dmarc=fail"), "{}", results.header);
        assert_results_well_formed(&results);
    }

    #[tokio::test]
    async fn reply_unparseable_message_is_reported() {
        let cache = reply_cache(None, true);
        for raw in [&b""[..], b"\r\n\r\nbody only"] {
            let results =
                reply_results(raw, Some(LOCALHOST), None, "bob@example.test", &cache).await;
            assert_eq!(
                results.dkim,
                vec!["permerror (the message could not be parsed)".to_string()]
            );
            assert_eq!(results.dmarc, "permerror (the message could not be parsed)");
            assert_eq!(results.verdict.dmarc, AuthOutcome::PermError);
            // SPF depends on the envelope only.
            assert_eq!(results.spf, "pass (mailfrom=bob@example.test ip=127.0.0.1)");
            assert!(
                results.header.contains("dkim=permerror (no headers found)"),
                "{}",
                results.header
            );
            assert_results_well_formed(&results);
        }
    }

    #[tokio::test]
    async fn reply_null_sender_uses_helo_and_missing_client_address() {
        let (pkcs8, record) = key_pair();
        let cache = reply_cache(Some(&record), true);
        let raw = sign(
            &message("alice@example.test"),
            &pkcs8,
            "example.test",
            "sel",
        );

        let results = reply_results(
            raw.as_bytes(),
            Some(LOCALHOST),
            Some("Example.TEST"),
            "<>",
            &cache,
        )
        .await;
        assert_eq!(results.spf, "pass (helo=example.test ip=127.0.0.1)");
        assert!(
            results.header.contains("smtp.helo=example.test"),
            "{}",
            results.header
        );
        assert_eq!(results.dmarc, "pass (p=reject, from=example.test)");

        let results = reply_results(raw.as_bytes(), None, Some("example.test"), "", &cache).await;
        assert_eq!(results.spf, "none (no client address)");
        assert!(!results.header.contains("spf="), "{}", results.header);
        assert_eq!(
            results.dkim,
            vec!["pass (d=example.test s=sel)".to_string()]
        );
        assert_eq!(results.dmarc, "pass (p=reject, from=example.test)");

        let results = reply_results(raw.as_bytes(), Some(LOCALHOST), None, "<>", &cache).await;
        assert_eq!(
            results.spf,
            "none (neither a MAIL FROM nor a HELO identity)"
        );
        assert_results_well_formed(&results);
    }

    #[tokio::test]
    async fn reply_dns_trouble_is_temperror_within_the_deadline() {
        // No cache, and nothing listens at the configured name server.
        let (pkcs8, _) = key_pair();
        let raw = sign(
            &message("alice@example.test"),
            &pkcs8,
            "example.test",
            "sel",
        );
        let started = std::time::Instant::now();
        let results = offline_verifier()
            .authentication_results(
                raw.as_bytes(),
                Some(LOCALHOST),
                Some("mx.example.test"),
                "bob@example.test",
                RECEIVER,
            )
            .await;
        assert!(started.elapsed() < VERIFY_DEADLINE + Duration::from_secs(1));
        assert_eq!(results.dkim.len(), 1);
        // Each is a DNS error, or (on a very slow machine) the shared deadline.
        assert!(results.dkim[0].starts_with("temperror ("), "{results:?}");
        assert!(
            results
                .spf
                .starts_with("temperror (mailfrom=bob@example.test ip=127.0.0.1"),
            "{results:?}"
        );
        assert!(
            results.dmarc.starts_with("temperror (from=example.test: "),
            "{results:?}"
        );
        assert_eq!(results.verdict.dmarc, AuthOutcome::TempError);
        assert_eq!(results.verdict.spf, AuthOutcome::TempError);
        assert!(
            results.header.contains("dmarc=temperror"),
            "{}",
            results.header
        );
        assert_results_well_formed(&results);
    }

    #[tokio::test]
    async fn reply_garbage_never_panics() {
        let (pkcs8, record) = key_pair();
        let cache = reply_cache(Some(&record), true);
        let signed = sign(
            &message("alice@example.test"),
            &pkcs8,
            "example.test",
            "sel",
        );
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let verifier = offline_verifier();
        for round in 0..60 {
            let mut bytes = signed.clone().into_bytes();
            for _ in 0..6 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let pos = (state % bytes.len() as u64) as usize;
                bytes[pos] = (state >> 32) as u8;
            }
            let mail_from = ["<>", "bob@example.test", "\r\n<x@\u{e9}.test>", "@"][round % 4];
            let helo = [
                None,
                Some("[127.0.0.1]"),
                Some("a\r\nb"),
                Some("mx.example.test"),
            ][round % 4];
            let results = verifier
                .authentication_results_with_cache(
                    &bytes,
                    Some(LOCALHOST),
                    helo,
                    mail_from,
                    RECEIVER,
                    Some(&cache),
                )
                .await;
            assert_results_well_formed(&results);
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn reply_results_through_real_dns_with_dnsmasq() {
        let Some(binary) = find_dnsmasq() else {
            eprintln!(
                "SKIPPED reply_results_through_real_dns_with_dnsmasq: dnsmasq not found on PATH \
                 (install the dnsmasq-base package)"
            );
            return;
        };
        let (pkcs8, record) = key_pair();
        let server = start_dnsmasq(
            &binary,
            &[
                format!("sel._domainkey.example.test,{record}"),
                format!("example.test,{SPF_RECORD}"),
                format!("_dmarc.example.test,{DMARC_RECORD}"),
            ],
        );
        let verifier = DkimVerifier::new(&[SocketAddr::from(([127, 0, 0, 1], server.port))])
            .expect("verifier");
        let raw = sign(
            &message("alice@example.test"),
            &pkcs8,
            "example.test",
            "sel",
        );

        let results = verifier
            .authentication_results(
                raw.as_bytes(),
                Some(LOCALHOST),
                Some("mx.example.test"),
                "<bob@example.test>",
                RECEIVER,
            )
            .await;
        assert_eq!(
            results.dkim,
            vec!["pass (d=example.test s=sel)".to_string()]
        );
        assert_eq!(results.spf, "pass (mailfrom=bob@example.test ip=127.0.0.1)");
        assert_eq!(results.dmarc, "pass (p=reject, from=example.test)");
        assert_results_well_formed(&results);

        // Unsigned, from a foreign address, sender domain without SPF record (NXDOMAIN).
        let results = verifier
            .authentication_results(
                message("alice@example.test").as_bytes(),
                Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))),
                Some("mx.example.test"),
                "bob@nospf.example.test",
                RECEIVER,
            )
            .await;
        assert_eq!(results.dkim, vec!["none".to_string()]);
        assert_eq!(
            results.spf,
            "none (mailfrom=bob@nospf.example.test ip=127.0.0.2)"
        );
        assert_eq!(results.dmarc, "fail (p=reject, from=example.test)");
        assert_results_well_formed(&results);
        drop(server);
    }
}
