//! Value parsers for the command line. They run inside clap, so a bad value is a usage error
//! (exit 2) with clap's message format, before any file or database is touched.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A humantime duration of at least one second, in seconds (`48h`, `30m`, `10s`).
pub fn duration(s: &str) -> Result<u64, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{s:?}: {e} (e.g. 48h, 30m)"))?;
    if d.as_secs() == 0 {
        return Err("the duration must be at least one second".into());
    }
    Ok(d.as_secs())
}

/// A contract id (26 characters of RFC 4648 base32, any case) or a serial number (digits).
pub fn contract_ref(s: &str) -> Result<String, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return match s.parse::<i64>() {
            Ok(n) if n > 0 => Ok(n.to_string()),
            _ => Err(format!("{s:?} is not a valid serial number")),
        };
    }
    let lower = s.to_ascii_lowercase();
    if lower.len() == 26
        && lower
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
    {
        return Ok(lower);
    }
    Err(format!(
        "{s:?} is neither a contract id (26 characters a-z, 2-7) nor a serial number"
    ))
}

/// A contract state name.
pub fn state(s: &str) -> Result<String, String> {
    crate::lifecycle::State::parse(s)
        .map(|st| st.as_str().to_string())
        .ok_or_else(|| {
            format!(
                "{s:?} is not a state (received, requested, accepted, rejected, not_delivered, unanswered)"
            )
        })
}

/// An email address as SMTP understands it (checked by lettre's parser).
pub fn address(s: &str) -> Result<String, String> {
    s.parse::<lettre::Address>()
        .map(|a| a.to_string())
        .map_err(|e| format!("{s:?} is not an email address: {e}"))
}

/// A destination to search for: an email address, or a phone number that is normalised the
/// way certmilter stores it (E.164: `+` and digits; spaces, dots, dashes and brackets go).
pub fn destination(s: &str) -> Result<String, String> {
    if s.contains('@') {
        return address(s);
    }
    let compact: String = s
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')'))
        .collect();
    match compact.strip_prefix('+') {
        Some(digits)
            if (6..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Ok(compact)
        }
        _ => Err(format!(
            "{s:?} is neither an email address nor a phone number in international form (+34600111222)"
        )),
    }
}

/// A phone number in international form, normalised to E.164 as the milter writes
/// destinations (`+34 600 111 222` and `0034600111222` are `+34600111222`).
pub fn phone(s: &str) -> Result<String, String> {
    certmail_protocol::counterparty::e164(s)
        .ok_or_else(|| format!("{s:?} is not a phone number in international form (+34600111222)"))
}

/// `--since`: the first instant included.
pub fn since(s: &str) -> Result<String, String> {
    let (t, _) = instant(s)?;
    Ok(stored_format(t))
}

/// `--until`: turned into the first instant *excluded*, so that a date includes its whole
/// day and a time includes that very millisecond (stored times have millisecond precision).
pub fn until(s: &str) -> Result<String, String> {
    let (t, date_only) = instant(s)?;
    let step = if date_only {
        Duration::from_secs(86_400)
    } else {
        Duration::from_millis(1)
    };
    Ok(stored_format(t + step))
}

/// The format of `contracts.submitted_at`, so that text comparison is time comparison.
fn stored_format(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Parses `YYYY-MM-DD` (UTC midnight; `true`) or an RFC 3339 time with `Z`, a numeric
/// offset, or no zone (taken as UTC); `T` or a space between date and time.
fn instant(s: &str) -> Result<(SystemTime, bool), String> {
    let bad = || {
        format!(
            "{s:?} is not a date (2026-11-25) or an RFC 3339 time (2026-11-25T10:00:00Z, 2026-11-25T11:00:00+01:00)"
        )
    };
    let s = s.trim();
    if s.len() == 10 {
        let t = humantime::parse_rfc3339(&format!("{s}T00:00:00Z")).map_err(|_| bad())?;
        return Ok((t, true));
    }
    if s.len() < 19 || !s.is_char_boundary(10) || !s.is_char_boundary(19) {
        return Err(bad());
    }
    let (date, rest) = s.split_at(10);
    let rest = rest
        .strip_prefix('T')
        .or_else(|| rest.strip_prefix('t'))
        .or_else(|| rest.strip_prefix(' '))
        .ok_or_else(bad)?;
    // rest: HH:MM:SS[.frac][Z|z|±HH:MM]
    let (clock, offset_secs) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
        (c, 0i64)
    } else if rest.len() > 6
        && rest.is_char_boundary(rest.len() - 6)
        && matches!(rest.as_bytes()[rest.len() - 6], b'+' | b'-')
    {
        let (c, off) = rest.split_at(rest.len() - 6);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (h, m) = off[1..].split_once(':').ok_or_else(bad)?;
        let h: i64 = h.parse().map_err(|_| bad())?;
        let m: i64 = m.parse().map_err(|_| bad())?;
        if h > 23 || m > 59 {
            return Err(bad());
        }
        (c, sign * (h * 3600 + m * 60))
    } else {
        (rest, 0)
    };
    let utc_clock = humantime::parse_rfc3339(&format!("{date}T{clock}Z")).map_err(|_| bad())?;
    // Local time = UTC + offset, so UTC = local time - offset.
    let t = if offset_secs >= 0 {
        utc_clock.checked_sub(Duration::from_secs(offset_secs as u64))
    } else {
        utc_clock.checked_add(Duration::from_secs(offset_secs.unsigned_abs()))
    }
    .filter(|t| *t >= UNIX_EPOCH)
    .ok_or_else(bad)?;
    Ok((t, false))
}

#[cfg(test)]
mod tests {

