//! The answer reader on hand-written replies: own words, verdicts, and robustness.
//! Real clients' whole messages are in `certd/tests/replies.rs`.

use super::*;
use Verdict::{Accept, Reject, Unclear};

/// own_words then classify, as certd does.
fn verdict(reply: &str) -> Verdict {
    classify(&own_words(reply))
}

fn check(cases: &[(&str, Verdict)]) {
    for (text, want) in cases {
        assert_eq!(classify(text), *want, "classify({text:?})");
    }
}

// ----- own_words -------------------------------------------------------------------

#[test]
fn own_words_plain_text_is_kept() {
    assert_eq!(own_words("ACEPTO"), "ACEPTO");
    assert_eq!(own_words(""), "");
    assert_eq!(own_words("\n \n\t\n"), "");
}

#[test]
fn own_words_removes_signature() {
    let text = "Acepto el contrato.\n\nSaludos,\nBob\n-- \nBob Pérez\nGerente";
    assert_eq!(own_words(text), "Acepto el contrato.\n\nSaludos,\nBob");
    assert_eq!(own_words("I accept\n--\nBob, I reject nothing"), "I accept");
    // Not a separator: more than the dashes on the line.
    assert_eq!(own_words("I accept\n-- Bob"), "I accept\n-- Bob");
}

#[test]
fn own_words_removes_quoted_lines_of_any_depth() {
    let text =
        "Yes\n> Do you accept?\n> > reply REJECT\n>> older\n  > indented\n＞ full-width\nThanks";
    assert_eq!(own_words(text), "Yes\nThanks");
}

#[test]
fn own_words_cuts_english_attribution() {
    let text = "I accept.\n\nOn Wed, Nov 25, 2026 at 10:00 AM Alice <alice@example.com> wrote:\nreply REJECT to reject";
    assert_eq!(own_words(text), "I accept.");
}

#[test]
fn own_words_cuts_wrapped_english_attribution() {
    let text = "I accept.\n\nOn Wed, Nov 25, 2026 at 10:00 AM Alice Example <\nalice@example.com> wrote:\n\nreply REJECT";
    assert_eq!(own_words(text), "I accept.");
    let text = "Agreed\nOn 25/11/2026 10:00, Alice Example\nwrote:\nREJECT";
    assert_eq!(own_words(text), "Agreed");
}

#[test]
fn own_words_cuts_spanish_attribution() {
    let text = "Rechazo.\n\nEl mié, 25 nov 2026 a las 10:00, Alice (<alice@example.com>) escribió:\nPara aceptar responda ACEPTO";
    assert_eq!(own_words(text), "Rechazo.");
    let wrapped = "Rechazo.\nEl mié, 25 nov 2026 a las 10:00, Alice Example (<\nalice@example.com>) escribió:\nACEPTO";
    assert_eq!(own_words(wrapped), "Rechazo.");
}

#[test]
fn own_words_cuts_japanese_attributions() {
    let gmail = "承諾します。\n\n2026年11月25日(水) 10:00 Alice <alice@example.com>:\n拒否する場合は「拒否」";
    assert_eq!(own_words(gmail), "承諾します。");
    let san = "承諾します。\nAlice さんは書きました:\n拒否";
    assert_eq!(own_words(san), "承諾します。");
    let full_width_colon = "承諾します。\nAlice さんは書きました：\n拒否";
    assert_eq!(own_words(full_width_colon), "承諾します。");
    let wrote = "承諾します。\n2026/11/25 10:00、Alice wrote:\n拒否";
    assert_eq!(own_words(wrote), "承諾します。");
}

#[test]
fn own_words_cuts_wrapped_japanese_gmail_attributions() {
    // Gmail wraps a long attribution before the address, or inside the name.
    let at_address = "承諾します。\n\n2026年11月25日(水) 19:00 Certmail Servicio de Contratación <\ncertmail@contract.test>:\n\n> 拒否";
    assert_eq!(own_words(at_address), "承諾します。");
    let in_name = "承諾します。\n2026年11月25日(水) 19:00 Certmail Servicio de\nContratación <certmail@contract.test>:\n拒否";
    assert_eq!(own_words(in_name), "承諾します。");
}

