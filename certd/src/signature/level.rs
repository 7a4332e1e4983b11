//! The PAdES baseline levels (ETSI EN 319 142-1 section 6): what a signed certificate reaches,
//! and what the configuration asks issuing to reach.

use std::fmt;
use std::str::FromStr;

/// A PAdES baseline level, ordered: each level includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// B-B: a CAdES-detached signature with signing-certificate-v2 (section 6.3).
    B,
    /// B-T: plus a signature time-stamp (section 6.4).
    T,
    /// B-LT: plus the validation data of every certificate, in `/DSS` (section 6.5).
    Lt,
    /// B-LTA: plus a document time-stamp over the whole file (section 6.6).
    Lta,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::B => "B-B",
            Level::T => "B-T",
            Level::Lt => "B-LT",
            Level::Lta => "B-LTA",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The level is not one of B-B, B-T, B-LT, B-LTA.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown PAdES level {0:?}: use B-B, B-T, B-LT or B-LTA")]
pub struct UnknownLevel(String);

impl FromStr for Level {
    type Err = UnknownLevel;

    fn from_str(s: &str) -> Result<Level, UnknownLevel> {
        match s.to_ascii_uppercase().as_str() {
            "B-B" => Ok(Level::B),
            "B-T" => Ok(Level::T),
            "B-LT" => Ok(Level::Lt),
            "B-LTA" => Ok(Level::Lta),
            _ => Err(UnknownLevel(s.into())),
        }
    }
}

impl serde::Serialize for Level {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Level {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Level, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::Level;

    #[test]
    fn levels_read_back_and_are_ordered() {
        for l in [Level::B, Level::T, Level::Lt, Level::Lta] {
            assert_eq!(l.as_str().parse::<Level>(), Ok(l));
        }
        assert!(Level::T < Level::Lt && Level::Lt < Level::Lta);
        assert!("b-lta".parse::<Level>().is_ok());
        assert!("LTA".parse::<Level>().is_err());
    }
}
