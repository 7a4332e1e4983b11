//! The messages exchanged on the socket. Field names are the CBOR map keys: renaming one is a
//! protocol change (see `docs/protocol.md`).

use crate::Limits;
use serde::{Deserialize, Serialize};

/// What the milter asks certd.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Liveness check; certd answers [`Response::Pong`].
    Ping,
    /// Whitelist look-up at RCPT time: is `name` (the local part of `name@<contract domain>`)
    /// a customer, and how must its mail be authenticated?
    LookupCustomer { name: String },
    /// A contract submission, fully split. certd answers only after it committed the contract.
    Submit(Box<Submission>),
    /// RCPT-time check of a `reply+<token>@` or `bounce+<token>@` address. Reply and bounce
    /// tokens are distinct: `kind` says which one the address holds. Absent from older
    /// milters (`None`): either kind is accepted at RCPT, and certd checks the kind again when
    /// the message is handed over ([`Answer::kind`]).
    LookupToken {
        token: String,
        #[serde(default)]
        kind: Option<AnswerKind>,
    },
    /// A counterparty's reply or a delivery report, answered after certd committed it.
    Answer(Box<Answer>),
    /// The limits certd enforces ([`Response::Limits`]); the milter applies the same ones.
    Limits,
}

/// What certd answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    Pong,
    /// `None`: no such customer.
    Customer(Option<CustomerInfo>),
    /// `None`: no contract is waiting at this token.
    Token(Option<TokenInfo>),
    /// The submission is durably stored (SQLite commit done).
    Committed(Committed),
    /// A permanent refusal that the milter passes on as an SMTP 5xx.
    Refused(Refusal),
    /// A transient failure: the milter answers 4xx so that the sender retries.
    Error {
        message: String,
    },
    Limits(Limits),
}

/// A customer as the milter needs to see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerInfo {
    pub name: String,
    pub active: bool,
    pub policy: CustomerPolicy,
    /// SMTP AUTH identities (`{auth_authen}`) allowed to submit for this customer.
    pub smtp_logins: Vec<String>,
    /// Domains whose aligned DKIM signature (d= equal to the From domain) authenticates.
    pub dkim_domains: Vec<String>,
    /// Where receipts and certificates go: the customer's own address, never a counterparty.
    #[serde(default)]
    pub email: Option<String>,
    /// The customer's registered phone numbers (E.164), never a counterparty.
    #[serde(default)]
    pub phones: Vec<String>,
}

/// How a customer's submissions must prove their origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CustomerPolicy {
    SmtpAuth,
    Dkim,
    /// Either SMTP AUTH or an aligned DKIM pass.
    Any,
}

/// How the milter established that the sender is the customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    SmtpAuth { login: String, mechanism: String },
    Dkim { domain: String, selector: String },
}

/// One counterparty named in the Subject.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    Email(String),
    /// E.164, e.g. `+34600111222`.
    Phone(String),
}

/// Metadata of one attachment; its bytes stay inside the raw message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentInfo {
    pub filename: Option<String>,
    pub content_type: String,
    pub size: u64,
    /// Lower-case hex SHA-256 of the decoded content.
    pub sha256: String,
}

/// A contract submission as split by the milter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    /// Customer name: the local part of the contract address.
    pub customer: String,
    /// The envelope recipient as given (`acme@contract.example.net`).
    pub recipient: String,
    pub auth: AuthMethod,
    pub envelope_from: String,
    pub from_header: Option<String>,
    pub message_id: Option<String>,
    /// The whole Subject, decoded (RFC 2047).
    pub subject: String,
    /// The Subject with the destinations removed.
    pub subject_text: String,
    pub destinations: Vec<Destination>,
    /// The readable contract: text/plain, or HTML rendered to text.
    pub text: String,
    pub attachments: Vec<AttachmentInfo>,
    pub queue_id: Option<String>,
    pub client_addr: Option<String>,
    pub client_name: Option<String>,
    pub helo: Option<String>,
    /// Hex SHA-256 identifying this message across SMTP retries (see `docs/protocol.md`).
    pub dedupe_key: String,
    /// The message as Postfix passed it to the milter, CRLF line ends.
    #[serde(with = "serde_bytes")]
    pub raw: Vec<u8>,
}

