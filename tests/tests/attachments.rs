//! A contract whose attachments are awkward MIME (a forwarded message with its own attachment,
//! quoted-printable Latin-1 text, base64 in folded lines of odd lengths, an RFC 2231 file name
//! in continuations) reaches the counterparty byte for byte, and the SHA-256 the certificate
//! prints and embeds is the hash of what was delivered. Decoded by Python's `email` package,
//! not by the parser certmail uses.

use certmail_e2e::{
    answer_request, header, noise, pdf_attachments, rand_u64, read_maildir, run, sha256_hex,
    transaction, Sandbox, Smtp,
};
use std::path::Path;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(40);

/// Prints one JSON line per attachment of the message in argv[1]: its file name, type and
/// transfer-decoded bytes (base64). A `message/rfc822` part is read as the file a mail client
/// saves (the .eml), not parsed into a message of its own: Python cannot give those bytes back.
const DECODE: &str = r#"
import base64, email, json, sys
from email import policy
from email.message import Message

class Leaf(Message):
    def get_content_maintype(self):
        t = super().get_content_maintype()
        return "application" if t == "message" else t

msg = email.message_from_bytes(open(sys.argv[1], "rb").read(), _class=Leaf, policy=policy.compat32)
for part in msg.walk():
    if part.is_multipart() or part.get_content_disposition() != "attachment":
        continue
    print(json.dumps({
        "filename": part.get_filename(),
        "content_type": part.get_content_type(),
        "bytes": base64.b64encode(part.get_payload(decode=True) or b"").decode(),
    }))
"#;

/// One decoded attachment: (file name, content type, bytes).
type File = (Option<String>, String, Vec<u8>);

/// The attachments of `message`, as Python's `email` package decodes them.
fn python_attachments(dir: &Path, name: &str, message: &[u8]) -> Vec<File> {
    let path = dir.join(name);
    std::fs::write(&path, message).expect("write message");
    let (ok, out) = run(
        "python3",
        &["-c", DECODE, path.to_str().unwrap_or_default()],
    );
    assert!(ok, "python3 email: {out}");
    out.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            let bytes = data_encoding::BASE64
                .decode(v["bytes"].as_str().unwrap_or_default().as_bytes())
                .expect("base64");
            (
                v["filename"].as_str().map(str::to_string),
                v["content_type"].as_str().unwrap_or_default().to_string(),
                bytes,
            )
        })
        .collect()
}

/// Name, type, size and SHA-256 of each file: what an assertion message can show.
fn summary(files: &[File]) -> Vec<(Option<String>, String, usize, String)> {
    files
        .iter()
        .map(|(n, t, b)| (n.clone(), t.clone(), b.len(), sha256_hex(b)))
        .collect()
}

/// Base64 of `bytes` in lines of 61, 13, 77, 1 and 47 characters, over and over: lengths that
/// are no multiple of 4, one longer than RFC 2045's 76.
fn folded_base64(bytes: &[u8]) -> String {
    let b64 = data_encoding::BASE64.encode(bytes);
    let mut out = String::new();
    let mut rest = b64.as_str();
    for n in [61, 13, 77, 1, 47].into_iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (line, tail) = rest.split_at(n.min(rest.len()));
        out.push_str(line);
        out.push_str("\r\n");
        rest = tail;
    }
    out
}

/// The files the test attaches, as the counterparty must receive them.
struct Files {
    /// A forwarded message with an attachment of its own (`message/rfc822`, 7bit).
    forwarded: Vec<u8>,
    /// Latin-1 text sent quoted-printable with soft line breaks.
    latin1: Vec<u8>,
    /// Binary, base64 in odd folded lines.
    binary: Vec<u8>,
    /// A PDF named in RFC 2231 continuations.
    pdf: Vec<u8>,
}

const PDF_NAME: &str = "contrato de arrendamiento — versión definitiva (año 2026) ñandú.pdf";

