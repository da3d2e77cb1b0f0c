//! The clock, injectable so tests can move time (licence windows, session idling, token expiry).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Unix seconds now.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock.
pub fn system() -> Clock {
    Arc::new(protocol::unix_now)
}

/// A clock that reads the system time plus an offset that tests can advance.
#[derive(Debug, Clone, Default)]
pub struct OffsetClock(Arc<AtomicU64>);

impl OffsetClock {
    /// Moves the clock forward.
    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }

    /// This clock as a [`Clock`].
    pub fn clock(&self) -> Clock {
        let offset = self.0.clone();
        Arc::new(move || protocol::unix_now() + offset.load(Ordering::SeqCst))
    }
}
