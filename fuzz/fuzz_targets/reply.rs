//! A counterparty's answer as certd reads it (`certd::inbound::read_reply`): any message must
//! give an event and its evidence without a panic, and only the destination's own, human,
//! not-disowned answer may decide.
//!
//! Half of the inputs are raw messages; the other half are built from the fuzz bytes (headers,
//! a plain, HTML, multipart or quoted body, the envelope sender and the milter's
//! authentication verdict) so that the fuzzer reaches the HTML-to-text, quote-cutting and
//! screening paths, and so that the invariants know the ground truth of what they assert.
#![no_main]

use certd::inbound::read_reply;
use certd::lifecycle::{Decision, Event, Standing};
use certmail_protocol::{Answer, AnswerKind, AuthEvidence, AuthOutcome, AuthVerdict};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

/// Destinations the token belongs to: an ordinary one and one in mixed case.
const DESTINATIONS: [&str; 2] = ["bob@example.test", "Kim.Lee@Example.TEST"];
const OTHER: &str = "mallory@evil.test";

/// Pieces of real answers, quotes, signatures and markup, so that the fuzzer assembles texts
/// that reach the classifier's and the quote cutter's rules.
const WORDS: &[&str] = &[
    "ACEPTO",
    "Acepto las condiciones.",
    "RECHAZO",
    "I accept",
    "I do not accept",
    "Agreed",
    "No",
    "Sí",
    "Ok",
    "no estoy de acuerdo",
    "承諾します",
    "同意いたしかねます",
    "¿",
    "?",
    "pero",
    "maybe",
    "-- ",
    "Sent from my iPhone",
    "Enviado desde mi iPhone",
    "-----Original Message-----",
    "-----Mensaje original-----",
    "________________________________",
    "From: Alice <alice@example.test>",
    "De: Alice",
    "Sent: Monday, 30 November 2026 10:00",
    "Enviado el: lunes",
    "On Mon, 30 Nov 2026 at 10:00, Alice <alice@example.test> wrote:",
    "El lun, 30 nov 2026, Alice <alice@example.test> escribió:",
    "2026年11月30日(月) 10:00 Alice <alice@example.test>:",
    "> ",
    "＞",
    "Para aceptar responda ACEPTO; para rechazar, RECHAZO",
    "\u{200B}",
    "\u{A0}",
    "<div>",
    "</div>",
    "<p>",
    "</p>",
    "<br>",
    "<hr>",
    "<blockquote>",
    "</blockquote>",
    "<div id=\"divRplyFwdMsg\">",
    "<b>From:</b>",
    "<style>p{}</style>",
    "<!-- c -->",
    "&nbsp;",
    "&gt;",
    "&#65;",
    "<html><body>",
    "</body></html>",
];

const OUTCOMES: [AuthOutcome; 8] = [
    AuthOutcome::Pass,
    AuthOutcome::Fail,
    AuthOutcome::SoftFail,
    AuthOutcome::Neutral,
    AuthOutcome::None,
    AuthOutcome::TempError,
    AuthOutcome::PermError,
    AuthOutcome::Unknown,
];

/// RFC 5321/5322 addresses compared as `standing::same_mailbox` documents it: angle brackets,
/// surrounding space, a root dot and case ignored.
fn is_destination(address: &str, destination: &str) -> bool {
    let norm = |x: &str| {
        let x = x.trim();
        let x = x
            .strip_prefix('<')
            .and_then(|x| x.strip_suffix('>'))
            .unwrap_or(x);
        x.trim_end_matches('.').to_lowercase()
    };
    norm(address) == norm(destination)
}

fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default()
}