/// The submission: written by hand, because every part is encoded differently.
fn awkward_message(sb: &Sandbox, files: &mut Files) -> Vec<u8> {
    let old_pdf = b"%PDF-1.4\n% anexo antiguo\n%%EOF\n";
    let forwarded = format!(
        "From: carol@example.test\r\n\
         To: alice@example.test\r\n\
         Subject: Condiciones anteriores\r\n\
         Message-ID: <fwd.{}@example.test>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"inner\"\r\n\
         \r\n\
         --inner\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\
         \r\n\
         Old terms, see the annex.\r\n\
         --inner\r\n\
         Content-Type: application/pdf; name=\"anexo-antiguo.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"anexo-antiguo.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         {}\r\n\
         --inner--",
        rand_u64(),
        data_encoding::BASE64.encode(old_pdf)
    );
    files.forwarded = forwarded.clone().into_bytes();
    // RFC 2045 section 6.7: `=` CRLF is a soft line break, `=E9` an octet.
    files.latin1 =
        b"Cl\xe1usula primera: el precio del caf\xe9 ser\xe1 de 1.000 \x80 y el plazo de treinta d\xedas naturales."
            .to_vec();
    let qp = "Cl=E1usula primera: el precio del caf=E9 ser=E1 de 1.000 =80 y el pl=\r\n\
              azo de treinta d=EDas naturales=\r\n\
              .";
    let mut pdf = b"%PDF-1.7\n".to_vec();
    pdf.extend(noise(3000));
    files.pdf = pdf;
    files.binary = noise(10_007);
    // RFC 2231 section 3 and 4: a UTF-8 name in percent-encoded continuations.
    let encoded: String = PDF_NAME
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    // RFC 2231 section 4.1: a %XX octet stays within one segment.
    let mut cut = encoded.len() / 2;
    while encoded[..cut].ends_with('%') || encoded[..cut - 1].ends_with('%') {
        cut += 1;
    }
    let (first, second) = encoded.split_at(cut);
    format!(
        "From: {from}\r\n\
         To: {to}\r\n\
         Subject: bob@example.test Contrato con anexos\r\n\
         Message-ID: <{id:x}.awkward@e2e.example.test>\r\n\
         Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
         \r\n\
         --outer\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         Contrato de servicios: las condiciones están en los anexos.\r\n\
         --outer\r\n\
         Content-Type: message/rfc822\r\n\
         Content-Disposition: attachment; filename=\"condiciones-anteriores.eml\"\r\n\
         \r\n\
         {forwarded}\r\n\
         --outer\r\n\
         Content-Type: text/plain; charset=iso-8859-1; name=\"clausulas.txt\"\r\n\
         Content-Disposition: attachment; filename=\"clausulas.txt\"\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\
         \r\n\
         {qp}\r\n\
         --outer\r\n\
         Content-Type: application/octet-stream\r\n\
         Content-Disposition: attachment; filename=\"datos.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         {binary}\
         --outer\r\n\
         Content-Type: application/pdf\r\n\
         Content-Disposition: attachment;\r\n \
         filename*0*=UTF-8''{first};\r\n \
         filename*1*={second}\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         {pdf}\
         --outer--\r\n",
        from = sb.get("CUSTOMER_ADDRESS"),
        to = sb.get("CONTRACT_ADDRESS"),
        id = rand_u64(),
        binary = folded_base64(&files.binary),
        pdf = folded_base64(&files.pdf),
    )
    .into_bytes()
}

