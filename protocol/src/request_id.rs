//! Request ids: one id per client request, carried in [`HEADER`] from edge-host through the edge
//! component to main, and written in each one's log lines, so that one download's lines can be
//! found in all three.
//!
//! A client may send its own id (a download manager correlating its retries); it is kept when it
//! is [`acceptable`] — 1 to 64 characters of `A-Z a-z 0-9 . _ -`, nothing that could forge a log
//! line — and replaced by a [`fresh`] one otherwise.

/// The header that carries the id.
pub const HEADER: &str = "x-request-id";

/// Whether `id` may be used as it is.
pub fn acceptable(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A new random id (32 hex digits).
pub fn fresh() -> String {
    crate::random_id()
}

/// `offered` if acceptable, else a fresh id.
pub fn keep_or_fresh(offered: Option<&str>) -> String {
    match offered {
        Some(id) if acceptable(id) => id.to_owned(),
        _ => fresh(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_short_ids_are_kept() {
        assert_eq!(keep_or_fresh(Some("dl-42.retry_3")), "dl-42.retry_3");
        for bad in ["", "a b", "x\ny", "\"q\"", &"a".repeat(65), "é"] {
            let id = keep_or_fresh(Some(bad));
            assert_ne!(id, bad);
            assert!(acceptable(&id), "{id}");
        }
        assert_eq!(fresh().len(), 32);
        assert_ne!(fresh(), fresh());
    }
}
