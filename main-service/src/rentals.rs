//! Renting: pay once per idempotency key, then create the licence (purchased, unbound) and a
//! download token, and point the customer at an edge near them.
//!
//! Money rules:
//! - A charge never stands alone: after a successful charge, every failure refunds it and frees
//!   the idempotency key, so the customer is neither charged for nothing nor blocked.
//! - A decline is not a charge: it frees the key, and each attempt gets its own gateway key, so
//!   the same `Idempotency-Key` with another card goes through.
//! - An account that still holds a rental of the item (uses left, licence not expired) is not
//!   charged again unless it asks for another copy; a per-(account, item) reservation makes that
//!   check atomic against concurrent purchases with fresh keys.

use std::net::IpAddr;

use protocol::{DownloadToken, ItemId, Policy};

use crate::AppState;
use crate::config::EdgeConfig;
use crate::faults::{FaultPoint, InjectedFault};
use crate::payment::{Charge, PaymentError};
use crate::records::{ItemRecord, LicenceRecord, Rental, TokenRecord};
use crate::store::{Reservation, StoreError};

/// Longest accepted `Idempotency-Key`.
const MAX_KEY_LEN: usize = 128;

/// Why a rental failed.
#[derive(Debug, thiserror::Error)]
pub enum RentError {
    #[error("no such item")]
    UnknownItem,
    #[error("this is a public object (a poster or a trailer): it is free to view and not for rent")]
    NotForRent,
    #[error(transparent)]
    Payment(#[from] PaymentError),
    #[error("a purchase with this idempotency key is still being processed; retry shortly")]
    InProgress,
    #[error("another purchase of this item is being processed for your account; retry shortly")]
    ItemInProgress,
    #[error("no edge is available to serve this download")]
    NoEdge,
    #[error("this item is not available in your region")]
    RegionDenied,
    #[error("{0}")]
    BadIdempotencyKey(&'static str),
    #[error(
        "this Idempotency-Key was already used to rent {item}; use a new key for another purchase"
    )]
    KeyReused { item: ItemId },
    #[error(
        "you already rent this item (rental {rental_id}) and can still download it; send \"another_copy\": true to buy another copy"
    )]
    AlreadyRented { rental_id: String },
    #[error(transparent)]
    Group(#[from] crate::groups::GroupError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing failed: {0}")]
    Sign(String),
    #[error(transparent)]
    Fault(#[from] InjectedFault),
}

/// What the customer asks to buy.
#[derive(Debug, Clone, Copy)]
pub struct Order<'a> {
    pub item: &'a ItemId,
    /// The card to charge; unused when the rental is charged to a group.
    pub card: &'a str,
    /// Charge the rental to this group's account, under the member's privileges.
    pub group: Option<&'a str>,
    /// A checked key (see [`idempotency_key`]).
    pub idempotency_key: &'a str,
    /// Buy even if the account still holds a usable rental of the item.
    pub another_copy: bool,
}

/// Checks the raw `Idempotency-Key` header and says what is wrong with it.
pub fn idempotency_key(raw: Option<&[u8]>) -> Result<&str, RentError> {
    let Some(raw) = raw else {
        return Err(RentError::BadIdempotencyKey(
            "the Idempotency-Key header is required so a retried purchase charges once",
        ));
    };
    if raw.is_empty() {
        return Err(RentError::BadIdempotencyKey(
            "the Idempotency-Key header is empty; send 1 to 128 visible ASCII characters, such as a UUID",
        ));
    }
    if !raw.is_ascii() {
        return Err(RentError::BadIdempotencyKey(
            "the Idempotency-Key header contains non-ASCII characters; use only visible ASCII, such as a UUID",
        ));
    }
    if !raw.iter().all(u8::is_ascii_graphic) {
        return Err(RentError::BadIdempotencyKey(
            "the Idempotency-Key header contains spaces or control characters; use only visible ASCII, such as a UUID",
        ));
    }
    if raw.len() > MAX_KEY_LEN {
        return Err(RentError::BadIdempotencyKey(
            "the Idempotency-Key header is longer than 128 characters",
        ));
    }
    Ok(std::str::from_utf8(raw).expect("visible ASCII is UTF-8"))
}

/// Does a rental still give the account the item: download uses left on an unexpired token, and a
/// licence whose window has not ended (an unenabled licence has not started its window)?
pub fn still_held(rental: &Rental, token: &TokenRecord, licence: &LicenceRecord, now: u64) -> bool {
    let can_download = token.uses < token.max_uses && now < rental.token_expires_at;
    let licence_live = licence.window.as_ref().is_none_or(|w| now < w.end);
    can_download && licence_live
}

