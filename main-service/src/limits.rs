//! Rate limits and login lockout: what one client, account, edge or token may ask of main.
//!
//! Each limit is a keyed GCRA limiter from `governor` (a token bucket without a timer: a burst
//! of `burst` requests, then one every `period / per_period`), in memory:
//!
//! | limit | key | default |
//! | --- | --- | --- |
//! | `login_ip` | the client address, for logins and registrations | 30 a minute |
//! | `login_account` | the email, for logins | 10 a minute |
//! | `rentals` | the account | 20 a minute |
//! | `authorize_edge` | the calling edge | 5,000 a second |
//! | `authorize_token` | the download token | 120 a minute |
//!
//! A refusal is a 429 with `Retry-After` (whole seconds, at least 1) and the limit's name in the
//! body. Besides the rate, [`Lockout`] locks an account's logins after `lockout_failures`
//! consecutive wrong passwords for `lockout_secs`, right password or not, with a message that says
//! until when; a successful login resets the count.
//!
//! The state is per main process: N mains (or N warm Lambda instances) allow up to N times each
//! rate, and a restart forgets it (`docs/interfaces.md` states this). argon2id's cost keeps each
//! guess expensive either way; the limits keep their number small.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;

/// One limit's setting: `per_period` requests every `period_secs`, bursts of up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub per_period: u32,
    pub period_secs: u64,
    pub burst: u32,
}

impl Rate {
    const fn new(per_period: u32, period_secs: u64, burst: u32) -> Self {
        Self {
            per_period,
            period_secs,
            burst,
        }
    }

    fn validate(&self, name: &str) -> Result<(), String> {
        if self.per_period == 0 || self.period_secs == 0 || self.burst == 0 {
            return Err(format!(
                "limits.{name}: per_period, period_secs and burst must be positive"
            ));
        }
        Ok(())
    }

    fn quota(&self) -> Quota {
        let nonzero = |n: u32| NonZeroU32::new(n).expect("validated positive");
        let every = Duration::from_secs(self.period_secs) / self.per_period;
        Quota::with_period(every.max(Duration::from_nanos(1)))
            .expect("a positive period")
            .allow_burst(nonzero(self.burst))
    }
}

/// The `[limits]` section of main's config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    pub login_ip: Rate,
    pub login_account: Rate,
    pub rentals: Rate,
    pub authorize_edge: Rate,
    pub authorize_token: Rate,
    /// Consecutive wrong passwords that lock an account's logins.
    pub lockout_failures: u32,
    /// How long a locked account stays locked.
    pub lockout_secs: u64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            login_ip: Rate::new(30, 60, 30),
            login_account: Rate::new(10, 60, 10),
            rentals: Rate::new(20, 60, 20),
            authorize_edge: Rate::new(5000, 1, 5000),
            authorize_token: Rate::new(120, 60, 120),
            lockout_failures: 5,
            lockout_secs: 900,
        }
    }
}

impl LimitSettings {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("login_ip", &self.login_ip),
            ("login_account", &self.login_account),
            ("rentals", &self.rentals),
            ("authorize_edge", &self.authorize_edge),
            ("authorize_token", &self.authorize_token),
        ] {
            rate.validate(name)?;
        }
        if self.lockout_failures == 0 || self.lockout_secs == 0 {
            return Err("limits.lockout_failures and limits.lockout_secs must be positive".into());
        }
        Ok(())
    }
}

/// A refusal: which limit, and when a retry may pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Over rate limit `limit`.
    Rate {
        limit: &'static str,
        retry_after_secs: u32,
    },
    /// The account's logins are locked after too many wrong passwords.
    Locked { retry_after_secs: u32 },
}

impl Refused {
    /// Seconds until a retry may pass (at least 1).
    pub fn retry_after_secs(&self) -> u32 {
        match self {
            Refused::Rate {
                retry_after_secs, ..
            }
            | Refused::Locked { retry_after_secs } => *retry_after_secs,
        }
    }

    /// The limit's name, for the body and the metrics.
    pub fn limit(&self) -> &'static str {
        match self {
            Refused::Rate { limit, .. } => limit,
            Refused::Locked { .. } => "lockout",
        }
    }
}

/// Checks between pruning keys not seen for a while.
const PRUNE_EVERY: u64 = 4096;

/// One keyed limit.
struct Keyed<K: Hash + Eq + Clone> {
    name: &'static str,
    limiter: DefaultKeyedRateLimiter<K>,
}

