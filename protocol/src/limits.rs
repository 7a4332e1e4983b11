//! Every size and count limit of certmail, derived from one number: the largest message
//! certified. certd owns the number (`max_message_size` in certd.toml) and tells the milter.
//!
//! The frame limit is *derived* from the message size with the worst-case encoding of a
//! [`Submission`], so a message under the size limit always fits a frame (issue 12: a 35 MiB
//! contract used to exceed a fixed 64 MiB frame after splitting and got `451` for days).
//! [`Limits::check_submission`] is the one check both sides run: the milter before it sends,
//! certd again before it stores; every violation is one permanent, precise SMTP answer.

use crate::{Destination, Refusal, Submission};
use serde::{Deserialize, Serialize};

/// RFC 5322 section 2.1.1: a line is at most 998 characters, CRLF excluded.
pub const MAX_LINE: u32 = 998;

/// Default largest message: 40 MiB, so that a 25 MiB attachment (34 MiB in base64) fits.
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 40 * 1024 * 1024;

/// The most distinct destinations one contract may name: a bound on the SMS and mail one
/// submission can trigger.
pub const MAX_DESTINATIONS: u32 = 10;

/// The most attachments one contract may carry (each is listed, hashed, in the certificate).
pub const MAX_ATTACHMENTS: u32 = 1000;

/// Attachment names: the longest file name common file systems store (ext4, NTFS, APFS).
pub const MAX_FILENAME_CHARS: u32 = 255;

/// RFC 6838 section 4.2: type and subtype names are at most 127 characters each.
pub const MAX_CONTENT_TYPE_BYTES: u32 = 255;

/// Smallest `max_message_size` accepted: a message needs room for its header section.
pub const MIN_MESSAGE_SIZE: u64 = 1024;

/// The limits in force, as certd announces them to the milter ([`crate::Request::Limits`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest message certified, in bytes, as the milter collects it (CRLF line ends).
    pub max_message_size: u64,
    /// Largest readable contract text once decoded (UTF-8 bytes). Decoding can grow a text:
    /// a windows-1252 byte becomes up to three UTF-8 bytes.
    pub max_text_bytes: u64,
    /// Longest decoded Subject, in characters: one RFC 5322 line.
    pub max_subject_chars: u32,
    pub max_destinations: u32,
    pub max_attachments: u32,
    /// Longest single-line field (addresses, Message-ID, HELO, SMTP AUTH login...), in
    /// characters: one RFC 5322 line.
    pub max_field_chars: u32,
    /// Largest frame certd reads: [`Limits::required_frame_bytes`] of the above.
    pub max_frame_bytes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        // DEFAULT_MAX_MESSAGE_SIZE is far below the u32 frame bound (tested).
        Limits::for_message_size(DEFAULT_MAX_MESSAGE_SIZE).unwrap_or(Limits {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_text_bytes: DEFAULT_MAX_MESSAGE_SIZE,
            max_subject_chars: MAX_LINE,
            max_destinations: MAX_DESTINATIONS,
            max_attachments: MAX_ATTACHMENTS,
            max_field_chars: MAX_LINE,
            max_frame_bytes: u32::MAX,
        })
    }
}

/// Why a set of limits cannot work together (certd refuses to start with it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    #[error("max_message_size {size} is below the minimum of {min} bytes")]
    MessageTooSmall { size: u64, min: u64 },
    #[error("max_message_size {size} needs frames of {needed} bytes, more than the protocol's 4 GiB frame length allows")]
    FrameOverflow { size: u64, needed: u64 },
    #[error("max_frame_bytes {frame} is below the {needed} bytes a split submission of max_message_size {size} can take in the worst case; remove max_frame_bytes (it is derived) or raise it")]
    FrameTooSmall { frame: u32, needed: u64, size: u64 },
    #[error(
        "the readable text limit ({text} bytes) exceeds the message size limit ({size} bytes)"
    )]
    TextOverMessage { text: u64, size: u64 },
}

