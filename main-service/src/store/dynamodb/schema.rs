//! The names of main's DynamoDB table: key attributes, the GSI, the TTL attribute, the attributes
//! that conditions test, and the key of every item. `docs/dynamodb.md` is the same contract in
//! prose; Terraform declares these names too, so change them everywhere or nowhere.

/// Partition key (S).
pub const PK: &str = "pk";
/// Sort key (S).
pub const SK: &str = "sk";
/// The one global secondary index: the catalog and the rentals of an account.
pub const GSI1: &str = "gsi1";
/// Partition key of [`GSI1`] (S).
pub const GSI1_PK: &str = "gsi1pk";
/// Sort key of [`GSI1`] (S).
pub const GSI1_SK: &str = "gsi1sk";
/// The TTL attribute (N, unix seconds): set on login and download sessions only.
pub const TTL: &str = "purge_at";
/// What an item is (S), for people reading the table; no index uses it.
pub const KIND: &str = "kind";

/// Attributes that conditions and updates name.
pub mod attr {
    pub const ACCOUNT_ID: &str = "account_id";
    pub const STATE: &str = "state";
    pub const RESERVED_AT: &str = "reserved_at";
    pub const STALE_AT: &str = "stale_at";
    pub const RENTAL_ID: &str = "rental_id";
    pub const BINDING: &str = "binding";
    pub const WINDOW: &str = "window";
    pub const USES: &str = "uses";
    pub const MAX_USES: &str = "max_uses";
    pub const LAST_SEEN: &str = "last_seen";
    pub const PASSWORD_HASH: &str = "password_hash";
    pub const GUEST_CLAIM: &str = "guest_claim";
    pub const REVISION: &str = "revision";
    pub const VERSION: &str = "version";
    pub const WRAPPED_CONTENT_KEY: &str = "wrapped_content_key";
    /// The list of keys of the signing-key ring.
    pub const KEYS: &str = "keys";
    pub const REACTIVATIONS: &str = "reactivations";
    /// Set on a revoked token or licence.
    pub const REVOKED_AT: &str = "revoked_at";
    pub const GROUP_ID: &str = "group_id";
}

/// Values of [`attr::STATE`] on a purchase reservation.
pub mod purchase_state {
    pub const PENDING: &str = "pending";
    pub const DONE: &str = "done";
}

/// `gsi1pk` of every catalog item.
pub const CATALOG: &str = "CATALOG";
/// `gsi1pk` of every edge's status.
pub const EDGES: &str = "EDGES";

/// The `(pk, sk)` of each item shape.
pub mod key {
    pub fn account(account_id: &str) -> (String, String) {
        (format!("ACCOUNT#{account_id}"), "ACCOUNT".into())
    }
    pub fn email(email: &str) -> (String, String) {
        (format!("EMAIL#{email}"), "EMAIL".into())
    }
    pub fn session(session_id: &str) -> (String, String) {
        (format!("SESSION#{session_id}"), "SESSION".into())
    }
    pub fn item(id: &str) -> (String, String) {
        (format!("ITEM#{id}"), "ITEM".into())
    }
    pub fn purchase(key: &str) -> (String, String) {
        (format!("PURCHASE#{key}"), "PURCHASE".into())
    }
    pub fn rental(rental_id: &str) -> (String, String) {
        (format!("RENTAL#{rental_id}"), "RENTAL".into())
    }
    pub fn licence(licence_id: &str) -> (String, String) {
        (format!("LICENCE#{licence_id}"), "LICENCE".into())
    }
    pub fn token(token_id: &str) -> (String, String) {
        (format!("TOKEN#{token_id}"), "TOKEN".into())
    }
    pub fn download_session(token_id: &str, key: &str) -> (String, String) {
        (format!("TOKEN#{token_id}"), format!("DLSESSION#{key}"))
    }
    /// An edge's last heartbeat.
    pub fn edge(edge_id: &str) -> (String, String) {
        (format!("EDGE#{edge_id}"), "STATUS".into())
    }
    /// `(gsi1pk, gsi1sk)` of an edge's status.
    pub fn edge_entry(edge_id: &str) -> (String, String) {
        (super::EDGES.into(), format!("EDGE#{edge_id}"))
    }
    /// `(gsi1pk, gsi1sk)` of a catalog item.
    pub fn catalog_entry(id: &str) -> (String, String) {
        (super::CATALOG.into(), format!("ITEM#{id}"))
    }
    /// `(gsi1pk, gsi1sk)` of a rental, under its account.
    pub fn rental_of(account_id: &str, rental_id: &str) -> (String, String) {
        (
            format!("ACCOUNT#{account_id}"),
            format!("RENTAL#{rental_id}"),
        )
    }
    /// The `gsi1sk` prefix of an account's rentals.
    pub const RENTAL_PREFIX: &str = "RENTAL#";
    /// The promoted items, one item.
    pub fn promotions() -> (String, String) {
        ("PROMOTIONS".into(), "LIST".into())
    }
    /// The signing-key ring, one item.
    pub fn signing_keys() -> (String, String) {
        ("SIGNING_KEYS".into(), "RING".into())
    }
    pub fn group(group_id: &str) -> (String, String) {
        (format!("GROUP#{group_id}"), "GROUP".into())
    }
    /// A member's link to a group, in the group's partition.
    pub fn membership(group_id: &str, account_id: &str) -> (String, String) {
        (format!("GROUP#{group_id}"), format!("MEMBER#{account_id}"))
    }
    /// `(gsi1pk, gsi1sk)` of a membership, under the member's account.
    pub fn group_of(account_id: &str, group_id: &str) -> (String, String) {
        (format!("ACCOUNT#{account_id}"), format!("GROUP#{group_id}"))
    }
    /// The `gsi1sk` prefix of an account's groups.
    pub const GROUP_PREFIX: &str = "GROUP#";
}
