//! The player's clock, with a test hook, and human-readable times.
//!
//! `PLAYER_NOW` (unix seconds), when set, replaces the system clock for every licence check. It
//! is a **test hook**: end-to-end tests set it to jump past a 24-hour viewing window. It cannot
//! extend a window that main has signed; it only makes the player believe a different time.

/// The environment variable that overrides the clock.
pub const NOW_ENV: &str = "PLAYER_NOW";

/// The current unix time: `PLAYER_NOW` if set, otherwise the system clock.
pub fn now() -> Result<u64, String> {
    match std::env::var(NOW_ENV) {
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("{NOW_ENV}={v:?} is not a number of unix seconds")),
        Err(_) => Ok(protocol::unix_now()),
    }
}

/// Formats unix seconds as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn format_unix(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Gregorian date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_unix(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_unix(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_unix(1_735_787_045), "2025-01-02 03:04:05 UTC");
    }
}
