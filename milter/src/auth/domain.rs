//! How domain names compare in authentication checks: case-insensitively, without the root dot,
//! on label boundaries, so that `badexample.test` never passes for `example.test`.

/// Lower-case, trimmed, without the root label's trailing dot: DNS names compare
/// case-insensitively (RFC 4343) and `example.test.` is `example.test`.
pub(super) fn normalize_domain(domain: &str) -> String {
    domain.trim().trim_end_matches('.').to_lowercase()
}

/// `name` equals `parent` or lies below it, on a label boundary (`badexample.test` is not
/// below `example.test`). Both must already be normalized.
pub(super) fn is_same_or_subdomain(name: &str, parent: &str) -> bool {
    if parent.is_empty() {
        return false;
    }
    name == parent
        || name
            .strip_suffix(parent)
            .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.'))
}
