//! Column conversions at the store's edge: states as their snake_case names, instants as
//! RFC 3339 text with milliseconds (event and row times) or Unix seconds (deadlines, due times).

use crate::evidence::{Instant, State};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

impl ToSql for State {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for State {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        State::parse(text)
            .ok_or_else(|| FromSqlError::Other(format!("unknown contract state {text:?}").into()))
    }
}

/// Reads an RFC 3339 text column.
pub(crate) fn instant(r: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Instant> {
    let text: String = r.get(idx)?;
    Instant::parse_rfc3339(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            format!("not an RFC 3339 time: {text:?}").into(),
        )
    })
}

/// Reads a Unix-seconds column that may be NULL.
pub(crate) fn unix_secs(r: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Option<Instant>> {
    Ok(r.get::<_, Option<i64>>(idx)?.map(Instant::from_unix_secs))
}
