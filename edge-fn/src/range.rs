//! Which bytes of an object a request asks for: the `Range` header (one range only) and
//! `If-Range`, against the object's length.
//!
//! Decisions (RFC 9110 §14): a `Range` that does not parse is ignored (200, whole object); a set
//! of several ranges is ignored too (200, whole object) rather than answered with
//! `multipart/byteranges`, which no client of ours asks for; a single range that starts at or
//! past the end is unsatisfiable (416), and so is the empty suffix `bytes=-0`; a last position at
//! or past the end is clipped to the end, however large (a resuming download manager may send
//! `bytes=N-18446744073709551616`), and a suffix longer than the object selects all of it.
//! `If-Range` with anything but our exact (strong) ETag — a date included, as we send no
//! `Last-Modified` — makes the `Range` ignored.

use std::ops::Range;

use http_range_header::{EndPosition, RangeUnsatisfiableError, StartPosition};

/// The part of the object to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeChoice {
    /// 200 with all bytes.
    Whole,
    /// 206 with these bytes (half-open, never empty).
    Partial(Range<u64>),
    /// 416 with `Content-Range: bytes */LEN`.
    Unsatisfiable,
}

impl RangeChoice {
    /// The bytes to send, if any.
    pub fn bytes(&self, len: u64) -> Option<Range<u64>> {
        match self {
            RangeChoice::Whole => Some(0..len),
            RangeChoice::Partial(r) => Some(r.clone()),
            RangeChoice::Unsatisfiable => None,
        }
    }
}

/// Chooses what to send for `range` and `if_range` header values, an object of `len` bytes
/// (`len > 0`) whose ETag is `etag` (quoted).
pub fn choose(range: Option<&str>, if_range: Option<&str>, etag: &str, len: u64) -> RangeChoice {
    let Some(range) = range else {
        return RangeChoice::Whole;
    };
    if if_range.is_some_and(|v| v.trim() != etag) {
        return RangeChoice::Whole;
    }
    let range = range.trim();
    let parsed = match http_range_header::parse_range_header(range) {
        Ok(parsed) => parsed,
        Err(e) => return beyond_parser(range, &e, len),
    };
    let [one] = parsed.ranges.as_slice() else {
        return RangeChoice::Whole;
    };
    let start = match one.start {
        StartPosition::Index(s) => s,
        StartPosition::FromLast(n) => len.saturating_sub(n),
    };
    let end = match one.end {
        EndPosition::Index(e) if e < start => return RangeChoice::Whole,
        EndPosition::Index(e) => e.saturating_add(1).min(len),
        EndPosition::LastByte => len,
    };
    if start >= len {
        return RangeChoice::Unsatisfiable;
    }
    RangeChoice::Partial(start..end)
}

/// A single range the parser refused that still has a meaning: the empty suffix (416), and
/// positions too large for a `u64` (a first position past any object is 416, a last position is
/// the end, a suffix is the whole object). Anything else is ignored (200).
fn beyond_parser(range: &str, error: &RangeUnsatisfiableError, len: u64) -> RangeChoice {
    let Some(spec) = range.strip_prefix("bytes=").map(str::trim) else {
        return RangeChoice::Whole;
    };
    if matches!(error, RangeUnsatisfiableError::ZeroSuffix) && !spec.contains(',') {
        return RangeChoice::Unsatisfiable;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return RangeChoice::Whole;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let huge = |s: &str| digits(s) && s.parse::<u64>().is_err();
    match (first, last) {
        ("", last) if huge(last) => RangeChoice::Partial(0..len),
        (first, _) if huge(first) => RangeChoice::Unsatisfiable,
        (first, last) if digits(first) && huge(last) => {
            let start: u64 = first.parse().expect("digits that fit");
            if start >= len {
                RangeChoice::Unsatisfiable
            } else {
                RangeChoice::Partial(start..len)
            }
        }
        _ => RangeChoice::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: &str = "\"abc\"";

    fn c(range: &str) -> RangeChoice {
        choose(Some(range), None, TAG, 1000)
    }

    #[test]
    fn single_ranges() {
        assert_eq!(c("bytes=0-0"), RangeChoice::Partial(0..1));
        assert_eq!(c("bytes=10-19"), RangeChoice::Partial(10..20));
        assert_eq!(c("bytes=990-5000"), RangeChoice::Partial(990..1000));
        assert_eq!(c("bytes=990-"), RangeChoice::Partial(990..1000));
        assert_eq!(c("bytes=-10"), RangeChoice::Partial(990..1000));
        assert_eq!(c("bytes=-5000"), RangeChoice::Partial(0..1000));
        assert_eq!(c("bytes=0-"), RangeChoice::Partial(0..1000));
    }

    #[test]
    fn unsatisfiable_and_ignored() {
        assert_eq!(c("bytes=1000-"), RangeChoice::Unsatisfiable);
        assert_eq!(c("bytes=5000-6000"), RangeChoice::Unsatisfiable);
        assert_eq!(c("bytes=0-1,5-9"), RangeChoice::Whole);
        assert_eq!(c("bytes=9-5"), RangeChoice::Whole);
        assert_eq!(c("items=0-1"), RangeChoice::Whole);
        assert_eq!(c("bytes=x-1"), RangeChoice::Whole);
        assert_eq!(choose(None, None, TAG, 1000), RangeChoice::Whole);
        assert_eq!(RangeChoice::Whole.bytes(7), Some(0..7));
        assert_eq!(RangeChoice::Unsatisfiable.bytes(7), None);
    }

    #[test]
    fn corners_of_rfc_9110() {
        // The empty suffix selects nothing.
        assert_eq!(c("bytes=-0"), RangeChoice::Unsatisfiable);
        // A last position past the end, however large, is clipped to the end.
        assert_eq!(c("bytes=500-999"), RangeChoice::Partial(500..1000));
        assert_eq!(
            c("bytes=500-18446744073709551615"),
            RangeChoice::Partial(500..1000)
        );
        assert_eq!(
            c("bytes=500-18446744073709551616"),
            RangeChoice::Partial(500..1000)
        );
        assert_eq!(
            c("bytes=500-99999999999999999999999999"),
            RangeChoice::Partial(500..1000)
        );
        assert_eq!(
            c("bytes=1000-99999999999999999999999"),
            RangeChoice::Unsatisfiable
        );
        // A first position past any object, and a suffix longer than any object.
        assert_eq!(
            c("bytes=99999999999999999999999-"),
            RangeChoice::Unsatisfiable
        );
        assert_eq!(
            c("bytes=-99999999999999999999999"),
            RangeChoice::Partial(0..1000)
        );
        // Still ignored: garbage in a position, and sets.
        assert_eq!(c("bytes=5-x"), RangeChoice::Whole);
        assert_eq!(c("bytes=-0,0-5"), RangeChoice::Whole);
    }

    #[test]
    fn if_range_needs_the_exact_etag() {
        let r = Some("bytes=0-9");
        assert_eq!(choose(r, Some(TAG), TAG, 1000), RangeChoice::Partial(0..10));
        assert_eq!(choose(r, Some("\"old\""), TAG, 1000), RangeChoice::Whole);
        assert_eq!(choose(r, Some("W/\"abc\""), TAG, 1000), RangeChoice::Whole);
        assert_eq!(
            choose(r, Some("Wed, 21 Oct 2015 07:28:00 GMT"), TAG, 1000),
            RangeChoice::Whole
        );
    }
}