/// The contract behind a reply token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub contract_id: String,
    pub serial: u64,
}

/// Which reserved address an answer came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerKind {
    /// `reply+<token>@`: the counterparty's answer.
    Reply,
    /// `bounce+<token>@`: a delivery status notification (RFC 3464).
    Bounce,
}

/// Sender authentication evidence of an answer (recorded, never used to refuse it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthEvidence {
    /// One line per DKIM signature, e.g. `pass (d=example.test s=sel)`.
    pub dkim: Vec<String>,
    pub spf: String,
    pub dmarc: String,
    /// RFC 8601 Authentication-Results header value.
    pub header: String,
    /// The same results as types, for deciding whether the answer may decide. Absent from
    /// older milters: then nothing is known, and the answer does not decide.
    #[serde(default)]
    pub verdict: AuthVerdict,
}

/// One authentication method's result (RFC 8601 section 2.7 keywords).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthOutcome {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    /// The domain publishes nothing for this method.
    None,
    TempError,
    PermError,
    /// Not checked, or reported by a milter that did not say.
    #[default]
    Unknown,
}

/// Typed authentication verdicts of an answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthVerdict {
    /// The RFC 5322 From domain DMARC evaluated (`None` without a single From address).
    pub from_domain: Option<String>,
    pub dmarc: AuthOutcome,
    /// SPF for the MAIL FROM identity.
    pub spf: AuthOutcome,
    /// `d=` domains of the DKIM signatures that verified.
    pub dkim_pass: Vec<String>,
}

/// A reply or a delivery report for a contract, as received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub token: String,
    pub kind: AnswerKind,
    /// The envelope recipient as given.
    pub recipient: String,
    pub envelope_from: String,
    pub queue_id: Option<String>,
    pub client_addr: Option<String>,
    pub client_name: Option<String>,
    pub helo: Option<String>,
    pub auth: Option<AuthEvidence>,
    /// See [`Submission::dedupe_key`].
    pub dedupe_key: String,
    #[serde(with = "serde_bytes")]
    pub raw: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    pub contract_id: String,
    pub serial: u64,
    /// True when this message had been committed before (an SMTP retry): nothing new stored.
    pub duplicate: bool,
}

