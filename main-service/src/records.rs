//! The records main keeps: accounts, sessions, items, rentals, licences, download tokens and their
//! sessions. Plain data; the rules that change them live in the domain modules.

use protocol::{ItemId, Policy, Window};
use serde::{Deserialize, Serialize};

/// A customer account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub account_id: String,
    /// Lower-cased.
    pub email: String,
    /// Argon2id PHC string; empty for a guest account (which cannot log in).
    pub password_hash: String,
    pub created_at: u64,
    /// A guest account's (rented with an email only): the BLAKE3 (hex) of the claim code its
    /// first checkout handed out, which later checkouts and registering the email must show.
    /// `None` once registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_claim: Option<String>,
}

/// A logged-in session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub session_id: String,
    pub account_id: String,
    pub expires_at: u64,
}

/// An item of the catalog and its current sealed object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRecord {
    pub id: ItemId,
    pub title: String,
    pub version: u32,
    pub key_version: u32,
    pub plaintext_len: u64,
    pub object_len: u64,
    pub chunk_size: u32,
    pub chunk_count: u64,
    /// Hex digest root of the sealed object.
    pub root: String,
    /// The content key sealed under the key-encryption key (hex: nonce || ciphertext).
    pub wrapped_content_key: String,
    pub level: Option<u8>,
    pub regions: Vec<String>,
    /// Price in cents.
    pub price_cents: u64,
    pub published_at: u64,
    /// A public object (a poster, a trailer): served by the edges without a token from their
    /// other zone, never rented.
    #[serde(default)]
    pub public: bool,
    /// What a rental of this item allows, where it differs from main's `[licences]` defaults.
    #[serde(default, skip_serializing_if = "ItemPolicy::is_default")]
    pub policy: ItemPolicy,
    /// The age rating: the youngest age the item is for (0, 6, 12, 16, 18, …); unrated when
    /// unset. A group member with a rating cap may rent only items rated at or below it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<u8>,
    /// What the catalog says about the item beyond its title.
    #[serde(default, skip_serializing_if = "Presentation::is_empty")]
    pub presentation: Presentation,
    /// Earlier sealed objects of the item (each with its own content key), newest first, kept
    /// while licences rented for them may still be used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous: Vec<ObjectVersion>,
}

/// How the catalog presents an item: a description, its genres, and the public objects that
/// show it (served by the edges, not by main).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Presentation {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Lower-case genre names, such as `drama`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub genres: Vec<String>,
    /// The id of its poster, a public object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poster: Option<String>,
    /// The id of its trailer or clip, a public object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trailer: Option<String>,
    /// A public object's media type (`image/png`, `video/mp4`, …), which the edges send as its
    /// `Content-Type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
}

impl Presentation {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One sealed object of an item: what a licence for that version needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectVersion {
    pub version: u32,
    pub key_version: u32,
    pub plaintext_len: u64,
    pub object_len: u64,
    pub chunk_size: u32,
    pub chunk_count: u64,
    /// Hex digest root of the sealed object.
    pub root: String,
    /// Its content key sealed under the key-encryption key.
    pub wrapped_content_key: String,
    pub published_at: u64,
    /// When a newer version replaced it (0 for the current one).
    #[serde(default)]
    pub superseded_at: u64,
}

impl ItemRecord {
    /// The item's current object.
    pub fn current(&self) -> ObjectVersion {
        ObjectVersion {
            version: self.version,
            key_version: self.key_version,
            plaintext_len: self.plaintext_len,
            object_len: self.object_len,
            chunk_size: self.chunk_size,
            chunk_count: self.chunk_count,
            root: self.root.clone(),
            wrapped_content_key: self.wrapped_content_key.clone(),
            published_at: self.published_at,
            superseded_at: 0,
        }
    }

    /// The object of `version`, current or kept; `None` when it is unknown or no longer kept.
    pub fn object(&self, version: u32) -> Option<ObjectVersion> {
        if version == self.version {
            return Some(self.current());
        }
        self.previous.iter().find(|o| o.version == version).cloned()
    }
}

/// An item's own licence policy: each part set replaces main's default for its rentals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemPolicy {
    /// The viewing window that enabling starts, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_secs: Option<u64>,
    /// Plays allowed inside the window (the player counts them); unlimited when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_plays: Option<u32>,
    /// How long after renting the licence may be enabled, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_within_secs: Option<u64>,
    /// The fee for a new window once the window has ended, in cents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reactivation_cents: Option<u64>,
}