#[test]
fn own_words_cuts_apple_mail_japanese_attributions() {
    let mail = "はい\n\n2026/11/25 19:00、Certmail <certmail@contract.test>のメール:\n\n拒否";
    assert_eq!(own_words(mail), "はい");
    let message = "はい\n2016/01/14 11:26、Certmail <a@b>のメッセージ:\n拒否";
    assert_eq!(own_words(message), "はい");
    // A heading of one's own is not an attribution.
    let heading = "昨日のメール:\n承諾します";
    assert_eq!(own_words(heading), heading);
}

#[test]
fn own_words_cuts_outlook_mobile_footers_and_mac_headers() {
    let android = "Approved\n\nDownload Outlook for Android<https://aka.ms/ghei36>\n\n________________________________\nFrom: x\nREJECT";
    assert_eq!(own_words(android), "Approved");
    assert_eq!(
        own_words("Acepto\nDescargar Outlook para iOS\nRECHAZO"),
        "Acepto"
    );
    assert_eq!(
        own_words("承諾します\n\niOS 版 Outlook を入手\n拒否"),
        "承諾します"
    );
    let mac_ja = "承諾します\n\n差出人: Certmail <c@x>\n日付: 2026年11月25日 水曜日 19:00\n宛先: 田中\n件名: 契約\n\n拒否";
    assert_eq!(own_words(mac_ja), "承諾します");
}

#[test]
fn own_words_cuts_outlook_originals() {
    let en = "I decline.\n\n-----Original Message-----\nFrom: certd\nTo ACCEPT the contract, reply ACCEPT.";
    assert_eq!(own_words(en), "I decline.");
    let es = "Acepto\n-----Mensaje original-----\nPara RECHAZARLO, responda RECHAZO.";
    assert_eq!(own_words(es), "Acepto");
    let fwd = "Acepto\n---------- Forwarded message ---------\nRECHAZO";
    assert_eq!(own_words(fwd), "Acepto");
}

#[test]
fn own_words_cuts_header_blocks() {
    let es = "Acepto\n\nDe: Certmail <certd@example.com>\nEnviado: miércoles, 25 de noviembre de 2026 10:00\nPara: Bob\nAsunto: Contrato\n\nRECHAZO";
    assert_eq!(own_words(es), "Acepto");
    let en = "Accepted\n*From:* Certmail <certd@example.com>\n*Sent:* Wednesday\nREJECT";
    assert_eq!(own_words(en), "Accepted");
    let one_line = "Acepto\nDe: Certmail Enviado: miércoles Para: Bob\nRECHAZO";
    assert_eq!(own_words(one_line), "Acepto");
    let ja = "承諾します\n差出人: Certmail\n送信日時: 2026年11月25日 10:00\n拒否";
    assert_eq!(own_words(ja), "承諾します");
    // A "From:" the counterparty wrote, with no Sent:/Date: under it, stays.
    let own = "From: my side, I accept.\nThanks";
    assert_eq!(own_words(own), own);
}

#[test]
fn own_words_cuts_underscore_separator() {
    let text = "I accept\n________________________________\nFrom: certd\nREJECT";
    assert_eq!(own_words(text), "I accept");
}

#[test]
fn own_words_cuts_mobile_footers() {
    assert_eq!(own_words("Ok\n\nSent from my iPhone\n\n> REJECT"), "Ok");
    assert_eq!(own_words("Sí\nEnviado desde mi iPhone"), "Sí");
    assert_eq!(own_words("はい\niPhoneから送信"), "はい");
    assert_eq!(own_words("Acepto\nObtener Outlook para Android"), "Acepto");
}

