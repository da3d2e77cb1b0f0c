//! Accounts and sessions: register with argon2id password hashes, log in, resolve a session.
//! Hashing runs in the bounded pool of [`Passwords`].
//!
//! **Guests** rent with an email only ([`guest_account`], [`guest_session`]). A guest account
//! is stored once its first rental succeeded (a declined card leaves nothing), with the hash of a
//! claim code that checkout hands out. The account id and the code are derived from the email
//! and the checkout's idempotency key under a main secret ([`crate::keys::Keys::guest_checkout`]),
//! so a retried checkout gets the same answer. Another checkout with that email, and registering
//! it ([`register`], which then keeps the guest's rentals), must show the code; a registered
//! email cannot check out as a guest.

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
    #[error("this email has an account; log in to rent")]
    Registered,
    #[error(
        "this email has rented as a guest before: give the claim code from its first receipt \
         (or register with it)"
    )]
    ClaimCodeRequired,
    #[error("the claim code does not match this email's guest account")]
    BadClaimCode,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::passwords::Busy> for AccountError {
    fn from(_: crate::passwords::Busy) -> Self {
        AccountError::Busy
    }
}

pub(crate) fn normalise_email(email: &str) -> Result<String, AccountError> {
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

/// The hash a guest account keeps of its claim code.
pub fn claim_hash(code: &str) -> String {
    blake3::hash(code.as_bytes()).to_hex().to_string()
}

/// Creates an account; an email with a guest account is claimed with its `claim_code` (the
/// account keeps its id and rentals).
pub async fn register(
    store: &dyn Store,
    passwords: &Passwords,
    email: &str,
    password: &str,
    claim_code: Option<&str>,
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
        guest_claim: None,
    };
    if store.create_account(account.clone()).await? {
        return Ok(account);
    }
    // The email is taken: by a guest, whose code claims the account.
    let Some(guest) = store.account_by_email(&account.email).await? else {
        return Err(AccountError::EmailTaken);
    };
    match (&guest.guest_claim, claim_code) {
        (None, _) => Err(AccountError::EmailTaken),
        (Some(_), None) => Err(AccountError::ClaimCodeRequired),
        (Some(held), Some(code)) if *held == claim_hash(code) => {
            if store.claim_account(&guest, &account.password_hash).await? {
                Ok(Account {
                    password_hash: account.password_hash,
                    guest_claim: None,
                    ..guest
                })
            } else {
                Err(AccountError::EmailTaken)
            }
        }
        (Some(_), Some(_)) => Err(AccountError::BadClaimCode),
    }
}

/// The account a guest checkout rents for.
#[derive(Debug, Clone)]
pub struct GuestAccount {
    pub account: Account,
    /// Whether it is stored already (else [`guest_session`] stores it).
    pub stored: bool,
    /// The claim code to hand out: the first checkout's (and its retries').
    pub claim_code: Option<String>,
}

/// The account a guest checkout with `email` and idempotency `key` rents for; `claim_code`
/// proves a later checkout owns the email's guest account.
pub async fn guest_account(
    store: &dyn Store,
    keys: &crate::keys::Keys,
    email: &str,
    key: &str,
    claim_code: Option<&str>,
    now: u64,
) -> Result<GuestAccount, AccountError> {
    let email = normalise_email(email)?;
    let derived = keys.guest_checkout(&email, key);
    let code = format!("claim-{}", hex::encode(&derived[..16]));
    match store.account_by_email(&email).await? {
        None => Ok(GuestAccount {
            account: Account {
                account_id: format!("acct-g{}", hex::encode(&derived[16..28])),
                email,
                password_hash: String::new(),
                created_at: now,
                guest_claim: Some(claim_hash(&code)),
            },
            stored: false,
            claim_code: Some(code),
        }),
        Some(account) => {
            let Some(held) = account.guest_claim.clone() else {
                return Err(AccountError::Registered);
            };
            let issued = if held == claim_hash(&code) {
                // The first checkout, retried.
                Some(code)
            } else {
                match claim_code {
                    Some(given) if held == claim_hash(given) => None,
                    Some(_) => return Err(AccountError::BadClaimCode),
                    None => return Err(AccountError::ClaimCodeRequired),
                }
            };
            Ok(GuestAccount {
                account,
                stored: true,
                claim_code: issued,
            })
        }
    }
}

/// After a guest's rental succeeded: stores a new guest account, and opens a session for it
/// (for binding and enabling the licence).
pub async fn guest_session(
    store: &dyn Store,
    guest: &GuestAccount,
    now: u64,
) -> Result<Session, AccountError> {
    if !guest.stored {
        let created = store.create_account(guest.account.clone()).await;
        if !matches!(created, Ok(true)) {
            // Taken meanwhile: by this checkout retried at once (the same id), or by another.
            let now_there = store.account_by_email(&guest.account.email).await?;
            if now_there.is_none_or(|a| a.account_id != guest.account.account_id) {
                created?;
                tracing::warn!(
                    account = %guest.account.account_id,
                    "a guest checkout's email was taken by another checkout meanwhile; its rental \
                     stands under an account that cannot be claimed"
                );
            }
        }
    }
    Ok(open_session(store, &guest.account.account_id, now).await?)
}

/// Opens a session for `account_id`, valid for [`SESSION_SECS`].
pub async fn open_session(
    store: &dyn Store,
    account_id: &str,
    now: u64,
) -> Result<Session, StoreError> {
    let session = Session {
        session_id: protocol::random_id(),
        account_id: account_id.to_owned(),
        expires_at: now + SESSION_SECS,
    };
    store.put_session(session.clone()).await?;
    Ok(session)
}

/// Ends a session (logging out): it stays stored, expired.
pub async fn close_session(
    store: &dyn Store,
    session_id: &str,
    now: u64,
) -> Result<(), StoreError> {
    if let Some(mut session) = store.session(session_id).await?
        && session.expires_at > now
    {
        session.expires_at = now;
        store.put_session(session).await?;
    }
    Ok(())
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
    if account.password_hash.is_empty() {
        // A guest: no password to check (claim the account by registering).
        return Err(AccountError::BadCredentials);
    }
    let ok = passwords
        .verify(password.to_owned(), account.password_hash.clone())
        .await?;
    if !ok {
        return Err(AccountError::BadCredentials);
    }
    Ok(open_session(store, &account.account_id, now).await?)
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
