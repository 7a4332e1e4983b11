//! Any byte string must split or give an error whose reply is one SMTP line.
#![no_main]

use certmilter::split::split;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    match split(raw) {
        Ok(m) => {
            for a in &m.attachments {
                assert_eq!(a.sha256.len(), 64);
            }
        }
        Err(e) => {
            let reply = e.reply();
            assert!(reply.text.chars().count() < 400, "{reply}");
            assert!(!reply.text.contains(['\r', '\n']), "{reply}");
        }
    }
});