/// A field of a submission that has a length limit, named in refusals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    EnvelopeSender,
    FromAddress,
    Recipient,
    MessageId,
    Helo,
    ClientName,
    ClientAddr,
    QueueId,
    Customer,
    DedupeKey,
    AuthIdentity,
    Destination,
    AttachmentName,
    AttachmentType,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::EnvelopeSender => "envelope sender (MAIL FROM)",
            Field::FromAddress => "From: address",
            Field::Recipient => "contract address",
            Field::MessageId => "Message-ID",
            Field::Helo => "HELO name",
            Field::ClientName => "client host name",
            Field::ClientAddr => "client address",
            Field::QueueId => "queue id",
            Field::Customer => "customer name",
            Field::DedupeKey => "dedupe key",
            Field::AuthIdentity => "authentication identity",
            Field::Destination => "destination",
            Field::AttachmentName => "attachment name",
            Field::AttachmentType => "attachment content type",
        }
    }
}

/// A submission over one of the limits. Each is a permanent condition: the same message would
/// be refused the same way on every retry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitViolation {
    #[error("the message is {size} bytes; certmail certifies messages of at most {max} bytes")]
    MessageTooLarge { size: u64, max: u64 },
    #[error("the contract text is {size} bytes once decoded; certmail certifies at most {max} bytes of text: send the contract as an attachment")]
    TextTooLarge { size: u64, max: u64 },
    #[error("the Subject is {chars} characters long; certmail accepts at most {max}: put the counterparties and a short title in the Subject, the contract in the body")]
    SubjectTooLong { chars: usize, max: u32 },
    #[error("the Subject names more than {max} destinations: certify the contract with at most {max} counterparties per message")]
    TooManyDestinations { max: u32 },
    #[error("the message has {count} attachments; certmail certifies at most {max} per contract")]
    TooManyAttachments { count: usize, max: u32 },
    #[error("the {} is {chars} characters long; certmail accepts at most {max}", .field.name())]
    FieldTooLong {
        field: Field,
        chars: usize,
        max: u32,
    },
    /// The encoded request is over the frame limit: only when the two sides disagree on the
    /// limits (certd restarted with smaller ones); refused for good all the same.
    #[error("the message and its split parts take {len} bytes, over the {max}-byte limit of the certification service")]
    FrameTooLarge { len: u64, max: u32 },
}

impl LimitViolation {
    /// The SMTP reply: sizes and counts are `552 5.3.4` (RFC 3463: message too big for
    /// system), too many destinations `550 5.5.3` (too many recipients), an over-long sender
    /// address `550 5.1.7` (bad sender's mailbox syntax), other over-long fields `550 5.6.0`.
    pub fn refusal(&self) -> Refusal {
        let (code, enhanced) = match self {
            LimitViolation::MessageTooLarge { .. }
            | LimitViolation::TextTooLarge { .. }
            | LimitViolation::TooManyAttachments { .. }
            | LimitViolation::FrameTooLarge { .. } => (552, "5.3.4"),
            LimitViolation::TooManyDestinations { .. } => (550, "5.5.3"),
            LimitViolation::FieldTooLong {
                field: Field::EnvelopeSender | Field::FromAddress,
                ..
            } => (550, "5.1.7"),
            LimitViolation::SubjectTooLong { .. } | LimitViolation::FieldTooLong { .. } => {
                (550, "5.6.0")
            }
        };
        Refusal {
            code,
            enhanced: enhanced.into(),
            text: self.to_string(),
        }
    }
}

/// Upper bound of a CBOR text or byte string of `n` bytes: a header of at most 9 bytes.
const fn cbor_string(n: u64) -> u64 {
    9 + n
}

/// Upper bound of a map key (a field or variant name) with its CBOR header.
const KEY: u64 = 32;

/// UTF-8 takes at most four bytes a character.
const fn utf8(chars: u32) -> u64 {
    4 * chars as u64
}

impl Limits {
    /// The limits for a largest message of `max_message_size` bytes; the frame is derived.
    pub fn for_message_size(max_message_size: u64) -> Result<Limits, LimitsError> {
        let mut l = Limits {
            max_message_size,
            max_text_bytes: max_message_size,
            max_subject_chars: MAX_LINE,
            max_destinations: MAX_DESTINATIONS,
            max_attachments: MAX_ATTACHMENTS,
            max_field_chars: MAX_LINE,
            max_frame_bytes: 0,
        };
        let needed = l.required_frame_bytes();
        l.max_frame_bytes = u32::try_from(needed).map_err(|_| LimitsError::FrameOverflow {
            size: max_message_size,
            needed,
        })?;
        l.check()?;
        Ok(l)
    }

