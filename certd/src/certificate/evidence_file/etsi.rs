//! Which ETSI EN 319 522 event each stored certmail event is, or why it is none.
//!
//! One exhaustive `match` over the typed event data (and the state it led to), with no
//! catch-all arm: a new event kind or job kind does not compile until it is mapped here.

use crate::evidence::event::{BounceReport, EventData};
use crate::evidence::{JobKind, State};

/// The ETSI EN 319 522-1 events (clause 6, "Events and evidence") that certmail can state.
///
/// Only the events certmail observes are listed: `SubmissionRejection` (a refused submission
/// is an SMTP reply, never a contract), `ContentConsignment` (certmail asks for failure reports
/// only, so it never learns that a mail reached the mailbox) and the ERDS-to-ERDS relay and
/// handover events have no record to attach to (docs/evidence.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErdsEvent {
    /// The customer's submission was accepted and stored (`submitted`).
    SubmissionAcceptance,
    /// The request, carrying the contract, was handed to the mail system for the
    /// destination's ordinary mailbox (`request_sent`).
    RelayToNonErds,
    /// The request could not be handed over at all (`request_failed`, an SMTP 5xx).
    RelayToNonErdsFailure,
    /// The destination was asked to accept or reject: a clarification mail, the SMS request
    /// or SMS clarification.
    NotificationForAcceptance,
    /// That notification failed (`*_failed`, an SMS gateway refusal or failure report).
    NotificationForAcceptanceFailure,
    /// The destination's mail system reported the request undelivered (a decisive DSN).
    ContentConsignmentFailure,
    /// The destination accepted (a decisive `reply` that made the contract `accepted`).
    ConsignmentAcceptance,
    /// The destination rejected (a decisive `reply` that made the contract `rejected`).
    ConsignmentRejection,
    /// The deadline passed without an answer (`deadline` -> `unanswered`).
    AcceptanceRejectionExpiry,
}

impl ErdsEvent {
    pub const ALL: [ErdsEvent; 9] = [
        ErdsEvent::SubmissionAcceptance,
        ErdsEvent::RelayToNonErds,
        ErdsEvent::RelayToNonErdsFailure,
        ErdsEvent::NotificationForAcceptance,
        ErdsEvent::NotificationForAcceptanceFailure,
        ErdsEvent::ContentConsignmentFailure,
        ErdsEvent::ConsignmentAcceptance,
        ErdsEvent::ConsignmentRejection,
        ErdsEvent::AcceptanceRejectionExpiry,
    ];

    /// The event's name as ETSI EN 319 522 spells it.
    pub fn name(self) -> &'static str {
        match self {
            ErdsEvent::SubmissionAcceptance => "SubmissionAcceptance",
            ErdsEvent::RelayToNonErds => "RelayToNonERDS",
            ErdsEvent::RelayToNonErdsFailure => "RelayToNonERDSFailure",
            ErdsEvent::NotificationForAcceptance => "NotificationForAcceptance",
            ErdsEvent::NotificationForAcceptanceFailure => "NotificationForAcceptanceFailure",
            ErdsEvent::ContentConsignmentFailure => "ContentConsignmentFailure",
            ErdsEvent::ConsignmentAcceptance => "ConsignmentAcceptance",
            ErdsEvent::ConsignmentRejection => "ConsignmentRejection",
            ErdsEvent::AcceptanceRejectionExpiry => "AcceptanceRejectionExpiry",
        }
    }

    /// The event URI (`ERDSEventId`).
    pub fn uri(self) -> String {
        format!("http://uri.etsi.org/19522/Event/{}", self.name())
    }
}

/// Why a stored event is no ETSI EN 319 522 event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoEvent {
    /// `requested`: the clock started in the submission's transaction.
    ClockStarted,
    /// `*_ignored`: could not apply (late, or the deadline not yet passed); recorded only.
    Ignored,
    /// `reply_noted`: an answer that may not decide (another mailbox, disowned, automatic).
    MayNotDecide,
    /// A decisive `reply` that said neither yes nor no.
    Undecided,
    /// `bounce_noted`: a report that does not prove the request undelivered.
    NotProof,
    /// Recorded without a transition (older releases, or an impossible state).
    NotApplied,
    /// Mail about the contract to its parties (receipt, certificate, copies) or the SMS
    /// confirmation.
    ToParties,
    /// `sms_dlr`: the SMS gateway's report on an SMS.
    GatewayReport,
    /// `certificate_issued`, `certificate_resend`, `certificate_renewed`: about this evidence
    /// itself.
    Certificate,
    /// A kind written by a newer release.
    UnknownKind,
}

impl NoEvent {
    pub fn reason(self) -> &'static str {
        match self {
            NoEvent::ClockStarted => {
                "the answer period started; the requests themselves are the request_sent and \
                 sms_request_sent records"
            }
            NoEvent::Ignored => {
                "could not apply to the contract (its ignored field says why, e.g. it arrived \
                 after the outcome): recorded as evidence, changed nothing"
            }
            NoEvent::MayNotDecide => {
                "an answer that may not decide (from another mailbox, disowned by its domain, or \
                 automatic): recorded, never the counterparty's decision"
            }
            NoEvent::Undecided => {
                "an answer that said neither yes nor no: the destination was asked again"
            }
            NoEvent::NotProof => {
                "a delivery report that does not prove the request undelivered: recorded only"
            }
            NoEvent::NotApplied => "recorded without a change of the contract's state",
            NoEvent::ToParties => {
                "a message about the contract to its parties (receipt, certificate, certificate \
                 copy, or the SMS confirming a recorded answer)"
            }
            NoEvent::GatewayReport => {
                "the SMS gateway's delivery report; a failure that counts is its own bounce record"
            }
            NoEvent::Certificate => "a record about this certificate itself",
            NoEvent::UnknownKind => "an event kind this release does not know",
        }
    }
}

