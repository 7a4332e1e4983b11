//! One scrape: the counters, and the gauges read from the store (contracts by state, the
//! outbox by kind), written in the text format.

use super::encode::{Exposition, Kind};
use crate::error::Error;
use crate::evidence::{Instant, State};
use crate::store::admin::Health;
use crate::store::counts::Backlog;
use crate::store::{commit_times, lock, Store};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A gauge's value from one kind's backlog at `now`.
type Gauge = fn(&Backlog, i64) -> f64;

/// The exposition from the store's figures at `now` (Unix seconds) and the counters.
pub fn render(health: &Health, now: i64) -> String {
    let mut e = Exposition::default();
    e.family(
        "certmail_build_info",
        Kind::Gauge,
        "certd's version (always 1).",
    );
    e.sample(
        "certmail_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );

    e.family(
        "certmail_contracts",
        Kind::Gauge,
        "Contracts in the store, by state.",
    );
    let mut states: BTreeMap<&str, i64> = State::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    for (state, n) in &health.contracts_by_state {
        states.insert(state, *n);
    }
    for (state, n) in states {
        e.sample("certmail_contracts", &[("state", state)], n as f64);
    }

    e.counter(
        "certmail_submissions_accepted_total",
        "Submissions committed as new contracts.",
        super::SUBMISSIONS_ACCEPTED.get(),
    );
    e.family(
        "certmail_submissions_refused_total",
        Kind::Counter,
        "Submissions certd refused, by the RFC 3463 enhanced status of the refusal.",
    );
    for (reason, n) in super::SUBMISSIONS_REFUSED.get() {
        e.sample(
            "certmail_submissions_refused_total",
            &[("reason", &reason)],
            n as f64,
        );
    }

    let gauges: [(&str, &str, Gauge); 4] = [
        (
            "certmail_outbox_effects",
            "Effects not yet done, by kind.",
            |b, _| b.pending as f64,
        ),
        (
            "certmail_outbox_due_effects",
            "Effects whose due time has come (being performed or waiting), by kind.",
            |b, _| b.due as f64,
        ),
        (
            "certmail_outbox_failing_effects",
            "Effects not yet done that failed at least once, by kind (certificate: certificates blocked).",
            |b, _| b.failing as f64,
        ),
        (
            "certmail_outbox_oldest_due_age_seconds",
            "How long the oldest due effect has been due, by kind (0: none is due).",
            |b, now| b.oldest_due.map_or(0.0, |due| (now - due).max(0) as f64),
        ),
    ];
    for (name, help, get) in gauges {
        e.family(name, Kind::Gauge, help);
        for (kind, b) in &health.outbox_by_kind {
            e.sample(name, &[("kind", kind)], get(b, now));
        }
    }

    e.histogram(
        "certmail_certificate_issue_duration_seconds",
        "From the start of a certificate job to the certificate stored (render, sign, time-stamp, validation data).",
        &super::CERTIFICATE_ISSUE.read(),
    );
    e.counter(
        "certmail_tsa_errors_total",
        "Failed time-stamp requests (each TSA URL tried counts once).",
        super::TSA_ERRORS.get(),
    );
    for (name, help, errors) in [
        (
            "certmail_sms_send_errors_total",
            "SMS the gateway did not take, by class (temporary: retried; permanent: recorded).",
            &super::SMS_SEND_ERRORS,
        ),
        (
            "certmail_smtp_send_errors_total",
            "Mails the MTA did not take, by class (temporary: retried; permanent: recorded).",
            &super::SMTP_SEND_ERRORS,
        ),
    ] {
        e.family(name, Kind::Counter, help);
        e.sample(
            name,
            &[("class", "temporary")],
            errors.temporary.get() as f64,
        );
        e.sample(
            name,
            &[("class", "permanent")],
            errors.permanent.get() as f64,
        );
    }
    e.histogram(
        "certmail_store_commit_duration_seconds",
        "Commits of the store's write transactions (the fsync).",
        &commit_times::COMMITS.read(),
    );
    e.finish()
}

/// Reads the store's figures (the lock held only for the queries) and renders everything.
pub fn scrape(store: &Mutex<Store>, now: Instant) -> Result<String, Error> {
    let health = lock(store).health(now)?;
    Ok(render(&health, now.unix_secs()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::tests_support::{alice, submission};

    /// The value of the sample written exactly as `series` (name and labels).
    pub(crate) fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| l.rsplit_once(' ').filter(|(s, _)| *s == series))
            .and_then(|(_, v)| v.parse().ok())
    }

    /// Every line is a comment of a declared family or `name{labels} value` of one.
    pub(crate) fn well_formed(text: &str) {
        let mut families = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                assert!(matches!(kind, "counter" | "gauge" | "histogram"), "{line}");
                assert!(!families.contains(&name), "{name} declared twice");
                families.push(name);
            } else if !line.starts_with("# HELP ") {
                let (series, value) = line.rsplit_once(' ').expect("series value");
                assert!(value.parse::<f64>().is_ok() || value == "+Inf", "{line}");
                let name = series.split('{').next().unwrap_or_default();
                assert!(super::super::encode::valid_name(name), "{line}");
                let family = families.last().expect("a sample before any TYPE");
                assert!(
                    name == *family
                        || ["_bucket", "_sum", "_count"]
                            .iter()
                            .any(|s| name.strip_suffix(s) == Some(family)),
                    "{line} outside its family {family}"
                );
                if family.ends_with("_total") {
                    assert!(!value.starts_with('-'), "{line}");
                }
            }
        }
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn a_scrape_shows_the_store_and_the_counters() {
        let mut s = Store::open_in_memory().unwrap();
        s.add_customer(&alice(), Instant::now()).unwrap();
        s.submit(&submission("k1")).unwrap();
        let store = Mutex::new(s);
        super::super::SUBMISSIONS_REFUSED.inc("5.7.1");
        super::super::SMTP_SEND_ERRORS.temporary.inc();
        let text = scrape(&store, Instant::now().plus_secs(30)).unwrap();
        well_formed(&text);
        // Every state and kind has a series, zero or not, so that alerts see a 0.
        assert_eq!(
            sample(&text, r#"certmail_contracts{state="requested"}"#),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, r#"certmail_contracts{state="accepted"}"#),
            Some(0.0)
        );
        for kind in ["receipt", "request"] {
            let series = |name: &str| format!(r#"{name}{{kind="{kind}"}}"#);
            assert_eq!(sample(&text, &series("certmail_outbox_effects")), Some(1.0));
            assert_eq!(
                sample(&text, &series("certmail_outbox_due_effects")),
                Some(1.0)
            );
            let age = sample(&text, &series("certmail_outbox_oldest_due_age_seconds"));
            assert!(age.is_some_and(|a| (29.0..=31.0).contains(&a)), "{age:?}");
        }
        let certificate = r#"certmail_outbox_failing_effects{kind="certificate"}"#;
        assert_eq!(sample(&text, certificate), Some(0.0));
        assert!(sample(
            &text,
            r#"certmail_submissions_refused_total{reason="5.7.1"}"#
        )
        .is_some_and(|n| n >= 1.0));
        assert!(sample(
            &text,
            r#"certmail_smtp_send_errors_total{class="temporary"}"#
        )
        .is_some_and(|n| n >= 1.0));
        // The customer and the submission were committed: the store timed both.
        assert!(
            sample(&text, "certmail_store_commit_duration_seconds_count").is_some_and(|n| n >= 2.0)
        );
        assert!(sample(
            &text,
            r#"certmail_store_commit_duration_seconds_bucket{le="+Inf"}"#
        )
        .is_some_and(|n| n >= 2.0));
        assert_eq!(
            sample(&text, "certmail_certificate_issue_duration_seconds_count"),
            Some(0.0)
        );
    }

    #[test]
    fn oldest_due_is_per_kind_and_only_of_due_effects() {
        let mut s = Store::open_in_memory().unwrap();
        s.add_customer(&alice(), Instant::now()).unwrap();
        s.submit(&submission("k1")).unwrap();
        let pending = s.pending_outbox().unwrap();
        let now = pending.iter().map(|p| p.due_at).max().unwrap_or_default();
        let backlog = |at| {
            s.health(Instant::from_unix_secs(at))
                .unwrap()
                .outbox_by_kind
        };
        let b = backlog(now - 1);
        assert_eq!(b["receipt"].due, 0, "not yet due");
        assert_eq!(b["receipt"].oldest_due, None);
        let b = backlog(now + 100);
        assert_eq!(b["receipt"].pending, 1);
        assert_eq!(b["sms_request"], Backlog::default());
        assert!(b["request"].oldest_due.is_some_and(|d| d <= now));
    }
}
