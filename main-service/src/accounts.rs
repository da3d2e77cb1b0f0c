//! Accounts and sessions: register with argon2id password hashes, log in, resolve a session.
//! Hashing runs in the bounded pool of [`Passwords`].

use crate::passwords::Passwords;
use crate::records::{Account, Session};
use crate::store::{Store, StoreError};

/// How long a login lasts.
pub const SESSION_SECS: u64 = 7 * 24 * 3600;

/// Why an account operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("email or password is wrong")]
    BadCredentials,
    #[error("{0}")]
    Invalid(&'static str),
    #[error("too many logins and registrations at once; retry in a moment")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::passwords::Busy> for AccountError {
    fn from(_: crate::passwords::Busy) -> Self {
        AccountError::Busy
    }
}

fn normalise_email(email: &str) -> Result<String, AccountError> {
    let e = email.trim().to_lowercase();
    let ok = e.len() <= 254
        && e.split_once('@')
            .is_some_and(|(u, d)| !u.is_empty() && d.contains('.'));
    if ok {
        Ok(e)
    } else {
        Err(AccountError::Invalid(
            "email must look like name@example.com",
        ))
    }
}

/// Creates an account.
pub async fn register(
    store: &dyn Store,
    passwords: &Passwords,
    email: &str,
    password: &str,
    now: u64,
) -> Result<Account, AccountError> {
    let email = normalise_email(email)?;
    if password.len() < 8 || password.len() > 1024 {
        return Err(AccountError::Invalid(
            "password must be 8 to 1024 characters",
        ));
    }
    let hash = passwords
        .hash(password.to_owned())
        .await?
        .ok_or(AccountError::Invalid("password cannot be hashed"))?;
    let account = Account {
        account_id: format!("acct-{}", protocol::random_id()),
        email,
        password_hash: hash,
        created_at: now,
    };
    if store.create_account(account.clone()).await? {
        Ok(account)
    } else {
        Err(AccountError::EmailTaken)
    }
}

/// Checks email and password and opens a session.
pub async fn login(
    store: &dyn Store,
    passwords: &Passwords,
    email: &str,
    password: &str,
    now: u64,
) -> Result<Session, AccountError> {
    let email = normalise_email(email).map_err(|_| AccountError::BadCredentials)?;
    let account = store
        .account_by_email(&email)
        .await?
        .ok_or(AccountError::BadCredentials)?;
    let ok = passwords
        .verify(password.to_owned(), account.password_hash.clone())
        .await?;
    if !ok {
        return Err(AccountError::BadCredentials);
    }
    let session = Session {
        session_id: protocol::random_id(),
        account_id: account.account_id,
        expires_at: now + SESSION_SECS,
    };
    store.put_session(session.clone()).await?;
    Ok(session)
}

/// The account behind a live session.
pub async fn account_of_session(
    store: &dyn Store,
    session_id: &str,
    now: u64,
) -> Result<Option<String>, StoreError> {
    Ok(store
        .session(session_id)
        .await?
        .filter(|s| now < s.expires_at)
        .map(|s| s.account_id))
}
