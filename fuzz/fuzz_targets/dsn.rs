//! A message at a `bounce+` address, read as certd reads it: never a panic, and never a
//! decisive bounce unless it has everything a genuine report of certd's own request has —
//! the null sender, the report structure, the secret envelope id and the destination.
#![no_main]

use certd::dsn::{envelope_id, judge, read_bounce, read_dsn, Expected, Mailing, Verdict};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "s3cr3t0envid0000000000000000000a";
const DESTINATION: &str = "nobody@example.test";

fuzz_target!(|data: &[u8]| {
    // The first byte chooses the envelope sender: null or an ordinary one.
    let (null_sender, raw) = match data.split_first() {
        Some((b, rest)) => (b & 1 == 0, rest),
        None => (true, data),
    };
    let envelope_from = if null_sender { "" } else { "mallory@example.test" };
    let sent = vec!["<r1@contract.test>".to_string()];
    let expected = Expected {
        destination: DESTINATION,
        envid_secret: SECRET,
        sent_message_ids: &sent,
    };
    let report = read_dsn(raw);
    let (verdict, _) = judge(&report, envelope_from, &expected);
    if verdict == Verdict::Failed {
        assert!(null_sender, "an ordinary sender's report decided");
        assert!(report.is_report && report.has_status_part, "{report:?}");
        assert_eq!(
            report.original_envelope_id.as_deref().map(str::trim),
            Some(envelope_id(SECRET, Mailing::Request).as_str())
        );
    }
    let (event, evidence) = read_bounce(raw, envelope_from, &expected);
    let evidence = evidence.to_value();
    assert_eq!(event.is_some(), verdict == Verdict::Failed);
    assert_eq!(evidence["decisive"], event.is_some());
});