    /// The same limits with a frame limit given explicitly (certd's `max_frame_bytes`);
    /// refused if it is smaller than a worst-case submission needs.
    pub fn with_frame(mut self, max_frame_bytes: u32) -> Result<Limits, LimitsError> {
        self.max_frame_bytes = max_frame_bytes;
        self.check()?;
        Ok(self)
    }

    /// Whether these limits hold together: a submission within them always fits a frame.
    pub fn check(&self) -> Result<(), LimitsError> {
        if self.max_message_size < MIN_MESSAGE_SIZE {
            return Err(LimitsError::MessageTooSmall {
                size: self.max_message_size,
                min: MIN_MESSAGE_SIZE,
            });
        }
        if self.max_text_bytes > self.max_message_size {
            return Err(LimitsError::TextOverMessage {
                text: self.max_text_bytes,
                size: self.max_message_size,
            });
        }
        let needed = self.required_frame_bytes();
        if u64::from(self.max_frame_bytes) < needed {
            return Err(LimitsError::FrameTooSmall {
                frame: self.max_frame_bytes,
                needed,
                size: self.max_message_size,
            });
        }
        Ok(())
    }

    /// The largest frame (version byte and CBOR body, as counted by the length prefix) that a
    /// [`crate::Request::Submit`] or [`crate::Request::Answer`] within these limits can take.
    ///
    /// Counted field by field from the CBOR encoding (strings carry at most a 9-byte header,
    /// field names at most [`KEY`] bytes); the raw message is carried once, the decoded text
    /// once more. `limits::tests::maximal_submission_fits` encodes a submission with every
    /// field at its bound and checks the result against this figure.
    pub fn required_frame_bytes(&self) -> u64 {
        let line = cbor_string(utf8(self.max_field_chars));
        // customer, recipient, envelope_from, from_header, message_id, queue_id, client_addr,
        // client_name, helo, dedupe_key, and the two strings of `auth`.
        let single_lines = 12 * (KEY + line);
        let auth_wrapping = 2 * (KEY + 9);
        let subjects = 2 * (KEY + cbor_string(utf8(self.max_subject_chars)));
        let destinations = KEY + 9 + u64::from(self.max_destinations) * (1 + KEY + line);
        let attachment = 1
            + 4 * KEY
            + cbor_string(utf8(MAX_FILENAME_CHARS))
            + cbor_string(u64::from(MAX_CONTENT_TYPE_BYTES))
            + 9
            + cbor_string(64);
        let attachments = KEY + 9 + u64::from(self.max_attachments) * attachment;
        let text = KEY + cbor_string(self.max_text_bytes);
        let raw = KEY + cbor_string(self.max_message_size);
        // Version byte, `{"submit": {...}}` map headers and the tag.
        let envelope = 1 + 9 + KEY + 9;
        envelope + single_lines + auth_wrapping + subjects + destinations + attachments + text + raw
    }

    /// The Subject on its own, checked before it is parsed (a 20 000-character Subject is
    /// answered for its length, not for whatever its first word is).
    pub fn check_subject(&self, subject: &str) -> Result<(), LimitViolation> {
        let chars = subject.chars().count();
        if chars > self.max_subject_chars as usize {
            return Err(LimitViolation::SubjectTooLong {
                chars,
                max: self.max_subject_chars,
            });
        }
        Ok(())
    }