impl<K: Hash + Eq + Clone> Keyed<K> {
    fn new(name: &'static str, rate: &Rate) -> Self {
        Self {
            name,
            limiter: RateLimiter::keyed(rate.quota()),
        }
    }

    fn check(&self, key: &K) -> Result<(), Refused> {
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Refused::Rate {
                limit: self.name,
                retry_after_secs: whole_secs(wait),
            }
        })
    }

    fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// `d` rounded up to whole seconds, at least 1.
fn whole_secs(d: Duration) -> u32 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.clamp(1, u64::from(u32::MAX)) as u32
}

/// Every limit of one main process.
pub struct Limits {
    login_ip: Keyed<IpAddr>,
    login_account: Keyed<String>,
    rentals: Keyed<String>,
    authorize_edge: Keyed<String>,
    authorize_token: Keyed<[u8; 32]>,
    lockout: Lockout,
    checks: AtomicU64,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits").finish_non_exhaustive()
    }
}

/// Emails are compared case-insensitively, as accounts are.
fn account_key(email: &str) -> String {
    email.trim().to_ascii_lowercase()
}

impl Limits {
    pub fn new(settings: &LimitSettings) -> Self {
        Self {
            login_ip: Keyed::new("login_ip", &settings.login_ip),
            login_account: Keyed::new("login_account", &settings.login_account),
            rentals: Keyed::new("rentals", &settings.rentals),
            authorize_edge: Keyed::new("authorize_edge", &settings.authorize_edge),
            authorize_token: Keyed::new("authorize_token", &settings.authorize_token),
            lockout: Lockout::new(settings.lockout_failures, settings.lockout_secs),
            checks: AtomicU64::new(0),
        }
    }

    fn counted(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.login_ip.prune();
            self.login_account.prune();
            self.rentals.prune();
            self.authorize_edge.prune();
            self.authorize_token.prune();
        }
    }

    /// A registration from `ip` (it costs a password hash like a login).
    pub fn register(&self, ip: IpAddr) -> Result<(), Refused> {
        self.counted();
        self.login_ip.check(&ip)
    }

    /// A login attempt for `email` from `ip` at unix second `now`, before its password is
    /// checked.
    pub fn login(&self, ip: IpAddr, email: &str, now: u64) -> Result<(), Refused> {
        self.counted();
        let account = account_key(email);
        self.lockout.check(&account, now)?;
        self.login_ip.check(&ip)?;
        self.login_account.check(&account)
    }

    /// The outcome of a login attempt for `email` at `now`: a wrong password counts toward the
    /// lockout, a right one resets it. Returns the lock when this failure started one.
    pub fn login_outcome(&self, email: &str, ok: bool, now: u64) -> Option<Refused> {
        self.lockout.outcome(&account_key(email), ok, now)
    }

    /// A rental by `account`.
    pub fn rental(&self, account: &str) -> Result<(), Refused> {
        self.counted();
        self.rentals.check(&account.to_owned())
    }

    /// An authorize call from edge `edge` for `token`.
    pub fn authorize(&self, edge: &str, token: &str) -> Result<(), Refused> {
        self.counted();
        self.authorize_edge.check(&edge.to_owned())?;
        self.authorize_token
            .check(blake3::hash(token.as_bytes()).as_bytes())
    }
}

/// Most accounts with failures remembered; past it, those not locked are forgotten.
const MAX_TRACKED_ACCOUNTS: usize = 100_000;

