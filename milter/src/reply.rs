//! SMTP replies the milter gives, each with an RFC 3463 enhanced status and a sentence a
//! customer can act on.

use std::fmt;

/// A complete SMTP reply: basic code, enhanced status, human text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub enhanced: &'static str,
    pub text: String,
}

impl Reply {
    pub fn new(code: u16, enhanced: &'static str, text: impl Into<String>) -> Self {
        Reply {
            code,
            enhanced,
            text: text.into(),
        }
    }

    /// `451 4.3.0`: certd unreachable, slow or failing; the sender must retry.
    pub fn tempfail(text: impl Into<String>) -> Self {
        Reply::new(451, "4.3.0", text)
    }

    pub fn is_temporary(&self) -> bool {
        (400..500).contains(&self.code)
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.code, self.enhanced, self.text)
    }
}
