//! The milter's use of the one MIME split (`certmail-mime`, shared with certd's mailer): the
//! parts certd records, with attachment metadata for the wire, and the SMTP reply to a split
//! that fails.

use crate::reply::Reply;
pub use certmail_mime::{one_line, SplitError};
use certmail_protocol::AttachmentInfo;

/// The elements of a message that certd records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitMessage {
    /// The Subject, RFC 2047-decoded.
    pub subject: Option<String>,
    /// The first address of From, without display name.
    pub from: Option<String>,
    /// The Message-ID with its angle brackets, e.g. `<id@example.test>`.
    pub message_id: Option<String>,
    /// The readable contract (see `certmail_mime`); may be empty when the contract is only an
    /// attachment.
    pub text: String,
    /// Every attachment, in message order: its bytes stay inside the raw message.
    pub attachments: Vec<AttachmentInfo>,
}

/// The SMTP reply to a message that cannot be split.
pub trait SplitReply {
    /// `550 5.6.0` (other media error) for every case. The condition is permanent: the same
    /// message would fail the same way on retry.
    fn reply(&self) -> Reply;
}

impl SplitReply for SplitError {
    fn reply(&self) -> Reply {
        Reply::new(550, "5.6.0", self.to_string())
    }
}

/// Splits a raw RFC 5322 message (as Postfix passed it, CRLF line ends).
pub fn split(raw: &[u8]) -> Result<SplitMessage, SplitError> {
    let parts = certmail_mime::split(raw)?;
    Ok(SplitMessage {
        subject: parts.subject,
        from: parts.from,
        message_id: parts.message_id,
        text: parts.text,
        attachments: parts
            .attachments
            .into_iter()
            .map(|a| AttachmentInfo {
                filename: a.filename,
                content_type: a.content_type,
                size: a.size,
                sha256: a.sha256,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// Standard base64 with 76-column lines, as MIME writers produce it.
    fn b64(data: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let n = chunk.iter().fold(0u32, |acc, b| acc << 8 | u32::from(*b))
                << (8 * (3 - chunk.len()));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out.as_bytes()
            .chunks(76)
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    fn sha(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    /// Turns a readable sample written with `\n` into the CRLF form Postfix hands over.
    fn crlf(s: &str) -> Vec<u8> {
        s.replace('\n', "\r\n").into_bytes()
    }

    fn pdf_bytes() -> Vec<u8> {
        let mut v = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n".to_vec();
        v.extend((0u8..=255).cycle().take(1000));
        v.extend_from_slice(b"\n%%EOF\n");
        v
    }

    #[test]
    fn multipart_mixed_with_pdf() {
        let pdf = pdf_bytes();
        let raw = crlf(&format!(
            "From: Acme Rentals <acme@contract.example.net>\n\
             To: acme@contract.example.net\n\
             Subject: bob@example.test Rental contract\n\
             Message-ID: <20251124.1@client.example.test>\n\
             MIME-Version: 1.0\n\
             Content-Type: multipart/mixed; boundary=\"XYZ\"\n\
             \n\
             preamble\n\
             --XYZ\n\
             Content-Type: text/plain; charset=utf-8\n\
             \n\
             The tenant pays 500 EUR monthly.\n\
             --XYZ\n\
             Content-Type: application/pdf; name=\"contract.pdf\"\n\
             Content-Disposition: attachment; filename=\"contract.pdf\"\n\
             Content-Transfer-Encoding: base64\n\
             \n\
             {}\n\
             --XYZ--\n",
            b64(&pdf)
        ));
        let m = split(&raw).unwrap();
        assert_eq!(
            m.subject.as_deref(),
            Some("bob@example.test Rental contract")
        );
        assert_eq!(m.from.as_deref(), Some("acme@contract.example.net"));
        assert_eq!(
            m.message_id.as_deref(),
            Some("<20251124.1@client.example.test>")
        );
        assert_eq!(m.text, "The tenant pays 500 EUR monthly.");
        assert_eq!(
            m.attachments,
            vec![AttachmentInfo {
                filename: Some("contract.pdf".into()),
                content_type: "application/pdf".into(),
                size: pdf.len() as u64,
                sha256: sha(&pdf),
            }]
        );
    }

    #[test]
    fn repeated_subject_from_and_message_id_are_refused() {
        let raw = crlf(
            "From: a@example.test\nSubject: bob@example.test Contract\n\
             Subject: carol@example.test Other contract\n\nbody\n",
        );
        let e = split(&raw).unwrap_err();
        assert_eq!(
            e,
            SplitError::RepeatedField {
                name: "Subject",
                count: 2
            }
        );
        let r = e.reply();
        assert_eq!((r.code, r.enhanced), (550, "5.6.0"));
        assert_eq!(
            r.text,
            "The message has 2 Subject fields; RFC 5322 allows one"
        );
        let raw = crlf("From: a@example.test\nFrom: b@example.test\nSubject: x\n\nbody\n");
        assert!(matches!(
            split(&raw),
            Err(SplitError::RepeatedField { name: "From", .. })
        ));
        let raw = crlf("From: a@example.test\nMessage-ID: <1@x>\nmessage-id: <2@x>\n\nbody\n");
        assert!(matches!(
            split(&raw),
            Err(SplitError::RepeatedField {
                name: "Message-ID",
                ..
            })
        ));
    }

    #[test]
    fn garbage_is_unparseable() {
        for raw in [
            &b""[..],
            b"\r\n\r\n",
            b"\x00\xff\xfe binary junk without any header",
            b"just a line of text",
        ] {
            assert_eq!(split(raw), Err(SplitError::Unparseable), "{raw:?}");
        }
        let r = SplitError::Unparseable.reply();
        assert_eq!((r.code, r.enhanced), (550, "5.6.0"));
    }

    #[test]
    fn empty_message_has_no_content() {
        for raw in [
            &b"From: a@example.test\r\nSubject: bob@example.test x\r\n"[..],
            b"From: a@example.test\r\nSubject: x\r\n\r\n \r\n\t\r\n",
            b"From: a@example.test\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n\r\n--b--\r\n",
        ] {
            assert_eq!(split(raw), Err(SplitError::NoContent), "{raw:?}");
        }
        let r = SplitError::NoContent.reply();
        assert_eq!((r.code, r.enhanced), (550, "5.6.0"));
        assert!(r.text.contains("no contract text and no attachment"));
    }

    #[test]
    fn corrupt_base64_attachment_is_refused() {
        let raw = crlf(
            "From: a@example.test\n\
             Content-Type: multipart/mixed; boundary=b\n\
             \n\
             --b\n\
             Content-Type: text/plain\n\
             \n\
             terms\n\
             --b\n\
             Content-Type: application/pdf\n\
             Content-Disposition: attachment; filename=\"c.pdf\"\n\
             Content-Transfer-Encoding: base64\n\
             \n\
             JVBERi0x!!!not base64***\n\
             --b--\n",
        );
        let e = split(&raw).unwrap_err();
        assert_eq!(
            e,
            SplitError::CorruptAttachment {
                name: "'c.pdf'".into(),
                encoding: "base64"
            }
        );
        let r = e.reply();
        assert_eq!((r.code, r.enhanced), (550, "5.6.0"));
        assert!(r.text.contains("c.pdf"));
    }

    /// Found by `cargo fuzz run split`: trips a `debug_assert!` inside mail-parser.
    #[test]
    fn fuzz_regression_nested_rfc822_does_not_panic() {
        let raw = b"Fry<\r\nContent-Type: multipart/mix; boundary=b\r\n\n--bt\n\
                    Content-Type: message/rfc822\r\n\nF--\nContent-Type: message/rfc822\r\n\r\n\
                    F\r\n\n--b--\r\n";
        // Debug builds catch mail-parser's assertion; release builds get its recovered parse.
        if let Err(e) = split(raw) {
            assert_eq!(e.reply().enhanced, "5.6.0");
        }
    }

    /// A tiny xorshift generator: pseudo-random input without a dependency.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// The logic of the `split` fuzz target, run on stable: random mutations of real MIME
    /// samples and random byte strings must never panic, and every error reply is one line.
    #[test]
    fn never_panics_on_pseudo_random_messages() {
        const FRAGMENTS: &[&[u8]] = &[
            b"From: a@example.test\r\n",
            b"Subject: =?UTF-8?B?5aWR57SE?=\r\n",
            b"Content-Type: multipart/mixed; boundary=b\r\n",
            b"Content-Type: multipart/alternative; boundary=\"b\"\r\n",
            b"Content-Type: message/rfc822\r\n",
            b"Content-Type: text/html; charset=iso-2022-jp\r\n",
            b"Content-Type: application/pdf; name*=UTF-8''a%C3%B1\r\n",
            b"Content-Transfer-Encoding: base64\r\n",
            b"Content-Transfer-Encoding: quoted-printable\r\n",
            b"Content-Disposition: attachment; filename=x\r\n",
            b"\r\n",
            b"--b\r\n",
            b"--b--\r\n",
            b"JVBERi0xLjQK\r\n",
            b"=E1=\r\n",
            b"<p>&amp;&#x5951;<b>x</p>",
            b"\xe5\xa5\x91\xff\x00",
            b"-",
            b"=",
            b"\r",
            b"\n",
        ];
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        for _ in 0..3000 {
            let n = (rng.next() % 24) as usize;
            let mut raw = Vec::new();
            for _ in 0..n {
                let f = FRAGMENTS[(rng.next() % FRAGMENTS.len() as u64) as usize];
                raw.extend_from_slice(f);
                if rng.next() % 8 == 0 {
                    raw.push(rng.next() as u8);
                }
            }
            check_no_panic(&raw);
        }
        for _ in 0..500 {
            let len = (rng.next() % 200) as usize;
            let raw: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            check_no_panic(&raw);
        }
    }

    fn check_no_panic(raw: &[u8]) {
        if let Err(e) = split(raw) {
            let r = e.reply();
            assert!(r.text.chars().count() < 400 && !r.text.contains(['\r', '\n']));
        }
    }
}
