//! The certificate's fixed titles (printed in English and the customer's language) and its
//! field labels (in the customer's language).

use super::{lang, Lang};

/// The fixed titles of the certificate PDF (its field labels come localised in its data). They
/// are printed in English and, for Spanish and Japanese certificates, in the customer's
/// language too, so the document reads for the customer and for a foreign court alike.
pub struct CertificateTitles {
    pub part1: &'static str,
    pub part2: &'static str,
    pub contract_text: &'static str,
    pub attachments: &'static str,
    pub timeline: &'static str,
    pub response_text: &'static str,
    pub embedded: &'static str,
    pub embedded_note: &'static str,
    pub evidence: &'static str,
    pub chain_head: &'static str,
    pub issued: &'static str,
    pub serial: &'static str,
    pub contract_id: &'static str,
    pub outcome: &'static str,
    pub file: &'static str,
    pub kind: &'static str,
    pub size: &'static str,
    pub none: &'static str,
}

static CERTIFICATE_EN: CertificateTitles = CertificateTitles {
    part1: "Part 1 — Request",
    part2: "Part 2 — Response",
    contract_text: "Contract text",
    attachments: "Attachments",
    timeline: "Request timeline",
    response_text: "Response text",
    embedded: "Embedded files and evidence",
    embedded_note: "The original messages are attached to this PDF file (attachments panel of the \
                    PDF reader); their SHA-256 hashes are printed below.",
    evidence: "Evidence chain",
    chain_head: "Chain head (SHA-256)",
    issued: "Issued (UTC)",
    serial: "Serial number",
    contract_id: "Contract ID",
    outcome: "Outcome",
    file: "File",
    kind: "Type",
    size: "Size",
    none: "None",
};

static CERTIFICATE_ES: CertificateTitles = CertificateTitles {
    part1: "Parte 1 — Solicitud",
    part2: "Parte 2 — Respuesta",
    contract_text: "Texto del contrato",
    attachments: "Adjuntos",
    timeline: "Cronología de la solicitud",
    response_text: "Texto de la respuesta",
    embedded: "Archivos incrustados y evidencias",
    embedded_note:
        "Los mensajes originales van adjuntos a este archivo PDF (panel de adjuntos del \
                    lector de PDF); sus huellas SHA-256 figuran a continuación.",
    evidence: "Cadena de evidencias",
    chain_head: "Último eslabón (SHA-256)",
    issued: "Emitido (UTC)",
    serial: "Número de serie",
    contract_id: "Id. de contrato",
    outcome: "Resultado",
    file: "Archivo",
    kind: "Tipo",
    size: "Tamaño",
    none: "Ninguno",
};

static CERTIFICATE_JA: CertificateTitles = CertificateTitles {
    part1: "第1部 — 依頼",
    part2: "第2部 — 回答",
    contract_text: "契約本文",
    attachments: "添付ファイル",
    timeline: "依頼の経過",
    response_text: "回答本文",
    embedded: "埋め込みファイルと証拠",
    embedded_note:
        "元のメッセージはこのPDFファイルに添付されています（PDFリーダーの添付ファイル欄）。\
                    SHA-256ハッシュを以下に記載します。",
    evidence: "証拠チェーン",
    chain_head: "チェーン先頭 (SHA-256)",
    issued: "発行日時 (UTC)",
    serial: "シリアル番号",
    contract_id: "契約ID",
    outcome: "結果",
    file: "ファイル",
    kind: "種類",
    size: "サイズ",
    none: "なし",
};

/// The certificate titles in English, and in the customer's language if that is another.
pub fn certificate_titles(
    language: &str,
) -> (
    &'static CertificateTitles,
    Option<&'static CertificateTitles>,
) {
    let local = match lang(language) {
        Lang::Es => Some(&CERTIFICATE_ES),
        Lang::Ja => Some(&CERTIFICATE_JA),
        Lang::En => None,
    };
    (&CERTIFICATE_EN, local)
}

/// The certificate's field labels, in the customer's language only (values are data).
pub struct CertificateLabels {
    pub title: &'static str,
    pub operator: &'static str,
    pub customer: &'static str,
    pub authentication: &'static str,
    pub submitted: &'static str,
    pub destinations: &'static str,
    pub subject: &'static str,
    pub message: &'static str,
    pub client: &'static str,
    pub queue_id: &'static str,
    pub outcome: &'static str,
    pub channel: &'static str,
    pub responder: &'static str,
    pub answered_at: &'static str,
    pub received: &'static str,
    pub auth_results: &'static str,
    pub authenticity: &'static str,
    pub decision: &'static str,
    pub diagnostic: &'static str,
    pub deadline: &'static str,
    pub original: &'static str,
    pub answer: &'static str,
}

static LABELS_EN: CertificateLabels = CertificateLabels {
    title: "Certificate of electronic contract",
    operator: "Operator",
    customer: "Customer",
    authentication: "Sender authenticated by",
    submitted: "Submitted (UTC)",
    destinations: "Destinations",
    subject: "Subject",
    message: "Original message",
    client: "Client",
    queue_id: "MTA queue id",
    outcome: "Outcome",
    channel: "Channel",
    responder: "Responder",
    answered_at: "Answered (UTC)",
    received: "Received chain",
    auth_results: "DKIM / SPF / DMARC",
    authenticity: "Sender authenticity",
    decision: "Decision",
    diagnostic: "Delivery diagnostic",
    deadline: "Deadline (UTC)",
    original: "Original contract message",
    answer: "Answer message",
};

static LABELS_ES: CertificateLabels = CertificateLabels {
    title: "Certificado de contrato electrónico",
    operator: "Operador",
    customer: "Cliente",
    authentication: "Remitente autenticado por",
    submitted: "Enviado (UTC)",
    destinations: "Destinatarios",
    subject: "Asunto",
    message: "Mensaje original",
    client: "Cliente SMTP",
    queue_id: "Id. de cola del MTA",
    outcome: "Resultado",
    channel: "Canal",
    responder: "Respondió",
    answered_at: "Respuesta (UTC)",
    received: "Cadena Received",
    auth_results: "DKIM / SPF / DMARC",
    authenticity: "Autenticidad del remitente",
    decision: "Decisión",
    diagnostic: "Diagnóstico de entrega",
    deadline: "Plazo (UTC)",
    original: "Mensaje original del contrato",
    answer: "Mensaje de respuesta",
};

static LABELS_JA: CertificateLabels = CertificateLabels {
    title: "電子契約証明書",
    operator: "事業者",
    customer: "顧客",
    authentication: "送信者の認証方法",
    submitted: "送信日時 (UTC)",
    destinations: "宛先",
    subject: "件名",
    message: "元のメッセージ",
    client: "送信元クライアント",
    queue_id: "MTA キューID",
    outcome: "結果",
    channel: "経路",
    responder: "回答者",
    answered_at: "回答日時 (UTC)",
    received: "Received ヘッダー",
    auth_results: "DKIM / SPF / DMARC",
    authenticity: "送信者の真正性",
    decision: "判定",
    diagnostic: "配信診断",
    deadline: "期限 (UTC)",
    original: "契約の元メッセージ",
    answer: "回答メッセージ",
};

/// The field labels for a language tag; English for any other.
pub fn certificate_labels(language: &str) -> &'static CertificateLabels {
    match lang(language) {
        Lang::Es => &LABELS_ES,
        Lang::Ja => &LABELS_JA,
        Lang::En => &LABELS_EN,
    }
}