#[test]
fn own_words_trims_and_collapses_blank_lines() {
    let text =
        "\r\n\r\n  \u{feff}Acepto\u{a0}el contrato.  \r\n\r\n\r\n\r\nSaludos\u{200b}\r\n\r\n";
    assert_eq!(own_words(text), "  Acepto el contrato.\n\nSaludos");
}

// ----- classify: short and plain answers ---------------------------------------------

#[test]
fn plain_keywords() {
    check(&[
        ("ACEPTO", Accept),
        ("acepto", Accept),
        ("Aceptado.", Accept),
        ("Aceptamos el contrato", Accept),
        ("I accept", Accept),
        ("Accepted.", Accept),
        ("I agree to the terms", Accept),
        ("Approved", Accept),
        ("De acuerdo.", Accept),
        ("Estoy conforme", Accept),
        ("Aprobado", Accept),
        ("RECHAZO", Reject),
        ("Rechazado", Reject),
        ("REJECT", Reject),
        ("I decline.", Reject),
        ("We refuse to sign.", Reject),
    ]);
}

#[test]
fn short_answers_only_when_alone_on_the_line() {
    check(&[
        ("Ok", Accept),
        ("OK.", Accept),
        ("okay!", Accept),
        ("Ok 👍", Accept),
        ("yes", Accept),
        ("Yes.\n\nBob", Accept),
        ("sí", Accept),
        ("Sí", Accept),
        ("SI", Accept),
        ("si", Accept),
        ("no", Reject),
        ("No.", Reject),
        ("ok, but what about clause 3?", Unclear),
        ("Ok, thanks", Unclear),
        ("No, gracias", Unclear),
        ("yes and no", Unclear),
    ]);
}

#[test]
fn short_answers_combine_with_keywords() {
    check(&[
        ("Yes, I accept", Accept),
        ("Sí, acepto.", Accept),
        ("No, I do not accept", Reject),
        ("No, no acepto", Reject),
        ("No, I accept", Unclear),
        ("Yes, I reject", Unclear),
        ("Ok, I decline", Unclear),
        ("Si acepto", Unclear), // "if I accept" or a sloppy "sí, acepto"
    ]);
}

#[test]
fn full_width_and_decomposed_input() {
    check(&[
        ("ＯＫ", Accept),
        ("ＡＣＥＰＴＯ", Accept),
        ("Ｉ　ａｃｃｅｐｔ", Accept),
        ("s\u{69}\u{301}", Accept),
        ("No acepto", Reject),
    ]);
}

// ----- classify: negation ------------------------------------------------------------

#[test]
fn negation_wins() {
    check(&[
        ("No acepto las condiciones", Reject),
        ("No estoy de acuerdo", Reject),
        ("no lo acepto", Reject),
        ("I do not accept", Reject),
        ("I don't agree", Reject),
        ("I don’t accept", Reject),
        ("Don't accept.", Reject),
        ("I can't accept this contract", Reject),
        ("I have never agreed to this", Reject),
        ("Ni acepto ni rechazo", Unclear),
        ("I do not reject", Unclear),
        ("No rechazo el contrato", Unclear),
    ]);
}

#[test]
fn no_problem_is_not_a_negation() {
    check(&[
        ("No problem, I accept", Accept),
        ("No problem I accept", Accept),
        ("No hay problema, acepto", Accept),
    ]);
}

#[test]
fn according_to_is_not_agreement() {
    check(&[
        ("De acuerdo con la cláusula 5, rechazo el contrato.", Reject),
        ("Conforme a lo pactado, rechazo.", Reject),
        ("As agreed on the phone, I decline.", Reject),
        ("Estoy de acuerdo con el contrato", Accept),
    ]);
}

