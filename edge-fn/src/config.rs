//! The component's settings, read from Spin variables (`edge_id`, `edge_secret`, `edge_region`,
//! `main_url`, the cache budgets `licensed_budget_bytes` and `other_budget_bytes`, prefill's pace
//! and the outbound timeouts) and validated before any request is handled.

use std::time::Duration;

use crate::zone::Budgets;

/// Budget of the licensed zone when `licensed_budget_bytes` is not set: 10 GiB.
pub const DEFAULT_LICENSED_BUDGET: u64 = 10 << 30;
/// Budget of the other zone when `other_budget_bytes` is not set: 1 GiB.
pub const DEFAULT_OTHER_BUDGET: u64 = 1 << 30;

/// What this edge needs to talk to main.
#[derive(Clone, PartialEq, Eq)]
pub struct EdgeConfig {
    pub edge_id: String,
    pub edge_secret: String,
    pub edge_region: String,
    /// Every main this edge may call (base URLs without a trailing slash, e.g.
    /// `http://127.0.0.1:8080`), in the order tried: `main_url` may list several, separated by
    /// commas, for mains that share one store; a call that cannot reach one tries the next.
    pub main_urls: Vec<String>,
    /// Bytes each cache zone may hold.
    pub budgets: Budgets,
    /// Most bytes per second prefill fetches (`prefill_rate_bytes`; `None`: no cap).
    pub prefill_rate: Option<u64>,
    /// The time of day (UTC) when prefill may run (`prefill_window`, e.g. `01:00-06:00`).
    pub prefill_window: Option<Window>,
    /// How long a call to main or a parent may wait (sent as wasi-http request options).
    pub timeouts: Timeouts,
    /// Most ranged GETs one request's fill keeps open at once (`fill_parallel_gets`, 1–16,
    /// default [`crate::fill::PARALLEL_GETS`]).
    pub parallel_gets: usize,
}

/// The limits of every outbound call, so that a stuck peer is treated like a dead one: main
/// answers 503 `main_unreachable`, a fill moves on to the next parent. A host may cap them lower
/// (edge-host does, with its own `outbound_*_timeout_secs`), never higher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Connecting (`outbound_connect_timeout_secs`, default 5 s).
    pub connect: Duration,
    /// From the request sent to the response's head (`outbound_first_byte_timeout_secs`, 15 s).
    pub first_byte: Duration,
    /// Between two pieces of a response body (`outbound_idle_timeout_secs`, 15 s).
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            first_byte: Duration::from_secs(15),
            idle: Duration::from_secs(15),
        }
    }
}

/// A daily time window in UTC, as minutes after midnight; `start > end` wraps past midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: u32,
    pub end: u32,
}

impl Window {
    /// Parses `HH:MM-HH:MM`.
    pub fn parse(text: &str) -> Option<Self> {
        let minutes = |t: &str| {
            let (h, m) = t.trim().split_once(':')?;
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            (h < 24 && m < 60 && t.trim().len() == 5).then_some(h * 60 + m)
        };
        let (a, b) = text.split_once('-')?;
        let (start, end) = (minutes(a)?, minutes(b)?);
        (start != end).then_some(Self { start, end })
    }

    /// Whether unix second `now` falls in the window.
    pub fn contains(&self, now: u64) -> bool {
        let minute = ((now / 60) % (24 * 60)) as u32;
        if self.start < self.end {
            (self.start..self.end).contains(&minute)
        } else {
            minute >= self.start || minute < self.end
        }
    }
}

impl std::fmt::Debug for EdgeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeConfig")
            .field("edge_id", &self.edge_id)
            .field("edge_region", &self.edge_region)
            .field("main_urls", &self.main_urls)
            .field("budgets", &self.budgets)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