/// A message as it was on the wire (RFC 5322 section 2.3: CRLF line ends) from its maildir
/// file, where Postfix's delivery agent stores lines ended by LF, as mail clients (and IMAP
/// servers) expect and undo.
fn wire_form(file: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(file.len() + file.len() / 40);
    for (i, &b) in file.iter().enumerate() {
        if b == b'\n' && (i == 0 || file[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// Waits for the mail in `who`'s mailbox that `pick` recognises.
fn wait_for(sb: &Sandbox, who: &str, pick: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(m) = read_maildir(&sb.maildir(who)).into_iter().find(|m| pick(m)) {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "nothing for {who}:\n{}",
            sb.log("certd.log")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn awkward_attachments_arrive_byte_for_byte_and_the_certificate_hashes_what_arrived() {
    let sb = Sandbox::up("awkward-attachments");
    let dir = Path::new(sb.get("SANDBOX_DIR")).to_path_buf();
    let mut files = Files {
        forwarded: Vec::new(),
        latin1: Vec::new(),
        binary: Vec::new(),
        pdf: Vec::new(),
    };
    let msg = awkward_message(&sb, &mut files);
    let mut s = Smtp::connect(sb.smtp_port());
    assert_eq!(s.auth("alice", sb.get("CUSTOMER_PASSWORD")).code, 235);
    let out = transaction(
        &mut s,
        sb.get("CUSTOMER_ADDRESS"),
        &[sb.get("CONTRACT_ADDRESS")],
        &msg,
    );
    s.quit();
    assert_eq!(
        out.data.map(|d| d.code),
        Some(250),
        "{}",
        sb.log("certmilter.log")
    );
    let id = sb.contracts()[0]["id"]
        .as_str()
        .expect("contract id")
        .to_string();

    // What the customer sent, as Python reads it: the files the test wrote.
    let expected: Vec<File> = vec![
        (
            Some("condiciones-anteriores.eml".into()),
            "message/rfc822".into(),
            files.forwarded.clone(),
        ),
        (
            Some("clausulas.txt".into()),
            "text/plain".into(),
            files.latin1.clone(),
        ),
        (
            Some("datos.bin".into()),
            "application/octet-stream".into(),
            files.binary.clone(),
        ),
        (
            Some(PDF_NAME.into()),
            "application/pdf".into(),
            files.pdf.clone(),
        ),
    ];
    assert_eq!(
        summary(&python_attachments(&dir, "submitted.eml", &msg)),
        summary(&expected),
        "the test's own message"
    );

    // 1. The request bob receives carries the same files, byte for byte.
    let request = wire_form(&wait_for(&sb, "bob", |m| header(m, "Reply-To").is_some()));
    let delivered = python_attachments(&dir, "request.eml", &request);
    assert_eq!(summary(&delivered), summary(&expected));
    assert!(delivered == expected);
    let delivered_hashes: Vec<String> = delivered.iter().map(|(_, _, b)| sha256_hex(b)).collect();

    // 2. What certd recorded at intake: the contract and its `submitted` event.
    let show = sb.cli_json(&["contracts", "show", &id, "--json"]);
    let recorded: Vec<String> = show["contract"]["attachments"]
        .as_array()
        .expect("attachments")
        .iter()
        .map(|a| a["sha256"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(recorded, delivered_hashes);
    let names: Vec<&str> = show["contract"]["attachments"]
        .as_array()
        .expect("attachments")
        .iter()
        .map(|a| a["filename"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names[3], PDF_NAME);
    let submitted = show["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "submitted")
        .expect("a submitted event");
    let in_event: Vec<&str> = submitted["data"]["attachments"]
        .as_array()
        .expect("attachments in the event")
        .iter()
        .map(|a| a["sha256"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(in_event, delivered_hashes);

    // 3. bob accepts; the certificate prints the hashes of what he received.
    answer_request(sb.smtp_port(), &request, "bob@example.test", "Acepto.");
    let mail = wait_for(&sb, "alice", |m| {
        pdf_attachments(m)
            .iter()
            .any(|(n, _)| n.starts_with("certificate-"))
    });
    let pdf = pdf_attachments(&mail)
        .into_iter()
        .find(|(n, _)| n.starts_with("certificate-"))
        .map(|(_, pdf)| pdf)
        .expect("certificate");
    let pdf_path = dir.join("certificate.pdf");
    std::fs::write(&pdf_path, &pdf).expect("write pdf");
    let (ok, text) = run("pdftotext", &[pdf_path.to_str().unwrap_or_default(), "-"]);
    assert!(ok, "{text}");
    for h in &delivered_hashes {
        assert!(
            text.contains(&format!("SHA-256 {h}")),
            "{h} not in:\n{text}"
        );
    }

    // 4. The evidence embedded in the PDF: the submission, whose files hash the same.
    let embedded = dir.join("embedded");
    std::fs::create_dir_all(&embedded).expect("mkdir");
    let (ok, out) = run(
        "pdfdetach",
        &[
            "-saveall",
            "-o",
            embedded.to_str().unwrap_or_default(),
            pdf_path.to_str().unwrap_or_default(),
        ],
    );
    assert!(ok, "pdfdetach: {out}");
    let serial = show["contract"]["serial"].as_i64().unwrap_or_default();
    let eml = std::fs::read(embedded.join(format!("contract-{serial}.eml")))
        .expect("the submission is embedded");
    assert_eq!(
        sha256_hex(&eml),
        show["contract"]["raw_sha256"].as_str().unwrap_or_default(),
        "the embedded submission is the one stored"
    );
    let evidence: Vec<String> = python_attachments(&dir, "evidence.eml", &eml)
        .iter()
        .map(|(_, _, b)| sha256_hex(b))
        .collect();
    assert_eq!(evidence, delivered_hashes);
}