/// The account's newest rental of `item` that it still holds, if any.
async fn held_rental(
    state: &AppState,
    account_id: &str,
    item: &ItemId,
    now: u64,
) -> Result<Option<Rental>, StoreError> {
    let mut rentals: Vec<Rental> = state
        .store
        .rentals_of(account_id)
        .await?
        .into_iter()
        .filter(|r| &r.item == item)
        .collect();
    rentals.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    for r in rentals {
        let (Some(token), Some(licence)) = (
            state.store.token(&r.token_id).await?,
            state.store.licence(&r.licence_id).await?,
        ) else {
            continue;
        };
        if still_held(&r, &token, &licence, now) {
            return Ok(Some(r));
        }
    }
    Ok(None)
}

/// Frees a reservation on a failure path; a failure to free is logged (the reservation lapses on
/// its own after a while) so that the original error reaches the client.
async fn release(state: &AppState, key: &str) {
    if let Err(e) = state.store.release_purchase(key).await {
        tracing::error!(key, error = %e, "could not release a purchase reservation; it will lapse");
    }
}

/// Rents the ordered item for `account_id`; the rental and the item as it was read (for the
/// answer's object, at the rental's version).
pub async fn rent(
    state: &AppState,
    account_id: &str,
    client_ip: IpAddr,
    order: &Order<'_>,
) -> Result<(Rental, ItemRecord), RentError> {
    let now = (state.clock)();
    let item = state
        .store
        .item(order.item.as_str())
        .await?
        .ok_or(RentError::UnknownItem)?;
    if item.public {
        return Err(RentError::NotForRent);
    }
    let (allowed, region) = state.geo.allows(client_ip, &item.regions);
    if !allowed {
        return Err(RentError::RegionDenied);
    }
    let key = format!("{account_id}/{}", order.idempotency_key);
    match state.store.reserve_purchase(&key, now).await? {
        Reservation::Completed(rental) if rental.item == item.id => return Ok((*rental, item)),
        Reservation::Completed(rental) => return Err(RentError::KeyReused { item: rental.item }),
        Reservation::InProgress => return Err(RentError::InProgress),
        Reservation::Reserved => {}
    }
    // The key is ours now: from here every way out completes the purchase or releases the key.
    // The item reservation shares the purchase keyspace; a space never occurs in a checked
    // idempotency key, so it cannot collide with one.
    let item_key = format!("{account_id} item {}", item.id);
    if !order.another_copy {
        match state.store.reserve_purchase(&item_key, now).await {
            Ok(Reservation::Reserved) => {}
            Ok(_) => {
                release(state, &key).await;
                return Err(RentError::ItemInProgress);
            }
            Err(e) => {
                release(state, &key).await;
                return Err(e.into());
            }
        }
    }
    let result = rent_reserved(
        state,
        account_id,
        (client_ip, region.as_deref()),
        &item,
        order,
        &key,
        now,
    )
    .await;
    if !order.another_copy {
        release(state, &item_key).await;
    }
    if result.is_err() {
        release(state, &key).await;
    }
    result.map(|rental| (rental, item))
}

/// The purchase under its reservations: refuse a second copy, admit it under the member's
/// privileges when a group pays, then charge and complete or refund.
async fn rent_reserved(
    state: &AppState,
    account_id: &str,
    (client_ip, region): (IpAddr, Option<&str>),
    item: &ItemRecord,
    order: &Order<'_>,
    key: &str,
    now: u64,
) -> Result<Rental, RentError> {
    if !order.another_copy
        && let Some(held) = held_rental(state, account_id, &item.id, now).await?
    {
        return Err(RentError::AlreadyRented {
            rental_id: held.rental_id,
        });
    }
    let Some(group_id) = order.group else {
        let payer = Payer {
            method: order.card,
            group: None,
            client_ip,
        };
        return charge_and_record(state, account_id, region, item, &payer, key, now).await;
    };
    let (method, spend) = crate::groups::admit_rental(
        state,
        account_id,
        group_id,
        item.price_cents,
        item.rating,
        now,
    )
    .await?;
    let payer = Payer {
        method: &method,
        group: Some(group_id),
        client_ip,
    };
    let result = charge_and_record(state, account_id, region, item, &payer, key, now).await;
    if result.is_err() {
        crate::groups::refund_spend(state, account_id, group_id, spend).await;
    }
    result
}

/// Who pays for a rental, and from where it was made.
struct Payer<'a> {
    /// The card (or a group's payment method) to charge.
    method: &'a str,
    /// The group the rental is charged to.
    group: Option<&'a str>,
    client_ip: IpAddr,
}

