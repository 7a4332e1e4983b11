//! The contract lifecycle as a pure function: `(contract, event, now, policy) -> (new state,
//! keyed effects)`.
//!
//! Like a TLS handshake state machine, it does no I/O: the store writes the new state, the
//! recorded event and the effects (outbox rows) in one transaction, and the dispatcher
//! performs the effects at the edge. Every transition, the illegal ones included, is
//! therefore a unit test away.
//!
//! ```text
//!             start                reply: accept
//!  received ────────▶ requested ─────────────────▶ accepted
//!                      │  ▲  │    reply: reject
//!       reply: unclear │  │  ├──────────────────▶ rejected
//!   (clarification)    └──┘  │  every email destination bounced, no phone
//!                            ├──────────────────▶ not_delivered (NOEX)
//!                            │  deadline
//!                            └──────────────────▶ unanswered (NORESP)
//! ```
//!
//! Email and SMS legs run side by side: every destination gets its request at the start, the
//! first clear answer on either channel decides, and later ones are recorded as ignored.
//! Every final state emits [`Effect::IssueCertificate`]: the seam where the certificate
//! is built, signed and sent.

use crate::evidence::Instant;
pub use crate::evidence::{ClarificationReason, Decision, Standing, State};

/// The customer's rules the lifecycle applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Clarification requests per destination and contract; past it, answers are recorded
    /// and nothing is sent (no mail loop with a program that answers every mail).
    pub max_clarifications: u32,
    /// How long the counterparty has to answer, from the start.
    pub deadline_secs: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_clarifications: 3,
            deadline_secs: 14 * 24 * 3600,
        }
    }
}

/// What the lifecycle needs to know about a contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contract {
    pub id: String,
    pub state: State,
    /// Email destinations.
    pub emails: Vec<String>,
    /// Phone destinations (E.164).
    pub phones: Vec<String>,
    /// Destinations whose request could not be delivered (DSN, SMTP 5xx, SMS report).
    pub bounced: Vec<String>,
    /// Set once requested.
    pub deadline_at: Option<Instant>,
    /// Clarification requests already sent, per destination (email or phone).
    pub clarifications: Vec<(String, u32)>,
}

impl Contract {
    fn clarifications_to(&self, destination: &str) -> u32 {
        self.clarifications
            .iter()
            .filter(|(d, _)| d.eq_ignore_ascii_case(destination))
            .map(|(_, n)| *n)
            .sum()
    }
}

/// Something that happened to a contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Right after the commit: send the requests and start the clock.
    Start,
    /// An answer arrived for destination `from`, by email or by SMS; only a decisive one
    /// can decide.
    Reply {
        from: String,
        decision: Decision,
        standing: Standing,
    },
    /// A request to `destination` could not be delivered.
    Bounce { destination: String },
    /// The clock may have run out.
    Deadline,
}

/// A side effect, performed through the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    SendRequest {
        to: String,
    },
    SendClarification {
        to: String,
        reason: ClarificationReason,
    },
    SendSmsRequest {
        to: String,
    },
    SendSmsClarification {
        to: String,
    },
    /// Tells a phone that answered what was recorded: SMS has no sent-folder to look in.
    SendSmsConfirmation {
        to: String,
    },
    IssueCertificate {
        outcome: State,
    },
}

/// Why an event cannot apply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Illegal {
    #[error("the contract is already {0}: one outcome only")]
    Final(&'static str),
    #[error("{event} is not possible while the contract is {state}")]
    NotNow {
        event: &'static str,
        state: &'static str,
    },
    #[error("{0} is not a destination of this contract")]
    UnknownDestination(String),
    #[error("the deadline has not passed yet")]
    TooEarly,
}

/// An effect with its idempotency key: the outbox stores it once, whatever retries happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyed {
    pub key: String,
    pub effect: Effect,
}

/// What an event does to a contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub state: State,
    /// Set when the event started the clock.
    pub deadline_at: Option<Instant>,
    pub effects: Vec<Keyed>,
}