    /// Checks every bounded part of a submission. A submission that passes fits a frame of
    /// [`Limits::required_frame_bytes`].
    pub fn check_submission(&self, s: &Submission) -> Result<(), LimitViolation> {
        let size = s.raw.len() as u64;
        if size > self.max_message_size {
            return Err(LimitViolation::MessageTooLarge {
                size,
                max: self.max_message_size,
            });
        }
        self.check_subject(&s.subject)?;
        // The text after the destinations is part of the Subject; check it anyway, certd
        // cannot know how the milter derived it.
        self.check_subject(&s.subject_text)?;
        let text = s.text.len() as u64;
        if text > self.max_text_bytes {
            return Err(LimitViolation::TextTooLarge {
                size: text,
                max: self.max_text_bytes,
            });
        }
        if s.destinations.len() > self.max_destinations as usize {
            return Err(LimitViolation::TooManyDestinations {
                max: self.max_destinations,
            });
        }
        if s.attachments.len() > self.max_attachments as usize {
            return Err(LimitViolation::TooManyAttachments {
                count: s.attachments.len(),
                max: self.max_attachments,
            });
        }
        let (login, detail) = match &s.auth {
            crate::AuthMethod::SmtpAuth { login, mechanism } => (login, mechanism),
            crate::AuthMethod::Dkim { domain, selector } => (domain, selector),
        };
        let lines = [
            (Field::Customer, Some(&s.customer)),
            (Field::Recipient, Some(&s.recipient)),
            (Field::EnvelopeSender, Some(&s.envelope_from)),
            (Field::FromAddress, s.from_header.as_ref()),
            (Field::MessageId, s.message_id.as_ref()),
            (Field::QueueId, s.queue_id.as_ref()),
            (Field::ClientAddr, s.client_addr.as_ref()),
            (Field::ClientName, s.client_name.as_ref()),
            (Field::Helo, s.helo.as_ref()),
            (Field::DedupeKey, Some(&s.dedupe_key)),
            (Field::AuthIdentity, Some(login)),
            (Field::AuthIdentity, Some(detail)),
        ];
        for (field, value) in lines {
            self.check_field(field, value.map(String::as_str), self.max_field_chars)?;
        }
        for d in &s.destinations {
            let (Destination::Email(v) | Destination::Phone(v)) = d;
            self.check_field(Field::Destination, Some(v), self.max_field_chars)?;
        }
        for a in &s.attachments {
            self.check_field(
                Field::AttachmentName,
                a.filename.as_deref(),
                MAX_FILENAME_CHARS,
            )?;
            if a.content_type.len() > MAX_CONTENT_TYPE_BYTES as usize {
                return Err(LimitViolation::FieldTooLong {
                    field: Field::AttachmentType,
                    chars: a.content_type.chars().count(),
                    max: MAX_CONTENT_TYPE_BYTES,
                });
            }
            // sha256 is 64 hex digits when the milter made it; anything longer is a bug or a
            // forgery, refused like any over-long field.
            if a.sha256.len() > 64 {
                return Err(LimitViolation::FieldTooLong {
                    field: Field::AttachmentType,
                    chars: a.sha256.len(),
                    max: 64,
                });
            }
        }
        Ok(())
    }