/// Chooses the edges, charges, and records the rental, refunding the charge if recording fails.
async fn charge_and_record(
    state: &AppState,
    account_id: &str,
    region: Option<&str>,
    item: &ItemRecord,
    payer: &Payer<'_>,
    key: &str,
    now: u64,
) -> Result<Rental, RentError> {
    // Edges' health is advice: if it cannot be read, choose by region and affinity alone.
    let statuses = state.store.edge_statuses().await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "reading edge heartbeats; choosing without them");
        Vec::new()
    });
    let health = crate::edges::Health::new(&statuses, now, state.config.edge_heartbeat_secs);
    let choice = state
        .edges
        .choose(region, item.id.as_str(), &health)
        .ok_or(RentError::NoEdge)?;
    let (edge, fallback) = (choice.primary.clone(), choice.fallback.cloned());
    // One gateway key per attempt: a declined or refunded attempt must not be replayed to the
    // next attempt under the same Idempotency-Key.
    let attempt = format!("{key}/{}", protocol::random_id());
    let charge = state
        .payments
        .charge(&attempt, payer.method, item.price_cents)?;
    match record(
        state,
        account_id,
        item,
        (&edge, fallback.as_ref()),
        (&charge, payer),
        key,
        now,
    )
    .await
    {
        Ok(rental) => {
            tracing::info!(rental = %rental.rental_id, account = account_id, item = %rental.item, edge = %edge.id, "rented");
            Ok(rental)
        }
        Err(e) => {
            // A charge never stands alone.
            match state.payments.refund(&charge.charge_id) {
                Ok(()) => {
                    tracing::warn!(charge = %charge.charge_id, error = %e, "rental failed after the charge; refunded")
                }
                Err(r) => {
                    tracing::error!(charge = %charge.charge_id, error = %e, refund_error = %r, "rental failed after the charge and the refund failed; reconcile this charge")
                }
            }
            Err(e)
        }
    }
}

/// The URL that downloads `item` from `edge` with token `jwt`.
fn download_url(edge: &EdgeConfig, item: &protocol::ItemId, jwt: &str) -> String {
    format!(
        "{}/v1/content/{item}?token={jwt}",
        edge.url.trim_end_matches('/')
    )
}

/// After the charge: signs the token and records the rental, its licence and its token at once.
async fn record(
    state: &AppState,
    account_id: &str,
    item: &ItemRecord,
    (edge, fallback): (&EdgeConfig, Option<&EdgeConfig>),
    (charge, payer): (&Charge, &Payer<'_>),
    key: &str,
    now: u64,
) -> Result<Rental, RentError> {
    let settings = &state.config.tokens;
    let token = DownloadToken {
        token_id: protocol::random_id(),
        item: item.id.clone(),
        recipient: account_id.to_owned(),
        issued_at: now,
        expires_at: now + settings.ttl_secs,
        max_uses: settings.max_uses,
    };
    state.faults.check(FaultPoint::SignToken)?;
    let ring = state.signing.ring(now).await;
    let jwt = token
        .sign(ring.signer(now))
        .map_err(|e| RentError::Sign(e.to_string()))?;
    let licence = LicenceRecord {
        licence_id: format!("lic-{}", protocol::random_id()),
        account_id: account_id.to_owned(),
        item: item.id.clone(),
        item_version: item.version,
        policy: Policy {
            window_secs: item
                .policy
                .window_secs
                .unwrap_or(state.config.licences.window_secs),
            max_plays: item.policy.max_plays,
        },
        binding: None,
        window: None,
        enable_by: Some(
            now + item
                .policy
                .enable_within_secs
                .unwrap_or(state.config.licences.enable_within_secs),
        ),
        revoked_at: None,
        reactivations: Vec::new(),
    };
    let rental = Rental {
        rental_id: format!("rent-{}", protocol::random_id()),
        account_id: account_id.to_owned(),
        item: item.id.clone(),
        licence_id: licence.licence_id.clone(),
        token_id: token.token_id.clone(),
        charge_id: charge.charge_id.clone(),
        amount_cents: charge.amount_cents,
        created_at: now,
        download_url: download_url(edge, &item.id, &jwt),
        fallback_url: fallback.map(|f| download_url(f, &item.id, &jwt)),
        token: jwt,
        token_expires_at: token.expires_at,
        group_id: payer.group.map(str::to_owned),
        client_ip: Some(payer.client_ip.to_string()),
        item_version: item.version,
    };
    let token_record = TokenRecord {
        token_id: token.token_id,
        account_id: account_id.to_owned(),
        item: item.id.clone(),
        licence_id: licence.licence_id.clone(),
        max_uses: settings.max_uses,
        uses: 0,
        revoked_at: None,
        digest: Some(protocol::sign::digest(&rental.token).to_hex().to_string()),
    };
    state.faults.check(FaultPoint::RecordPurchase)?;
    state
        .store
        .complete_purchase(key, rental.clone(), licence, token_record)
        .await?;
    Ok(rental)
}
