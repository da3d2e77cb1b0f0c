//! The one error type of the HTTP layer: a status, a stable code, and a message the client can
//! act on. Internal causes are logged, never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::accounts::AccountError;
use crate::authorize::AuthorizeError;
use crate::groups::GroupError;
use crate::ingest::IngestError;
use crate::licences::LicenceOpError;
use crate::payment::PaymentError;
use crate::rentals::RentError;
use crate::store::StoreError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds after which a retry may succeed (`Retry-After`), for 503s and 429s.
    pub retry_after: Option<u32>,
    /// One more field of the body for the client's program, such as the `rental_id` of an
    /// `already_rented` refusal.
    pub detail: Option<(&'static str, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            detail: None,
        }
    }

    /// Adds a field to the body beside `error` and `message`.
    pub fn with_detail(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.detail = Some((name, value.into()));
        self
    }

    /// Adds a `Retry-After` header to the answer.
    pub fn with_retry_after(mut self, secs: u32) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// A failure of main itself: logged with its cause, reported without it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side; please retry",
        )
    }

    pub fn unauthorized(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({"error": self.code, "message": self.message});
        if let Some((name, value)) = self.detail {
            body[name] = value.into();
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

impl From<StoreError> for ApiError {
    /// Load the store refused past its retries (throttling, an outage) is 503 with
    /// `Retry-After`: the client should come back shortly. Anything else is a 500.
    fn from(e: StoreError) -> Self {
        if e.is_transient() {
            tracing::warn!(cause = %e, "store busy");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "the service is busy; please retry in a moment",
            )
            .with_retry_after(1)
        } else {
            ApiError::internal(e)
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::EmailTaken => {
                ApiError::new(StatusCode::CONFLICT, "email_taken", e.to_string())
            }
            AccountError::BadCredentials => {
                ApiError::new(StatusCode::UNAUTHORIZED, "bad_credentials", e.to_string())
            }
            AccountError::Invalid(m) => ApiError::bad_request(m),
            AccountError::Busy => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string())
                    .with_retry_after(1)
            }
            AccountError::Registered => {
                ApiError::new(StatusCode::CONFLICT, "account_exists", e.to_string())
            }
            AccountError::ClaimCodeRequired => {
                ApiError::new(StatusCode::CONFLICT, "claim_code_required", e.to_string())
            }
            AccountError::BadClaimCode => {
                ApiError::new(StatusCode::FORBIDDEN, "bad_claim_code", e.to_string())
            }
            AccountError::Store(s) => s.into(),
        }
    }
}

impl From<RentError> for ApiError {
    fn from(e: RentError) -> Self {
        let msg = e.to_string();
        match e {
            RentError::UnknownItem => ApiError::new(StatusCode::NOT_FOUND, "unknown_item", msg),
            RentError::NotForRent => ApiError::new(StatusCode::CONFLICT, "not_for_rent", msg),
            RentError::Payment(PaymentError::Declined) => ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "card_declined",
                "the card was declined; try another card",
            ),
            RentError::Payment(PaymentError::InsufficientFunds) => ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "insufficient_funds",
                "the card has insufficient funds; try another card",
            ),
            RentError::Payment(PaymentError::InvalidCard) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_card",
                "the card number is not valid",
            ),
            RentError::InProgress | RentError::ItemInProgress => {
                ApiError::new(StatusCode::CONFLICT, "purchase_in_progress", msg)
            }
            RentError::AlreadyRented { rental_id } => {
                ApiError::new(StatusCode::CONFLICT, "already_rented", msg)
                    .with_detail("rental_id", rental_id)
            }
            RentError::KeyReused { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                msg,
            ),
            RentError::Payment(PaymentError::UnknownCharge(c)) => ApiError::internal(c),
            RentError::NoEdge => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no_edge", msg),
            RentError::RegionDenied => ApiError::new(StatusCode::FORBIDDEN, "region_denied", msg),
            RentError::BadIdempotencyKey(m) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_idempotency_key", m)
            }
            RentError::Group(g) => g.into(),
            RentError::Store(s) => s.into(),
            RentError::Sign(s) => ApiError::internal(s),
            RentError::Fault(f) => ApiError::internal(f),
        }
    }
}

