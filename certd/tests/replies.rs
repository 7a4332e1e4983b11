//! Replies as real clients write them (certd/tests/fixtures/replies, see PROVENANCE.md there):
//! each is read as certd reads a reply, and must give its expected own words and verdict.

use certd::answer::{classify, html, own_words, reply_text, Verdict};
use mail_parser::{MessageParser, PartType};
use std::path::{Path, PathBuf};
use Verdict::{Accept, Reject, Unclear};

/// One sample: the counterparty's own words certd must extract, and the verdict.
struct Sample {
    file: &'static str,
    own_words: Own,
    verdict: Verdict,
    /// What the HTML alternative says when it differs from the text one certd reads.
    html: Option<(&'static str, Verdict)>,
}

enum Own {
    Exactly(&'static str),
    /// Long own words (a pasted request): how they start.
    StartsWith(&'static str),
}

impl Own {
    fn matches(&self, own: &str) -> bool {
        match self {
            Own::Exactly(want) => own.trim_start() == want.trim_start(),
            Own::StartsWith(want) => own.starts_with(want),
        }
    }
}

use Own::{Exactly, StartsWith};

const SAMPLES: &[Sample] = &[
    // The new Outlook for Windows, HTML only, blocks in `div`s and the reply header after an
    // `<hr>`: the answer of issue 12, read as unclear before the HTML kept its lines.
    Sample {
        file: "outlook-new-windows-es-html-only.eml",
        own_words: Exactly("Acepto las condiciones."),
        verdict: Accept,
        html: None,
    },
    // Classic Outlook (Word HTML: `MsoNormal` paragraphs, `<o:p>`), HTML only.
    Sample {
        file: "outlook-classic-es-html-only.eml",
        own_words: Exactly("Acepto las condiciones.\n\nBeatriz Gómez\nDirectora de Compras\nGómez Logística, S.L. | Tel. +34 912 345 678"),
        verdict: Accept,
        html: None,
    },
    Sample {
        file: "outlook-classic-es-conditional.eml",
        own_words: Exactly("Aceptaría el contrato si la cláusula 2 admite un preaviso de 60 días.\n\n¿Pueden enviarme una versión revisada?\n\nBeatriz Gómez\nDirectora de Compras"),
        verdict: Unclear,
        html: None,
    },
    Sample {
        file: "outlook-classic-ja.eml",
        own_words: Exactly("承諾いたします。\n\nよろしくお願いいたします。\n\n田中 ボブ\n田中商事株式会社 総務部"),
        verdict: Accept,
        html: None,
    },
    Sample {
        file: "outlook-web-en.eml",
        // Outlook's text alternative has no signature separator, and the signature says
        // "Approved": read as unclear (certd asks again). Its HTML marks the signature.
        own_words: Exactly("I decline, thank you. We have chosen another provider.\n\nBob Smith\nSmith Consulting Ltd. — Approved supplier since 2019"),
        verdict: Unclear,
        html: Some(("I decline, thank you. We have chosen another provider.", Reject)),
    },
    Sample {
        file: "outlook-ios-en.eml",
        own_words: Exactly("Approved."),
        verdict: Accept,
        html: None,
    },
    Sample {
        file: "gmail-web-en.eml",
        own_words: Exactly("I accept the contract.\n\nThanks,\nBob"),
        verdict: Accept,
        html: None,
    },
    Sample {
        file: "gmail-web-es.eml",
        own_words: Exactly("No acepto las condiciones de la cláusula 2.\n\nUn saludo,"),
        verdict: Reject,
        html: None,
    },
    Sample {
        file: "gmail-web-ja.eml",
        own_words: Exactly("承諾します。\n\nよろしくお願いいたします。\n田中"),
        verdict: Accept,
        html: None,
    },
    Sample {
        file: "gmail-web-en-hedged.eml",
        own_words: Exactly("I would accept if clause 2 allowed 60 days' notice instead of 30.\n\nBob"),
        verdict: Unclear,
        html: None,
    },
    Sample {
        file: "gmail-android-es.eml",
        own_words: Exactly("Acepto"),
        verdict: Accept,
        html: None,
    },
    Sample {
        file: "apple-mail-macos-en.eml",
        own_words: Exactly("Agreed.\n\nBob"),
        verdict: Accept,
        html: None,
    },
    Sample {
        file: "apple-mail-macos-es.eml",
        own_words: Exactly("Rechazo el contrato.\n\nBeatriz"),
        verdict: Reject,
        html: None,
    },
    Sample {
        file: "apple-ios-en.eml",
        own_words: Exactly("Yes"),
        verdict: Accept,
        html: None,
    },
    Sample {
        file: "apple-ios-es.eml",
        own_words: Exactly("Rechazo."),
        verdict: Reject,
        html: None,
    },
    Sample {
        file: "apple-ios-ja.eml",
        own_words: Exactly("はい、承諾します。"),
        verdict: Accept,
        html: None,
    },
    Sample {
        file: "thunderbird-en.eml",
        own_words: Exactly("I accept.\n\nBob"),
        verdict: Accept,
        html: None,
    },
    Sample {
        file: "thunderbird-es.eml",
        own_words: Exactly("Rechazo el contrato, gracias.\n\nBeatriz"),
        verdict: Reject,
        html: None,
    },
    // Typed below the quote: lost on purpose (the quote header cuts), so certd asks again.
    Sample {
        file: "thunderbird-en-bottom-posted.eml",
        own_words: Exactly(""),
        verdict: Unclear,
        html: None,
    },
    Sample {
        file: "yahoo-en.eml",
        own_words: Exactly(" Yes, I accept.\n\nBob"),
        verdict: Accept,
        html: None,
    },
    // An out-of-office answer that pastes our request unquoted: both ACCEPT and REJECT.
    Sample {
        file: "autoreply-en-quoting-request.eml",
        own_words: StartsWith("Thank you for your message. I am out of the office until 1 December 2026 with no access to email.\n\nYour message:\n\nAlice Example <alice@example.test> has sent you"),
        verdict: Unclear,
        html: None,
    },
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/replies")
}

fn sample(file: &str) -> &'static Sample {
    SAMPLES
        .iter()
        .find(|s| s.file == file)
        .unwrap_or_else(|| panic!("{file}: add its expected own words and verdict to SAMPLES"))
}

/// What certd records for a raw reply: `inbound::read_reply` reads the text with
/// [`reply_text`], then takes the own words and classifies them.
fn read(raw: &[u8]) -> (String, Verdict) {
    let message = MessageParser::default()
        .parse(raw)
        .expect("a fixture parses");
    let own = own_words(&reply_text(&message));
    let verdict = classify(&own);
    (own, verdict)
}

#[test]
fn every_client_sample_gives_its_own_words_and_verdict() {
    let mut files: Vec<String> = std::fs::read_dir(fixtures())
        .expect("fixtures directory")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".eml"))
        .collect();
    files.sort();
    assert!(files.len() >= SAMPLES.len(), "{files:?}");
    for file in &files {
        let want = sample(file);
        let raw = std::fs::read(fixtures().join(file)).expect("read fixture");
        let (own, verdict) = read(&raw);
        assert!(want.own_words.matches(&own), "{file}: own words {own:?}");
        assert_eq!(verdict, want.verdict, "{file}: verdict of {own:?}");
    }
    for s in SAMPLES {
        assert!(files.iter().any(|f| f == s.file), "{} is missing", s.file);
    }
}