/// A permanent refusal with its SMTP reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// `5xx` reply code.
    pub code: u16,
    /// RFC 3463 enhanced status, e.g. `5.7.1`.
    pub enhanced: String,
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{read_frame, write_frame};

    const MAX_FRAME_DEFAULT: u32 = 1 << 26;

    fn sample() -> Submission {
        Submission {
            customer: "acme".into(),
            recipient: "acme@contract.test".into(),
            auth: AuthMethod::SmtpAuth {
                login: "alice".into(),
                mechanism: "PLAIN".into(),
            },
            envelope_from: "alice@example.test".into(),
            from_header: Some("alice@example.test".into()),
            message_id: Some("<1@example.test>".into()),
            subject: "bob@example.test +34600111222 Alquiler".into(),
            subject_text: "Alquiler".into(),
            destinations: vec![
                Destination::Email("bob@example.test".into()),
                Destination::Phone("+34600111222".into()),
            ],
            text: "Texto del contrato: ñandú 契約".into(),
            attachments: vec![AttachmentInfo {
                filename: Some("c.pdf".into()),
                content_type: "application/pdf".into(),
                size: 3,
                sha256: "ab".repeat(32),
            }],
            queue_id: Some("4Xyz".into()),
            client_addr: Some("127.0.0.1".into()),
            client_name: None,
            helo: Some("client.example.test".into()),
            dedupe_key: "cd".repeat(32),
            raw: b"Subject: x\r\n\r\n\x00\xff binary".to_vec(),
        }
    }

    #[test]
    fn submission_round_trips_with_binary_raw() {
        let req = Request::Submit(Box::new(sample()));
        let mut buf = Vec::new();
        write_frame(&mut buf, &req).unwrap();
        let back: Request = read_frame(&mut buf.as_slice(), MAX_FRAME_DEFAULT).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn raw_travels_as_a_byte_string_not_an_array() {
        let mut s = sample();
        s.raw = vec![0x42; 10_000];
        let mut buf = Vec::new();
        write_frame(&mut buf, &Request::Submit(Box::new(s))).unwrap();
        // As an array of integers 10 000 bytes would need ~20 000 bytes on the wire.
        assert!(buf.len() < 11_000, "frame is {} bytes", buf.len());
    }

    #[test]
    fn every_response_round_trips() {
        let all = [
            Response::Pong,
            Response::Customer(None),
            Response::Customer(Some(CustomerInfo {
                name: "acme".into(),
                active: true,
                policy: CustomerPolicy::Any,
                smtp_logins: vec!["alice".into()],
                dkim_domains: vec!["example.test".into()],
                email: Some("alice@example.test".into()),
                phones: vec!["+34600999888".into()],
            })),
            Response::Limits(Limits::default()),
            Response::Committed(Committed {
                contract_id: "x".into(),
                serial: 7,
                duplicate: false,
            }),
            Response::Refused(Refusal {
                code: 550,
                enhanced: "5.7.1".into(),
                text: "no".into(),
            }),
            Response::Error {
                message: "db locked".into(),
            },
        ];
        for r in all {
            let mut buf = Vec::new();
            write_frame(&mut buf, &r).unwrap();
            let back: Response = read_frame(&mut buf.as_slice(), MAX_FRAME_DEFAULT).unwrap();
            assert_eq!(back, r);
        }
    }

    #[test]
    fn token_lookup_of_an_older_milter_has_no_kind() {
        // The shape of `LookupToken` before reply and bounce tokens were told apart.
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum Old {
            LookupToken { token: String },
        }
        let mut buf = Vec::new();
        write_frame(&mut buf, &Old::LookupToken { token: "t".into() }).unwrap();
        let back: Request = read_frame(&mut buf.as_slice(), MAX_FRAME_DEFAULT).unwrap();
        assert_eq!(
            back,
            Request::LookupToken {
                token: "t".into(),
                kind: None
            }
        );
        let new = Request::LookupToken {
            token: "t".into(),
            kind: Some(AnswerKind::Bounce),
        };
        let mut buf = Vec::new();
        write_frame(&mut buf, &new).unwrap();
        let back: Request = read_frame(&mut buf.as_slice(), MAX_FRAME_DEFAULT).unwrap();
        assert_eq!(back, new);
    }

    #[test]
    fn customer_info_without_email_and_phones_still_decodes() {
        // What a certd of the previous release sends: the added fields are optional.
        #[derive(Serialize)]
        struct Old {
            name: String,
            active: bool,
            policy: CustomerPolicy,
            smtp_logins: Vec<String>,
            dkim_domains: Vec<String>,
        }
        let mut buf = Vec::new();
        let old = Old {
            name: "acme".into(),
            active: true,
            policy: CustomerPolicy::Dkim,
            smtp_logins: vec![],
            dkim_domains: vec!["acme.test".into()],
        };
        write_frame(&mut buf, &old).unwrap();
        let info: CustomerInfo = read_frame(&mut buf.as_slice(), MAX_FRAME_DEFAULT).unwrap();
        assert_eq!((info.email, info.phones), (None, vec![]));
    }

    #[test]
    fn unknown_request_variant_is_a_decode_error_not_a_panic() {
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum Future {
            Teleport { to: String },
        }
        let mut buf = Vec::new();
        write_frame(&mut buf, &Future::Teleport { to: "x".into() }).unwrap();
        assert!(read_frame::<_, Request>(&mut buf.as_slice(), MAX_FRAME_DEFAULT).is_err());
    }
}
