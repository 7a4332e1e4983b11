//! The sentences certd writes to people, in the customer's configured language.

/// One language's texts.
pub struct Texts {
    pub receipt_subject: &'static str,
    pub receipt_intro: &'static str,
    pub receipt_next: &'static str,
    pub serial: &'static str,
    pub contract_id: &'static str,
    pub received_at: &'static str,
    pub subject: &'static str,
    pub destinations: &'static str,
    pub authenticated: &'static str,
    pub message_sha256: &'static str,
    pub attachments: &'static str,
}

static EN: Texts = Texts {
    receipt_subject: "Contract registered, serial no.",
    receipt_intro: "{operator} has registered your contract. Keep this receipt: the serial number identifies it in every later message and in the certificate.",
    receipt_next: "We will now send the contract to the destinations above and ask them to accept or reject it. You will receive the signed certificate when they answer or when the deadline passes.",
    serial: "Serial number:",
    contract_id: "Contract id:",
    received_at: "Received (UTC):",
    subject: "Subject:",
    destinations: "Destinations:",
    authenticated: "Authenticated by:",
    message_sha256: "Message SHA-256:",
    attachments: "Attachments:",
};

static ES: Texts = Texts {
    receipt_subject: "Contrato registrado, n.º de serie",
    receipt_intro: "{operator} ha registrado su contrato. Conserve este acuse: el número de serie lo identifica en todos los mensajes posteriores y en el certificado.",
    receipt_next: "A continuación enviaremos el contrato a los destinatarios indicados y les pediremos que lo acepten o lo rechacen. Recibirá el certificado firmado cuando respondan o cuando venza el plazo.",
    serial: "N.º de serie:",
    contract_id: "Id. de contrato:",
    received_at: "Recibido (UTC):",
    subject: "Asunto:",
    destinations: "Destinatarios:",
    authenticated: "Autenticado por:",
    message_sha256: "SHA-256 del mensaje:",
    attachments: "Adjuntos:",
};

static JA: Texts = Texts {
    receipt_subject: "契約を登録しました。シリアル番号",
    receipt_intro: "{operator} はお客様の契約を登録しました。この受領通知を保管してください。シリアル番号は以後のすべての連絡と証明書で契約を識別します。",
    receipt_next: "これから上記の宛先に契約を送付し、承諾または拒否の回答を求めます。回答があった時点、または期限が過ぎた時点で、署名済みの証明書をお送りします。",
    serial: "シリアル番号:",
    contract_id: "契約ID:",
    received_at: "受信日時 (UTC):",
    subject: "件名:",
    destinations: "宛先:",
    authenticated: "認証方法:",
    message_sha256: "メッセージSHA-256:",
    attachments: "添付ファイル:",
};

/// Texts for a language tag (`es`, `es-ES`, `ja`, …); English for anything else.
pub fn texts(language: &str) -> &'static Texts {
    match language
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
        .as_str()
    {
        "es" => &ES,
        "ja" => &JA,
        _ => &EN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags() {
        assert!(std::ptr::eq(texts("es-ES"), &ES));
        assert!(std::ptr::eq(texts("JA"), &JA));
        assert!(std::ptr::eq(texts("fr"), &EN));
        assert!(std::ptr::eq(texts(""), &EN));
    }
}
