//! Answers as real mail clients write them, through real Postfix: an HTML-only reply from the
//! new Outlook for Windows decides like the plain "ACEPTO" it means (issue 12).

use certmail_e2e::{header, transaction, Sandbox, Smtp};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

/// The first mail in `who`'s maildir whose Subject contains `needle`.
fn mail_with_subject(sb: &Sandbox, who: &str, needle: &str) -> Vec<u8> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(m) = certmail_e2e::read_maildir(&sb.maildir(who))
            .into_iter()
            .find(|m| header(m, "Subject").is_some_and(|s| s.contains(needle)))
        {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "no mail with {needle:?} for {who}; certd log:\n{}",
            sb.log("certd.log")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// What the new Outlook for Windows (Spanish) sends when Beatriz types `own` above her
/// signature and presses Reply: HTML only, a `div` per line, her signature in
/// `<div id="Signature">`, Outlook's `<hr>` and `divRplyFwdMsg` reply header, then the
/// request as a `PlainText` div (as in certd/tests/fixtures/replies/
/// outlook-new-windows-es-html-only.eml).
fn outlook_reply(request: &[u8], own: &str) -> Vec<u8> {
    let parsed = mail_parser::MessageParser::default()
        .parse(request)
        .expect("the request parses");
    let request_text = parsed.body_text(0).expect("the request has a text");
    let subject = parsed.subject().expect("the request has a Subject");
    let message_id = parsed.message_id().expect("the request has a Message-ID");
    let reply_to = header(request, "Reply-To").expect("the request has a Reply-To");
    let font = "font-family: Aptos, Aptos_EmbeddedFont, Aptos_MSFontService, Calibri, \
                Helvetica, sans-serif; font-size: 12pt; color: rgb(0, 0, 0);";
    let quoted: Vec<String> = request_text.lines().map(escape).collect();
    let html = format!(
        "<html>\r\n<head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\r\n\
<style type=\"text/css\" style=\"display:none;\"> P {{margin-top:0;margin-bottom:0;}} </style>\r\n\
</head>\r\n<body dir=\"ltr\">\r\n\
<div class=\"elementToProof\" style=\"{font}\">\r\n{own}</div>\r\n\
<div class=\"elementToProof\" style=\"{font}\">\r\n<br>\r\n</div>\r\n\
<div id=\"Signature\" class=\"elementToProof\">\r\n<div style=\"{font}\">\r\nBeatriz G&oacute;mez</div>\r\n\
<div style=\"{font}\">\r\nDirectora de Compras</div>\r\n</div>\r\n\
<div id=\"appendonsend\"></div>\r\n<hr style=\"display:inline-block;width:98%\" tabindex=\"-1\">\r\n\
<div id=\"divRplyFwdMsg\" dir=\"ltr\"><font face=\"Calibri, sans-serif\" style=\"font-size:11pt\" color=\"#000000\">\
<b>De:</b> {from}<br>\r\n<b>Enviado:</b> mi&eacute;rcoles, 25 de noviembre de 2026 11:00<br>\r\n\
<b>Para:</b> Beatriz G&oacute;mez &lt;bob@example.test&gt;<br>\r\n<b>Asunto:</b> {subject}</font>\r\n\
<div>&nbsp;</div>\r\n</div>\r\n<div class=\"PlainText\">{quoted}<br>\r\n</div>\r\n</body>\r\n</html>\r\n",
        from = escape(&header(request, "From").unwrap_or_default()),
        subject = escape(subject),
        quoted = quoted.join("<br>\r\n"),
    );
    let body = data_encoding::BASE64_MIME.encode(html.as_bytes());
    format!(
        "From: =?utf-8?Q?Beatriz_G=C3=B3mez?= <bob@example.test>\r\n\
To: \"{reply_to}\" <{reply_to}>\r\n\
Subject: RE: {subject}\r\n\
Thread-Topic: {subject}\r\n\
Date: Wed, 25 Nov 2026 10:12:31 +0000\r\n\
Message-ID: <PR3PR06MB6925{n:016X}@PR3PR06MB6925.eurprd06.prod.outlook.com>\r\n\
References: <{message_id}>\r\n\
In-Reply-To: <{message_id}>\r\n\
Accept-Language: es-ES, en-US\r\n\
Content-Language: es-ES\r\n\
X-MS-Has-Attach:\r\n\
X-MS-TNEF-Correlator:\r\n\
Content-Type: text/html; charset=\"utf-8\"\r\n\
Content-Transfer-Encoding: base64\r\n\
MIME-Version: 1.0\r\n\r\n{body}",
        subject = header(request, "Subject").unwrap_or_default(),
        n = certmail_e2e::rand_u64(),
    )
    .into_bytes()
}

#[test]
fn outlook_html_only_spanish_answer_accepts() {
    let sb = Sandbox::up("replies-outlook");
    let id = sb.submit_contract(
        sb.get("CONTRACT_ADDRESS"),
        "bob@example.test Contrato de servicios",
        "Cláusula 1: Alice presta el servicio.\nCláusula 2: Bob paga 100 EUR al mes.",
        &[],
    );
    let request = mail_with_subject(&sb, "bob", "serial");
    let reply_to = header(&request, "Reply-To").expect("Reply-To");
    let reply = outlook_reply(&request, "Acepto las condiciones.");

    // From the destination's own mailbox, envelope and From: alike.
    let mut s = Smtp::connect(sb.smtp_port());
    let out = transaction(&mut s, "bob@example.test", &[&reply_to], &reply);
    s.quit();
    assert_eq!(
        out.data.map(|d| d.code),
        Some(250),
        "{}",
        sb.log("certmilter.log")
    );

    let show = sb.wait_for_state(&id, "accepted", WAIT);
    assert_eq!(
        show["contract"]["state"],
        "accepted",
        "{show}\ncertd log:\n{}",
        sb.log("certd.log")
    );
    let reply = show["events"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["kind"] == "reply"))
        .expect("the deciding reply")
        .clone();
    assert_eq!(reply["data"]["decision"], "accept", "{reply}");
    // Her words only: not the signature (Outlook marks it), not the request quoted below.
    assert_eq!(
        reply["data"]["response_text"], "Acepto las condiciones.",
        "{reply}"
    );
}
