//! The Prometheus text exposition format (version 0.0.4), written by hand: `# HELP` and
//! `# TYPE` once per family, then its samples, label values and help text escaped.

use crate::store::commit_times::Reading;
use std::fmt::Write;

/// What `/metrics` answers with (the format's content type).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One exposition being written.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

/// Whether `name` is a valid metric or label name (`[a-zA-Z_:][a-zA-Z0-9_:]*`; labels
/// without `:`, checked by the tests).
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `\` and newline escaped, as `# HELP` text needs; label values also escape `"`.
fn escape(text: &str, quote: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

/// A sample value: integers without a fraction, `+Inf`, `-Inf` and `NaN` as the format spells
/// them (Rust's `Display` never uses an exponent, which the format also accepts).
fn value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

impl Exposition {
    /// Starts a family: its help and type lines.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        debug_assert!(valid_name(name), "{name}");
        let _ = writeln!(self.out, "# HELP {name} {}", escape(help, false));
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
    }

    /// One sample of the current family.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                debug_assert!(valid_name(k) && !k.contains(':'), "{k}");
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(val, true));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", value(v));
    }

    /// A whole counter family without labels.
    pub fn counter(&mut self, name: &str, help: &str, v: u64) {
        self.family(name, Kind::Counter, help);
        self.sample(name, &[], v as f64);
    }

    /// A whole histogram family without labels: cumulative `_bucket`s up to `+Inf`, `_sum`,
    /// `_count`.
    pub fn histogram(&mut self, name: &str, help: &str, h: &Reading) {
        self.family(name, Kind::Histogram, help);
        let bucket = format!("{name}_bucket");
        for (le, n) in &h.buckets {
            self.sample(&bucket, &[("le", &value(*le))], *n as f64);
        }
        self.sample(&bucket, &[("le", "+Inf")], h.count as f64);
        self.sample(&format!("{name}_sum"), &[], h.sum_seconds);
        self.sample(&format!("{name}_count"), &[], h.count as f64);
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_samples_and_escapes_are_written_as_the_format_says() {
        let mut e = Exposition::default();
        e.family("certmail_x_total", Kind::Counter, "A \\ help\nline");
        e.sample(
            "certmail_x_total",
            &[("reason", "5.7.1"), ("q", "a\"b\\c\nd")],
            3.0,
        );
        e.sample("certmail_x_total", &[], 0.25);
        e.histogram(
            "certmail_t_seconds",
            "Time.",
            &Reading {
                buckets: vec![(0.001, 1), (2.5, 3)],
                sum_seconds: 1.5,
                count: 4,
            },
        );
        assert_eq!(
            e.finish(),
            "# HELP certmail_x_total A \\\\ help\\nline\n\
             # TYPE certmail_x_total counter\n\
             certmail_x_total{reason=\"5.7.1\",q=\"a\\\"b\\\\c\\nd\"} 3\n\
             certmail_x_total 0.25\n\
             # HELP certmail_t_seconds Time.\n\
             # TYPE certmail_t_seconds histogram\n\
             certmail_t_seconds_bucket{le=\"0.001\"} 1\n\
             certmail_t_seconds_bucket{le=\"2.5\"} 3\n\
             certmail_t_seconds_bucket{le=\"+Inf\"} 4\n\
             certmail_t_seconds_sum 1.5\n\
             certmail_t_seconds_count 4\n"
        );
        assert_eq!(
            [
                value(f64::NAN),
                value(f64::INFINITY),
                value(1e-7),
                value(1e21)
            ],
            ["NaN", "+Inf", "0.0000001", "1000000000000000000000"]
        );
        assert!(valid_name("certmail_contracts") && valid_name("a:b_1"));
        assert!(!valid_name("1x") && !valid_name("a-b") && !valid_name(""));
    }
}