impl ItemPolicy {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// A completed purchase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rental {
    pub rental_id: String,
    pub account_id: String,
    pub item: ItemId,
    pub licence_id: String,
    pub token_id: String,
    pub charge_id: String,
    pub amount_cents: u64,
    pub created_at: u64,
    /// The answer given to the customer, returned again on a retry with the same key.
    pub download_url: String,
    /// The same download from the next best edge, if there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_url: Option<String>,
    pub token: String,
    pub token_expires_at: u64,
    /// The group the rental was charged to, when a member rented on the group's account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// The address the rental was made from (for a group's audit view).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    /// The item's version rented (its licence's); 0 on rentals recorded before versions were.
    #[serde(default)]
    pub item_version: u32,
}

/// A licence: purchased, then bound to one device and player, then enabled for a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenceRecord {
    pub licence_id: String,
    pub account_id: String,
    pub item: ItemId,
    pub item_version: u32,
    pub policy: Policy,
    pub binding: Option<Binding>,
    pub window: Option<Window>,
    /// Unix second after which the licence can no longer be enabled (the rental period); absent
    /// on licences issued before rental periods existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_by: Option<u64>,
    /// Unix second an operator revoked the licence; absent while it stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<u64>,
    /// The paid reactivations of ended windows, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactivations: Vec<Reactivation>,
}

/// A paid new window for a licence whose window had ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reactivation {
    /// The request's idempotency key (scoped to the account): a retry finds its reactivation.
    pub key: String,
    pub charge_id: String,
    pub amount_cents: u64,
    pub at: u64,
    /// The window it started.
    pub window: Window,
    /// The end of the window it replaced.
    pub after_end: u64,
}

/// The device and player a licence is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    pub device_id: String,
    pub player_id: String,
    /// Hex X25519 public key of the device.
    pub device_public_key: String,
}

/// A download token as main tracks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub token_id: String,
    pub account_id: String,
    pub item: ItemId,
    pub licence_id: String,
    pub max_uses: u32,
    pub uses: u32,
    /// Unix second an operator revoked the token; absent while it stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<u64>,
    /// BLAKE3 (hex) of the token main issued ([`protocol::sign::digest`]): authorize recognises
    /// the token by comparison instead of checking main's own signature again. Absent in
    /// records written before it was kept; those tokens are verified by signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// One download session of a token: the Range requests of one download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadSession {
    pub session_id: String,
    pub token_id: String,
    pub key: String,
    pub started_at: u64,
    pub last_seen: u64,
}

/// An edge's last heartbeat, and when main received it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeStatus {
    pub edge_id: String,
    /// Unix second main received it.
    pub seen_at: u64,
    pub heartbeat: protocol::Heartbeat,
    /// What the edge did over the last day, per five minutes (`crate::edge_history`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<crate::edge_history::EdgeSample>,
}

/// A group account (a family, a company): an owner, members with privileges, and the payment
/// method its members' rentals are charged to. One record, changed only by a write conditional on
/// its [`revision`](Group::revision).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub group_id: String,
    pub name: String,
    pub owner_id: String,
    pub created_at: u64,
    /// What the group's rentals are charged with: in the sandbox a test card number; with a
    /// real gateway, its saved payment-method id. Shown only as its last four characters.
    pub payment_method: String,
    /// Bumped by every change; an update names the revision it read.
    pub revision: u64,
    /// Members, the owner first. A member who left or was removed stays, with `removed_at`, so
    /// that the audit view keeps their rentals.
    pub members: Vec<Member>,
    /// Invitations not yet accepted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invitations: Vec<Invitation>,
}

/// One member of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub account_id: String,
    pub email: String,
    pub privileges: Privileges,
    pub joined_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_at: Option<u64>,
    /// What the member's rentals charged to the group cost in the month they were made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spent: Option<MonthSpend>,
}

/// What a member may do with the group's account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Privileges {
    /// May rent charged to the group.
    pub may_rent: bool,
    /// Most the member's rentals may cost per calendar month (UTC), in cents; no cap when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_cap_cents: Option<u64>,
    /// Highest age rating the member may rent; any rating when unset. Unrated items are above
    /// every cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rating: Option<u8>,
}

/// Spending in one calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthSpend {
    /// `year * 100 + month`, such as 202611.
    pub month: u32,
    pub cents: u64,
}

/// An invitation to join a group, sent to one email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    /// Lower-cased.
    pub email: String,
    /// BLAKE3 (hex) of the invitation code handed to the owner.
    pub code_hash: String,
    pub privileges: Privileges,
    pub invited_at: u64,
    pub expires_at: u64,
}

/// One key of main's signing-key ring (`crate::signing`). Epoch 0 is the configured key (the
/// data directory's or Secrets Manager's), recorded only to date it; later epochs are generated
/// by main and kept here, their secret sealed under the key-encryption key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyRecord {
    pub epoch: u64,
    pub kid: String,
    /// Unix second from which the key signs (it is published before).
    pub active_from: u64,
    pub created_at: u64,
    /// The 64-byte secret form, sealed under the key-encryption key (hex: nonce || ciphertext);
    /// absent for epoch 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrapped_secret: Option<String>,
}
