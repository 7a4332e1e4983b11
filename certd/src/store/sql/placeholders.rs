//! SQLite's `?N` and `?` placeholders as PostgreSQL's `$N`, outside quoted text.

/// `?N` becomes `$N`; a bare `?` takes the next number after the largest seen so far, as
/// SQLite numbers it.
pub(super) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut highest = 0u32;
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                out.push(c);
            }
            (Some(_), c) => out.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                out.push(c);
            }
            (None, '?') => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                let n = digits.parse::<u32>().unwrap_or(highest + 1);
                highest = highest.max(n);
                out.push('$');
                out.push_str(&n.to_string());
            }
            (None, c) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn numbers_as_sqlite_does() {
        assert_eq!(
            numbered("a = ?1 AND b = ?2 OR c = ?1"),
            "a = $1 AND b = $2 OR c = $1"
        );
        assert_eq!(numbered("a = ? AND b = ?"), "a = $1 AND b = $2");
        assert_eq!(numbered("a = ?3 AND b = ?"), "a = $3 AND b = $4");
    }

    #[test]
    fn leaves_quoted_text_alone() {
        assert_eq!(numbered("a = '?1' AND b = ?1"), "a = '?1' AND b = $1");
        assert_eq!(numbered("x ->> 'k?' = ?"), "x ->> 'k?' = $1");
    }
}
