//! Column conversions at the store's edge: instants as RFC 3339 text with milliseconds (event
//! and row times) or Unix seconds (deadlines, due times). States convert in `sql/value.rs`.

use super::sql::{Row, SqlError};
use crate::evidence::Instant;

/// Reads an RFC 3339 text column.
pub(crate) fn instant(r: &Row, idx: usize) -> Result<Instant, SqlError> {
    let text: String = r.get(idx)?;
    Instant::parse_rfc3339(&text).ok_or_else(|| SqlError::Column {
        idx,
        msg: format!("not an RFC 3339 time: {text:?}"),
    })
}

/// Reads a Unix-seconds column that may be NULL.
pub(crate) fn unix_secs(r: &Row, idx: usize) -> Result<Option<Instant>, SqlError> {
    Ok(r.get::<_, Option<i64>>(idx)?.map(Instant::from_unix_secs))
}