#[test]
fn acceptable_unacceptable() {
    check(&[
        ("This is unacceptable.", Reject),
        ("Inaceptable", Reject),
        ("The contract is not acceptable", Reject),
        ("No es aceptable", Reject),
        ("It is acceptable", Unclear),
        ("acceptance criteria?", Unclear),
        ("Not unacceptable", Unclear),
        ("Unacceptable. I accept.", Unclear),
    ]);
}

// ----- classify: Japanese -------------------------------------------------------------

#[test]
fn japanese() {
    check(&[
        ("承諾します。", Accept),
        ("承諾", Accept),
        ("「承諾」", Accept),
        ("契約内容に同意いたします", Accept),
        ("了承しました。", Accept),
        ("受諾させていただきます", Accept),
        ("はい", Accept),
        ("はい。", Accept),
        ("はい、承諾します。", Accept),
        ("契約内容に同意しません", Reject),
        ("承諾しません。", Reject),
        ("同意いたしかねます。", Reject),
        ("不同意", Reject),
        ("拒否します", Reject),
        ("お断りします。", Reject),
        ("いいえ", Reject),
        ("いいえ、承諾します", Unclear),
        ("拒否しません", Unclear),
        ("承諾しますか？", Unclear),
        ("承諾してもよろしいでしょうか", Unclear),
        ("同意書を送ります", Unclear),
        ("ご承諾ください", Unclear),
        ("同意しますが、第3条は削除してください。", Unclear),
        ("多分承諾します", Unclear),
    ]);
}

// ----- classify: questions, conflicts, conditions --------------------------------------

#[test]
fn questions_do_not_decide() {
    check(&[
        ("¿Qué significa la cláusula 3?", Unclear),
        ("can I accept later?", Unclear),
        ("Can I accept\nlater?", Unclear),
        ("¿Acepto o rechazo?", Unclear),
        ("Acepto. ¿Cuándo recibo el certificado?", Unclear),
        ("Acepto.\n¿Cuándo recibo el certificado?", Accept),
        ("I accept\nCan you send me a copy?", Accept),
    ]);
}

#[test]
fn conflicting_statements_are_unclear() {
    check(&[
        ("acepto... bueno no, rechazo", Unclear),
        ("I accept. No wait, I reject.", Unclear),
        ("Please reply ACCEPT or REJECT", Unclear),
        ("Acepto.\n\nAcepto el contrato.", Accept),
    ]);
}

#[test]
fn conditions_and_hedges_make_acceptance_unclear() {
    check(&[
        ("I accept if clause 3 is removed", Unclear),
        ("If clause 3 is removed, I accept.", Unclear),
        ("Acepto, pero la cláusula 3 debe cambiar", Unclear),
        ("Acepto.\nPero la cláusula 3 debe cambiar.", Unclear),
        ("Acepto siempre que se elimine la cláusula 3", Unclear),
        ("Si se elimina la cláusula 3, acepto", Unclear),
        ("Maybe I accept", Unclear),
        ("Quizás acepto", Unclear),
        ("I think I agree", Unclear),
        ("Rechazo, pero gracias por la oferta", Reject),
        ("I accept. I would like a copy, please.", Accept),
    ]);
}

#[test]
fn nothing_decisive_is_unclear() {
    check(&[
        ("", Unclear),
        ("   \n\n ", Unclear),
        ("Gracias", Unclear),
        ("Let me check with my lawyer.", Unclear),
        ("👍", Unclear),
        ("aceptar", Unclear),
    ]);
}

// ----- whole replies --------------------------------------------------------------------

#[test]
fn gmail_spanish_reply_with_quoted_instructions() {
    let reply = "Acepto el contrato.\n\nSaludos,\nBob\n-- \nBob Pérez\n\n\
El mié, 25 nov 2026 a las 10:00, Certmail <certd@example.com> escribió:\n\n\
> Alice le ha enviado el contrato que figura a continuación.\n\
>\n\
> Para ACEPTAR el contrato, responda a este mensaje con la palabra ACEPTO.\n\
> Para RECHAZARLO, responda con la palabra RECHAZO.\n";
    assert_eq!(own_words(reply), "Acepto el contrato.\n\nSaludos,\nBob");
    assert_eq!(verdict(reply), Accept);
    let reject = reply.replace("Acepto el contrato.", "No acepto las condiciones");
    assert_eq!(verdict(&reject), Reject);
}

