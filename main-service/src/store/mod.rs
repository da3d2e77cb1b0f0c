//! The storage trait and its backends. Every state change that can race (account creation, an
//! idempotent purchase, binding and enabling a licence, spending a token use) is one method whose
//! backend makes it atomic.
//!
//! - [`EmbeddedStore`]: one redb file, the default for a single instance.
//! - [`DynamoStore`]: one DynamoDB table (`docs/dynamodb.md`), for any number of instances.
//! - [`open`]: the backend the configuration names.

pub mod dynamodb;
mod embedded;

pub use dynamodb::DynamoStore;
pub use embedded::EmbeddedStore;

use std::sync::Arc;

use crate::config::{Config, StoreKind};

use async_trait::async_trait;
use protocol::Window;

use crate::records::{
    Account, Binding, DownloadSession, EdgeStatus, Group, ItemRecord, LicenceRecord, Reactivation,
    Rental, Session, SigningKeyRecord, TokenRecord,
};

/// The cause of a backend failure, kept for logs.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A storage failure (not a refusal: refusals are in the methods' outcome types).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("storage backend failed: {0}")]
    Backend(String),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    /// A write met state it cannot reconcile (such as completing a purchase that another rental
    /// completed). Retrying the same request will not help.
    #[error("conflicting write during {operation}: {detail}")]
    Conflict {
        operation: &'static str,
        detail: String,
    },
    /// The backend kept refusing for load after bounded retries with backoff; retry later.
    #[error("storage throttled during {operation}: {detail}")]
    Throttled {
        operation: &'static str,
        detail: String,
        #[source]
        source: Option<BoxError>,
    },
    /// The backend could not be reached or failed on its side (network, timeout, 5xx).
    #[error("storage unavailable during {operation}: {detail}")]
    Unavailable {
        operation: &'static str,
        detail: String,
        #[source]
        source: BoxError,
    },
    /// The backend refused the request itself (missing table, no permission, bad request): a
    /// deployment or configuration problem, not load.
    #[error("storage refused {operation}: {detail}")]
    Refused {
        operation: &'static str,
        detail: String,
        #[source]
        source: BoxError,
    },
}

impl StoreError {
    /// Whether the same request may succeed if retried later (throttling, an outage).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Throttled { .. } | Self::Unavailable { .. })
    }
}

/// Opens the backend the configuration names: the embedded file under `data_dir`, or the
/// DynamoDB table (the AWS SDK configuration is built here, once).
pub async fn open(config: &Config) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match config.store {
        StoreKind::Embedded => Arc::new(EmbeddedStore::open(&config.store_path())?),
        StoreKind::Dynamodb => {
            let settings = config.dynamodb.as_ref().ok_or_else(|| {
                StoreError::Backend("store = \"dynamodb\" needs a [dynamodb] table".into())
            })?;
            Arc::new(DynamoStore::connect(settings).await?)
        }
    })
}

/// The outcome of reserving an idempotency key for a purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The key is new and now reserved by this call: go ahead and charge.
    Reserved,
    /// A purchase with this key completed: return its answer, charge nothing.
    Completed(Box<Rental>),
    /// Another request with this key is charging right now.
    InProgress,
}

/// The outcome of binding a licence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindOutcome {
    Bound(Box<LicenceRecord>),
    /// Already bound to another device or player.
    BoundElsewhere,
    NotFound,
}

/// The outcome of reactivating a licence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReactivateOutcome {
    /// The new window is in force (set by this call, or by an earlier call with the same key).
    Reactivated(Box<LicenceRecord>),
    /// The window is no longer the ended one the caller read (another reactivation, or a
    /// revocation, came first); nothing was written.
    Moved(Box<LicenceRecord>),
    NotFound,
}

/// The outcome of asking for a download session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionOutcome {
    /// An existing live session was found and refreshed; no use spent.
    Existing {
        session: DownloadSession,
        uses: u32,
    },
    /// A new session was started and one use spent.
    Started {
        session: DownloadSession,
        uses: u32,
    },
    /// The token has no uses left.
    Exhausted,
    NotFound,
}

/// How long after its last refresh a resumed download session is refreshed again: a fifteenth
/// of the idle window (60 s of the default 900 s), at least a second.
pub fn touch_after(idle_secs: u64) -> u64 {
    (idle_secs / 15).max(1)
}

/// The members of `group` who belong to it (not removed).
pub(crate) fn active_members(group: &Group) -> impl Iterator<Item = &str> {
    group
        .members
        .iter()
        .filter(|m| m.removed_at.is_none())
        .map(|m| m.account_id.as_str())
}

/// Who joined and who left between two versions of a group: `(joined, left)`.
pub(crate) fn membership_changes<'a>(
    previous: &'a Group,
    group: &'a Group,
) -> (Vec<&'a str>, Vec<&'a str>) {
    let before: std::collections::BTreeSet<&str> = active_members(previous).collect();
    let after: std::collections::BTreeSet<&str> = active_members(group).collect();
    (
        after.difference(&before).copied().collect(),
        before.difference(&after).copied().collect(),
    )
}

