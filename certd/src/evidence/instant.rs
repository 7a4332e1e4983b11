//! One UTC instant type for every time certd stores, compares or prints.
//!
//! Milliseconds since the Unix epoch inside; RFC 3339 (`2026-12-01T15:00:00.123Z`) at the
//! serialization edge, or Unix seconds where older records used them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time, UTC, millisecond precision. Times before 1970 clamp to the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(i64);

impl Instant {
    /// The system clock now. Only the edges read it (daemon, CLI); the core takes it as input.
    pub fn now() -> Instant {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| Instant(d.as_millis().min(i64::MAX as u128) as i64))
            .unwrap_or_default()
    }

    pub fn from_unix_secs(secs: i64) -> Instant {
        Instant(secs.max(0).saturating_mul(1000))
    }

    pub fn from_unix_millis(millis: i64) -> Instant {
        Instant(millis.max(0))
    }

    pub fn unix_secs(self) -> i64 {
        self.0 / 1000
    }

    pub fn unix_millis(self) -> i64 {
        self.0
    }

    /// `secs` later (earlier if negative), saturating.
    pub fn plus_secs(self, secs: i64) -> Instant {
        Instant::from_unix_millis(self.0.saturating_add(secs.saturating_mul(1000)))
    }

    fn system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.0.max(0) as u64)
    }

    /// RFC 3339 UTC with milliseconds: the format of stored event and row times, whose text
    /// order is time order.
    pub fn rfc3339_millis(self) -> String {
        humantime::format_rfc3339_millis(self.system_time()).to_string()
    }

    /// RFC 3339 UTC to the second, as deadlines and gateway times are written.
    pub fn rfc3339_seconds(self) -> String {
        humantime::format_rfc3339_seconds(self.system_time()).to_string()
    }

    /// `2026-12-01 15:00 UTC`: a short human form for SMS and mail text.
    pub fn minutes_utc(self) -> String {
        let t = self.rfc3339_seconds();
        format!("{} {} UTC", &t[..10], &t[11..16])
    }

    /// Parses RFC 3339 UTC (`Z`), with or without fractional seconds.
    pub fn parse_rfc3339(text: &str) -> Option<Instant> {
        let t = humantime::parse_rfc3339_weak(text.trim_end_matches('Z')).ok()?;
        let d = t.duration_since(UNIX_EPOCH).ok()?;
        Some(Instant(d.as_millis().min(i64::MAX as u128) as i64))
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339_millis())
    }
}

impl Serialize for Instant {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.rfc3339_millis())
    }
}

impl<'de> Deserialize<'de> for Instant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Instant, D::Error> {
        let text = String::deserialize(d)?;
        Instant::parse_rfc3339(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 UTC time: {text:?}")))
    }
}

/// `#[serde(with = "seconds")]`: an instant written as RFC 3339 to the second.
pub mod seconds {
    use super::Instant;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Instant, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.rfc3339_seconds())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Instant, D::Error> {
        let text = String::deserialize(d)?;
        Instant::parse_rfc3339(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 UTC time: {text:?}")))
    }
}

/// `#[serde(with = "unix_secs")]`: an instant written as Unix seconds.
pub mod unix_secs {
    use super::Instant;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Instant, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(t.unix_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Instant, D::Error> {
        Ok(Instant::from_unix_secs(i64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_parses_rfc3339() {
        let t = Instant::from_unix_millis(1_764_601_200_123);
        assert_eq!(t.rfc3339_millis(), "2025-12-01T15:00:00.123Z");
        assert_eq!(t.rfc3339_seconds(), "2025-12-01T15:00:00Z");
        assert_eq!(t.minutes_utc(), "2025-12-01 15:00 UTC");
        assert_eq!(Instant::parse_rfc3339("2025-12-01T15:00:00.123Z"), Some(t));
        assert_eq!(
            Instant::parse_rfc3339("2025-12-01T15:00:00Z"),
            Some(Instant::from_unix_secs(1_764_601_200))
        );
        assert_eq!(Instant::parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn text_order_is_time_order_and_clamps_at_the_epoch() {
        let a = Instant::from_unix_secs(9);
        let b = Instant::from_unix_secs(10);
        assert!(a < b && a.rfc3339_millis() < b.rfc3339_millis());
        assert_eq!(Instant::from_unix_secs(-5), Instant::default());
        assert_eq!(b.plus_secs(-10), Instant::default());
        assert_eq!(b.plus_secs(5).unix_secs(), 15);
    }
}
