//! Statistics (median, percentiles) and the results file: every measuring subcommand writes a
//! *fragment* (`{"section": …, "rows": [...], "raw": {...}}`); `report` merges the fragments
//! into `results.json` and prints them as one table.

use serde_json::{json, Value};

/// Nearest-rank percentile (`p` in 0..=100) of unsorted samples; `NaN` when there are none.
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut v = samples.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// The median (mean of the two middle samples for an even count).
pub fn median(samples: &[f64]) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut v = samples.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One line of the table. `floor` is a human-readable condition, `met` whether it holds.
pub fn row(metric: &str, value: f64, unit: &str, note: &str) -> Value {
    json!({ "metric": metric, "value": value, "unit": unit, "note": note })
}

pub fn floor_row(metric: &str, value: f64, unit: &str, floor: &str, met: bool) -> Value {
    json!({ "metric": metric, "value": value, "unit": unit, "floor": floor, "met": met })
}

pub fn fragment(section: &str, rows: Vec<Value>, raw: Value) -> Value {
    json!({ "section": section, "rows": rows, "raw": raw })
}

fn fmt_value(v: f64) -> String {
    if !v.is_finite() {
        "n/a".into()
    } else if (v == v.trunc() && v.abs() < 1e12) || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// The table of all sections, as printed by `contrib/bench` and pasted into
/// `docs/performance.md` (a Markdown table).
pub fn table(results: &Value) -> String {
    let mut out = String::from(
        "| section | metric | value | unit | floor / note |\n| --- | --- | ---: | --- | --- |\n",
    );
    let empty = Vec::new();
    for section in results["sections"].as_array().unwrap_or(&empty) {
        let name = section["section"].as_str().unwrap_or("?");
        for r in section["rows"].as_array().unwrap_or(&empty) {
            let value = r["value"].as_f64().unwrap_or(f64::NAN);
            let note = match (r["floor"].as_str(), r["met"].as_bool()) {
                (Some(f), Some(m)) => format!("{f}: {}", if m { "met" } else { "NOT met" }),
                _ => r["note"].as_str().unwrap_or("").to_string(),
            };
            out.push_str(&format!(
                "| {name} | {} | {} | {} | {note} |\n",
                r["metric"].as_str().unwrap_or("?"),
                fmt_value(value),
                r["unit"].as_str().unwrap_or(""),
            ));
        }
    }
    out
}

/// Merges fragments into one results document.
pub fn merge(machine: Value, fragments: Vec<Value>) -> Value {
    json!({ "machine": machine, "sections": fragments })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.0), 1.0);
        assert!(percentile(&[], 50.0).is_nan());
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
    }

    #[test]
    fn table_shows_rows_floors_and_notes() {
        let results = merge(
            json!({"nproc": 2}),
            vec![fragment(
                "pass-through",
                vec![
                    row("no milter", 612.25, "msg/s", "median of 5"),
                    floor_row("b/a", 0.9712, "ratio", ">= 0.95", true),
                    floor_row("p99", f64::NAN, "ms", "< 20 ms", false),
                ],
                json!({}),
            )],
        );
        let t = table(&results);
        assert!(t.starts_with("| section | metric |"));
        assert!(t.contains("| pass-through | no milter | 612 | msg/s | median of 5 |"));
        assert!(t.contains("| pass-through | b/a | 0.971 | ratio | >= 0.95: met |"));
        assert!(t.contains("| p99 | n/a | ms | < 20 ms: NOT met |"));
        // What we write is what we read back.
        let back: Value = serde_json::from_str(&results.to_string()).unwrap();
        assert_eq!(table(&back), t);
    }
}