/// Clients send text and HTML alternatives; certd reads the text one. The HTML one, as a
/// client shows it, must say the same (or, where noted, more precisely), so that HTML-only
/// replies of the same client read alike.
#[test]
fn html_alternatives_say_the_same() {
    let mut checked = 0;
    for s in SAMPLES {
        let raw = std::fs::read(fixtures().join(s.file)).expect("read fixture");
        let message = MessageParser::default().parse(&raw).expect("parses");
        for part in message.html_bodies() {
            let PartType::Html(body) = &part.body else {
                continue;
            };
            let own = own_words(&html::to_text(body));
            let verdict = classify(&own);
            match s.html {
                Some((want, want_verdict)) => {
                    assert_eq!(own, want, "{}: HTML own words", s.file);
                    assert_eq!(verdict, want_verdict, "{}: HTML verdict", s.file);
                }
                None => {
                    assert!(
                        s.own_words.matches(&own),
                        "{}: HTML own words {own:?}",
                        s.file
                    );
                    assert_eq!(verdict, s.verdict, "{}: HTML verdict", s.file);
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} HTML bodies");
}

#[test]
fn the_issue_12_outlook_answer_is_html_only() {
    let raw = std::fs::read(fixtures().join("outlook-new-windows-es-html-only.eml")).expect("read");
    let message = MessageParser::default().parse(&raw).expect("parses");
    assert!(message
        .text_bodies()
        .all(|p| matches!(p.body, PartType::Html(_))));
    assert_eq!(read(&raw).1, Accept);
}
