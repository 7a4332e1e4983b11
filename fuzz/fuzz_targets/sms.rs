//! Inbound SMS text and callback parameters come from phones and the gateway: reading them
//! must never panic, and what is read must be consistent.
#![no_main]

use certd::sms;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = sms::decision(text);
    for code in sms::find_codes(text) {
        assert_eq!(code.len(), sms::CODE_LEN);
    }
    if let Some(n) = sms::normalize_number(text) {
        assert!(n.starts_with('+') && n[1..].bytes().all(|b| b.is_ascii_digit()), "{n}");
    }
    let m = sms::measure(text);
    assert!(m.parts >= 1);
    let _ = certd::sms::callback::parse_params(text);
});
