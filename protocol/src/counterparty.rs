//! Who cannot be a counterparty: the contract service itself (a request to a contract domain
//! loops back into certmail and stays deferred for ever) and the customer (a contract with
//! oneself certifies nothing). The milter checks at end of message, certd again at submit.
//!
//! Addresses are compared as mail systems deliver them: the domain case-insensitively and
//! without a trailing dot (RFC 5321 section 2.4 and DNS), the local part case-insensitively
//! (what Postfix and the common mailbox stores do in practice, although RFC 5321 lets a server
//! distinguish case), and an RFC 5233 `+detail` is the mailbox it is appended to. Phone
//! numbers are compared in E.164.

use crate::{Destination, Refusal};

/// A destination that names no counterparty, with the sentence the customer reads.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotACounterparty {
    #[error("<{destination}> in the Subject is the contract service itself ({domain} is a certmail contract domain): name the counterparty's own address")]
    ServiceAddress { destination: String, domain: String },
    #[error("<{destination}> in the Subject is your own address: a contract needs a counterparty")]
    OwnAddress { destination: String },
    #[error(
        "{destination} in the Subject is your own phone number: a contract needs a counterparty"
    )]
    OwnPhone { destination: String },
}

impl NotACounterparty {
    /// `550 5.1.3`: RFC 3463 "bad destination mailbox address syntax", the class of every
    /// other unusable destination in the Subject.
    pub fn refusal(&self) -> Refusal {
        Refusal {
            code: 550,
            enhanced: "5.1.3".into(),
            text: self.to_string(),
        }
    }
}

/// What a destination must not be.
#[derive(Clone, Debug, Default)]
pub struct Excluded<'a> {
    /// Contract domains (the milter's `contract_domains`, certd's own domain).
    pub service_domains: Vec<&'a str>,
    /// The customer's addresses: registered email, SMTP logins that are addresses, the
    /// submission's envelope sender and `From:` address.
    pub addresses: Vec<&'a str>,
    /// The customer's registered phone numbers (any spelling [`e164`] reads).
    pub phones: Vec<&'a str>,
}

impl Excluded<'_> {
    /// The first destination that is not a counterparty, if any.
    pub fn check(&self, destinations: &[Destination]) -> Result<(), NotACounterparty> {
        let own: Vec<(String, String)> = self.addresses.iter().filter_map(|a| mailbox(a)).collect();
        let phones: Vec<String> = self.phones.iter().filter_map(|p| e164(p)).collect();
        for d in destinations {
            match d {
                Destination::Email(addr) => {
                    let Some((local, domain)) = mailbox(addr) else {
                        continue;
                    };
                    if let Some(service) = self
                        .service_domains
                        .iter()
                        .find(|s| normal_domain(s) == domain)
                    {
                        return Err(NotACounterparty::ServiceAddress {
                            destination: addr.clone(),
                            domain: normal_domain(service),
                        });
                    }
                    if own.iter().any(|(l, dm)| *l == local && *dm == domain) {
                        return Err(NotACounterparty::OwnAddress {
                            destination: addr.clone(),
                        });
                    }
                }
                Destination::Phone(number) => {
                    if e164(number).is_some_and(|n| phones.contains(&n)) {
                        return Err(NotACounterparty::OwnPhone {
                            destination: number.clone(),
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

/// A domain as DNS compares it: lower case, without the trailing root dot.
fn normal_domain(d: &str) -> String {
    d.trim().trim_end_matches('.').to_lowercase()
}

/// The mailbox an address is delivered to: (local part without `+detail`, domain), both
/// lower case. `None` for anything without `@` (the null sender, a bare login).
pub fn mailbox(addr: &str) -> Option<(String, String)> {
    let addr = addr.trim();
    let addr = addr
        .strip_prefix('<')
        .and_then(|a| a.strip_suffix('>'))
        .unwrap_or(addr);
    let (local, domain) = addr.rsplit_once('@')?;
    let base = local.split_once('+').map_or(local, |(b, _)| b);
    let domain = normal_domain(domain);
    if base.is_empty() || domain.is_empty() {
        return None;
    }
    Some((base.to_lowercase(), domain))
}

/// A phone number in E.164 (`+34600111222`), from `+` or `00` and 7 to 15 digits, with
/// spaces, dots, dashes and brackets ignored; `None` for anything else.
pub fn e164(s: &str) -> Option<String> {
    let compact: String = s
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let digits = compact
        .strip_prefix('+')
        .or_else(|| compact.strip_prefix("00"))?;
    let ok = (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    ok.then(|| format!("+{digits}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(s: &str) -> Destination {
        Destination::Email(s.into())
    }

    fn excluded() -> Excluded<'static> {
        Excluded {
            service_domains: vec!["contract.test", "C2.Test."],
            addresses: vec![
                "alice@example.test",
                "alice-login",
                "Sales@Acme.Example",
                "",
                "<Boss+contracts@acme.example>",
            ],
            phones: vec!["+34 600 999 888"],
        }
    }

    #[test]
    fn contract_domains_in_any_form_are_the_service() {
        for d in [
            "bob@contract.test",
            "bob@CONTRACT.Test",
            "reply+abc@contract.test",
            "bounce+abc@contract.test.",
            "certmail@c2.test",
        ] {
            let e = excluded()
                .check(&[email("bob@example.test"), email(d)])
                .unwrap_err();
            assert!(
                matches!(e, NotACounterparty::ServiceAddress { .. }),
                "{d}: {e:?}"
            );
            let r = e.refusal();
            assert_eq!((r.code, r.enhanced.as_str()), (550, "5.1.3"));
            assert!(
                r.text.contains(d) && r.text.contains("contract service itself"),
                "{r:?}"
            );
        }
        // A subdomain or a look-alike is another domain.
        assert_eq!(excluded().check(&[email("bob@sub.contract.test")]), Ok(()));
        assert_eq!(excluded().check(&[email("bob@contract.test.evil")]), Ok(()));
    }

    #[test]
    fn own_addresses_compare_as_mail_systems_do() {
        for d in [
            "alice@example.test",
            "ALICE@Example.TEST",
            "alice+x@example.test",
            "sales@acme.example",
            "boss@acme.example",
            "Boss+other@ACME.example",
        ] {
            let e = excluded().check(&[email(d)]).unwrap_err();
            assert_eq!(
                e,
                NotACounterparty::OwnAddress {
                    destination: d.into()
                }
            );
            assert!(e
                .to_string()
                .ends_with("is your own address: a contract needs a counterparty"));
        }
        for d in [
            "bob@example.test",
            "alice@example.org",
            "alicex@example.test",
        ] {
            assert_eq!(excluded().check(&[email(d)]), Ok(()), "{d}");
        }
    }

    #[test]
    fn own_phone_in_e164() {
        let e = excluded()
            .check(&[Destination::Phone("+34600999888".into())])
            .unwrap_err();
        assert!(e
            .to_string()
            .starts_with("+34600999888 in the Subject is your own phone number"));
        assert_eq!(
            excluded().check(&[Destination::Phone("+34600111222".into())]),
            Ok(())
        );
    }

    #[test]
    fn e164_spellings() {
        assert_eq!(e164("+34 600-111.222").as_deref(), Some("+34600111222"));
        assert_eq!(e164("0034600111222").as_deref(), Some("+34600111222"));
        assert_eq!(e164("(+34) 600 111 222").as_deref(), Some("+34600111222"));
        for bad in [
            "600111222",
            "+0034600",
            "+34",
            "+1234567890123456",
            "+34abc111222",
            "",
        ] {
            assert_eq!(e164(bad), None, "{bad}");
        }
    }
}