#[test]
fn gmail_reply_quoted_without_attribution() {
    let reply = "I accept\n\n> To REJECT it, reply with the word REJECT.\n> reply REJECT";
    assert_eq!(verdict(reply), Accept);
}

#[test]
fn outlook_reply_with_original_below() {
    let reply = "I decline, thank you.\r\n\r\nBob\r\n\r\n-----Original Message-----\r\n\
From: Certmail <certd@example.com>\r\nSent: Wednesday, November 25, 2026 10:00 AM\r\n\
To: Bob <bob@example.com>\r\nSubject: Contract for your acceptance\r\n\r\n\
To ACCEPT the contract, reply to this message with the word ACCEPT.\r\n";
    assert_eq!(own_words(reply), "I decline, thank you.\n\nBob");
    assert_eq!(verdict(reply), Reject);
}

#[test]
fn outlook_spanish_reply_with_header_block() {
    let reply = "Conforme.\n\n________________________________\nDe: Certmail <certd@example.com>\n\
Enviado: miércoles, 25 de noviembre de 2026 10:00\nPara: Bob\nAsunto: Contrato\n\n\
Para RECHAZARLO, responda con la palabra RECHAZO.";
    assert_eq!(verdict(reply), Accept);
}

#[test]
fn japanese_gmail_reply() {
    let reply = "承諾します。\n\nよろしくお願いいたします。\nボブ\n\n\
2026年11月25日(水) 10:00 Certmail <certd@example.com>:\n\n\
> 契約を承諾する場合は、このメールに「承諾」とご返信ください。\n\
> 拒否する場合は「拒否」とご返信ください。";
    assert_eq!(
        own_words(reply),
        "承諾します。\n\nよろしくお願いいたします。\nボブ"
    );
    assert_eq!(verdict(reply), Accept);
    let reject = reply.replace("承諾します。", "契約内容に同意しません。");
    assert_eq!(verdict(&reject), Reject);
}

#[test]
fn rendered_html_reply_without_quote_markers() {
    // An HTML reply rendered to text: no ">" on the original, nbsp, zero-width
    // spaces, bold markers, many blank lines.
    let reply = "\u{feff}<b>Acepto</b>\u{a0}el contrato.\n\n\n\n*Bob Pérez*\n\n\n\
*El mié, 25 nov 2026 a las 10:00, Certmail (<certd@example.com>) escribió:*\n\n\
Para ACEPTAR el contrato, responda con la palabra ACEPTO.\u{200b}\n\
Para RECHAZARLO, responda con la palabra RECHAZO.";
    assert_eq!(verdict(reply), Accept);
    let ja = "拒否します<br>\n\n2026年11月25日(水) 10:00 Certmail <certd@example.com>:\n契約を承諾する場合は「承諾」";
    assert_eq!(verdict(ja), Reject);
}

#[test]
fn signature_or_quote_only_replies_are_unclear() {
    assert_eq!(
        verdict("-- \nBob Pérez\nI accept all terms of service"),
        Unclear
    );
    assert_eq!(verdict("> Para aceptar responda ACEPTO"), Unclear);
    assert_eq!(
        verdict("On Wed, Nov 25, 2026 Alice wrote:\nI accept\n> ACCEPT"),
        Unclear
    );
    assert_eq!(verdict("Sent from my iPhone"), Unclear);
}

#[test]
fn verdict_round_trip_through_lifecycle_wording() {
    // certd's clarification request, if it leaked unquoted, must not decide.
    let leak = "Thank you for your reply. We could not tell whether you accept or reject the contract. Please reply once more with the single word ACCEPT or REJECT.";
    assert_eq!(classify(leak), Unclear);
}