/// The transition function: the event at `now` under the customer's `policy`.
pub fn step(c: &Contract, event: &Event, now: Instant, policy: &Policy) -> Result<Step, Illegal> {
    let (state, effects) = transition(c, event, now, policy)?;
    let deadline_at = matches!(event, Event::Start).then(|| now.plus_secs(policy.deadline_secs));
    let effects = effects
        .into_iter()
        .map(|effect| Keyed {
            key: key(c, &effect),
            effect,
        })
        .collect();
    Ok(Step {
        state,
        deadline_at,
        effects,
    })
}

/// Idempotency keys (also the Message-ID of mails): one request per destination, one
/// certificate per contract, the n-th clarification per destination. The `n` form cannot
/// meet the keys of releases that numbered clarifications by answer row (`…:17`, `…:sms3`).
fn key(c: &Contract, effect: &Effect) -> String {
    let id = &c.id;
    match effect {
        Effect::SendRequest { to } => format!("request:{id}:{to}"),
        Effect::SendClarification { to, .. } => {
            format!("clarification:{id}:{to}:n{}", c.clarifications_to(to) + 1)
        }
        Effect::SendSmsRequest { to } => format!("sms-request:{id}:{to}"),
        Effect::SendSmsClarification { to } => {
            format!(
                "sms-clarification:{id}:{to}:n{}",
                c.clarifications_to(to) + 1
            )
        }
        Effect::SendSmsConfirmation { to } => format!("sms-confirmation:{id}:{to}"),
        Effect::IssueCertificate { .. } => format!("certificate:{id}"),
    }
}

fn transition(
    c: &Contract,
    event: &Event,
    now: Instant,
    policy: &Policy,
) -> Result<(State, Vec<Effect>), Illegal> {
    if c.state.is_final() {
        return Err(Illegal::Final(c.state.as_str()));
    }
    let not_now = |event| Illegal::NotNow {
        event,
        state: c.state.as_str(),
    };
    match (c.state, event) {
        (State::Received, Event::Start) => Ok((
            State::Requested,
            c.emails
                .iter()
                .map(|to| Effect::SendRequest { to: to.clone() })
                .chain(
                    c.phones
                        .iter()
                        .map(|to| Effect::SendSmsRequest { to: to.clone() }),
                )
                .collect(),
        )),
        (State::Received, Event::Reply { .. }) => Err(not_now("a reply")),
        (State::Received, Event::Bounce { .. }) => Err(not_now("a bounce")),
        (State::Received, Event::Deadline) => Err(not_now("the deadline")),
        (State::Requested, Event::Start) => Err(not_now("start")),
        (
            State::Requested,
            Event::Reply {
                from,
                decision,
                standing,
            },
        ) => {
            let by_sms = c.phones.iter().any(|p| p == from);
            if !by_sms && !c.emails.iter().any(|e| e.eq_ignore_ascii_case(from)) {
                return Err(Illegal::UnknownDestination(from.clone()));
            }
            // Only the destination decides; anything else is recorded and, within the
            // policy's bound, the destination (never the other sender) is told how to answer.
            let reason = match (standing, decision) {
                // RFC 3834 section 2: an automatic message is never answered.
                (Standing::Automatic, _) => return Ok((State::Requested, Vec::new())),
                (Standing::Foreign, _) => ClarificationReason::Foreign,
                (Standing::Unauthenticated, _) => ClarificationReason::Unauthenticated,
                (Standing::Decisive, Decision::Unclear) => ClarificationReason::Unclear,
                (Standing::Decisive, Decision::Accept | Decision::Reject) => {
                    return Ok(decide(from, *decision == Decision::Accept, by_sms))
                }
            };
            if c.clarifications_to(from) >= policy.max_clarifications {
                return Ok((State::Requested, Vec::new()));
            }
            let to = from.clone();
            let effect = if by_sms {
                Effect::SendSmsClarification { to }
            } else {
                Effect::SendClarification { to, reason }
            };
            Ok((State::Requested, vec![effect]))
        }
        (State::Requested, Event::Bounce { destination }) => {
            let is = |a: &String| a.eq_ignore_ascii_case(destination);
            if !c.emails.iter().chain(&c.phones).any(is) {
                return Err(Illegal::UnknownDestination(destination.clone()));
            }
            let all_failed = c
                .emails
                .iter()
                .chain(&c.phones)
                .all(|d| is(d) || c.bounced.iter().any(|b| b.eq_ignore_ascii_case(d)));
            if all_failed {
                Ok(finish(State::NotDelivered))
            } else {
                Ok((State::Requested, Vec::new()))
            }
        }
        (State::Requested, Event::Deadline) => match c.deadline_at {
            Some(at) if now >= at => Ok(finish(State::Unanswered)),
            _ => Err(Illegal::TooEarly),
        },
        (s, _) => Err(Illegal::Final(s.as_str())),
    }
}