    #[test]
    fn at_time_reads_rfc3339_dates_and_offsets() {
        use super::at_time;
        let t = |s: &str| {
            at_time(s)
                .map(|t| humantime::format_rfc3339_seconds(t).to_string())
                .map_err(|e| e.to_string())
        };
        assert_eq!(t("2036-01-01").as_deref(), Ok("2036-01-01T00:00:00Z"));
        assert_eq!(
            t("2036-01-01T12:30:00Z").as_deref(),
            Ok("2036-01-01T12:30:00Z")
        );
        assert_eq!(
            t("2036-01-01T12:30:00+02:00").as_deref(),
            Ok("2036-01-01T10:30:00Z")
        );
        assert_eq!(
            t("2036-01-01T12:30:00-05:30").as_deref(),
            Ok("2036-01-01T18:00:00Z")
        );
        for bad in [
            "",
            "2036",
            "2036-13-01",
            "tomorrow",
            "2036-01-01T25:00:00Z",
            "2036-01-01T12:00:00+24:00",
        ] {
            assert!(t(bad).is_err(), "{bad}");
        }
    }
    use super::*;

    #[test]
    fn contract_refs() {
        assert_eq!(contract_ref("42").unwrap(), "42");
        assert_eq!(contract_ref("007").unwrap(), "7");
        let id = "abcdefghijklmnopqrstuvwxyz";
        assert_eq!(contract_ref(&id.to_uppercase()).unwrap(), id);
        for bad in [
            "",
            "0",
            "-1",
            "12x",
            "99999999999999999999",
            "abcdefghijklmnopqrstuvwxy1",
            "abc",
            "../../etc/passwd",
        ] {
            assert!(contract_ref(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(since("2026-11-25").unwrap(), "2026-11-25T00:00:00.000Z");
        assert_eq!(until("2026-11-25").unwrap(), "2026-11-26T00:00:00.000Z");
        assert_eq!(until("2026-12-31").unwrap(), "2027-01-01T00:00:00.000Z");
        assert_eq!(
            since("2026-11-25T10:00:00Z").unwrap(),
            "2026-11-25T10:00:00.000Z"
        );
        assert_eq!(
            since("2026-11-25T11:30:00+01:30").unwrap(),
            "2026-11-25T10:00:00.000Z"
        );
        assert_eq!(
            since("2026-11-25 05:00:00-05:00").unwrap(),
            "2026-11-25T10:00:00.000Z"
        );
        assert_eq!(
            until("2026-11-25T10:00:00.250Z").unwrap(),
            "2026-11-25T10:00:00.251Z"
        );
        assert_eq!(
            since("2026-11-25T10:00:00").unwrap(),
            "2026-11-25T10:00:00.000Z"
        );
        for bad in [
            "yesterday",
            "2026-13-01",
            "2026-02-30",
            "2026-11-25T25:00:00Z",
            "2026-11-25T10:00:00+25:00",
            "2026-11-25X10:00:00Z",
            "2026/11/25",
            "",
            "2026-11-25T10:00",
        ] {
            assert!(since(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn destinations_and_addresses() {
        assert_eq!(destination("+34 600 111 222").unwrap(), "+34600111222");
        assert_eq!(destination("+34-600-111-222").unwrap(), "+34600111222");
        assert_eq!(destination("bob@example.test").unwrap(), "bob@example.test");
        for bad in ["600111222", "+34abc", "bob", "bob@", "+1"] {
            assert!(destination(bad).is_err(), "{bad:?} accepted");
        }
        assert!(address("a@b.example").is_ok());
        for bad in ["", "no at", "a@", "@b", "a b@c.example", "<a@b.example>"] {
            assert!(address(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn durations_and_states() {
        assert_eq!(duration("48h").unwrap(), 172_800);
        assert!(duration("0s").is_err());
        assert!(duration("soon").is_err());
        assert_eq!(state("not_delivered").unwrap(), "not_delivered");
        assert!(state("done").is_err());
    }
}

/// A `--at` value that is no RFC 3339 date or date-time.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not an RFC 3339 date or date-time (e.g. 2036-01-01 or 2036-01-01T12:00:00Z)")]
pub struct BadTime(String);

/// An RFC 3339 date (midnight UTC) or date-time with `Z` or a numeric offset (RFC 3339
/// section 5.6), for `certd verify --at`.
pub fn at_time(s: &str) -> Result<SystemTime, BadTime> {
    let bad = || BadTime(s.to_string());
    let t = s.trim();
    if t.len() == 10 {
        return humantime::parse_rfc3339(&format!("{t}T00:00:00Z")).map_err(|_| bad());
    }
    // A numeric offset: the time is local to it, so UTC is the time minus the offset.
    let (base, offset) = match t
        .len()
        .checked_sub(6)
        .and_then(|i| t.get(i..).map(|o| (i, o)))
    {
        Some((i, o))
            if (o.starts_with('+') || o.starts_with('-'))
                && o.as_bytes().get(3) == Some(&b':')
                && !t[..i].ends_with(['Z', 'z']) =>
        {
            let h: u64 = o[1..3].parse().map_err(|_| bad())?;
            let m: u64 = o[4..6].parse().map_err(|_| bad())?;
            if h > 23 || m > 59 {
                return Err(bad());
            }
            let secs = Duration::from_secs(h * 3600 + m * 60);
            (
                &t[..i],
                if o.starts_with('-') {
                    (true, secs)
                } else {
                    (false, secs)
                },
            )
        }
        _ => (t, (false, Duration::ZERO)),
    };
    let local =
        humantime::parse_rfc3339_weak(base.trim_end_matches(['Z', 'z'])).map_err(|_| bad())?;
    let (west, d) = offset;
    if west {
        local.checked_add(d)
    } else {
        local.checked_sub(d)
    }
    .filter(|t| *t >= UNIX_EPOCH)
    .ok_or_else(bad)
}
