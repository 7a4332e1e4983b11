//! Renders sample certificates (Spanish, Japanese, a long English one, odd input) and checks
//! them with the poppler tools and qpdf; a check is skipped, with a message, if its tool is
//! missing.

use super::pdf::pdf_date;
use super::sections::title;
use super::*;
use crate::certificate::{AttachmentLine, Embedded, Field, TimelineEntry};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn field(label: &str, value: &str) -> Field {
    Field {
        label: label.into(),
        value: value.into(),
    }
}

fn embedded(name: &str, description: &str, body: &str) -> Embedded {
    let bytes = body.as_bytes().to_vec();
    Embedded {
        name: name.into(),
        description: description.into(),
        mime_type: "message/rfc822".into(),
        sha256: sha(&bytes),
        bytes,
        relationship: crate::certificate::Relationship::Source,
    }
}

fn attachment(name: &str, kind: &str, content: &str) -> AttachmentLine {
    AttachmentLine {
        filename: name.into(),
        content_type: kind.into(),
        size: content.len() as u64,
        sha256: sha(content.as_bytes()),
    }
}

fn spanish() -> CertificateData {
    CertificateData {
        language: "es".into(),
        title: "Certificado de contrato electrónico".into(),
        operator: "Certificaciones Ñandú, S.L.".into(),
        serial: 104_729,
        contract_id: "c-7f3a9e12-5b4d-4c1a-9e0f-2d8b6a4c3e11".into(),
        outcome: "accepted".into(),
        outcome_sentence: "El destinatario ACEPTÓ el contrato el 2025-03-04 a las 09:12:45 UTC."
            .into(),
        request_fields: vec![
            field("Operador", "Certificaciones Ñandú, S.L."),
            field(
                "Cliente",
                "José Ángel Muñoz <jose.munoz@ejemplo.es> (maria.pena@destino.es)",
            ),
            field("Remitente autenticado por", "SMTP AUTH PLAIN (jose.munoz)"),
            field("Enviado (UTC)", "2025-03-03T16:20:11Z"),
            field("Destinatarios", "maria.pena@destino.es"),
            field("Asunto", "Contrato de arrendamiento — vivienda en Logroño (año 2025)"),
            field(
                "Message-ID",
                "<20250303162011.4F2A1C0B9E@mail.ejemplo.es.very-long-host-name-for-wrapping.example>",
            ),
            field(
                "Mensaje original",
                "18 342 bytes, SHA-256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            ),
        ],
        contract_text: "CONTRATO DE ARRENDAMIENTO DE VIVIENDA\n\n\
            En Logroño, a 3 de marzo de 2025.\n\n\
            REUNIDOS: de una parte, Don José Ángel Muñoz Íñiguez, mayor de edad, con DNI \
            12345678Z; y de otra, Doña María Peña Güell, mayor de edad.\n\n\
            PRIMERA. — Objeto. El arrendador cede al arrendatario el uso de la vivienda \
            situada en la calle Señorío de Vizcaya nº 14, 2º izquierda, por una renta \
            mensual de 850,00 € (ochocientos cincuenta euros), pagadera por adelantado \
            dentro de los cinco primeros días de cada mes.\n\n\
            SEGUNDA. — Fianza. El arrendatario entrega en este acto la cantidad de \
            1.700,00 € en concepto de fianza. ¿Acepta usted estas condiciones? ¡Responda \
            ACEPTO o RECHAZO!"
            .into(),
        attachments: vec![
            attachment("inventario_muebles.pdf", "application/pdf", "inventario"),
            attachment("fotografías año 2025.zip", "application/zip", "fotos"),
        ],
        request_timeline: vec![
            TimelineEntry {
                at: "2025-03-03T16:20:11Z".into(),
                what: "submitted".into(),
            },
            TimelineEntry {
                at: "2025-03-03T16:20:14Z".into(),
                what: "request_sent to maria.pena@destino.es — 250 2.0.0 Ok: queued as 4F2A1C0B9E"
                    .into(),
            },
        ],
        response_fields: vec![
            field("Resultado", "accepted"),
            field("Canal", "email"),
            field("Respondió", "María Peña <maria.pena@destino.es>"),
            field("Respuesta (UTC)", "2025-03-04T09:12:45Z"),
            field(
                "Cadena Received",
                "from mx.destino.es (mx.destino.es [203.0.113.7]) by mail.certmail.example\n\
                 from [192.0.2.44] by mx.destino.es with ESMTPSA",
            ),
            field("DKIM / SPF / DMARC", "DKIM: pass\nSPF: pass\nDMARC: pass"),
            field("Decisión", "ACEPTO"),
        ],
        response_text: Some("ACEPTO las condiciones. Un saludo, María Peña.".into()),
        embedded: vec![
            embedded(
                "contract-104729.eml",
                "Mensaje original del contrato",
                "From: jose.munoz@ejemplo.es\r\nSubject: Contrato\r\n\r\nCuerpo del contrato\r\n",
            ),
            embedded(
                "answer-104729.eml",
                "Mensaje de respuesta",
                "From: maria.pena@destino.es\r\nSubject: Re: Contrato\r\n\r\nACEPTO\r\n",
            ),
        ],
        chain_head: "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8".into(),
        issued_at: "2025-03-04T09:13:02Z".into(),
    }
}

fn japanese() -> CertificateData {
    let articles = [
        "目的",
        "定義",
        "業務の内容",
        "委託料",
        "支払方法",
        "秘密保持",
        "個人情報の取扱い",
        "再委託",
        "知的財産権",
        "損害賠償",
        "契約期間",
        "解除",
        "反社会的勢力の排除",
        "協議事項",
        "管轄裁判所",
        "準拠法",
        "通知",
        "存続条項",
    ];
    let mut contract = String::from("業務委託契約書\n\n株式会社さくら商事（以下「甲」という。）と山田太郎（以下「乙」という。）は、次のとおり業務委託契約（以下「本契約」という。）を締結する。\n\n");
    for (i, a) in articles.iter().enumerate() {
        contract.push_str(&format!(
            "第{}条（{a}）\n甲及び乙は、本条に定める{a}について、信義誠実の原則に従い、\
             誠実に協議の上、これを履行するものとする。乙は、甲の事前の書面による承諾を得ることなく、\
             本契約に基づく権利義務の全部又は一部を第三者に譲渡し、又は担保に供してはならない。\
             甲は、乙が本条の規定に違反したときは、何らの催告を要せず直ちに本契約を解除することができる。\
             なお、電子メール（Email）による通知は、SHA-256 ハッシュ値により同一性を確認できる場合に限り、\
             書面による通知とみなす。金額は税込み 1,234,567 円とする。\n\n",
            i + 1
        ));
    }
    CertificateData {
        language: "ja".into(),
        title: "電子契約証明書".into(),
        operator: "株式会社サーティメール".into(),
        serial: 2_024_001,
        contract_id: "c-0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0".into(),
        outcome: "rejected".into(),
        outcome_sentence: "受信者は 2025-06-10 14:03:22 UTC に本契約を拒否しました。".into(),
        request_fields: vec![
            field("事業者", "株式会社サーティメール"),
            field("顧客", "山田太郎 <taro@example.jp> (hanako@example.co.jp)"),
            field("送信者の認証方法", "SMTP AUTH (taro)"),
            field("送信日時 (UTC)", "2025-06-09T01:00:00Z"),
            field("宛先", "hanako@example.co.jp"),
            field("件名", "業務委託契約書のご確認のお願い"),
        ],
        contract_text: contract,
        attachments: vec![attachment("見積書.pdf", "application/pdf", "見積")],
        request_timeline: vec![TimelineEntry {
            at: "2025-06-09T01:00:02Z".into(),
            what: "request_sent to hanako@example.co.jp — 250 2.0.0 Ok".into(),
        }],
        response_fields: vec![
            field("結果", "rejected"),
            field("経路", "email"),
            field("判定", "拒否"),
        ],
        response_text: Some("条件が合わないため、拒否いたします。".into()),
        embedded: vec![embedded(
            "contract-2024001.eml",
            "契約の元メッセージ",
            "Subject: =?UTF-8?B?5qWt5YuZ?=\r\n\r\nbody\r\n",
        )],
        chain_head: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae".into(),
        issued_at: "2025-06-10T14:03:30Z".into(),
    }
}

fn english_long() -> CertificateData {
    let mut d = spanish();
    d.language = "en".into();
    d.title = "Certificate of electronic contract".into();
    d.outcome = "unanswered".into();
    d.outcome_sentence = "No answer was received before the deadline.".into();
    d.contract_text = (1..=200)
        .map(|i| format!("{i:03}. The parties agree to clause number {i} of this agreement."))
        .collect::<Vec<_>>()
        .join("\n");
    d.response_text = None;
    d
}

fn have(tool: &str) -> bool {
    let ok = Command::new(tool).arg("-v").output().is_ok();
    if !ok {
        eprintln!("{tool} not installed; skipping that check");
    }
    ok
}

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run tool");
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Renders `data` and checks it with the poppler tools and qpdf; returns the page count.
fn check(data: &CertificateData, png: Option<&str>) -> usize {
    let pdf = match render(data) {
        Err(Error::Config(e)) => {
            eprintln!("fonts missing, skipping: {e}");
            return 0;
        }
        other => other.expect("render"),
    };
    assert!(pdf.starts_with(b"%PDF-1.7"));
    // The signer appends its signature with lopdf: the file must load there.
    let parsed = lopdf::Document::load_mem(&pdf).expect("lopdf parses the certificate");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cert.pdf");
    std::fs::write(&path, &pdf).expect("write");

    if have("qpdf") {
        let out = run(Command::new("qpdf").arg("--check").arg(&path));
        assert!(out.contains("No syntax or stream encoding errors"), "{out}");
    }
    let mut pages = 0;
    if have("pdfinfo") {
        let info = run(Command::new("pdfinfo").arg(&path));
        assert!(info.contains("595.276 x 841.89 pts (A4)"), "{info}");
        pages = info
            .lines()
            .find_map(|l| l.strip_prefix("Pages:"))
            .and_then(|n| n.trim().parse().ok())
            .expect("page count");
    }
    if have("pdftotext") {
        let text = run(Command::new("pdftotext")
            .arg("-enc")
            .arg("UTF-8")
            .arg(&path)
            .arg("-"));
        // Every page ends with its footer; cut them out so text flowing over a page break
        // reads as one.
        let footer = squash(&format!(
            "{} {} · {}",
            title(&data.language, |t| t.serial),
            data.serial,
            data.contract_id
        ));
        let page_texts: Vec<&str> = text
            .split('\u{c}')
            .filter(|p| !p.trim().is_empty())
            .collect();
        assert_eq!(page_texts.len(), pages.max(1));
        let mut flat = String::new();
        for (i, page) in page_texts.iter().enumerate() {
            let page = squash(page);
            let end = format!("{footer}{}/{}", i + 1, page_texts.len());
            let body = page.strip_suffix(&end);
            assert!(body.is_some(), "page {} footer: {page}", i + 1);
            flat.push_str(body.unwrap_or_default());
        }
        assert!(flat.contains(&squash(&data.contract_text)), "contract text");
        assert!(flat.contains(&data.serial.to_string()));
        assert!(flat.contains(&squash(&data.outcome_sentence)));
        for a in &data.attachments {
            assert!(flat.contains(&a.sha256), "attachment hash {}", a.sha256);
            assert!(flat.contains(&squash(&a.filename)));
        }
        for e in &data.embedded {
            assert!(flat.contains(&e.sha256), "embedded hash {}", e.sha256);
        }
        for f in data.request_fields.iter().chain(&data.response_fields) {
            assert!(flat.contains(&squash(&f.value)), "field {}", f.value);
        }
        assert!(flat.contains(&data.chain_head));
    }
    if have("pdfdetach") {
        let list = run(Command::new("pdfdetach").arg("-list").arg(&path));
        for e in &data.embedded {
            assert!(list.contains(&e.name), "{list}");
        }
        let out = dir.path().join("detached");
        std::fs::create_dir(&out).expect("mkdir");
        run(Command::new("pdfdetach")
            .arg("-saveall")
            .arg("-o")
            .arg(&out)
            .arg(&path));
        for e in &data.embedded {
            let bytes = std::fs::read(out.join(&e.name)).expect("detached file");
            assert_eq!(sha(&bytes), e.sha256);
        }
    }
    if let Some(name) = png {
        if have("pdftoppm") {
            let out = Path::new("/tmp/certmail-render-check");
            std::fs::create_dir_all(out).expect("mkdir");
            std::fs::write(out.join(format!("{name}.pdf")), &pdf).expect("write");
            run(Command::new("pdftoppm")
                .args(["-r", "60", "-png"])
                .arg(&path)
                .arg(out.join(name)));
        }
    }
    if pages > 0 {
        assert_eq!(parsed.get_pages().len(), pages);
    }
    pages
}

#[test]
fn spanish_certificate() {
    check(&spanish(), Some("es"));
}

/// The evidence file (here the committed example) as a PDF/A-3 associated file with
/// relationship Data: the same checks pass, and it detaches byte for byte.
#[test]
fn spanish_certificate_with_its_evidence_file() {
    let mut d = spanish();
    let bytes =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/evidence.example.json"))
            .expect("docs/evidence.example.json");
    d.embedded.push(Embedded {
        name: "evidence.json".into(),
        description: "Machine-readable evidence".into(),
        mime_type: "application/json".into(),
        sha256: sha(&bytes),
        bytes,
        relationship: crate::certificate::Relationship::Data,
    });
    check(&d, None);
}

#[test]
fn japanese_long_certificate() {
    let pages = check(&japanese(), Some("ja"));
    assert!(pages == 0 || pages > 1, "{pages} pages");
}

#[test]
fn english_200_lines() {
    let pages = check(&english_long(), Some("en"));
    assert!(pages == 0 || pages > 2, "{pages} pages");
}

#[test]
fn minimal_and_odd_input_still_renders() {
    let mut d = spanish();
    d.request_fields.clear();
    d.response_fields.clear();
    d.attachments.clear();
    d.request_timeline.clear();
    d.embedded.clear();
    d.response_text = None;
    d.contract_text = String::new();
    d.outcome = "something-new".into();
    check(&d, None);
    // Characters no font has (emoji, Thai), controls, a private-use character, a combining
    // accent and a 300-character token: PDF/A validation must still pass.
    d.contract_text = format!(
        "emoji 😀 ไทย nul\u{0} tab\tbom\u{feff} pua\u{e000} e\u{301} {}",
        "x".repeat(300)
    );
    d.embedded = vec![embedded("a.eml", "", "x")];
    d.embedded[0].mime_type = "not a mime type".into();
    let pdf = render(&d);
    assert!(
        matches!(pdf, Ok(_) | Err(Error::Config(_))),
        "{:?}",
        pdf.err()
    );
}

#[test]
fn deterministic_and_dated() {
    let Ok(a) = render(&spanish()) else {
        return;
    };
    let b = render(&spanish()).expect("render");
    assert_eq!(a, b, "same data, same bytes");
    let s = String::from_utf8_lossy(&a);
    assert!(s.contains("D:20250304091302"), "creation date");
}

#[test]
fn rejects_bad_issue_time() {
    let mut d = spanish();
    d.issued_at = "yesterday".into();
    assert!(matches!(
        render(&d),
        Err(Error::Invalid(_) | Error::Config(_))
    ));
}

#[test]
fn civil_dates() {
    let d = pdf_date("2024-02-29T23:59:58Z").expect("date");
    let s = format!("{d:?}");
    assert!(s.contains("2024") && s.contains("29"), "{s}");
    assert!(pdf_date("1969-12-31T00:00:00Z").is_err());
}

/// Median render time of the Japanese sample; run with
/// `cargo test --release -p certd render_timing -- --ignored --nocapture`.
#[test]
#[ignore]
fn render_timing() {
    let data = japanese();
    let first = render(&data).expect("render");
    let mut times = Vec::new();
    for _ in 0..10 {
        let t = std::time::Instant::now();
        render(&data).expect("render");
        times.push(t.elapsed());
    }
    times.sort();
    eprintln!(
        "japanese sample: {} bytes, median {:?} (min {:?}, max {:?})",
        first.len(),
        times[5],
        times[0],
        times[9]
    );
}
