//! Who an email answer is from, as far as the mail system can tell: the destination's own
//! mailbox, authenticated, written by a person — the only answer that may decide a contract.
//!
//! The reply token only says which request is being answered; a token leaks (forwarded
//! requests, shared mailboxes), so the answer must also come from the destination's mailbox
//! (RFC 5322 `From:` and the RFC 5321 envelope sender), its domain must not disown it
//! (DMARC, RFC 7489; SPF, RFC 7208), and no program may have written it (RFC 3834).

use crate::lifecycle::Standing;
use certmail_protocol::{AuthOutcome, AuthVerdict};
use serde::{Deserialize, Serialize};

/// How the deciding answer's origin was established, stated in words a lawyer can read on
/// the certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum Authenticity {
    /// DMARC pass through an aligned DKIM signature.
    DkimAligned { domain: String },
    /// DMARC pass through an aligned SPF pass.
    SpfAligned { domain: String },
    /// No DMARC policy, but a valid DKIM signature of the sender's domain.
    DkimSigned { domain: String },
    /// No DMARC policy, but the sending server is authorised by the domain's SPF record.
    SpfAuthorised { domain: String },
    /// The domain publishes no authentication that could confirm or contradict the sender.
    NothingPublished { domain: String },
}

impl Authenticity {
    /// One sentence for the certificate.
    pub fn statement(&self) -> String {
        match self {
            Authenticity::DkimAligned { domain } => {
                format!("DKIM-signed and DMARC-aligned by {domain}")
            }
            Authenticity::SpfAligned { domain } => format!(
                "sent from a server that {domain} authorises (SPF), DMARC-aligned with the From address"
            ),
            Authenticity::DkimSigned { domain } => format!(
                "DKIM-signed by {domain}; the domain publishes no DMARC policy"
            ),
            Authenticity::SpfAuthorised { domain } => format!(
                "sent from a server that {domain} authorises (SPF); the domain publishes no DMARC policy"
            ),
            Authenticity::NothingPublished { domain } => format!(
                "no authentication published by the sender's domain {domain}: the answer came from the counterparty's address, which its domain neither confirms nor contradicts"
            ),
        }
    }
}

/// The screening of one answer: its standing and, for each, the reason recorded with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Screening {
    pub standing: Standing,
    /// Set when the answer is decisive.
    pub authenticity: Option<Authenticity>,
    /// Why it is not decisive, as recorded in the evidence.
    pub reason: Option<String>,
}

impl Screening {
    fn not_decisive(standing: Standing, reason: String) -> Screening {
        Screening {
            standing,
            authenticity: None,
            reason: Some(reason),
        }
    }
}

/// What of a reply the screening reads.
pub struct ReplyOrigin<'a> {
    /// The destination the reply token belongs to.
    pub destination: &'a str,
    /// RFC 5321 MAIL FROM, empty for the null sender.
    pub envelope_from: &'a str,
    /// Every address of the RFC 5322 `From:` field.
    pub from: &'a [String],
    /// `None` when the milter reported no authentication.
    pub verdict: Option<&'a AuthVerdict>,
    /// The first sign that a program wrote the message, if any ([`automatic_signal`]).
    pub automatic: Option<String>,
}

/// Decides whether a reply may decide.
pub fn screen(o: &ReplyOrigin<'_>) -> Screening {
    // RFC 3834 section 2: automatic responses are recognised first, whoever sent them, so
    // that they are never answered.
    if let Some(signal) = &o.automatic {
        return Screening::not_decisive(Standing::Automatic, signal.clone());
    }
    match o.from {
        [one] if same_mailbox(one, o.destination) => {}
        [] => {
            return Screening::not_decisive(
                Standing::Foreign,
                "the answer has no From address".into(),
            )
        }
        [one] => {
            return Screening::not_decisive(
                Standing::Foreign,
                format!("From: <{one}> is not the destination <{}>", o.destination),
            )
        }
        many => {
            return Screening::not_decisive(
                Standing::Foreign,
                format!(
                    "From: names {} addresses; one author must answer",
                    many.len()
                ),
            )
        }
    }
    if !same_mailbox(o.envelope_from, o.destination) {
        return Screening::not_decisive(
            Standing::Foreign,
            format!(
                "the envelope sender <{}> is not the destination <{}>",
                o.envelope_from, o.destination
            ),
        );
    }
    let domain = domain_of(o.destination);
    let Some(v) = o.verdict else {
        return Screening::not_decisive(
            Standing::Unauthenticated,
            "no authentication results were reported for the answer".into(),
        );
    };
    match authenticity(v, &domain) {
        Ok(a) => Screening {
            standing: Standing::Decisive,
            authenticity: Some(a),
            reason: None,
        },
        Err(why) => Screening::not_decisive(Standing::Unauthenticated, why.to_string()),
    }
}

/// Why an answer with the destination's address is not taken as the destination's own.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
enum Disowned {
    #[error("the authentication results are for the From domain {evaluated}, not {domain}")]
    OtherDomain { evaluated: String, domain: String },
    #[error("the DMARC pass names no From domain, so it does not speak for {domain}")]
    NamelessPass { domain: String },
    #[error("DMARC fail: {domain} publishes a policy that this message does not meet")]
    DmarcFail { domain: String },
    #[error("the authentication of {domain} could not be established (DMARC {dmarc:?})")]
    Undetermined { domain: String, dmarc: AuthOutcome },
    #[error("SPF fail: {domain} does not authorise the server that sent the answer")]
    SpfFail { domain: String },
}

