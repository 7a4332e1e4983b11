//! Any UTF-8 Subject must give destinations or an error whose reply is one SMTP line.
#![no_main]

use certmilter::subject::parse_subject;
use libfuzzer_sys::fuzz_target;
use phonenumber::country::Id;

fuzz_target!(|subject: &str| {
    if let Err(e) = parse_subject(subject, Id::ES) {
        let reply = e.reply();
        assert!(reply.text.chars().count() < 400, "{reply}");
        assert!(!reply.text.contains(['\r', '\n']), "{reply}");
    }
});