// ----- whole messages ----------------------------------------------------------------

fn parse(raw: &str) -> mail_parser::Message<'_> {
    mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .expect("parses")
}

#[test]
fn reply_text_renders_html_only_bodies_with_their_lines() {
    let raw = "From: b@x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
               <div>Acepto las condiciones.</div><div>Bea</div><hr>\
               <div id=divRplyFwdMsg><b>De:</b> c<br><b>Enviado:</b> hoy</div><div>RECHAZO</div>";
    assert_eq!(
        own_words(&reply_text(&parse(raw))),
        "Acepto las condiciones.\nBea"
    );
}

#[test]
fn reply_text_reads_the_text_alternative_or_the_html_when_the_text_is_empty() {
    let alternative = |text: &str| {
        format!(
            "From: b@x\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n\
             --b\r\nContent-Type: text/plain\r\n\r\n{text}\r\n\
             --b\r\nContent-Type: text/html\r\n\r\n<p>HTML words</p>\r\n--b--\r\n"
        )
    };
    assert_eq!(reply_text(&parse(&alternative("Text words"))), "Text words");
    assert_eq!(reply_text(&parse(&alternative(" \r\n"))), "HTML words");
    assert_eq!(reply_text(&parse("From: b@x\r\n\r\n")), "");
}

// ----- robustness -----------------------------------------------------------------------

#[test]
fn never_panics_on_arbitrary_input() {
    const PIECES: &[&str] = &[
        "a",
        "Z",
        " ",
        "\n",
        "\r",
        "\r\n",
        "\t",
        ">",
        "> >",
        "＞",
        "-- ",
        "--",
        "?",
        "¿",
        ",",
        ".",
        "、",
        "。",
        ":",
        "：",
        "'",
        "’",
        "\u{301}",
        "\u{feff}",
        "\u{200b}",
        "\u{a0}",
        "í",
        "Í",
        "ñ",
        "İ",
        "ß",
        "Ａ",
        "ｱ",
        "é",
        "no",
        "sí",
        "si",
        "ok",
        "acepto",
        "rechazo",
        "accept",
        "not",
        "de acuerdo",
        "承諾",
        "しません",
        "します",
        "不",
        "はい",
        "いいえ",
        "wrote:",
        "On ",
        "El ",
        "escribió:",
        "From: x",
        "Sent: y",
        "De: a",
        "Enviado: b",
        "____________",
        "-----Original Message-----",
        "<a@b>:",
        "2026年11月25日",
        "😀",
        "\u{0}",
        "\u{10ffff}",
        "'",
        "n't",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..500 {
        let len = (next() % 40) as usize;
        let mut text = String::new();
        for _ in 0..len {
            if next() % 4 == 0 {
                // Any scalar value, surrogates skipped.
                if let Some(c) = char::from_u32((next() % 0x11_0000) as u32) {
                    text.push(c);
                }
            } else {
                text.push_str(PIECES[(next() % PIECES.len() as u64) as usize]);
            }
        }
        let own = own_words(&text);
        assert!(
            own.lines().all(|l| !l.trim_start().starts_with('>')),
            "{text:?}"
        );
        assert_eq!(own_words(&own), own, "own_words not idempotent on {text:?}");
        let _ = classify(&text);
        let _ = classify(&own);
    }
}

#[test]
fn passive_reports_are_no_acceptance() {
    for text in [
        "Your message has been received and accepted for processing.",
        "Your request has been approved.",
        "Su solicitud ha sido aceptada.",
        "La incidencia fue aprobada por el sistema.",
    ] {
        assert_eq!(classify(text), Unclear, "{text}");
    }
    // Active consent still decides.
    assert_eq!(classify("I accept."), Accept);
    assert_eq!(classify("Accepted."), Accept);
}
