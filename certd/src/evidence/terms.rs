//! The words of the evidence: where a contract is, what an answer says and who may give it,
//! and the kinds of side effects; shared by the store, the lifecycle and every reader.

use serde::{Deserialize, Serialize};

/// Where a contract is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Stored; the request has not been sent yet.
    Received,
    /// Request sent, waiting for an answer.
    Requested,
    Accepted,
    Rejected,
    /// NOEX: the request could not be delivered to any destination.
    NotDelivered,
    /// NORESP: no answer before the deadline.
    Unanswered,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Received => "received",
            State::Requested => "requested",
            State::Accepted => "accepted",
            State::Rejected => "rejected",
            State::NotDelivered => "not_delivered",
            State::Unanswered => "unanswered",
        }
    }

    /// Every state, in lifecycle order.
    pub const ALL: [State; 6] = [
        State::Received,
        State::Requested,
        State::Accepted,
        State::Rejected,
        State::NotDelivered,
        State::Unanswered,
    ];

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// A final state has exactly one outcome and accepts no further transition.
    pub fn is_final(self) -> bool {
        !matches!(self, State::Received | State::Requested)
    }
}

/// A state compares with its name, as stored and printed.
impl PartialEq<&str> for State {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for State {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a counterparty's answer says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Accept,
    Reject,
    Unclear,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Accept => "accept",
            Decision::Reject => "reject",
            Decision::Unclear => "unclear",
        }
    }
}

/// Whether an answer came from someone who may decide (docs/lifecycle.md, "Who decides").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// From the destination's own mailbox (or its number and code), not disowned by its
    /// domain: the answer decides.
    Decisive,
    /// From another mailbox than the destination's.
    Foreign,
    /// From the destination's address, but its domain's published policy disowns it.
    Unauthenticated,
    /// Written by a program (RFC 3834: auto-replies, vacation notices, list mail).
    Automatic,
}

/// Why the destination is asked to answer once more.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClarificationReason {
    /// Its answer said neither yes nor no.
    #[default]
    Unclear,
    /// An answer arrived from another mailbox.
    Foreign,
    /// An answer with its address arrived that its own domain disowns.
    Unauthenticated,
}

/// The kinds of side effect the outbox performs; `<kind>_sent` / `<kind>_failed` name the
/// events that record them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Receipt,
    Request,
    Clarification,
    Certificate,
    CertificateCopy,
    SmsRequest,
    SmsClarification,
    SmsConfirmation,
}

impl JobKind {
    pub const ALL: [JobKind; 8] = [
        JobKind::Receipt,
        JobKind::Request,
        JobKind::Clarification,
        JobKind::Certificate,
        JobKind::CertificateCopy,
        JobKind::SmsRequest,
        JobKind::SmsClarification,
        JobKind::SmsConfirmation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Receipt => "receipt",
            JobKind::Request => "request",
            JobKind::Clarification => "clarification",
            JobKind::Certificate => "certificate",
            JobKind::CertificateCopy => "certificate_copy",
            JobKind::SmsRequest => "sms_request",
            JobKind::SmsClarification => "sms_clarification",
            JobKind::SmsConfirmation => "sms_confirmation",
        }
    }

    pub fn parse(s: &str) -> Option<JobKind> {
        JobKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn is_sms(self) -> bool {
        matches!(
            self,
            JobKind::SmsRequest | JobKind::SmsClarification | JobKind::SmsConfirmation
        )
    }
}
