//! Recipient classification at RCPT time: is this recipient contract traffic, and which kind?
//!
//! Only the envelope recipient decides, so ordinary mail is recognised without reading a byte
//! of its content. Address forms in a contract domain:
//!
//! | local part        | meaning                                              |
//! |-------------------|------------------------------------------------------|
//! | `reply+<token>`   | a counterparty's answer to a contract request        |
//! | `bounce+<token>`  | a delivery status notification (VERP return path)    |
//! | anything else     | a submission by the customer of that name            |

/// What a recipient is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recipient {
    /// Not in a contract domain: passes untouched.
    Ordinary,
    /// `<customer>@<contract domain>`.
    Submission { customer: String, address: String },
    /// `reply+<token>@<contract domain>`.
    Reply { token: String, address: String },
    /// `bounce+<token>@<contract domain>`.
    Bounce { token: String, address: String },
}

/// Removes the angle brackets Postfix passes around envelope addresses.
pub fn bare_address(arg: &str) -> &str {
    let a = arg.trim();
    a.strip_prefix('<')
        .and_then(|a| a.strip_suffix('>'))
        .unwrap_or(a)
}

/// Classifies an envelope recipient (with or without angle brackets).
pub fn classify(rcpt: &str, contract_domains: &[String]) -> Recipient {
    let addr = bare_address(rcpt);
    let Some((local, domain)) = addr.rsplit_once('@') else {
        return Recipient::Ordinary;
    };
    let domain = domain.trim_end_matches('.');
    if !contract_domains
        .iter()
        .any(|d| d.eq_ignore_ascii_case(domain))
    {
        return Recipient::Ordinary;
    }
    let address = format!("{local}@{}", domain.to_ascii_lowercase());
    let lower = local.to_ascii_lowercase();
    if let Some(token) = lower.strip_prefix("reply+") {
        return Recipient::Reply {
            token: token.to_string(),
            address,
        };
    }
    if let Some(token) = lower.strip_prefix("bounce+") {
        return Recipient::Bounce {
            token: token.to_string(),
            address,
        };
    }
    Recipient::Submission {
        customer: lower,
        address,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domains() -> Vec<String> {
        vec!["contract.test".into(), "c2.test".into()]
    }

    #[test]
    fn ordinary_mail() {
        for r in [
            "<bob@example.test>",
            "bob@example.test",
            "<>",
            "postmaster",
            "<a@contract.test.evil>",
        ] {
            assert_eq!(classify(r, &domains()), Recipient::Ordinary, "{r}");
        }
    }

    #[test]
    fn submissions_are_case_insensitive() {
        assert_eq!(
            classify("<Alice@Contract.TEST>", &domains()),
            Recipient::Submission {
                customer: "alice".into(),
                address: "Alice@contract.test".into()
            }
        );
        assert!(matches!(
            classify("acme@c2.test.", &domains()),
            Recipient::Submission { customer, .. } if customer == "acme"
        ));
    }

    #[test]
    fn reserved_forms() {
        assert!(matches!(
            classify("<reply+AbC123@contract.test>", &domains()),
            Recipient::Reply { token, .. } if token == "abc123"
        ));
        assert!(matches!(
            classify("<bounce+x@contract.test>", &domains()),
            Recipient::Bounce { token, .. } if token == "x"
        ));
    }

    #[test]
    fn bare_addresses() {
        assert_eq!(bare_address(" <a@b> "), "a@b");
        assert_eq!(bare_address("a@b"), "a@b");
        assert_eq!(bare_address("<>"), "");
    }
}