/// The answer's authenticity for `domain` (the destination's), or why its domain disowns it.
fn authenticity(v: &AuthVerdict, domain: &str) -> Result<Authenticity, Disowned> {
    // RFC 7489 section 3: DMARC speaks for the From domain it evaluated. Results for another
    // domain (certmilter read another From address than certd) say nothing about this one.
    match v.from_domain.as_deref() {
        Some(evaluated) if ascii_domain(evaluated) != ascii_domain(domain) => {
            return Err(Disowned::OtherDomain {
                evaluated: evaluated.to_string(),
                domain: domain.to_string(),
            })
        }
        None if v.dmarc == AuthOutcome::Pass => {
            return Err(Disowned::NamelessPass {
                domain: domain.to_string(),
            })
        }
        _ => {}
    }
    let aligned_dkim = v.dkim_pass.iter().any(|d| aligned(d, domain));
    let domain = domain.to_string();
    match v.dmarc {
        AuthOutcome::Pass if aligned_dkim => Ok(Authenticity::DkimAligned { domain }),
        AuthOutcome::Pass => Ok(Authenticity::SpfAligned { domain }),
        // RFC 7489 section 6.6.2: the domain's policy says this message is not its own.
        AuthOutcome::Fail => Err(Disowned::DmarcFail { domain }),
        AuthOutcome::TempError | AuthOutcome::Unknown => Err(Disowned::Undetermined {
            domain,
            dmarc: v.dmarc,
        }),
        // No (usable) DMARC record: SPF and DKIM speak for themselves.
        AuthOutcome::None
        | AuthOutcome::PermError
        | AuthOutcome::SoftFail
        | AuthOutcome::Neutral => {
            if aligned_dkim {
                Ok(Authenticity::DkimSigned { domain })
            } else if v.spf == AuthOutcome::Fail {
                // RFC 7208 section 2.6.4: the domain explicitly does not authorise the server.
                Err(Disowned::SpfFail { domain })
            } else if v.spf == AuthOutcome::Pass {
                Ok(Authenticity::SpfAuthorised { domain })
            } else {
                Ok(Authenticity::NothingPublished { domain })
            }
        }
    }
}

/// RFC 7489 section 3.1.1 relaxed alignment, without the public-suffix list: the signing
/// domain is the From domain or a parent of it.
fn aligned(signer: &str, from_domain: &str) -> bool {
    let (s, f) = (ascii_domain(signer), ascii_domain(from_domain));
    s.contains('.') && (f == s || f.ends_with(&format!(".{s}")))
}

/// A domain as DNS, DKIM (`d=`) and DMARC name it: A-labels (RFC 5890; certmilter reports
/// `xn--` forms while a destination may be written in Unicode), lower case, no root dot.
fn ascii_domain(d: &str) -> String {
    let d = d.trim_end_matches('.');
    idna::domain_to_ascii(d).unwrap_or_else(|_| d.to_ascii_lowercase())
}

/// Compares two addresses as mail systems do: the domain without case (RFC 5321 section
/// 2.4), the local part also without case as every common mailbox server treats it, angle
/// brackets and a root dot ignored.
pub fn same_mailbox(a: &str, b: &str) -> bool {
    let norm = |x: &str| {
        let x = x.trim();
        let x = x
            .strip_prefix('<')
            .and_then(|x| x.strip_suffix('>'))
            .unwrap_or(x);
        x.trim_end_matches('.').to_lowercase()
    };
    let (a, b) = (norm(a), norm(b));
    !a.is_empty() && a.contains('@') && a == b
}

fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('.').to_ascii_lowercase())
        .unwrap_or_default()
}

/// The first sign that a program, not a person, wrote the message: RFC 3834 section 5
/// `Auto-Submitted`, the de-facto auto-responder and list headers (RFC 2369, RFC 2919,
/// `Precedence`), a null envelope sender, or an auto-reply Subject in es/en/ja.
pub fn automatic_signal(
    headers: &[(String, String)],
    envelope_from: &str,
    subject: Option<&str>,
) -> Option<String> {
    if envelope_from.trim().trim_matches(['<', '>']).is_empty() {
        return Some("null envelope sender (a notification, not a person's answer)".into());
    }
    for (name, value) in headers {
        let v = value.trim().to_ascii_lowercase();
        let hit = match name.to_ascii_lowercase().as_str() {
            // RFC 3834 section 5.1: any value but "no" marks an automatic message.
            "auto-submitted" => v.split(';').next().is_some_and(|k| k.trim() != "no"),
            "x-autoreply" | "x-autorespond" | "x-autoresponse" => true,
            "precedence" => matches!(v.as_str(), "bulk" | "junk" | "list" | "auto_reply"),
            "list-id" | "list-post" => true,
            _ => false,
        };
        if hit {
            return Some(format!("{name}: {}", value.trim()));
        }
    }
    let subject = subject.unwrap_or("").trim_start().to_lowercase();
    const PREFIXES: [&str; 10] = [
        "automatic reply",
        "auto-reply",
        "autoreply",
        "auto reply",
        "out of office",
        "out of the office",
        "respuesta automática",
        "fuera de la oficina",
        "自動応答",
        "自動返信",
    ];
    PREFIXES
        .iter()
        .find(|p| subject.starts_with(*p))
        .map(|p| format!("Subject starts with {p:?}"))
}