/// The 319 522 event of a stored event, or why there is none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mapping {
    Event(ErdsEvent),
    None(NoEvent),
}

/// What a sent job states: the request carries the contract; clarifications and SMS ask for
/// an answer; the rest goes to the customer or confirms.
fn sent(job: JobKind) -> Mapping {
    match job {
        JobKind::Request => Mapping::Event(ErdsEvent::RelayToNonErds),
        JobKind::Clarification | JobKind::SmsRequest | JobKind::SmsClarification => {
            Mapping::Event(ErdsEvent::NotificationForAcceptance)
        }
        JobKind::Receipt
        | JobKind::Certificate
        | JobKind::CertificateCopy
        | JobKind::SmsConfirmation => Mapping::None(NoEvent::ToParties),
    }
}

fn failed(job: JobKind) -> Mapping {
    match job {
        JobKind::Request => Mapping::Event(ErdsEvent::RelayToNonErdsFailure),
        JobKind::Clarification | JobKind::SmsRequest | JobKind::SmsClarification => {
            Mapping::Event(ErdsEvent::NotificationForAcceptanceFailure)
        }
        JobKind::Receipt
        | JobKind::Certificate
        | JobKind::CertificateCopy
        | JobKind::SmsConfirmation => Mapping::None(NoEvent::ToParties),
    }
}

/// The 319 522 event that `data` records; its `applied` state is the state it led to.
pub fn mapping(data: &EventData) -> Mapping {
    let ignored = |why: &Option<String>| why.is_some();
    match data {
        EventData::Submitted(_) => Mapping::Event(ErdsEvent::SubmissionAcceptance),
        EventData::Requested(r) if ignored(&r.applied.ignored) => Mapping::None(NoEvent::Ignored),
        EventData::Requested(_) => Mapping::None(NoEvent::ClockStarted),
        EventData::Reply(r) if ignored(&r.applied.ignored) => Mapping::None(NoEvent::Ignored),
        EventData::Reply(r) => match r.applied.state {
            Some(State::Accepted) => Mapping::Event(ErdsEvent::ConsignmentAcceptance),
            Some(State::Rejected) => Mapping::Event(ErdsEvent::ConsignmentRejection),
            // A decisive yes or no always ends the contract: staying open means unclear.
            Some(State::Requested) => Mapping::None(NoEvent::Undecided),
            Some(State::Received | State::NotDelivered | State::Unanswered) | None => {
                Mapping::None(NoEvent::NotApplied)
            }
        },
        EventData::ReplyNoted(r) if ignored(&r.applied.ignored) => Mapping::None(NoEvent::Ignored),
        EventData::ReplyNoted(_) => Mapping::None(NoEvent::MayNotDecide),
        EventData::Bounce(b) if ignored(&b.applied.ignored) => Mapping::None(NoEvent::Ignored),
        // A decisive report ends that destination's leg, whatever the contract's state.
        EventData::Bounce(b) => match (&b.report, b.applied.state) {
            (_, None) => Mapping::None(NoEvent::NotApplied),
            (BounceReport::Dsn(_), Some(_)) => Mapping::Event(ErdsEvent::ContentConsignmentFailure),
            (BounceReport::Smtp(_), Some(_)) => Mapping::Event(ErdsEvent::RelayToNonErdsFailure),
            (BounceReport::SmsGateway(_) | BounceReport::SmsDlr(_), Some(_)) => {
                Mapping::Event(ErdsEvent::NotificationForAcceptanceFailure)
            }
        },
        EventData::BounceNoted(b) if ignored(&b.applied.ignored) => Mapping::None(NoEvent::Ignored),
        EventData::BounceNoted(_) => Mapping::None(NoEvent::NotProof),
        EventData::Deadline(d) if ignored(&d.applied.ignored) => Mapping::None(NoEvent::Ignored),
        EventData::Deadline(d) => match d.applied.state {
            Some(State::Unanswered) => Mapping::Event(ErdsEvent::AcceptanceRejectionExpiry),
            Some(
                State::Received
                | State::Requested
                | State::Accepted
                | State::Rejected
                | State::NotDelivered,
            )
            | None => Mapping::None(NoEvent::NotApplied),
        },
        EventData::MailSent(job, _) | EventData::SmsSent(job, _) => sent(*job),
        EventData::Failed(job, _) => failed(*job),
        EventData::SmsDlr(_) => Mapping::None(NoEvent::GatewayReport),
        EventData::CertificateIssued(_)
        | EventData::CertificateResend(_)
        | EventData::CertificateRenewed(_) => Mapping::None(NoEvent::Certificate),
        EventData::Other { .. } => Mapping::None(NoEvent::UnknownKind),
    }
}
