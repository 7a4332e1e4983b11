//! The SMS leg in the store: contract codes, outbound references, delivery reports and
//! answers by SMS. Every report and every inbound SMS is stored once, matched or not.

use super::sql::{params, OptionalExtension, Tx};
use super::Store;
use crate::error::Error;
use crate::evidence::{Decision, Instant, JobKind};

/// The code of phone destination `address` of contract `id`, created on first use. Codes are
/// unique per phone number, so that (number, code) names one contract.
/// `fresh` draws a new code (the store draws nothing itself).
pub(crate) fn ensure_code(
    tx: &Tx<'_>,
    id: &str,
    address: &str,
    fresh: &mut dyn FnMut() -> String,
) -> Result<String, Error> {
    let existing: Option<String> = tx
        .query_row(
            "SELECT sms_code FROM destinations WHERE contract_id = ?1 AND address = ?2 AND kind = 'phone'",
            params![id, address],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    if let Some(code) = existing {
        return Ok(code);
    }
    // A collision among one number's contracts is rare (26^6 codes); try a few.
    for _ in 0..16 {
        let code = fresh();
        let taken: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM destinations WHERE address = ?1 AND sms_code = ?2)",
            params![address, code],
            |r| r.get(0),
        )?;
        if !taken {
            tx.execute(
                "UPDATE destinations SET sms_code = ?1 WHERE contract_id = ?2 AND address = ?3 AND kind = 'phone'",
                params![code, id, address],
            )?;
            return Ok(code);
        }
    }
    Err(Error::Database(format!(
        "no free SMS code for {address} after 16 tries"
    )))
}

/// What an SMS about a contract needs to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsContext {
    pub code: String,
    pub serial: u64,
    pub language: String,
    /// The customer as the counterparty knows them.
    pub customer: String,
    pub subject: String,
    /// The contract's email destinations (where the full text went).
    pub emails: Vec<String>,
    pub deadline_at: Option<Instant>,
}

/// A delivery report as the gateway sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DlrReport {
    pub reference: String,
    /// Kannel's DLR type: 1 delivered, 2 undelivered, 4 buffered, 8 SMSC ack, 16 SMSC reject.
    pub status: i64,
    pub smsc_id: String,
    pub gateway_time: Option<i64>,
    pub answer: Option<String>,
}

/// What became of a delivery report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DlrOutcome {
    Recorded {
        contract_id: String,
        failed: bool,
    },
    /// The gateway repeated a report already stored.
    Duplicate,
    /// No SMS of ours carries this reference.
    UnknownReference,
}

/// An SMS received by the gateway (mobile originated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoReport {
    /// The sender exactly as the gateway gave it.
    pub sender: String,
    pub receiver: Option<String>,
    pub text: String,
    pub gateway_id: Option<String>,
    pub gateway_time: Option<String>,
}

/// What became of an inbound SMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoOutcome {
    /// Matched to a contract by number and code; `applied` is false when the contract had
    /// already decided (recorded as `reply_ignored`).
    Matched {
        contract_id: String,
        serial: u64,
        decision: Decision,
        applied: bool,
    },
    Duplicate,
    /// Recorded, matched to nothing: `unknown_sender`, `no_code` or `wrong_code`.
    Unmatched(&'static str),
}

/// A human name for a DLR type.
pub fn dlr_status_name(status: i64) -> &'static str {
    match status {
        1 => "delivered",
        2 => "undelivered",
        4 => "buffered",
        8 => "accepted by SMSC",
        16 => "rejected by SMSC",
        _ => "unknown",
    }
}

impl Store {
    /// Everything an SMS about contract `id` to `to` needs, or `None` if `to` is not one of
    /// its phone destinations.
    pub fn sms_context(&self, id: &str, to: &str) -> Result<Option<SmsContext>, Error> {
        let row = self
            .conn()
            .query_row(
                "SELECT d.sms_code, c.serial, cu.language, cu.display_name, cu.email, c.subject_text, c.deadline_at
                 FROM destinations d JOIN contracts c ON c.id = d.contract_id
                 JOIN customers cu ON cu.id = c.customer_id
                 WHERE d.contract_id = ?1 AND d.address = ?2 AND d.kind = 'phone'",
                params![id, to],
                |r| {
                    Ok((
                        r.get::<_, Option<String>>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, Option<i64>>(6)?,
                    ))
                },
            )
            .optional()?;
        let Some((Some(code), serial, language, display, email, subject, deadline_at)) = row else {
            return Ok(None);
        };
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT address FROM destinations WHERE contract_id = ?1 AND kind = 'email' ORDER BY position",
        )?;
        let emails = stmt
            .query_map([id], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(SmsContext {
            code,
            serial: serial as u64,
            language,
            customer: match display {
                Some(n) => format!("{n} <{email}>"),
                None => email,
            },
            subject: subject.unwrap_or_default(),
            emails,
            deadline_at: deadline_at.map(Instant::from_unix_secs),
        }))
    }

    /// Notes the reference of an SMS about to be handed to the gateway, before it is sent:
    /// a report may arrive before the send is completed in the outbox.
    pub fn register_sms(
        &mut self,
        reference: &str,
        contract_id: &str,
        destination: &str,
        purpose: JobKind,
        now: Instant,
    ) -> Result<(), Error> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO sms_outbound (reference, contract_id, destination, purpose, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                params![reference, contract_id, destination, purpose.as_str(), now.rfc3339_millis()],
            )?;
            Ok(())
        })
    }
}

