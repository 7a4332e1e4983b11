//! The submission gate: a contract for a DKIM-policy customer must carry a valid DKIM signature
//! aligned with its one From domain, both registered for that customer, or it is refused.

use super::domain::{is_same_or_subdomain, normalize_domain};
use super::phrase::{describe_error, one_line, result_error};
use super::resolver::{with_txt_cache, Resolver, VERIFY_DEADLINE};
use mail_auth::common::cache::NoCache;
use mail_auth::{AuthenticatedMessage, DkimOutput, DkimResult, ResolverCache, Txt};

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

/// Why a message has no single author domain; the sentence goes into the SMTP reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthorError {
    #[error("the message has no usable From address")]
    Missing,
    #[error("the message has {0} From addresses, exactly one is required")]
    Several(usize),
    #[error("the From address has no domain")]
    NoDomain,
}

/// Why a signature may not vouch for the From domain; the sentence goes into the SMTP reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unacceptable {
    #[error("DKIM signature d={d} is not aligned with From domain {from}")]
    NotAligned { d: String, from: String },
    #[error("DKIM signature d={d} is not for a domain registered for this customer")]
    NotRegistered { d: String },
}

/// Verifies `raw` (a complete RFC 5322 message, headers and body) and decides whether it is
/// authentically from one of `allowed_domains`; see [`DkimVerdict`].
///
/// A bare valid signature is not enough: anyone can sign any message with a key for a domain
/// they control, so the signing domain (`d=`) must also be aligned with the domain of the
/// RFC 5322 From address, the identity a reader (and certd) attributes the message to.
/// Cryptography, canonicalisation and key look-up are mail-auth's; the policy is here.
///
/// Policy, in order:
/// 1. The message must carry exactly one From address.
/// 2. The From domain must be one of `allowed_domains` or a subdomain of one.
/// 3. Some DKIM signature must verify (RFC 6376 section 6) with a `d=` that is aligned with
///    the From domain and is itself within `allowed_domains`.
pub async fn verify_aligned(
    resolver: &Resolver,
    raw: &[u8],
    allowed_domains: &[String],
) -> DkimVerdict {
    verify_with_key_cache(
        resolver,
        raw,
        allowed_domains,
        None::<&NoCache<Box<str>, Txt>>,
    )
    .await
}

/// [`verify_aligned`] with an optional pre-filled cache of `_domainkey` TXT records,
/// consulted before DNS: tests inject public keys through it instead of a DNS server.
pub(super) async fn verify_with_key_cache<C>(
    resolver: &Resolver,
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
        Err(reason) => return fail(reason.to_string()),
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

    let verification = resolver
        .authenticator
        .verify_dkim(with_txt_cache(&message, key_cache));
    match tokio::time::timeout(VERIFY_DEADLINE, verification).await {
        Ok(outputs) => judge(&outputs, &from_domain, &allowed, message.has_dkim_errors),
        Err(_) => temp_error(format!(
            "DKIM verification did not finish within {} seconds, please retry later",
            VERIFY_DEADLINE.as_secs()
        )),
    }
}

/// Turns mail-auth's per-signature results into a verdict.
///
/// Each signature is first classified as *acceptable* or not (see [`acceptability`]). Then:
/// any acceptable pass → Pass. Else an acceptable signature with a temporary DNS error →
/// TempError (a retry may well pass). Else Fail, naming the most relevant problem: an
/// acceptable signature's failure, then a non-acceptable signature, then a malformed
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
    let mut unacceptable: Option<Unacceptable> = None;
    let mut malformed: Option<String> = None;

    // RFC 6376 section 6.1: "Verifiers MUST NOT attribute ultimate meaning to the order of
    // multiple DKIM-Signature header fields": every signature is weighed, any acceptable pass wins.
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
            // RFC 6376 section 6.1.2: "If the query for the public key fails to respond, the
            // Verifier MAY seek a later verification attempt by returning TEMPFAIL (key
            // unavailable)." A missing key record is a PERMFAIL and lands below.
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
    match acceptable_fail
        .or(unacceptable.map(|u| u.to_string()))
        .or(malformed)
    {
        Some(reason) => fail(reason),
        // mail-auth reports only some kinds of malformed DKIM-Signature headers as results.
        None if had_malformed_headers => fail("the DKIM-Signature header could not be parsed"),
        None => fail("the message carries no DKIM signature"),
    }
}

/// Whether a signature by `d` (normalized) may vouch for `from_domain`.
///
/// RFC 7489 section 3.1.1: "In relaxed mode, the Organizational Domains of both the
/// [DKIM]-authenticated signing domain (taken from the value of the "d=" tag in the
/// signature) and that of the RFC5322.From domain must be equal if the identifiers are to be
/// considered aligned." We take the half "From is `d=` or below it": accepting a `d=` below
/// the From domain would need the Public Suffix List's organizational domain. And `d=` must
/// itself lie within the customer's domains, so that a signature by e.g. a shared parent
/// domain the customer does not own cannot vouch for them.
fn acceptability(d: &str, from_domain: &str, allowed: &[String]) -> Result<(), Unacceptable> {
    if !is_same_or_subdomain(from_domain, d) {
        return Err(Unacceptable::NotAligned {
            d: d.to_string(),
            from: from_domain.to_string(),
        });
    }
    if !allowed.iter().any(|a| is_same_or_subdomain(d, a)) {
        return Err(Unacceptable::NotRegistered { d: d.to_string() });
    }
    Ok(())
}

/// The domain of the single RFC 5322 From address (mail-auth already lower-cases the
/// addresses it collects from all From fields).
///
/// RFC 5322 permits several authors, but then "who sent it" is ambiguous; DMARC likewise
/// evaluates one author domain, and leaves a From field with several outside its scope
/// (RFC 7489 section 6.6.1).
fn single_from_domain(from: &[String]) -> Result<String, AuthorError> {
    let address = match from {
        [address] => address,
        [] => return Err(AuthorError::Missing),
        _ => return Err(AuthorError::Several(from.len())),
    };
    match address.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !normalize_domain(domain).is_empty() => {
            Ok(normalize_domain(domain))
        }
        _ => Err(AuthorError::NoDomain),
    }
}

fn normalized_domains(domains: &[String]) -> Vec<String> {
    domains
        .iter()
        .map(|d| normalize_domain(d))
        .filter(|d| !d.is_empty())
        .collect()
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
