//! Values crossing the store's SQL edge: parameters borrowed from the caller, columns owned by
//! the row, and the conversions of the types the store keeps (integers, text, bytes, states).

use crate::evidence::State;

/// A parameter, borrowed from the caller for the statement's duration.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Value<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// A column as read.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Owned {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Owned {
    /// As a parameter again (copying rows between stores).
    pub(crate) fn as_value(&self) -> Value<'_> {
        match self {
            Owned::Null => Value::Null,
            Owned::Int(i) => Value::Int(*i),
            // No REAL column exists; a real would come from an expression, never copied.
            Owned::Real(r) => Value::Int(*r as i64),
            Owned::Text(t) => Value::Text(t),
            Owned::Blob(b) => Value::Blob(b),
        }
    }
}

impl ToSql for Owned {
    fn to_value(&self) -> Value<'_> {
        self.as_value()
    }
}

/// What can be bound as a parameter.
pub(crate) trait ToSql {
    fn to_value(&self) -> Value<'_>;
}

/// What a column can be read as.
pub(crate) trait FromSql: Sized {
    fn from_owned(v: &Owned) -> Result<Self, String>;
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_value(&self) -> Value<'_> {
        (**self).to_value()
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_value(&self) -> Value<'_> {
        self.as_ref().map_or(Value::Null, ToSql::to_value)
    }
}

impl ToSql for str {
    fn to_value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl ToSql for String {
    fn to_value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl ToSql for [u8] {
    fn to_value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl ToSql for Vec<u8> {
    fn to_value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl ToSql for bool {
    fn to_value(&self) -> Value<'_> {
        Value::Int(i64::from(*self))
    }
}

impl ToSql for State {
    fn to_value(&self) -> Value<'_> {
        Value::Text(self.as_str())
    }
}

macro_rules! int_to_sql {
    ($($t:ty)+) => {$(
        impl ToSql for $t {
            fn to_value(&self) -> Value<'_> {
                // Every integer the store keeps fits: counts, seconds, serials, positions.
                Value::Int(*self as i64)
            }
        }
    )+};
}
int_to_sql!(i64 i32 u32 u16 u8 u64 usize);

impl<T: FromSql> FromSql for Option<T> {
    fn from_owned(v: &Owned) -> Result<Self, String> {
        match v {
            Owned::Null => Ok(None),
            v => T::from_owned(v).map(Some),
        }
    }
}

impl FromSql for i64 {
    fn from_owned(v: &Owned) -> Result<Self, String> {
        match v {
            Owned::Int(i) => Ok(*i),
            other => Err(format!("expected an integer, found {}", kind(other))),
        }
    }
}

macro_rules! int_from_sql {
    ($($t:ty)+) => {$(
        impl FromSql for $t {
            fn from_owned(v: &Owned) -> Result<Self, String> {
                let i = i64::from_owned(v)?;
                <$t>::try_from(i).map_err(|_| format!("{i} out of range"))
            }
        }
    )+};
}
int_from_sql!(i32 u32 u64 usize);

impl FromSql for bool {
    fn from_owned(v: &Owned) -> Result<Self, String> {
        Ok(i64::from_owned(v)? != 0)
    }
}

impl FromSql for String {
    fn from_owned(v: &Owned) -> Result<Self, String> {
        match v {
            Owned::Text(t) => Ok(t.clone()),
            other => Err(format!("expected text, found {}", kind(other))),
        }
    }
}

impl FromSql for Vec<u8> {
    fn from_owned(v: &Owned) -> Result<Self, String> {
        match v {
            Owned::Blob(b) => Ok(b.clone()),
            other => Err(format!("expected bytes, found {}", kind(other))),
        }
    }
}

impl FromSql for State {
    fn from_owned(v: &Owned) -> Result<Self, String> {
        let text = String::from_owned(v)?;
        State::parse(&text).ok_or_else(|| format!("unknown contract state {text:?}"))
    }
}

impl FromSql for Owned {
    fn from_owned(v: &Owned) -> Result<Self, String> {
        Ok(v.clone())
    }
}

fn kind(v: &Owned) -> &'static str {
    match v {
        Owned::Null => "NULL",
        Owned::Int(_) => "an integer",
        Owned::Real(_) => "a real",
        Owned::Text(_) => "text",
        Owned::Blob(_) => "bytes",
    }
}