/// Fuzz text with its line breaks and other control characters removed: for header values
/// whose meaning the invariants rely on.
fn one_line(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

/// Some text: words of [`WORDS`] and arbitrary strings, separated by spaces or line breaks.
fn text(u: &mut Unstructured) -> Result<String> {
    let mut out = String::new();
    for _ in 0..u.int_in_range(0..=24)? {
        if u.ratio(3, 4)? {
            out.push_str(u.choose(WORDS)?);
        } else {
            out.push_str(u.arbitrary::<&str>()?);
        }
        out.push_str(u.choose(&[" ", " ", "\r\n", "\r\n\r\n", "\n", ""])?);
    }
    Ok(out)
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for (i, chunk) in data.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(char::from(A[(n >> (18 - 6 * k)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// What the `From:` field says, and whether it names the destination alone.
fn from_field(u: &mut Unstructured, dest: &str) -> Result<(Vec<String>, bool)> {
    let name = one_line(u.arbitrary::<&str>()?).replace(['"', '\\'], "");
    Ok(match u.int_in_range(0..=10)? {
        0 => (vec![dest.to_string()], true),
        1 => (vec![dest.to_uppercase()], true),
        2 => (vec![format!("\"{name}\" <{dest}>")], true),
        3 => (vec![OTHER.to_string()], false),
        4 => (vec![format!("\"{dest}\" <{OTHER}>")], false),
        5 => (vec![format!("{OTHER} ({dest})")], false),
        6 => (vec![format!("{dest}, {OTHER}")], false),
        7 => (vec![format!("team: {dest}, {OTHER};")], false),
        8 => (vec![format!("=?utf-8?q?{dest}?= <{OTHER}>")], false),
        // RFC 5322 section 3.6: From occurs once; two fields are no one author's answer.
        9 => {
            let mut two = vec![dest.to_string(), format!("\"{name}\" <{OTHER}>")];
            if u.arbitrary()? {
                two.reverse();
            }
            (two, false)
        }
        // No From field at all.
        _ => (Vec::new(), false),
    })
}

/// The envelope sender, and whether it is the destination's.
fn envelope(u: &mut Unstructured, dest: &str) -> Result<String> {
    Ok(match u.int_in_range(0..=6)? {
        0 => dest.to_string(),
        1 => dest.to_uppercase(),
        2 => format!("<{dest}>"),
        3 => format!("{dest}."),
        4 => OTHER.to_string(),
        5 => format!("{dest}.evil.test"),
        _ => u.arbitrary::<String>()?,
    })
}

fn verdict(u: &mut Unstructured, dest: &str) -> Result<Option<AuthEvidence>> {
    if u.ratio(1, 8)? {
        return Ok(None);
    }
    let domains = [
        domain_of(dest),
        format!("mail.{}", domain_of(dest)),
        "evil.test".to_string(),
        "test".to_string(),
    ];
    let from_domain = match u.int_in_range(0..=3)? {
        0 => None,
        1 => Some(domain_of(dest)),
        2 => Some("evil.test".to_string()),
        _ => Some(u.arbitrary()?),
    };
    let mut dkim_pass = Vec::new();
    for _ in 0..u.int_in_range(0..=2)? {
        dkim_pass.push(u.choose(&domains)?.clone());
    }
    Ok(Some(AuthEvidence {
        verdict: AuthVerdict {
            from_domain,
            dmarc: *u.choose(&OUTCOMES)?,
            spf: *u.choose(&OUTCOMES)?,
            dkim_pass,
        },
        ..AuthEvidence::default()
    }))
}

/// What the built message guarantees, for the invariants.
#[derive(Default)]
struct Truth {
    /// The `From:` field names the destination alone (else the answer is not the destination's).
    from_is_destination: bool,
    /// An `Auto-Submitted` field with a value other than `no` (RFC 3834 section 5.1).
    auto_submitted: bool,
    /// Every line of the text body is quoted: none of it is the counterparty's own words.
    all_quoted: bool,
}

/// A whole message built from the fuzz input, and what it guarantees.
fn message(u: &mut Unstructured, dest: &str) -> Result<(Vec<u8>, Truth)> {
    let mut truth = Truth::default();
    let mut headers: Vec<String> = Vec::new();
    let (froms, from_ok) = from_field(u, dest)?;
    truth.from_is_destination = from_ok;
    for f in froms {
        headers.push(format!("From: {f}"));
    }
    for _ in 0..u.int_in_range(0..=6)? {
        let name = match u.int_in_range(0..=9)? {
            0 => "Subject".to_string(),
            1 => "X-Autoreply".to_string(),
            2 => "Precedence".to_string(),
            3 => "List-Id".to_string(),
            4 => "Received".to_string(),
            5 => "Message-ID".to_string(),
            6 => "Date".to_string(),
            7 => "Reply-To".to_string(),
            8 => "Sender".to_string(),
            // Any field name (RFC 5322 ftext, never a MIME field: the body decides those).
            _ => {
                let n: String = u
                    .arbitrary::<&str>()?
                    .chars()
                    .filter(|c| c.is_ascii_graphic() && *c != ':')
                    .collect();
                if n.is_empty() || n.to_ascii_lowercase().starts_with("content-") {
                    "X-Any".to_string()
                } else {
                    n
                }
            }
        };
        let value = match u.int_in_range(0..=3)? {
            0 => one_line(&text(u)?),
            1 => u
                .choose(&["Automatic reply: contrato", "Re: contrato", "bulk", "yes"])?
                .to_string(),
            // Folded over several lines (RFC 5322 section 2.2.3).
            _ => one_line(u.arbitrary::<&str>()?).replace(' ', "\r\n "),
        };
        headers.push(format!("{name}: {value}"));
    }
    if u.ratio(1, 3)? {
        let value = match u.int_in_range(0..=4)? {
            0 => "auto-replied".to_string(),
            1 => "Auto-Generated; owner-email=\"x@example.test\"".to_string(),
            2 => "auto-notified".to_string(),
            3 => "no".to_string(),
            _ => one_line(u.arbitrary::<&str>()?),
        };
        truth.auto_submitted = value
            .trim()
            .to_ascii_lowercase()
            .split(';')
            .next()
            .is_some_and(|k| k.trim() != "no");
        let at = u.int_in_range(0..=headers.len())?;
        headers.insert(at, format!("Auto-Submitted: {value}"));
    }

    let (mime, body) = match u.int_in_range(0..=4)? {
        0 => {
            let t = text(u)?;
            if u.arbitrary()? {
                (
                    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64"
                        .to_string(),
                    base64(t.as_bytes()),
                )
            } else {
                ("Content-Type: text/plain; charset=utf-8".to_string(), t)
            }
        }
        1 => (
            "Content-Type: text/html; charset=utf-8".to_string(),
            text(u)?,
        ),
        2 => {
            let (plain, html) = (text(u)?, text(u)?);
            (
                "Content-Type: multipart/alternative; boundary=\"b1\"".to_string(),
                format!(
                    "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{plain}\r\n\
                     --b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--b1--\r\n"
                ),
            )
        }
        3 => {
            // Outlook's HTML-only reply: the answer, a signature, the reply header, the request.
            let (answer, quoted) = (text(u)?, text(u)?);
            (
                "Content-Type: text/html; charset=utf-8".to_string(),
                format!(
                    "<html><body><div>{answer}</div><hr><div id=\"divRplyFwdMsg\"><b>From:</b> \
                     Alice<br><b>Sent:</b> Monday<br></div><div>{quoted}</div></body></html>"
                ),
            )
        }
        _ => {
            // Nothing but quoted lines: the request quoted back without a word of one's own.
            truth.all_quoted = true;
            let t = text(u)?.replace("\r\n", "\n").replace('\r', "\n");
            let quoted: Vec<String> = t.split('\n').map(|l| format!("> {l}")).collect();
            (
                "Content-Type: text/plain; charset=utf-8".to_string(),
                quoted.join("\r\n"),
            )
        }
    };
    let raw = format!(
        "{}\r\nMIME-Version: 1.0\r\n{mime}\r\n\r\n{body}",
        headers.join("\r\n")
    );
    Ok((raw.into_bytes(), truth))
}

/// Fields of the header section, unfolded: up to the first empty line (RFC 5322 section 2.1),
/// which is never later than where certd's reader stops.
fn header_section(raw: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(raw);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.to_string(), value.trim().to_string()));
        }
    }
    out
}

fn run(u: &mut Unstructured) -> Result<()> {
    let dest = *u.choose(&DESTINATIONS)?;
    let envelope_from = envelope(u, dest)?;
    let auth = verdict(u, dest)?;
    let structured = u.arbitrary::<bool>()?;
    let (raw, truth) = if structured {
        message(u, dest)?
    } else {
        (u.bytes(u.len())?.to_vec(), Truth::default())
    };
    let answer = Answer {
        token: "t".into(),
        kind: AnswerKind::Reply,
        recipient: "reply+t@contract.test".into(),
        envelope_from: envelope_from.clone(),
        queue_id: None,
        client_addr: None,
        client_name: None,
        helo: None,
        auth: auth.clone(),
        dedupe_key: "k".into(),
        raw: raw.clone(),
    };
    let (event, evidence) = read_reply(&answer, dest);
    let evidence = evidence.to_value();
    let Event::Reply {
        from,
        decision,
        standing,
    } = event
    else {
        panic!("a reply is read as {event:?}");
    };
    assert_eq!(from, dest);

    // The evidence says what the event says, and why an answer does not decide.
    let decisive = standing == Standing::Decisive;
    assert_eq!(
        evidence["not_decisive_because"].is_null(),
        decisive,
        "{evidence}"
    );
    assert_eq!(evidence["authenticity"].is_string(), decisive, "{evidence}");

    // Only the destination's own mailbox decides (envelope and From), ...
    if !is_destination(&envelope_from, dest) {
        assert!(
            !decisive,
            "foreign envelope {envelope_from:?} decided: {evidence}"
        );
    }
    if structured && !truth.from_is_destination {
        assert!(!decisive, "foreign From decided: {evidence}");
    }
    // ... with authentication reported and not failed, ...
    match auth.as_ref().map(|a| &a.verdict) {
        None => assert!(!decisive, "unauthenticated answer decided: {evidence}"),
        Some(v) => {
            if v.dmarc == AuthOutcome::Fail {
                assert!(!decisive, "DMARC fail decided: {evidence}");
            }
            // Authentication speaks for the From domain it evaluated, which must be the
            // destination's; a DMARC pass names its domain. (Non-ASCII names are left to the
            // unit tests: IDNA maps them.)
            let speaks_for_destination = |d: &str| {
                !d.is_ascii()
                    || d.trim_end_matches('.')
                        .eq_ignore_ascii_case(&domain_of(dest))
            };
            if decisive {
                match v.from_domain.as_deref() {
                    Some(d) => assert!(
                        speaks_for_destination(d),
                        "authentication of {d:?} made {dest} decide: {evidence}"
                    ),
                    None => assert_ne!(v.dmarc, AuthOutcome::Pass, "{evidence}"),
                }
            }
        }
    }
    // ... and no program (RFC 3834 section 5.1).
    let auto_submitted = header_section(&raw).iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("auto-submitted")
            && value
                .to_ascii_lowercase()
                .split(';')
                .next()
                .is_some_and(|k| k.trim() != "no")
    });
    if truth.auto_submitted || auto_submitted {
        assert!(!decisive, "an automatic answer decided: {evidence}");
    }
    // Quoted text is never the counterparty's answer.
    if truth.all_quoted {
        assert_eq!(decision, Decision::Unclear, "{evidence}");
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
