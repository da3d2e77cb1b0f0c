//! Renting: pay once per idempotency key, then create the licence (purchased, unbound) and a
//! download token, and point the customer at an edge near them.

use std::net::IpAddr;

use protocol::{DownloadToken, ItemId, Policy};

use crate::AppState;
use crate::payment::PaymentError;
use crate::records::{LicenceRecord, Rental, TokenRecord};
use crate::store::{Reservation, StoreError};

/// Why a rental failed.
#[derive(Debug, thiserror::Error)]
pub enum RentError {
    #[error("no such item")]
    UnknownItem,
    #[error(transparent)]
    Payment(#[from] PaymentError),
    #[error("a purchase with this idempotency key is still being processed; retry shortly")]
    InProgress,
    #[error("no edge is available to serve this download")]
    NoEdge,
    #[error("this item is not available in your region")]
    RegionDenied,
    #[error("idempotency key must be 1 to 128 visible characters")]
    BadIdempotencyKey,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing failed: {0}")]
    Sign(String),
}

/// Rents `item` for `account_id`, paying with `card`.
pub async fn rent(
    state: &AppState,
    account_id: &str,
    client_ip: IpAddr,
    item: &ItemId,
    card: &str,
    idempotency_key: &str,
) -> Result<Rental, RentError> {
    if idempotency_key.is_empty()
        || idempotency_key.len() > 128
        || !idempotency_key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(RentError::BadIdempotencyKey);
    }
    let now = (state.clock)();
    let item = state
        .store
        .item(item.as_str())
        .await?
        .ok_or(RentError::UnknownItem)?;
    let (allowed, region) = state.geo.allows(client_ip, &item.regions);
    if !allowed {
        return Err(RentError::RegionDenied);
    }
    let key = format!("{account_id}/{idempotency_key}");
    match state.store.reserve_purchase(&key, now).await? {
        Reservation::Completed(rental) => return Ok(*rental),
        Reservation::InProgress => return Err(RentError::InProgress),
        Reservation::Reserved => {}
    }
    let charge = match state.payments.charge(&key, card, item.price_cents) {
        Ok(c) => c,
        Err(e) => {
            state.store.release_purchase(&key).await?;
            return Err(e.into());
        }
    };
    let Some(edge) = state.edges.choose(region.as_deref(), item.id.as_str()) else {
        state.store.release_purchase(&key).await?;
        return Err(RentError::NoEdge);
    };
    let settings = &state.config.tokens;
    let token = DownloadToken {
        token_id: protocol::random_id(),
        item: item.id.clone(),
        recipient: account_id.to_owned(),
        issued_at: now,
        expires_at: now + settings.ttl_secs,
        max_uses: settings.max_uses,
    };
    let jwt = token
        .sign(&state.keys.signer)
        .map_err(|e| RentError::Sign(e.to_string()))?;
    let licence = LicenceRecord {
        licence_id: format!("lic-{}", protocol::random_id()),
        account_id: account_id.to_owned(),
        item: item.id.clone(),
        item_version: item.version,
        policy: Policy {
            window_secs: state.config.licences.window_secs,
            max_plays: None,
        },
        binding: None,
        window: None,
    };
    let rental = Rental {
        rental_id: format!("rent-{}", protocol::random_id()),
        account_id: account_id.to_owned(),
        item: item.id.clone(),
        licence_id: licence.licence_id.clone(),
        token_id: token.token_id.clone(),
        charge_id: charge.charge_id,
        amount_cents: charge.amount_cents,
        created_at: now,
        download_url: format!(
            "{}/v1/content/{}?token={jwt}",
            edge.url.trim_end_matches('/'),
            item.id
        ),
        token: jwt,
        token_expires_at: token.expires_at,
    };
    let token_record = TokenRecord {
        token_id: token.token_id,
        account_id: account_id.to_owned(),
        item: item.id,
        licence_id: licence.licence_id.clone(),
        max_uses: settings.max_uses,
        uses: 0,
    };
    state
        .store
        .complete_purchase(&key, rental.clone(), licence, token_record)
        .await?;
    tracing::info!(rental = %rental.rental_id, account = account_id, item = %rental.item, edge = %edge.id, "rented");
    Ok(rental)
}
