//! Every sentence certd writes to people, in the customer's configured language (English,
//! Spanish, Japanese): mail texts here, the certificate's titles and labels in `certificate`.

mod certificate;

use crate::evidence::State;
pub use certificate::{
    certificate_labels, certificate_titles, CertificateLabels, CertificateTitles,
};

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
    pub request_subject: &'static str,
    pub request_intro: &'static str,
    pub request_how: &'static str,
    pub request_deadline: &'static str,
    pub request_contract: &'static str,
    pub clarification_subject: &'static str,
    pub clarification_body: &'static str,
    /// After an answer from another mailbox than the destination's.
    pub clarification_foreign: &'static str,
    /// After an answer with the destination's address that its own domain disowns.
    pub clarification_unauthenticated: &'static str,
    pub outcome_subject: &'static str,
    pub outcome_accepted: &'static str,
    pub outcome_rejected: &'static str,
    pub outcome_not_delivered: &'static str,
    pub outcome_unanswered: &'static str,
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
    request_subject: "Contract for your acceptance, serial no.",
    request_intro: "{customer} has sent you the contract below through {operator}, a certified contract service. Your answer will be recorded as evidence and certified for both parties.",
    request_how: "To ACCEPT the contract, reply to this message with the word ACCEPT.\nTo REJECT it, reply with the word REJECT.\nYour reply must come from this mailbox; keep the subject as it is.",
    request_deadline: "Please answer before (UTC):",
    request_contract: "The contract",
    clarification_subject: "We could not read your answer, serial no.",
    clarification_body: "Thank you for your reply. We could not tell whether you accept or reject the contract. Please reply once more with the single word ACCEPT or REJECT.",
    clarification_foreign: "We received an answer about this contract from another mailbox than yours. Only an answer sent from your own mailbox counts, so it was recorded but did not decide anything.",
    clarification_unauthenticated: "We received an answer about this contract with your address, but your mail domain's published authentication (DMARC/SPF) says it was not sent by your mail system. It was recorded but did not decide anything. If you answered, please answer again from your usual mail program.",
    outcome_subject: "Contract outcome, serial no.",
    outcome_accepted: "The contract was ACCEPTED by the counterparty.",
    outcome_rejected: "The contract was REJECTED by the counterparty.",
    outcome_not_delivered: "The contract could NOT BE DELIVERED to the counterparty (NOEX).",
    outcome_unanswered: "The counterparty did NOT ANSWER before the deadline (NORESP).",
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
    request_subject: "Contrato pendiente de su aceptación, n.º de serie",
    request_intro: "{customer} le ha enviado el contrato que figura a continuación a través de {operator}, un servicio de contratación certificada. Su respuesta quedará registrada como prueba y se certificará para ambas partes.",
    request_how: "Para ACEPTAR el contrato, responda a este mensaje con la palabra ACEPTO.\nPara RECHAZARLO, responda con la palabra RECHAZO.\nResponda desde este mismo buzón y no cambie el asunto.",
    request_deadline: "Responda antes de (UTC):",
    request_contract: "El contrato",
    clarification_subject: "No hemos podido interpretar su respuesta, n.º de serie",
    clarification_body: "Gracias por su respuesta. No hemos podido determinar si acepta o rechaza el contrato. Por favor, responda de nuevo con una sola palabra: ACEPTO o RECHAZO.",
    clarification_foreign: "Hemos recibido una respuesta sobre este contrato desde un buzón distinto del suyo. Solo cuenta la respuesta enviada desde su propio buzón, por lo que se ha registrado pero no ha decidido nada.",
    clarification_unauthenticated: "Hemos recibido una respuesta sobre este contrato con su dirección, pero la autenticación publicada por su dominio de correo (DMARC/SPF) indica que no la envió su sistema de correo. Se ha registrado pero no ha decidido nada. Si respondió usted, responda de nuevo desde su programa de correo habitual.",
    outcome_subject: "Resultado del contrato, n.º de serie",
    outcome_accepted: "La otra parte ha ACEPTADO el contrato.",
    outcome_rejected: "La otra parte ha RECHAZADO el contrato.",
    outcome_not_delivered: "El contrato NO PUDO ENTREGARSE a la otra parte (NOEX).",
    outcome_unanswered: "La otra parte NO RESPONDIÓ antes del plazo (NORESP).",
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
    request_subject: "契約の承諾のお願い、シリアル番号",
    request_intro: "{customer} 様から、認証契約サービス {operator} を通じて下記の契約が送付されました。ご回答は証拠として記録され、双方に対して証明されます。",
    request_how: "契約を承諾する場合は、このメールに「承諾」とご返信ください。\n拒否する場合は「拒否」とご返信ください。\nこのメールアドレスから、件名を変えずにご返信ください。",
    request_deadline: "回答期限 (UTC):",
    request_contract: "契約内容",
    clarification_subject: "ご回答を確認できませんでした。シリアル番号",
    clarification_body: "ご返信ありがとうございます。契約を承諾されるのか拒否されるのかを判断できませんでした。「承諾」または「拒否」の一語で再度ご返信ください。",
    clarification_foreign: "この契約について、あなた以外のメールボックスから回答が届きました。有効なのはあなた自身のメールボックスから送信された回答のみのため、記録しましたが判定には使用していません。",
    clarification_unauthenticated: "この契約について、あなたのアドレスで回答が届きましたが、あなたのメールドメインが公開している認証情報 (DMARC/SPF) によると、あなたのメールシステムから送信されたものではありません。記録しましたが判定には使用していません。ご回答済みの場合は、普段お使いのメールソフトから再度ご返信ください。",
    outcome_subject: "契約の結果、シリアル番号",
    outcome_accepted: "相手方が契約を承諾しました。",
    outcome_rejected: "相手方が契約を拒否しました。",
    outcome_not_delivered: "契約を相手方に配信できませんでした (NOEX)。",
    outcome_unanswered: "相手方から期限内に回答がありませんでした (NORESP)。",
};

/// The outcome sentence for a final state.
pub fn outcome_sentence(language: &str, outcome: State) -> &'static str {
    let t = texts(language);
    match outcome {
        State::Accepted => t.outcome_accepted,
        State::Rejected => t.outcome_rejected,
        State::NotDelivered => t.outcome_not_delivered,
        State::Unanswered | State::Received | State::Requested => t.outcome_unanswered,
    }
}

/// Texts for a language tag (`es`, `es-ES`, `ja`, …); English for anything else.
pub fn texts(language: &str) -> &'static Texts {
    match lang(language) {
        Lang::Es => &ES,
        Lang::Ja => &JA,
        Lang::En => &EN,
    }
}

/// The languages certd writes.
pub(crate) enum Lang {
    En,
    Es,
    Ja,
}

/// The language of a tag (`es`, `es-ES`, `JA`, …): its primary subtag; English for any other.
pub(crate) fn lang(language: &str) -> Lang {
    match language
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
        .as_str()
    {
        "es" => Lang::Es,
        "ja" => Lang::Ja,
        _ => Lang::En,
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