/// A delivery report stored for the first time, and the SMS it reports on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredDlr {
    pub contract_id: String,
    pub destination: String,
    pub purpose: JobKind,
}

/// Stores a delivery report once; `Err` says why nothing more is to be done.
pub(crate) fn insert_dlr(
    tx: &Tx<'_>,
    r: &DlrReport,
    now: Instant,
) -> Result<Result<StoredDlr, DlrOutcome>, Error> {
    let sent: Option<(String, String, String)> = tx
        .query_row(
            "SELECT contract_id, destination, purpose FROM sms_outbound WHERE reference = ?1",
            [&r.reference],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()?;
    let Some((contract_id, destination, purpose)) = sent else {
        return Ok(Err(DlrOutcome::UnknownReference));
    };
    let purpose = JobKind::parse(&purpose).ok_or_else(|| {
        Error::Database(format!(
            "sms reference {}: unknown purpose {purpose:?}",
            r.reference
        ))
    })?;
    let inserted = tx.execute(
        "INSERT INTO sms_reports (reference, status, smsc_id, gateway_time, answer, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
        params![
            r.reference,
            r.status,
            r.smsc_id,
            r.gateway_time,
            r.answer,
            now.rfc3339_millis()
        ],
    )?;
    if inserted == 0 {
        return Ok(Err(DlrOutcome::Duplicate));
    }
    Ok(Ok(StoredDlr {
        contract_id,
        destination,
        purpose,
    }))
}

/// What the SMS module read in an inbound SMS, before the store matches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsReading {
    /// Identifies one SMS across the gateway's retries.
    pub dedupe_key: String,
    /// The sender in E.164, when it is a plausible international number.
    pub sender: Option<String>,
    /// Words shaped like a contract code.
    pub codes: Vec<String>,
}

/// An inbound SMS stored for the first time, matched to a contract by its number and code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MatchedSms {
    pub inbound_id: i64,
    pub contract_id: String,
    pub serial: u64,
    pub address: String,
    pub code: String,
}

