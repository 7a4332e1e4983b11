//! The frame a submission takes, measured on real splits of the messages that grow most when
//! decoded: every message within the size limit either fits the derived frame or is refused
//! by `Limits::check_submission` with a permanent answer (never a frame certd cannot read).

use certmail_protocol::{encode_frame, AuthMethod, Limits, Request, Submission};
use certmilter::split::split;

const SIZE: usize = 1 << 20;

fn frame_of(raw: Vec<u8>) -> (usize, Result<usize, String>) {
    let n = raw.len();
    let parts = split(&raw).expect("splits");
    let s = Submission {
        customer: "alice".into(),
        recipient: "alice@contract.test".into(),
        auth: AuthMethod::SmtpAuth {
            login: "alice".into(),
            mechanism: "PLAIN".into(),
        },
        envelope_from: "alice@example.test".into(),
        from_header: parts.from,
        message_id: parts.message_id,
        subject: parts.subject.clone().unwrap_or_default(),
        subject_text: parts.subject.unwrap_or_default(),
        destinations: vec![],
        text: parts.text,
        attachments: parts.attachments,
        queue_id: Some("4QX".into()),
        client_addr: Some("127.0.0.1".into()),
        client_name: None,
        helo: Some("client.example.test".into()),
        dedupe_key: "0".repeat(64),
        raw,
    };
    let limits = Limits::for_message_size(n as u64).expect("limits");
    if let Err(v) = limits.check_submission(&s) {
        return (n, Err(v.refusal().text));
    }
    let frame = encode_frame(&Request::Submit(Box::new(s)), limits.max_frame_bytes)
        .expect("a checked submission fits the derived frame");
    (n, Ok(frame.len() - 4))
}

fn head(extra: &str) -> String {
    format!("From: alice@example.test\r\nSubject: bob@example.test Contract\r\nMIME-Version: 1.0\r\n{extra}\r\n")
}

fn ratio(name: &str, (n, frame): (usize, Result<usize, String>)) -> f64 {
    let f = frame.unwrap_or_else(|e| panic!("{name} refused: {e}"));
    let r = f as f64 / n as f64;
    eprintln!("{name}: message {n} bytes, frame {f} bytes, {r:.3}x");
    r
}

#[test]
fn base64_attachment_travels_once() {
    let b64_line = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\r\n";
    let mut m = head("Content-Type: multipart/mixed; boundary=b\r\n");
    m.push_str("--b\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n--b\r\n");
    m.push_str(
        "Content-Type: application/pdf; name=c.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n",
    );
    while m.len() < SIZE - 100 {
        m.push_str(b64_line);
    }
    m.push_str("--b--\r\n");
    assert!(ratio("base64 attachment", frame_of(m.into_bytes())) < 1.01);
}

#[test]
fn eight_bit_text_travels_twice() {
    let mut m =
        head("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n");
    while m.len() < SIZE - 100 {
        m.push_str("El arrendatario pagará 900 € al mes. 契約。\r\n");
    }
    let r = ratio("8-bit UTF-8 text", frame_of(m.into_bytes()));
    assert!((1.9..2.01).contains(&r), "{r}");
}

#[test]
fn quoted_printable_text_shrinks_when_decoded() {
    let mut m = head(
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n",
    );
    while m.len() < SIZE - 100 {
        m.push_str("El arrendatario pagar=C3=A1 900 =E2=82=AC al mes durante un a=C3=B1o, =\r\nsin m=C3=A1s.\r\n");
    }
    let r = ratio("quoted-printable text", frame_of(m.into_bytes()));
    assert!(r < 2.0, "{r}");
}

#[test]
fn html_rendered_to_text_is_shorter_than_its_html() {
    let mut m = head("Content-Type: text/html; charset=utf-8\r\n");
    m.push_str("<html><body>");
    while m.len() < SIZE - 100 {
        m.push_str("<p>Cl&aacute;usula: <b>pago</b> mensual &amp; fianza.<br></p>\r\n");
    }
    m.push_str("</body></html>\r\n");
    let r = ratio("HTML rendered to text", frame_of(m.into_bytes()));
    assert!(r < 2.0, "{r}");
}

#[test]
fn text_that_grows_when_decoded_is_refused_not_truncated() {
    // windows-1252 0x80 is U+20AC, three bytes in UTF-8: the decoded text is three times the
    // message. Over the text limit: one permanent refusal.
    let mut m = head(
        "Content-Type: text/plain; charset=windows-1252\r\nContent-Transfer-Encoding: 8bit\r\n",
    )
    .into_bytes();
    while m.len() < SIZE - 100 {
        m.extend_from_slice(&[0x80; 70]);
        m.extend_from_slice(b"\r\n");
    }
    let (_, frame) = frame_of(m);
    let e = frame.expect_err("refused");
    assert!(
        e.contains("contract text is") && e.contains("once decoded"),
        "{e}"
    );
}

#[test]
fn many_tiny_attachments_are_bounded_by_their_count() {
    let mut m = head("Content-Type: multipart/mixed; boundary=b\r\n");
    m.push_str("--b\r\nContent-Type: text/plain\r\n\r\nTerms.\r\n");
    for i in 0..1500 {
        m.push_str(&format!(
            "--b\r\nContent-Type: application/octet-stream; name={}.bin\r\n\r\nx\r\n",
            "n".repeat(i % 200)
        ));
    }
    m.push_str("--b--\r\n");
    let (_, frame) = frame_of(m.into_bytes());
    let e = frame.expect_err("refused");
    assert!(e.contains("1500 attachments"), "{e}");
}