impl From<GroupError> for ApiError {
    fn from(e: GroupError) -> Self {
        let msg = e.to_string();
        match e {
            GroupError::NotFound => ApiError::new(StatusCode::NOT_FOUND, "unknown_group", msg),
            GroupError::NotOwner => ApiError::new(StatusCode::FORBIDDEN, "not_group_owner", msg),
            GroupError::Invalid(m) => ApiError::bad_request(m),
            GroupError::BadInvitation => {
                ApiError::new(StatusCode::FORBIDDEN, "bad_invitation", msg)
            }
            GroupError::AlreadyMember(_) => {
                ApiError::new(StatusCode::CONFLICT, "already_member", msg)
            }
            GroupError::Full(_) => ApiError::new(StatusCode::CONFLICT, "group_full", msg),
            GroupError::OwnerStays => ApiError::new(StatusCode::CONFLICT, "owner_stays", msg),
            GroupError::MayNotRent => ApiError::new(StatusCode::FORBIDDEN, "rent_not_allowed", msg),
            GroupError::SpendCap { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, "spend_cap_exceeded", msg)
            }
            GroupError::RatingCap(_) => {
                ApiError::new(StatusCode::FORBIDDEN, "rating_above_cap", msg)
            }
            GroupError::Busy => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", msg).with_retry_after(1)
            }
            GroupError::Store(s) => s.into(),
        }
    }
}

impl From<LicenceOpError> for ApiError {
    fn from(e: LicenceOpError) -> Self {
        let msg = e.to_string();
        match e {
            LicenceOpError::NotFound => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_licence", msg)
            }
            LicenceOpError::BoundElsewhere => {
                ApiError::new(StatusCode::CONFLICT, "bound_elsewhere", msg)
            }
            LicenceOpError::NotBound => ApiError::new(StatusCode::CONFLICT, "not_bound", msg),
            LicenceOpError::Expired => ApiError::new(StatusCode::GONE, "licence_expired", msg),
            LicenceOpError::Lapsed => ApiError::new(StatusCode::GONE, "licence_lapsed", msg),
            LicenceOpError::Revoked => ApiError::new(StatusCode::FORBIDDEN, "licence_revoked", msg),
            LicenceOpError::Invalid(m) => ApiError::bad_request(m),
            LicenceOpError::NotEnabled => ApiError::new(StatusCode::CONFLICT, "not_enabled", msg),
            LicenceOpError::WindowRunning { .. } => {
                ApiError::new(StatusCode::CONFLICT, "window_running", msg)
            }
            LicenceOpError::AlreadyReactivated { .. } => {
                ApiError::new(StatusCode::CONFLICT, "already_reactivated", msg)
            }
            LicenceOpError::VersionGone => ApiError::new(StatusCode::GONE, "version_gone", msg),
            LicenceOpError::InProgress => {
                ApiError::new(StatusCode::CONFLICT, "purchase_in_progress", msg)
            }
            LicenceOpError::Payment(p) => RentError::Payment(p).into(),
            LicenceOpError::Store(s) => s.into(),
            LicenceOpError::Keys(k) => ApiError::internal(k),
        }
    }
}

impl From<crate::limits::Refused> for ApiError {
    /// 429 with `Retry-After`: `rate_limited` (and the limit's name), or `account_locked`.
    fn from(r: crate::limits::Refused) -> Self {
        use crate::limits::Refused;
        let secs = r.retry_after_secs();
        let error = match r {
            Refused::Rate { limit, .. } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests; retry in {secs} s"),
            )
            .with_detail("limit", limit),
            Refused::Locked { .. } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "account_locked",
                format!(
                    "too many wrong passwords for this account; logins are locked for {} more \
                     minute(s)",
                    secs.div_ceil(60)
                ),
            ),
        };
        error.with_retry_after(secs)
    }
}

impl From<AuthorizeError> for ApiError {
    fn from(e: AuthorizeError) -> Self {
        match e {
            AuthorizeError::Denied(d) => {
                let status = StatusCode::from_u16(d.reason.status()).expect("valid status");
                ApiError::new(status, d.reason.code(), d.message)
            }
            AuthorizeError::Internal(m) => ApiError::internal(m),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        let msg = e.to_string();
        match e {
            IngestError::TooLarge(_) => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", msg)
            }
            IngestError::Body(_) => ApiError::bad_request(msg),
            IngestError::UnknownRegion(_)
            | IngestError::Policy(..)
            | IngestError::Rating
            | IngestError::Presentation(_) => ApiError::bad_request(msg),
            IngestError::Seal(m) => ApiError::internal(m),
            // An admin call: the cause (a parent that failed or did not answer within its
            // timeouts) is what the operator needs to act on.
            IngestError::Parent(_) => {
                tracing::warn!(error = %msg, "ingest failed at the primary parent");
                ApiError::new(StatusCode::BAD_GATEWAY, "parent_unavailable", msg)
            }
            IngestError::Store(s) => s.into(),
        }
    }
}
