//! Password hashing under a bound. An argon2id hash takes 19 MiB and tens of milliseconds of one
//! core, so unbounded concurrent logins exhaust memory long before they finish. `concurrency`
//! dedicated threads hash, at most `queue` more requests wait; past that a caller is told to come
//! back later (the HTTP layer answers 503 with `Retry-After`).
//!
//! Dedicated threads rather than tokio's blocking pool: the allocator keeps a freed 19 MiB block
//! in the arena of the thread that used it, so hashes spread over the pool's many threads grow
//! the process by 19 MiB per thread ever used (measured: +350 MiB after 20 hashes).

use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::config::PasswordSettings;

/// Every hashing slot and queue place is taken; retry later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many logins at once; retry in a moment")]
pub struct Busy;

type Job = Box<dyn FnOnce() + Send>;

/// The bounded pool that runs password hashes.
#[derive(Debug)]
pub struct Passwords {
    /// Jobs for the hashing threads; holds at most `queue` waiting jobs.
    jobs: SyncSender<Job>,
}

impl Passwords {
    /// A pool with the configured bounds (`concurrency = 0` means one per core). The threads end
    /// when the pool is dropped.
    pub fn new(settings: &PasswordSettings) -> Self {
        let concurrency = match settings.hash_concurrency {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(settings.hash_queue);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..concurrency {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("password-hash-{i}"))
                .spawn(move || work(&queue))
                .expect("spawning a password hashing thread");
        }
        Self { jobs }
    }

    /// Runs `f` on a hashing thread, waiting in the queue if all are busy, or fails at once with
    /// [`Busy`] if the queue is full. A job whose caller gave up still runs to its end.
    async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, Busy> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(Busy),
            Err(TrySendError::Disconnected(_)) => panic!("the password hashing threads are gone"),
        }
        Ok(rx.await.expect("a password hash panicked"))
    }

    /// An argon2id PHC string for `password`; `Ok(None)` if argon2 refuses the input.
    pub async fn hash(&self, password: String) -> Result<Option<String>, Busy> {
        self.run(move || {
            let salt = SaltString::encode_b64(&protocol::random_bytes::<16>())
                .expect("16-byte salt encodes");
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .ok()
        })
        .await
    }

    /// Whether `password` matches the PHC string `hash`.
    pub async fn verify(&self, password: String, hash: String) -> Result<bool, Busy> {
        self.run(move || {
            PasswordHash::new(&hash).is_ok_and(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
        })
        .await
    }
}

/// One hashing thread: takes jobs until the pool is dropped.
fn work(queue: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only while waiting for the next job, never while hashing.
        let job = match queue.lock().expect("not poisoned").recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        // A panicking job must not take the thread with it; its caller sees the lost answer.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn past_the_queue_callers_are_told_to_wait() {
        let p = Arc::new(Passwords::new(&PasswordSettings {
            hash_concurrency: 1,
            hash_queue: 1,
        }));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let blocker = {
            let p = p.clone();
            tokio::spawn(async move { p.run(move || rx.recv().ok()).await })
        };
        // Let the thread take the blocker off the queue before the waiter joins it.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let waiter = {
            let p = p.clone();
            tokio::spawn(async move { p.run(|| ()).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let third = tokio::time::timeout(std::time::Duration::from_secs(5), p.run(|| ())).await;
        assert_eq!(third, Ok(Err(Busy)), "running 1 + queued 1 = full");
        tx.send(()).unwrap();
        assert!(blocker.await.unwrap().is_ok());
        assert!(waiter.await.unwrap().is_ok());
        let hash = p.hash("correct horse".into()).await.unwrap().unwrap();
        assert!(
            p.verify("correct horse".into(), hash.clone())
                .await
                .unwrap()
        );
        assert!(!p.verify("wrong horse".into(), hash).await.unwrap());
    }
}