    fn check_field(
        &self,
        field: Field,
        value: Option<&str>,
        max: u32,
    ) -> Result<(), LimitViolation> {
        if let Some(v) = value {
            // Counting characters is O(n); the byte length bounds it first.
            if v.len() > max as usize {
                let chars = v.chars().count();
                if chars > max as usize {
                    return Err(LimitViolation::FieldTooLong { field, chars, max });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{write_frame, AttachmentInfo, AuthMethod, Request};

    /// A four-byte UTF-8 character: the worst case for a character-counted limit.
    const WIDE: char = '𝄞';

    fn wide(n: u32) -> String {
        std::iter::repeat_n(WIDE, n as usize).collect()
    }

    fn maximal(l: &Limits) -> Submission {
        let line = wide(l.max_field_chars);
        Submission {
            customer: line.clone(),
            recipient: line.clone(),
            auth: AuthMethod::SmtpAuth {
                login: line.clone(),
                mechanism: line.clone(),
            },
            envelope_from: line.clone(),
            from_header: Some(line.clone()),
            message_id: Some(line.clone()),
            subject: wide(l.max_subject_chars),
            subject_text: wide(l.max_subject_chars),
            destinations: (0..l.max_destinations)
                .map(|_| Destination::Email(line.clone()))
                .collect(),
            text: "x".repeat(l.max_text_bytes as usize),
            attachments: (0..l.max_attachments)
                .map(|_| AttachmentInfo {
                    filename: Some(wide(MAX_FILENAME_CHARS)),
                    content_type: "t".repeat(MAX_CONTENT_TYPE_BYTES as usize),
                    size: u64::MAX,
                    sha256: "f".repeat(64),
                })
                .collect(),
            queue_id: Some(line.clone()),
            client_addr: Some(line.clone()),
            client_name: Some(line.clone()),
            helo: Some(line.clone()),
            dedupe_key: line,
            raw: vec![0xff; l.max_message_size as usize],
        }
    }

    #[test]
    fn maximal_submission_fits_the_derived_frame() {
        let l = Limits::for_message_size(64 * 1024).unwrap();
        let s = maximal(&l);
        assert_eq!(l.check_submission(&s), Ok(()));
        let mut buf = Vec::new();
        write_frame(&mut buf, &Request::Submit(Box::new(s))).unwrap();
        let frame = (buf.len() - 4) as u64;
        assert!(
            frame <= u64::from(l.max_frame_bytes),
            "frame {frame} > limit {}",
            l.max_frame_bytes
        );
        // An upper bound, not a wild over-estimate.
        assert!(
            frame >= u64::from(l.max_frame_bytes) * 8 / 10,
            "frame {frame}"
        );
    }

    #[test]
    fn defaults_are_consistent_and_a_35_mib_contract_fits() {
        let l = Limits::default();
        assert_eq!(l.max_message_size, DEFAULT_MAX_MESSAGE_SIZE);
        assert_eq!(l.check(), Ok(()));
        // 40 MiB message + 40 MiB text + bounded metadata.
        assert!(u64::from(l.max_frame_bytes) > 2 * DEFAULT_MAX_MESSAGE_SIZE);
        assert!(u64::from(l.max_frame_bytes) < 2 * DEFAULT_MAX_MESSAGE_SIZE + 4 * 1024 * 1024);
    }

    #[test]
    fn inconsistent_limits_are_named() {
        let l = Limits::for_message_size(40 * 1024 * 1024).unwrap();
        // The old fixed default frame (64 MiB) cannot carry a 40 MiB message and its text.
        let e = l.with_frame(64 * 1024 * 1024).unwrap_err();
        assert!(matches!(e, LimitsError::FrameTooSmall { .. }), "{e}");
        assert!(e.to_string().contains("max_frame_bytes 67108864"), "{e}");
        assert!(matches!(
            Limits::for_message_size(10),
            Err(LimitsError::MessageTooSmall { .. })
        ));
        assert!(matches!(
            Limits::for_message_size(3 * 1024 * 1024 * 1024),
            Err(LimitsError::FrameOverflow { .. })
        ));
        assert_eq!(
            l.with_frame(u32::MAX).map(|l| l.max_frame_bytes),
            Ok(u32::MAX)
        );
    }

    #[test]
    fn each_violation_has_its_reply() {
        let l = Limits::for_message_size(4096).unwrap();
        let ok = Submission {
            raw: vec![b'x'; 100],
            ..maximal(&Limits {
                max_field_chars: 10,
                max_subject_chars: 10,
                max_destinations: 1,
                max_attachments: 1,
                max_text_bytes: 10,
                ..l
            })
        };
        assert_eq!(l.check_submission(&ok), Ok(()));
        let code = |s: &Submission| {
            let r = l.check_submission(s).unwrap_err().refusal();
            format!("{} {}", r.code, r.enhanced)
        };
        let mut s = ok.clone();
        s.raw = vec![0; 5000];
        assert_eq!(code(&s), "552 5.3.4");
        let mut s = ok.clone();
        s.text = "€".repeat(2000);
        assert_eq!(code(&s), "552 5.3.4");
        let mut s = ok.clone();
        s.subject = "s".repeat(999);
        assert_eq!(code(&s), "550 5.6.0");
        assert_eq!(
            l.check_submission(&s).unwrap_err().to_string(),
            "the Subject is 999 characters long; certmail accepts at most 998: put the counterparties and a short title in the Subject, the contract in the body"
        );
        let mut s = ok.clone();
        s.destinations = vec![Destination::Phone("+34600111222".into()); 11];
        assert_eq!(code(&s), "550 5.5.3");
        let mut s = ok.clone();
        s.attachments = vec![s.attachments[0].clone(); 1001];
        assert_eq!(code(&s), "552 5.3.4");
        let mut s = ok.clone();
        s.envelope_from = "a".repeat(999);
        assert_eq!(code(&s), "550 5.1.7");
        let mut s = ok.clone();
        s.message_id = Some("m".repeat(999));
        assert_eq!(code(&s), "550 5.6.0");
        let mut s = ok.clone();
        s.attachments[0].filename = Some("n".repeat(256));
        assert_eq!(code(&s), "550 5.6.0");
        // Characters, not bytes: 998 four-byte characters are one RFC 5322 line of text.
        let mut s = ok.clone();
        s.helo = Some(wide(998));
        assert_eq!(l.check_submission(&s), Ok(()));
    }
}