/// A variable is missing or unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("Spin variable `{0}` is not set")]
    Missing(&'static str),
    #[error(
        "Spin variable `main_url` must be an http:// or https:// URL (or several, separated by commas), got {0:?}"
    )]
    BadMainUrl(String),
    #[error("Spin variable `{0}` must be a whole number of bytes, at least 1 MiB, got {1:?}")]
    BadBudget(&'static str, String),
    #[error("Spin variable `prefill_window` must be HH:MM-HH:MM (UTC), got {0:?}")]
    BadWindow(String),
    #[error("Spin variable `{0}` must be a whole number of seconds from 1 to 600, got {1:?}")]
    BadTimeout(&'static str, String),
    #[error("Spin variable `fill_parallel_gets` must be a whole number from 1 to 16, got {0:?}")]
    BadParallelGets(String),
}

impl EdgeConfig {
    /// Reads the variables through `lookup` (Spin's `variables::get` on the edge, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        let mut main_urls = Vec::new();
        for url in get("main_url")?.split(',') {
            let url = url.trim().trim_end_matches('/').to_owned();
            let has_host = url.split_once("://").is_some_and(|(scheme, rest)| {
                matches!(scheme, "http" | "https") && !rest.is_empty()
            });
            if !has_host {
                return Err(ConfigError::BadMainUrl(url));
            }
            main_urls.push(url);
        }
        let budget = |name: &'static str, default: u64| match lookup(name) {
            None => Ok(default),
            Some(v) if v.trim().is_empty() => Ok(default),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|b| (1 << 20..=i64::MAX as u64).contains(b))
                .ok_or(ConfigError::BadBudget(name, v)),
        };
        let budgets = Budgets {
            licensed: budget("licensed_budget_bytes", DEFAULT_LICENSED_BUDGET)?,
            other: budget("other_budget_bytes", DEFAULT_OTHER_BUDGET)?,
        };
        let set = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let prefill_rate = match set("prefill_rate_bytes") {
            None => None,
            Some(v) => Some(
                v.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|b| *b >= 1 << 20)
                    .ok_or(ConfigError::BadBudget("prefill_rate_bytes", v))?,
            ),
        };
        let prefill_window = match set("prefill_window") {
            None => None,
            Some(v) => Some(Window::parse(&v).ok_or(ConfigError::BadWindow(v))?),
        };
        let seconds = |name: &'static str, default: Duration| match set(name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|s| (1..=600).contains(s))
                .map(Duration::from_secs)
                .ok_or(ConfigError::BadTimeout(name, v)),
        };
        let defaults = Timeouts::default();
        let timeouts = Timeouts {
            connect: seconds("outbound_connect_timeout_secs", defaults.connect)?,
            first_byte: seconds("outbound_first_byte_timeout_secs", defaults.first_byte)?,
            idle: seconds("outbound_idle_timeout_secs", defaults.idle)?,
        };
        let parallel_gets = match set("fill_parallel_gets") {
            None => crate::fill::PARALLEL_GETS,
            Some(v) => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=16).contains(n))
                .ok_or(ConfigError::BadParallelGets(v))?,
        };
        Ok(Self {
            budgets,
            prefill_rate,
            prefill_window,
            timeouts,
            parallel_gets,
            edge_id: get("edge_id")?,
            edge_secret: get("edge_secret")?,
            edge_region: get("edge_region")?,
            main_urls,
        })
    }

    /// The URL of a main API path (which starts with `/`) at the first main.
    pub fn main(&self, path: &str) -> String {
        format!("{}{path}", self.main_urls[0])
    }

    /// The headers that authenticate this edge at main.
    pub fn edge_auth_headers(&self) -> [(&'static str, String); 2] {
        [
            ("x-edge-id", self.edge_id.clone()),
            ("authorization", format!("Bearer {}", self.edge_secret)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const FULL: [(&str, &str); 4] = [
        ("edge_id", "edge-1"),
        ("edge_secret", "s3cret"),
        ("edge_region", "eu"),
        ("main_url", "http://127.0.0.1:8080/"),
    ];

    #[test]
    fn reads_and_normalises() {
        let c = EdgeConfig::from_lookup(vars(&FULL)).unwrap();
        assert_eq!(c.main_urls[0], "http://127.0.0.1:8080");
        assert_eq!(c.main("/healthz"), "http://127.0.0.1:8080/healthz");
        assert_eq!(c.edge_auth_headers()[1].1, "Bearer s3cret");
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(c.budgets.licensed, DEFAULT_LICENSED_BUDGET);
        assert_eq!(c.budgets.other, DEFAULT_OTHER_BUDGET);
        let mut v = FULL.to_vec();
        v.push(("licensed_budget_bytes", " 1073741824 "));
        let c = EdgeConfig::from_lookup(vars(&v)).unwrap();
        assert_eq!(c.budgets.licensed, 1 << 30);
    }

    #[test]
    fn prefill_rate_and_window() {
        let mut v = FULL.to_vec();
        v.push(("prefill_rate_bytes", "52428800"));
        v.push(("prefill_window", "23:30-05:00"));
        let c = EdgeConfig::from_lookup(vars(&v)).unwrap();
        assert_eq!(c.prefill_rate, Some(50 << 20));
        let w = c.prefill_window.unwrap();
        let at = |h: u64, m: u64| 1_800_000_000 / 86_400 * 86_400 + h * 3600 + m * 60;
        assert!(w.contains(at(23, 45)) && w.contains(at(4, 59)));
        assert!(!w.contains(at(5, 0)) && !w.contains(at(12, 0)));
        let day = Window::parse("01:00-06:00").unwrap();
        assert!(day.contains(at(1, 0)) && !day.contains(at(6, 0)));
        for bad in ["1:00-06:00", "01:00", "25:00-01:00", "01:00-01:00"] {
            let mut v = FULL.to_vec();
            v.push(("prefill_window", bad));
            assert!(
                matches!(
                    EdgeConfig::from_lookup(vars(&v)),
                    Err(ConfigError::BadWindow(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn several_mains_are_tried_in_order() {
        let mut v: Vec<_> = FULL
            .iter()
            .filter(|(k, _)| *k != "main_url")
            .copied()
            .collect();
        v.push((
            "main_url",
            "http://127.0.0.1:8080/, https://main-b.example.com",
        ));
        let c = EdgeConfig::from_lookup(vars(&v)).unwrap();
        assert_eq!(
            c.main_urls,
            ["http://127.0.0.1:8080", "https://main-b.example.com"]
        );
        assert_eq!(c.main_urls[0], "http://127.0.0.1:8080");
        let mut v: Vec<_> = FULL
            .iter()
            .filter(|(k, _)| *k != "main_url")
            .copied()
            .collect();
        v.push(("main_url", "http://a.example.com,,"));
        assert!(matches!(
            EdgeConfig::from_lookup(vars(&v)),
            Err(ConfigError::BadMainUrl(_))
        ));
    }

    #[test]
    fn outbound_timeouts_have_defaults_and_bounds() {
        let c = EdgeConfig::from_lookup(vars(&FULL)).unwrap();
        assert_eq!(c.timeouts, Timeouts::default());
        assert_eq!(c.parallel_gets, crate::fill::PARALLEL_GETS);
        for (given, ok) in [("1", true), ("16", true), ("0", false), ("17", false)] {
            let mut v = FULL.to_vec();
            v.push(("fill_parallel_gets", given));
            assert_eq!(EdgeConfig::from_lookup(vars(&v)).is_ok(), ok, "{given}");
        }
        let mut v = FULL.to_vec();
        v.push(("outbound_first_byte_timeout_secs", " 2 "));
        let c = EdgeConfig::from_lookup(vars(&v)).unwrap();
        assert_eq!(c.timeouts.first_byte, Duration::from_secs(2));
        assert_eq!(c.timeouts.connect, Timeouts::default().connect);
        for bad in ["0", "601", "1.5", "soon"] {
            let mut v = FULL.to_vec();
            v.push(("outbound_idle_timeout_secs", bad));
            assert_eq!(
                EdgeConfig::from_lookup(vars(&v)),
                Err(ConfigError::BadTimeout(
                    "outbound_idle_timeout_secs",
                    bad.into()
                )),
            );
        }
    }

    #[test]
    fn refuses_unusable_budgets() {
        for bad in ["10GiB", "-1", "1000", "99999999999999999999"] {
            let mut v = FULL.to_vec();
            v.push(("other_budget_bytes", bad));
            assert!(
                matches!(
                    EdgeConfig::from_lookup(vars(&v)),
                    Err(ConfigError::BadBudget("other_budget_bytes", _))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn refuses_missing_and_bad_values() {
        let mut v = FULL.to_vec();
        v[1] = ("edge_secret", "  ");
        assert_eq!(
            EdgeConfig::from_lookup(vars(&v)),
            Err(ConfigError::Missing("edge_secret"))
        );
        let mut v = FULL.to_vec();
        v[3] = ("main_url", "ftp://x");
        assert!(matches!(
            EdgeConfig::from_lookup(vars(&v)),
            Err(ConfigError::BadMainUrl(_))
        ));
    }
}