/// Main's state.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Creates an account; `false` if the email is taken.
    async fn create_account(&self, account: Account) -> Result<bool, StoreError>;
    async fn account_by_email(&self, email: &str) -> Result<Option<Account>, StoreError>;
    async fn account(&self, account_id: &str) -> Result<Option<Account>, StoreError>;
    /// Turns guest `account` into a registered one with `password_hash`, if it is still that
    /// guest (the same id and claim); `false` otherwise (claimed already, or another account).
    async fn claim_account(
        &self,
        account: &Account,
        password_hash: &str,
    ) -> Result<bool, StoreError>;

    async fn put_session(&self, session: Session) -> Result<(), StoreError>;
    async fn session(&self, session_id: &str) -> Result<Option<Session>, StoreError>;

    async fn put_item(&self, item: ItemRecord) -> Result<(), StoreError>;
    async fn item(&self, id: &str) -> Result<Option<ItemRecord>, StoreError>;
    async fn items(&self) -> Result<Vec<ItemRecord>, StoreError>;
    /// Replaces `previous` with `item` if the stored item is still `previous`'s version with
    /// its wrapped key (`false`: it changed since it was read).
    async fn replace_item(
        &self,
        previous: &ItemRecord,
        item: ItemRecord,
    ) -> Result<bool, StoreError>;

    /// Reserves `key` (scoped by the caller to the account) for one purchase.
    async fn reserve_purchase(&self, key: &str, now: u64) -> Result<Reservation, StoreError>;
    /// Records a completed purchase: the rental, its licence and its token, all at once, and
    /// marks `key` completed.
    async fn complete_purchase(
        &self,
        key: &str,
        rental: Rental,
        licence: LicenceRecord,
        token: TokenRecord,
    ) -> Result<(), StoreError>;
    /// Frees a reservation whose charge failed, so the customer may retry. A completed purchase
    /// is left as it is.
    async fn release_purchase(&self, key: &str) -> Result<(), StoreError>;
    async fn rentals_of(&self, account_id: &str) -> Result<Vec<Rental>, StoreError>;

    async fn licence(&self, licence_id: &str) -> Result<Option<LicenceRecord>, StoreError>;
    /// Binds the licence unless it is bound to another device or player (binding again to the
    /// same device and player is allowed and changes nothing).
    async fn bind_licence(
        &self,
        licence_id: &str,
        binding: Binding,
    ) -> Result<BindOutcome, StoreError>;
    /// Sets the window if none is set; returns the licence with the window in force.
    async fn enable_licence(
        &self,
        licence_id: &str,
        window: Window,
    ) -> Result<Option<LicenceRecord>, StoreError>;

    /// Replaces the licence's ended window that ends at `ended` with `reactivation.window` and
    /// records the reactivation, if the licence still has that window and is not revoked. A
    /// reactivation with the same key already recorded is `Reactivated` without a write.
    async fn reactivate_licence(
        &self,
        licence_id: &str,
        ended: u64,
        reactivation: Reactivation,
    ) -> Result<ReactivateOutcome, StoreError>;

    async fn token(&self, token_id: &str) -> Result<Option<TokenRecord>, StoreError>;
    /// Finds the live session `key` of the token (idle less than `idle_secs`) and refreshes it,
    /// or spends one use and starts it; atomic against concurrent calls for the same token. A
    /// backend may skip the refresh of a session refreshed less than [`touch_after`] ago, so
    /// that a session's stream of requests does not cost a durable write each: such a session
    /// then ends at most that much earlier than its last request plus `idle_secs`.
    async fn start_or_resume_session(
        &self,
        token_id: &str,
        key: &str,
        now: u64,
        idle_secs: u64,
    ) -> Result<SessionOutcome, StoreError>;

    /// Marks the token revoked at `at` (the first revocation's time stays); `false` when there is
    /// no such token.
    async fn revoke_token(&self, token_id: &str, at: u64) -> Result<bool, StoreError>;
    /// Marks the licence revoked at `at` (the first revocation's time stays); `false` when there
    /// is no such licence.
    async fn revoke_licence(&self, licence_id: &str, at: u64) -> Result<bool, StoreError>;

    /// Stores a new group and its owner's membership; `false` if the id is taken.
    async fn create_group(&self, group: Group) -> Result<bool, StoreError>;
    async fn group(&self, group_id: &str) -> Result<Option<Group>, StoreError>;
    /// Replaces `previous` with `group` if the stored group is still at `previous.revision`
    /// (`false` otherwise: someone changed it since it was read). Members who joined in
    /// `group` are found by [`groups_of`](Store::groups_of) from then on, members removed in it
    /// no longer.
    async fn update_group(&self, previous: &Group, group: Group) -> Result<bool, StoreError>;
    /// The groups `account_id` belongs to (owner or member, not removed).
    async fn groups_of(&self, account_id: &str) -> Result<Vec<Group>, StoreError>;

    /// The signing-key ring, oldest first (empty before the first start that records it).
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
    /// Appends `key` to the ring if the ring still has `expected_len` keys (`false`: another
    /// main appended one first; read the ring again).
    async fn add_signing_key(
        &self,
        expected_len: usize,
        key: SigningKeyRecord,
    ) -> Result<bool, StoreError>;

    /// Replaces the whole ring with `keys` if it still has `expected_len` keys (re-sealing
    /// under a new key-encryption key; `false`: a key was appended meanwhile).
    async fn replace_signing_keys(
        &self,
        expected_len: usize,
        keys: Vec<SigningKeyRecord>,
    ) -> Result<bool, StoreError>;

    /// The items the operator promotes on the home page, in order.
    async fn promotions(&self) -> Result<Vec<String>, StoreError>;
    /// Replaces the promoted items.
    async fn set_promotions(&self, items: Vec<String>) -> Result<(), StoreError>;

    /// Keeps an edge's last heartbeat (replacing the one before).
    async fn put_edge_status(&self, status: EdgeStatus) -> Result<(), StoreError>;
    /// Every edge's last heartbeat.
    async fn edge_statuses(&self) -> Result<Vec<EdgeStatus>, StoreError>;
}
