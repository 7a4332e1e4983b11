//! RCPT: who may submit to a contract address, and which answer addresses certd expects, so
//! that strangers, forged tokens and a second contract in one message are refused before DATA.

use super::handoff::certd_unavailable;
use super::{AnswerTarget, MessageKind, Milter, Proof, Session, Target};
use crate::classify::{bare_address, classify, Recipient};
use crate::reply::Reply;
use certmail_protocol::{AnswerKind, AuthMethod, CustomerInfo, CustomerPolicy, Request, Response};

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

impl Session {
    /// RCPT: `Err` is the reply to reject or tempfail this recipient with.
    pub(super) async fn on_rcpt(&mut self, milter: &Milter, rcpt: &str) -> Result<(), Reply> {
        let class = classify(rcpt, &milter.config.contract_domains);
        if class == Recipient::Ordinary {
            self.msg.ordinary_rcpts += 1;
            return Ok(());
        }
        // Contract traffic: its body is collected, within certd's limits.
        match milter.limits.get(&milter.certd).await {
            Ok(l) => self.msg.limits = Some(l),
            Err(e) => {
                log::error!(
                    "rcpt=<{}>: cannot learn certd's limits: {e}",
                    bare_address(rcpt)
                );
                return Err(certd_unavailable());
            }
        }
        match class {
            Recipient::Ordinary => Ok(()),
            Recipient::Reply { token, address } => {
                self.answer_rcpt(milter, rcpt, token, AnswerKind::Reply, address)
                    .await
            }
            Recipient::Bounce { token, address } => {
                self.answer_rcpt(milter, rcpt, token, AnswerKind::Bounce, address)
                    .await
            }
            Recipient::Submission { customer, address } => {
                self.submission_rcpt(milter, rcpt, customer, address).await
            }
        }
    }

    /// RCPT of `<customer>@<contract domain>`: a known, active customer whose policy the SMTP
    /// session satisfies (or will, by DKIM at end of message).
    async fn submission_rcpt(
        &mut self,
        milter: &Milter,
        rcpt: &str,
        customer: String,
        address: String,
    ) -> Result<(), Reply> {
        match &self.msg.kind {
            MessageKind::Ordinary => {}
            MessageKind::Submission(t) if t.customer.name == customer => {
                self.msg.contract_rcpts.push(rcpt.to_string());
                return Ok(());
            }
            MessageKind::Submission(_) | MessageKind::Answer(_) => {
                return Err(one_per_message(&address))
            }
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
                return Err(certd_unavailable());
            }
            Err(e) => {
                log::error!("rcpt=<{address}>: {e}");
                return Err(certd_unavailable());
            }
        };
        let m = &self.msg;
        if self.client.relayed {
            // The login is in the submission service's Received header: checked at end of
            // message; who the customer is, and whether it is active, is decided here.
            if let Some(r) = relayed_customer(info.as_ref(), &address) {
                log::info!(
                    "from=<{}> rcpt=<{address}> relayed, rejected: {r}",
                    m.envelope_from
                );
                return Err(r);
            }
            if let Some(customer) = info {
                self.msg.kind = MessageKind::Submission(Target {
                    customer,
                    address,
                    proof: Proof::Relayed,
                });
                self.msg.contract_rcpts.push(rcpt.to_string());
            }
            return Ok(());
        }
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
                    self.client.addr.as_deref().unwrap_or("-")
                );
                Err(r)
            }
            RcptDecision::Accept(auth) => {
                if let Some(customer) = info {
                    self.msg.kind = MessageKind::Submission(Target {
                        customer,
                        address,
                        proof: auth.map_or(Proof::Dkim, Proof::SmtpAuth),
                    });
                    self.msg.contract_rcpts.push(rcpt.to_string());
                }
                Ok(())
            }
        }
    }

    /// RCPT of `reply+<token>@` / `bounce+<token>@`: known tokens of that kind only, so forged,
    /// stale or swapped addresses (a reply token at `bounce+`) are refused before the body is
    /// sent.
    async fn answer_rcpt(
        &mut self,
        milter: &Milter,
        rcpt: &str,
        token: String,
        kind: AnswerKind,
        address: String,
    ) -> Result<(), Reply> {
        match &self.msg.kind {
            MessageKind::Ordinary => {}
            MessageKind::Answer(a) if a.token == token && a.kind == kind => {
                self.msg.contract_rcpts.push(rcpt.to_string());
                return Ok(());
            }
            MessageKind::Answer(_) | MessageKind::Submission(_) => {
                return Err(one_per_message(&address))
            }
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
                self.msg.kind = MessageKind::Answer(AnswerTarget {
                    token,
                    kind,
                    address,
                });
                self.msg.contract_rcpts.push(rcpt.to_string());
                Ok(())
            }
            Ok(Response::Token(None)) => {
                log::info!(
                    "from=<{}> rcpt=<{address}> client={} rejected: unknown answer token",
                    self.msg.envelope_from,
                    self.client.addr.as_deref().unwrap_or("-")
                );
                Err(Reply::new(
                    550,
                    "5.1.1",
                    format!("<{address}>: no contract is waiting for an answer at this address"),
                ))
            }
            Ok(other) => {
                log::error!("certd answered a token look-up with {other:?}");
                Err(certd_unavailable())
            }
            Err(e) => {
                log::error!("rcpt=<{address}>: {e}");
                Err(certd_unavailable())
            }
        }
    }
}

/// On the contract relay, the refusals of [`authorize`] that do not depend on the login.
fn relayed_customer(info: Option<&CustomerInfo>, address: &str) -> Option<Reply> {
    match info {
        Some(c) if c.active => None,
        // Unknown or disabled: the same reply as on a direct session (the login is irrelevant).
        _ => match authorize(info, address, None, None) {
            RcptDecision::Reject(r) => Some(r),
            RcptDecision::Accept(_) => None,
        },
    }
}

/// A second contract address in one message: the client retries it in a message of its own.
fn one_per_message(address: &str) -> Reply {
    Reply::new(
        452,
        "4.5.3",
        format!("one contract per message: send to <{address}> in a separate message"),
    )
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
}