/// Consecutive wrong passwords per account, and locks.
#[derive(Debug)]
struct Lockout {
    failures: u32,
    secs: u64,
    state: Mutex<HashMap<String, Failures>>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Failures {
    count: u32,
    locked_until: u64,
}

impl Lockout {
    fn new(failures: u32, secs: u64) -> Self {
        Self {
            failures,
            secs,
            state: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn check(&self, account: &str, now: u64) -> Result<(), Refused> {
        match self.lock().get(account) {
            Some(f) if f.locked_until > now => Err(Refused::Locked {
                retry_after_secs: (f.locked_until - now).clamp(1, u64::from(u32::MAX)) as u32,
            }),
            _ => Ok(()),
        }
    }

    fn outcome(&self, account: &str, ok: bool, now: u64) -> Option<Refused> {
        let mut state = self.lock();
        if ok {
            state.remove(account);
            return None;
        }
        if state.len() >= MAX_TRACKED_ACCOUNTS && !state.contains_key(account) {
            state.retain(|_, f| f.locked_until > now);
        }
        let f = state.entry(account.to_owned()).or_default();
        if f.locked_until != 0 && f.locked_until <= now {
            *f = Failures::default(); // the last lock ran out: count afresh
        }
        f.count += 1;
        if f.count >= self.failures {
            f.locked_until = now + self.secs;
            f.count = 0;
            return Some(Refused::Locked {
                retry_after_secs: self.secs.min(u64::from(u32::MAX)) as u32,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_000_000;

    fn settings() -> LimitSettings {
        LimitSettings {
            login_ip: Rate::new(5, 60, 5),
            login_account: Rate::new(3, 60, 3),
            rentals: Rate::new(2, 60, 2),
            authorize_edge: Rate::new(4, 60, 4),
            authorize_token: Rate::new(2, 60, 2),
            lockout_failures: 3,
            lockout_secs: 600,
        }
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn each_limit_refuses_past_its_burst_with_a_retry_time() {
        let limits = Limits::new(&settings());
        for _ in 0..3 {
            limits.login(ip(1), "a@example.com", NOW).unwrap();
        }
        let refused = limits.login(ip(1), "A@Example.com ", NOW).unwrap_err();
        assert_eq!(
            refused.limit(),
            "login_account",
            "emails compare as accounts do"
        );
        assert!(
            (15..=20).contains(&refused.retry_after_secs()),
            "{refused:?}"
        );
        // Another account from the same address: the per-address limit is next.
        limits.login(ip(1), "b@example.com", NOW).unwrap();
        assert_eq!(limits.register(ip(1)).unwrap_err().limit(), "login_ip");
        limits.register(ip(2)).unwrap();

        limits.rental("acct-1").unwrap();
        limits.rental("acct-1").unwrap();
        assert_eq!(limits.rental("acct-1").unwrap_err().limit(), "rentals");
        limits.rental("acct-2").unwrap();

        limits.authorize("edge-1", "tok-a").unwrap();
        limits.authorize("edge-1", "tok-a").unwrap();
        assert_eq!(
            limits.authorize("edge-1", "tok-a").unwrap_err().limit(),
            "authorize_token"
        );
        limits.authorize("edge-1", "tok-b").unwrap();
        // Four calls from edge-1 so far (the refused one counted too): the edge's limit.
        assert_eq!(
            limits.authorize("edge-1", "tok-c").unwrap_err().limit(),
            "authorize_edge"
        );
        limits.authorize("edge-2", "tok-c").unwrap();
    }

    #[test]
    fn wrong_passwords_lock_the_account_for_its_time() {
        let limits = Limits::new(&LimitSettings {
            login_account: Rate::new(100, 60, 100),
            login_ip: Rate::new(100, 60, 100),
            ..settings()
        });
        let email = "victim@example.com";
        limits.login(ip(1), email, NOW).unwrap();
        assert_eq!(limits.login_outcome(email, false, NOW), None);
        assert_eq!(limits.login_outcome(email, true, NOW), None, "reset");
        assert_eq!(limits.login_outcome(email, false, NOW), None);
        assert_eq!(limits.login_outcome(email, false, NOW), None);
        assert_eq!(
            limits.login_outcome(email, false, NOW + 1),
            Some(Refused::Locked {
                retry_after_secs: 600
            })
        );
        let locked = limits.login(ip(2), email, NOW + 100).unwrap_err();
        assert_eq!(
            locked,
            Refused::Locked {
                retry_after_secs: 501
            }
        );
        assert!(limits.login(ip(2), "other@example.com", NOW + 100).is_ok());
        assert!(
            limits.login(ip(2), email, NOW + 601).is_ok(),
            "the lock ran out"
        );
        assert_eq!(
            limits.login_outcome(email, false, NOW + 601),
            None,
            "counted afresh"
        );
    }

    #[test]
    fn settings_are_validated() {
        assert!(LimitSettings::default().validate().is_ok());
        let mut s = LimitSettings::default();
        s.rentals.burst = 0;
        assert!(s.validate().unwrap_err().contains("limits.rentals"));
        let s = LimitSettings {
            lockout_failures: 0,
            ..LimitSettings::default()
        };
        assert!(s.validate().is_err());
    }

    #[test]
    fn quotas_follow_the_rate() {
        let q = Rate::new(10, 60, 5).quota();
        assert_eq!(q.replenish_interval(), Duration::from_secs(6));
        assert_eq!(q.burst_size().get(), 5);
        assert_eq!(whole_secs(Duration::from_millis(1)), 1);
        assert_eq!(whole_secs(Duration::from_millis(6001)), 7);
    }
}
