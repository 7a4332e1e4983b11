//! Any byte string must split or give an error whose reply is one SMTP line; every attachment
//! the split finds carries the size and SHA-256 of its own bytes (the ones certd mails).
#![no_main]

use certmail_mime::sha256_hex;
use certmilter::split::{split, SplitReply};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    match certmail_mime::split(raw) {
        Ok(m) => {
            for a in &m.attachments {
                assert_eq!(a.size, a.bytes.len() as u64);
                assert_eq!(a.sha256, sha256_hex(&a.bytes));
            }
            // The milter's view is the same split.
            let milter = split(raw).expect("the milter splits what the crate splits");
            assert_eq!(milter.attachments.len(), m.attachments.len());
        }
        Err(e) => {
            let reply = e.reply();
            assert!(reply.text.chars().count() < 400, "{reply}");
            assert!(!reply.text.contains(['\r', '\n']), "{reply}");
        }
    }
});
