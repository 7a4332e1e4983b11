//! The split's cases: encodings, charsets, nesting, names, hashes.

use super::*;

/// Standard base64 with 76-column lines, as MIME writers produce it.
fn b64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, b| acc << 8 | u32::from(*b)) << (8 * (3 - chunk.len()));
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

#[test]
fn attachment_hash_matches_a_known_vector() {
    // SHA-256("abc") from FIPS 180-2, independent of this module's hashing code.
    let raw = crlf(
        "From: a@example.test\n\
         Content-Type: application/octet-stream; name=abc.bin\n\
         Content-Transfer-Encoding: base64\n\
         \n\
         YWJj\n",
    );
    let m = split(&raw).unwrap();
    assert_eq!(m.text, "");
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(m.attachments[0].size, 3);
    assert_eq!(
        m.attachments[0].sha256,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(m.attachments[0].filename.as_deref(), Some("abc.bin"));
}

#[test]
fn alternative_prefers_plain() {
    let raw = crlf(
        "From: \"Acme\" <acme@contract.example.net>\n\
         Subject: x\n\
         Content-Type: multipart/alternative; boundary=alt\n\
         \n\
         --alt\n\
         Content-Type: text/plain; charset=us-ascii\n\
         \n\
         Plain version.\n\
         --alt\n\
         Content-Type: text/html; charset=us-ascii\n\
         \n\
         <html><body><p>HTML <b>version</b>.</p></body></html>\n\
         --alt--\n",
    );
    let m = split(&raw).unwrap();
    assert_eq!(m.text, "Plain version.");
    assert!(m.attachments.is_empty());
}

#[test]
fn html_only_is_rendered_to_text() {
    let raw = crlf(
        "From: acme@contract.example.net\n\
         Subject: x\n\
         Content-Type: text/html; charset=utf-8\n\
         \n\
         <html><head><style>p {color: red}</style></head>\
         <body><p>Cl&aacute;usula 1: pago mensual.</p><p>Segunda</p></body></html>\n",
    );
    let m = split(&raw).unwrap();
    assert!(m.text.contains("Cláusula 1: pago mensual."), "{:?}", m.text);
    assert!(m.text.contains("Segunda"), "{:?}", m.text);
    assert!(
        !m.text.contains('<') && !m.text.contains("color"),
        "{:?}",
        m.text
    );
    assert!(m.attachments.is_empty());
}

#[test]
fn quoted_printable_latin1_spanish() {
    let raw = crlf(
        "From: acme@contract.example.net\n\
         Subject: =?ISO-8859-1?Q?Contrato_de_alquiler_a=F1o_2025?=\n\
         Content-Type: text/plain; charset=ISO-8859-1\n\
         Content-Transfer-Encoding: quoted-printable\n\
         \n\
         Cl=E1usula primera: el arrendatario pagar=E1 500 =80 al mes durante un a=\n\
         =F1o.\n\
         Firma: =D1and=FA\n",
    );
    let m = split(&raw).unwrap();
    assert_eq!(m.subject.as_deref(), Some("Contrato de alquiler año 2025"));
    // Like browsers (WHATWG), mail-parser reads ISO-8859-1 as windows-1252, so the 0x80
    // that Windows clients put in "Latin-1" mail is the euro sign they meant.
    assert_eq!(
        m.text,
        "Cláusula primera: el arrendatario pagará 500 € al mes durante un año.\nFirma: Ñandú"
    );
}

#[test]
fn base64_utf8_japanese() {
    let body = "賃貸契約書\r\n第1条 家賃は月額10万円とする。\r\n";
    let raw = crlf(&format!(
        "From: =?UTF-8?B?5aWR57SE?= <keiyaku@example.jp>\n\
         Subject: =?UTF-8?B?{}?=\n\
         Content-Type: text/plain; charset=UTF-8\n\
         Content-Transfer-Encoding: base64\n\
         \n\
         {}\n",
        b64("bob@example.test 賃貸契約".as_bytes()),
        b64(body.as_bytes())
    ));
    let m = split(&raw).unwrap();
    assert_eq!(m.subject.as_deref(), Some("bob@example.test 賃貸契約"));
    assert_eq!(m.from.as_deref(), Some("keiyaku@example.jp"));
    assert_eq!(m.text, "賃貸契約書\n第1条 家賃は月額10万円とする。");
}

#[test]
fn subject_encodings() {
    for (header, expected) in [
        ("=?ISO-2022-JP?B?GyRCN0BMcxsoQg==?=", "契約"),
        ("=?UTF-8?B?5aWR57SE?=", "契約"),
        ("=?UTF-8?Q?Contrato_=C3=B1and=C3=BA?=", "Contrato ñandú"),
        ("=?iso-8859-1?q?a=F1o?=", "año"),
        (
            "bob@example.test =?UTF-8?B?5aWR57SE?=\n =?UTF-8?B?5pu4?=",
            "bob@example.test 契約書",
        ),
        ("plain ascii", "plain ascii"),
    ] {
        let raw = crlf(&format!(
            "From: a@example.test\nSubject: {header}\n\nbody\n"
        ));
        let m = split(&raw).unwrap();
        assert_eq!(m.subject.as_deref(), Some(expected), "{header}");
    }
}

#[test]
fn encoded_line_breaks_in_the_subject_become_one_space() {
    for (header, expected) in [
        (
            "=?UTF-8?Q?bob@example.test_Alquiler=0D=0AX-Injected:_yes?=",
            "bob@example.test Alquiler X-Injected: yes",
        ),
        (
            "=?UTF-8?B?Ym9iQGV4YW1wbGUudGVzdCBhDQoNCmIJYwBk4oCoZQ==?=",
            "bob@example.test a b c d e",
        ),
        ("=?ISO-8859-1?Q?a=85b?=", "a\u{2026}b"),
    ] {
        let raw = crlf(&format!(
            "From: a@example.test\nSubject: {header}\n\nbody\n"
        ));
        let m = split(&raw).unwrap();
        assert_eq!(m.subject.as_deref(), Some(expected), "{header}");
    }
    assert_eq!(one_line("a\u{85}b\r\n\r\nc"), "a b c");
}

#[test]
fn rfc2231_filename() {
    let raw = crlf(
        "From: acme@contract.example.net\n\
         Content-Type: multipart/mixed; boundary=b\n\
         \n\
         --b\n\
         Content-Type: text/plain\n\
         \n\
         see attachment\n\
         --b\n\
         Content-Type: application/pdf\n\
         Content-Disposition: attachment; filename*=UTF-8''contrato%20a%C3%B1o.pdf\n\
         Content-Transfer-Encoding: base64\n\
         \n\
         JVBERi0xLjQK\n\
         --b\n\
         Content-Type: application/pdf; name=\"=?UTF-8?Q?anexo_=C3=B1.pdf?=\"\n\
         Content-Transfer-Encoding: base64\n\
         \n\
         JVBERi0xLjQK\n\
         --b--\n",
    );
    let m = split(&raw).unwrap();
    let names: Vec<_> = m
        .attachments
        .iter()
        .map(|a| a.filename.as_deref())
        .collect();
    assert_eq!(names, vec![Some("contrato año.pdf"), Some("anexo ñ.pdf")]);
    assert_eq!(m.attachments[0].size, 9);
    assert_eq!(m.attachments[0].sha256, sha(b"%PDF-1.4\n"));
}

#[test]
fn nested_multipart_inline_image_and_forwarded_message() {
    let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR fake";
    let forwarded = "From: carol@example.test\r\nSubject: old\r\n\r\nOld terms.\r\n";
    // Written with LF: `crlf` below turns it into what is on the wire.
    let calendar = "BEGIN:VCALENDAR\nEND:VCALENDAR";
    let calendar_wire = calendar.replace('\n', "\r\n");
    let raw = crlf(&format!(
        "From: acme@contract.example.net\n\
         Subject: bob@example.test Contrato\n\
         Content-Type: multipart/mixed; boundary=outer\n\
         \n\
         --outer\n\
         Content-Type: multipart/alternative; boundary=alt\n\
         \n\
         --alt\n\
         Content-Type: text/plain; charset=utf-8\n\
         \n\
         Texto del contrato.\n\
         --alt\n\
         Content-Type: multipart/related; boundary=rel\n\
         \n\
         --rel\n\
         Content-Type: text/html; charset=utf-8\n\
         \n\
         <p>Texto del contrato.</p><img src=\"cid:logo\">\n\
         --rel\n\
         Content-Type: image/png\n\
         Content-ID: <logo>\n\
         Content-Disposition: inline; filename=logo.png\n\
         Content-Transfer-Encoding: base64\n\
         \n\
         {}\n\
         --rel--\n\
         --alt--\n\
         --outer\n\
         Content-Type: text/calendar; charset=utf-8; name=cita.ics\n\
         \n\
         {calendar}\n\
         --outer\n\
         Content-Type: message/rfc822\n\
         \n\
         {}\n\
         --outer--\n",
        b64(png),
        forwarded.trim_end_matches("\r\n").replace("\r\n", "\n")
    ));
    let m = split(&raw).unwrap();
    assert_eq!(m.text, "Texto del contrato.");
    let got: Vec<_> = m
        .attachments
        .iter()
        .map(|a| (a.filename.as_deref(), a.content_type.as_str(), a.size))
        .collect();
    assert_eq!(
        got,
        vec![
            (Some("logo.png"), "image/png", png.len() as u64),
            (
                Some("cita.ics"),
                "text/calendar",
                calendar_wire.len() as u64
            ),
            (None, "message/rfc822", forwarded.len() as u64 - 2),
        ]
    );
    assert_eq!(m.attachments[0].sha256, sha(png));
    assert_eq!(m.attachments[1].sha256, sha(calendar_wire.as_bytes()));
    assert_eq!(
        m.attachments[2].sha256,
        sha(forwarded.trim_end_matches("\r\n").as_bytes())
    );
}

#[test]
fn text_attachment_hash_is_of_the_original_charset_bytes() {
    // A Latin-1 .txt attachment: the hash is of the Latin-1 bytes the recipient saves,
    // not of mail-parser's UTF-8 conversion.
    let latin1 = b"a\xf1o\r\nse\xf1or\r\n";
    let raw = crlf(&format!(
        "From: a@example.test\n\
         Content-Type: multipart/mixed; boundary=b\n\
         \n\
         --b\n\
         Content-Type: text/plain; charset=ISO-8859-1; name=a.txt\n\
         Content-Disposition: attachment; filename=a.txt\n\
         Content-Transfer-Encoding: base64\n\
         \n\
         {}\n\
         --b\n\
         Content-Type: text/plain; charset=ISO-8859-1; name=b.txt\n\
         Content-Disposition: attachment; filename=b.txt\n\
         Content-Transfer-Encoding: quoted-printable\n\
         \n\
         a=F1o\n\
         se=F1or\n\
         --b--\n",
        b64(latin1)
    ));
    let m = split(&raw).unwrap();
    assert_eq!(m.text, "");
    assert_eq!(m.attachments.len(), 2);
    assert_eq!(m.attachments[0].sha256, sha(latin1));
    assert_eq!(m.attachments[0].size, latin1.len() as u64);
    assert_eq!(m.attachments[1].sha256, sha(b"a\xf1o\r\nse\xf1or"));
}

#[test]
fn mixed_plain_and_html_parts_are_all_kept() {
    let raw = crlf(
        "From: a@example.test\n\
         Content-Type: multipart/mixed; boundary=b\n\
         \n\
         --b\n\
         Content-Type: text/plain\n\
         \n\
         First part.\n\
         --b\n\
         Content-Type: text/html\n\
         \n\
         <p>Second part.</p>\n\
         --b\n\
         Content-Type: text/plain\n\
         \n\
         Third part.\n\
         --b--\n",
    );
    let m = split(&raw).unwrap();
    assert_eq!(m.text, "First part.\n\nSecond part.\n\nThird part.");
}

#[test]
fn missing_closing_boundary_still_decodes() {
    let raw = crlf(
        "From: a@example.test\n\
         Content-Type: multipart/mixed; boundary=b\n\
         \n\
         --b\n\
         Content-Type: text/plain\n\
         \n\
         terms\n\
         --b\n\
         Content-Type: application/pdf; name=c.pdf\n\
         Content-Transfer-Encoding: base64\n\
         \n\
         JVBERi0xLjQK\n",
    );
    let m = split(&raw).unwrap();
    assert_eq!(m.text, "terms");
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(m.attachments[0].content_type, "application/pdf");
    assert_eq!(m.attachments[0].sha256, sha(b"%PDF-1.4\n"));
}

#[test]
fn missing_headers_give_none() {
    let m = split(b"X-Other: 1\r\n\r\ncontract body\r\n").unwrap();
    assert_eq!((m.subject, m.from, m.message_id), (None, None, None));
    assert_eq!(m.text, "contract body");
}

#[test]
fn the_bytes_are_the_hashed_file_moved_or_borrowed_never_copied_twice() {
    let forwarded = "From: carol@example.test\r\nSubject: old\r\n\r\nOld terms.";
    let raw = crlf(&format!(
        "From: a@example.test\n\
         Content-Type: multipart/mixed; boundary=b\n\
         \n\
         --b\n\
         Content-Type: text/plain\n\
         \n\
         terms\n\
         --b\n\
         Content-Type: application/pdf; name=c.pdf\n\
         Content-Transfer-Encoding: base64\n\
         \n\
         JVBERi0xLjQK\n\
         --b\n\
         Content-Type: text/plain; charset=ISO-8859-1; name=a.txt\n\
         Content-Disposition: attachment; filename=a.txt\n\
         Content-Transfer-Encoding: quoted-printable\n\
         \n\
         caf=E9 con le=\n\
         che\n\
         --b\n\
         Content-Type: message/rfc822\n\
         \n\
         {}\n\
         --b--\n",
        forwarded.replace("\r\n", "\n")
    ));
    let m = split(&raw).unwrap();
    let got: Vec<&[u8]> = m.attachments.iter().map(|a| a.bytes.as_ref()).collect();
    assert_eq!(
        got,
        [
            &b"%PDF-1.4\n"[..],
            b"caf\xe9 con leche",
            forwarded.as_bytes()
        ]
    );
    for a in &m.attachments {
        assert_eq!(a.sha256, sha(&a.bytes));
        assert_eq!(a.size, a.bytes.len() as u64);
    }
    // Decoded by the parser: moved out of it. Not encoded: a slice of the raw message.
    assert!(matches!(m.attachments[0].bytes, Cow::Owned(_)));
    assert!(matches!(m.attachments[2].bytes, Cow::Borrowed(_)));
    assert_eq!(m.attachments[1].charset.as_deref(), Some("ISO-8859-1"));
    assert_eq!(m.attachments[0].charset, None);
    let owned = m.attachments[2].clone().into_owned();
    assert_eq!(owned, m.attachments[2]);
}

#[test]
fn rfc2231_continuations_make_one_name() {
    // RFC 2231 sections 3 and 4: numbered segments, the first with the charset.
    let raw = crlf(
        "From: a@example.test\n\
         Content-Type: multipart/mixed; boundary=b\n\
         \n\
         --b\n\
         Content-Type: application/pdf\n\
         Content-Disposition: attachment;\n \
         filename*0*=UTF-8''contrato%20de%20;\n \
         filename*1*=arrendamiento%20a%C3%B1o;\n \
         filename*2=\".pdf\"\n\
         Content-Transfer-Encoding: base64\n\
         \n\
         JVBERi0xLjQK\n\
         --b--\n",
    );
    let m = split(&raw).unwrap();
    assert_eq!(
        m.attachments[0].filename.as_deref(),
        Some("contrato de arrendamiento año.pdf")
    );
}