/// Stores an inbound SMS once and matches it; `Err` when it is a repeat or matches nothing.
pub(crate) fn insert_inbound(
    tx: &Tx<'_>,
    m: &MoReport,
    reading: &SmsReading,
    now: Instant,
) -> Result<Result<MatchedSms, MoOutcome>, Error> {
    let seen: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM sms_inbound WHERE dedupe_key = ?1)",
        [&reading.dedupe_key],
        |r| r.get(0),
    )?;
    if seen {
        return Ok(Err(MoOutcome::Duplicate));
    }
    let known_sender: bool = match &reading.sender {
        Some(s) => tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM destinations WHERE address = ?1 AND kind = 'phone')",
            [s],
            |r| r.get(0),
        )?,
        None => false,
    };
    let mut target: Option<(String, i64, String, String)> = None;
    if let Some(s) = &reading.sender {
        for code in &reading.codes {
            target = tx
                .query_row(
                    "SELECT d.contract_id, c.serial, d.address, d.sms_code FROM destinations d
                     JOIN contracts c ON c.id = d.contract_id
                     WHERE d.address = ?1 AND d.sms_code = ?2 AND d.kind = 'phone'",
                    params![s, code],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            if target.is_some() {
                break;
            }
        }
    }
    let outcome = match (&target, known_sender, reading.codes.is_empty()) {
        (Some(_), _, _) => "matched",
        (None, false, _) => "unknown_sender",
        (None, true, true) => "no_code",
        (None, true, false) => "wrong_code",
    };
    let inbound_id: i64 = tx.query_row(
        "INSERT INTO sms_inbound (dedupe_key, received_at, sender, receiver, text, gateway_id,
            gateway_time, contract_id, outcome)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
        params![
            reading.dedupe_key,
            now.rfc3339_millis(),
            m.sender,
            m.receiver,
            m.text,
            m.gateway_id,
            m.gateway_time,
            target.as_ref().map(|t| &t.0),
            outcome
        ],
        |r| r.get(0),
    )?;
    let Some((contract_id, serial, address, code)) = target else {
        return Ok(Err(MoOutcome::Unmatched(outcome)));
    };
    Ok(Ok(MatchedSms {
        inbound_id,
        contract_id,
        serial: serial as u64,
        address,
        code,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests_support::{alice, submission};
    use certmail_protocol::Destination;

    fn store_with_phone_contract() -> (Store, String) {
        let mut s = crate::store::test_store::test_store();
        s.add_customer(&alice(), crate::evidence::Instant::now())
            .unwrap();
        let mut sub = submission("k1");
        sub.destinations = vec![
            Destination::Email("bob@example.test".into()),
            Destination::Phone("+34600111222".into()),
        ];
        let id = match s.submit(&sub).unwrap() {
            crate::store::SubmitOutcome::Committed(c) => c.contract_id,
            other => panic!("{other:?}"),
        };
        (s, id)
    }

    fn mo(sender: &str, text: &str, id: &str) -> MoReport {
        MoReport {
            sender: sender.into(),
            receiver: Some("22123".into()),
            text: text.into(),
            gateway_id: Some(id.into()),
            gateway_time: Some("1795588959".into()),
        }
    }

    fn state(s: &Store, id: &str) -> String {
        s.contract(id).unwrap().unwrap().summary.state.to_string()
    }

    #[test]
    fn start_gives_the_phone_a_code_and_a_request() {
        let (s, id) = store_with_phone_contract();
        let ctx = s.sms_context(&id, "+34600111222").unwrap().unwrap();
        assert_eq!(ctx.code.len(), crate::sms::CODE_LEN);
        assert_eq!(ctx.emails, vec!["bob@example.test".to_string()]);
        assert!(ctx.deadline_at.is_some());
        assert_eq!(s.sms_context(&id, "+34999999999").unwrap(), None);
    }

    #[test]
    fn answers_match_by_number_and_code_only() {
        let (mut s, id) = store_with_phone_contract();
        let code = s.sms_context(&id, "+34600111222").unwrap().unwrap().code;
        let wrong_number = s
            .record_sms_answer(&mo("+34600999999", &format!("YES {code}"), "a"))
            .unwrap();
        assert_eq!(wrong_number, MoOutcome::Unmatched("unknown_sender"));
        let wrong_code = s
            .record_sms_answer(&mo("+34600111222", "YES ACDEF3", "b"))
            .unwrap();
        assert_eq!(wrong_code, MoOutcome::Unmatched("wrong_code"));
        let no_code = s
            .record_sms_answer(&mo("+34600111222", "YES", "c"))
            .unwrap();
        assert_eq!(no_code, MoOutcome::Unmatched("no_code"));
        assert_eq!(state(&s, &id), "requested");
        // Gateways may drop the '+': the number still matches.
        let ok = s
            .record_sms_answer(&mo(
                "34600111222",
                &format!("acepto {}", code.to_lowercase()),
                "d",
            ))
            .unwrap();
        assert!(matches!(
            ok,
            MoOutcome::Matched {
                applied: true,
                decision: Decision::Accept,
                ..
            }
        ));
        assert_eq!(state(&s, &id), "accepted");
        assert_eq!(
            s.record_sms_answer(&mo("34600111222", "whatever", "d"))
                .unwrap(),
            MoOutcome::Duplicate
        );
        // A later answer is recorded but decides nothing.
        let late = s
            .record_sms_answer(&mo("+34600111222", &format!("NO {code}"), "e"))
            .unwrap();
        assert!(matches!(late, MoOutcome::Matched { applied: false, .. }));
        assert_eq!(state(&s, &id), "accepted");
        let kinds: Vec<String> = s.events(&id).unwrap().into_iter().map(|e| e.kind).collect();
        assert!(kinds.contains(&"reply".to_string()), "{kinds:?}");
        assert!(kinds.contains(&"reply_ignored".to_string()), "{kinds:?}");
        let stored: i64 = s
            .conn()
            .query_row("SELECT COUNT(*) FROM sms_inbound", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored, 5, "every inbound SMS is kept, matched or not");
    }

    #[test]
    fn failure_reports_count_as_bounces_and_repeats_are_ignored() {
        let (mut s, id) = store_with_phone_contract();
        s.register_sms(
            "ref1",
            &id,
            "+34600111222",
            JobKind::SmsRequest,
            Instant::now(),
        )
        .unwrap();
        let report = |status| DlrReport {
            reference: "ref1".into(),
            status,
            smsc_id: "x".into(),
            gateway_time: Some(1_795_588_959),
            answer: None,
        };
        assert!(matches!(
            s.record_dlr(&report(8)).unwrap(),
            DlrOutcome::Recorded { failed: false, .. }
        ));
        assert_eq!(s.record_dlr(&report(8)).unwrap(), DlrOutcome::Duplicate);
        assert!(matches!(
            s.record_dlr(&report(2)).unwrap(),
            DlrOutcome::Recorded { failed: true, .. }
        ));
        // bob's email is still pending: not NOEX yet.
        assert_eq!(state(&s, &id), "requested");
        assert_eq!(
            s.record_dlr(&DlrReport {
                reference: "nope".into(),
                ..report(1)
            })
            .unwrap(),
            DlrOutcome::UnknownReference
        );
        let _ = s
            .record_bounce(
                &id,
                crate::evidence::event::BounceReport::Smtp(crate::evidence::event::Refused {
                    destination: "bob@example.test".into(),
                    diagnostic: "550 no such user".into(),
                }),
            )
            .unwrap();
        assert_eq!(state(&s, &id), "not_delivered");
    }
}