/// A decisive accept or reject: the outcome, and for a phone the confirmation SMS (it has no
/// sent folder to look in).
fn decide(from: &str, accept: bool, by_sms: bool) -> (State, Vec<Effect>) {
    let (state, mut effects) = finish(if accept {
        State::Accepted
    } else {
        State::Rejected
    });
    if by_sms {
        effects.insert(
            0,
            Effect::SendSmsConfirmation {
                to: from.to_string(),
            },
        );
    }
    (state, effects)
}

fn finish(outcome: State) -> (State, Vec<Effect>) {
    (outcome, vec![Effect::IssueCertificate { outcome }])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(c: &Contract, e: &Event) -> Result<(State, Vec<Effect>), Illegal> {
        step_at(c, e, Instant::from_unix_secs(5000))
    }

    fn step_at(c: &Contract, e: &Event, now: Instant) -> Result<(State, Vec<Effect>), Illegal> {
        super::step(c, e, now, &Policy::default())
            .map(|s| (s.state, s.effects.into_iter().map(|k| k.effect).collect()))
    }

    fn contract(state: State) -> Contract {
        Contract {
            id: "c1".into(),
            state,
            emails: vec!["bob@example.test".into(), "carol@example.test".into()],
            phones: vec![],
            bounced: vec![],
            deadline_at: Some(Instant::from_unix_secs(1000)),
            clarifications: vec![],
        }
    }

    fn reply(decision: Decision) -> Event {
        Event::Reply {
            from: "bob@example.test".into(),
            decision,
            standing: Standing::Decisive,
        }
    }

    #[test]
    fn start_requests_every_email_destination() {
        let (s, fx) = step(&contract(State::Received), &Event::Start).unwrap();
        assert_eq!(s, State::Requested);
        assert_eq!(
            fx,
            vec![
                Effect::SendRequest {
                    to: "bob@example.test".into()
                },
                Effect::SendRequest {
                    to: "carol@example.test".into()
                }
            ]
        );
    }

    #[test]
    fn answers() {
        let c = contract(State::Requested);
        assert_eq!(
            step(&c, &reply(Decision::Accept)).unwrap(),
            (
                State::Accepted,
                vec![Effect::IssueCertificate {
                    outcome: State::Accepted
                }]
            )
        );
        assert_eq!(
            step(&c, &reply(Decision::Reject)).unwrap().0,
            State::Rejected
        );
        assert_eq!(
            step(&c, &reply(Decision::Unclear)).unwrap(),
            (
                State::Requested,
                vec![Effect::SendClarification {
                    to: "bob@example.test".into(),
                    reason: ClarificationReason::Unclear,
                }]
            )
        );
    }

    fn with_phone(state: State) -> Contract {
        let mut c = contract(state);
        c.phones.push("+34600111222".into());
        c
    }

    #[test]
    fn start_requests_every_phone_too() {
        let (_, fx) = step(&with_phone(State::Received), &Event::Start).unwrap();
        assert_eq!(fx.len(), 3);
        assert_eq!(
            fx[2],
            Effect::SendSmsRequest {
                to: "+34600111222".into()
            }
        );
        let mut sms_only = with_phone(State::Received);
        sms_only.emails.clear();
        assert_eq!(
            step(&sms_only, &Event::Start).unwrap().1,
            vec![Effect::SendSmsRequest {
                to: "+34600111222".into()
            }]
        );
    }

    #[test]
    fn sms_answers_decide_like_email_answers() {
        let c = with_phone(State::Requested);
        let sms = |decision| Event::Reply {
            from: "+34600111222".into(),
            decision,
            standing: Standing::Decisive,
        };
        assert_eq!(
            step(&c, &sms(Decision::Accept)).unwrap(),
            (
                State::Accepted,
                vec![
                    Effect::SendSmsConfirmation {
                        to: "+34600111222".into()
                    },
                    Effect::IssueCertificate {
                        outcome: State::Accepted
                    }
                ]
            )
        );
        assert_eq!(step(&c, &sms(Decision::Reject)).unwrap().0, State::Rejected);
        assert_eq!(
            step(&c, &sms(Decision::Unclear)).unwrap(),
            (
                State::Requested,
                vec![Effect::SendSmsClarification {
                    to: "+34600111222".into()
                }]
            )
        );
        // The first clear answer decides: a later one on the other channel cannot apply.
        let mut done = c.clone();
        done.state = step(&c, &sms(Decision::Accept)).unwrap().0;
        assert_eq!(
            step(&done, &reply(Decision::Reject)),
            Err(Illegal::Final("accepted"))
        );
        assert_eq!(
            step(
                &c,
                &Event::Reply {
                    from: "+34999999999".into(),
                    decision: Decision::Accept,
                    standing: Standing::Decisive,
                }
            ),
            Err(Illegal::UnknownDestination("+34999999999".into()))
        );
    }

    #[test]
    fn noex_needs_every_destination_failed() {
        let mut c = with_phone(State::Requested);
        c.bounced = vec!["bob@example.test".into(), "carol@example.test".into()];
        let phone_failed = Event::Bounce {
            destination: "+34600111222".into(),
        };
        assert_eq!(step(&c, &phone_failed).unwrap().0, State::NotDelivered);
        c.bounced.pop();
        assert_eq!(
            step(&c, &phone_failed).unwrap(),
            (State::Requested, vec![]),
            "carol may still answer"
        );
    }

    #[test]
    fn noex_only_when_every_email_bounced_and_no_phone() {
        let mut c = contract(State::Requested);
        let bounce = |d: &str| Event::Bounce {
            destination: d.into(),
        };
        assert_eq!(
            step(&c, &bounce("bob@example.test")).unwrap(),
            (State::Requested, vec![])
        );
        c.bounced.push("bob@example.test".into());
        assert_eq!(
            step(&c, &bounce("CAROL@example.test")).unwrap().0,
            State::NotDelivered
        );
        c.phones.push("+34600111222".into());
        assert_eq!(
            step(&c, &bounce("carol@example.test")).unwrap().0,
            State::Requested,
            "the SMS leg may still be answered"
        );
        assert_eq!(
            step(&c, &bounce("mallory@example.test")),
            Err(Illegal::UnknownDestination("mallory@example.test".into()))
        );
    }

    fn answer(decision: Decision, standing: Standing) -> Event {
        Event::Reply {
            from: "bob@example.test".into(),
            decision,
            standing,
        }
    }

    #[test]
    fn only_the_destination_decides() {
        let c = contract(State::Requested);
        for (standing, reason) in [
            (Standing::Foreign, ClarificationReason::Foreign),
            (
                Standing::Unauthenticated,
                ClarificationReason::Unauthenticated,
            ),
        ] {
            for decision in [Decision::Accept, Decision::Reject, Decision::Unclear] {
                assert_eq!(
                    step(&c, &answer(decision, standing)).unwrap(),
                    (
                        State::Requested,
                        vec![Effect::SendClarification {
                            to: "bob@example.test".into(),
                            reason
                        }]
                    ),
                    "{standing:?} {decision:?}"
                );
            }
        }
    }

    #[test]
    fn automatic_answers_are_never_answered() {
        let c = contract(State::Requested);
        for decision in [Decision::Accept, Decision::Reject, Decision::Unclear] {
            assert_eq!(
                step(&c, &answer(decision, Standing::Automatic)).unwrap(),
                (State::Requested, vec![])
            );
        }
    }

    #[test]
    fn clarifications_are_bounded_per_destination() {
        let mut c = with_phone(State::Requested);
        c.clarifications = vec![("BOB@example.test".into(), 3), ("+34600111222".into(), 3)];
        for standing in [Standing::Decisive, Standing::Foreign] {
            assert_eq!(
                step(&c, &answer(Decision::Unclear, standing)).unwrap(),
                (State::Requested, vec![])
            );
        }
        let sms = Event::Reply {
            from: "+34600111222".into(),
            decision: Decision::Unclear,
            standing: Standing::Decisive,
        };
        assert_eq!(step(&c, &sms).unwrap(), (State::Requested, vec![]));
        // carol has had none: she still gets one.
        let carol = Event::Reply {
            from: "carol@example.test".into(),
            decision: Decision::Unclear,
            standing: Standing::Decisive,
        };
        assert_eq!(step(&c, &carol).unwrap().1.len(), 1);
        // A clear answer still decides after the bound.
        assert_eq!(
            step(&c, &answer(Decision::Accept, Standing::Decisive))
                .unwrap()
                .0,
            State::Accepted
        );
    }

    #[test]
    fn start_sets_the_deadline_from_the_policy_and_effects_come_keyed() {
        let now = Instant::from_unix_secs(7000);
        let policy = Policy {
            max_clarifications: 3,
            deadline_secs: 600,
        };
        let s = super::step(&contract(State::Received), &Event::Start, now, &policy).unwrap();
        assert_eq!(s.deadline_at, Some(Instant::from_unix_secs(7600)));
        let keys: Vec<&str> = s.effects.iter().map(|k| k.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "request:c1:bob@example.test",
                "request:c1:carol@example.test"
            ]
        );
        // The k-th clarification to a destination has its own key; others start at 1.
        let mut c = contract(State::Requested);
        c.clarifications = vec![("BOB@example.test".into(), 2)];
        let s = super::step(&c, &reply(Decision::Unclear), now, &policy).unwrap();
        assert_eq!(s.deadline_at, None);
        assert_eq!(s.effects[0].key, "clarification:c1:bob@example.test:n3");
        let s = super::step(&c, &reply(Decision::Accept), now, &policy).unwrap();
        assert_eq!(s.effects[0].key, "certificate:c1");
    }

    #[test]
    fn noresp_only_after_the_deadline() {
        let c = contract(State::Requested);
        assert_eq!(
            step_at(&c, &Event::Deadline, Instant::from_unix_secs(999)),
            Err(Illegal::TooEarly)
        );
        assert_eq!(
            step_at(&c, &Event::Deadline, Instant::from_unix_secs(1000))
                .unwrap()
                .0,
            State::Unanswered
        );
    }

    #[test]
    fn illegal_transitions() {
        let start = Event::Start;
        let r = contract(State::Received);
        assert!(matches!(
            step(&r, &reply(Decision::Accept)),
            Err(Illegal::NotNow { .. })
        ));
        assert!(matches!(
            step(
                &r,
                &Event::Bounce {
                    destination: "bob@example.test".into()
                }
            ),
            Err(Illegal::NotNow { .. })
        ));
        assert!(matches!(
            step(&r, &Event::Deadline),
            Err(Illegal::NotNow { .. })
        ));
        assert!(matches!(
            step(&contract(State::Requested), &start),
            Err(Illegal::NotNow { .. })
        ));
        for s in [
            State::Accepted,
            State::Rejected,
            State::NotDelivered,
            State::Unanswered,
        ] {
            for e in [
                start.clone(),
                reply(Decision::Accept),
                reply(Decision::Reject),
                Event::Deadline,
                Event::Bounce {
                    destination: "bob@example.test".into(),
                },
            ] {
                assert_eq!(
                    step(&contract(s), &e),
                    Err(Illegal::Final(s.as_str())),
                    "{s:?} {e:?}"
                );
            }
        }
    }

    #[test]
    fn state_names_round_trip() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
        assert_eq!(State::parse("nope"), None);
    }
}
