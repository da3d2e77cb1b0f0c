//! The one error type of the HTTP layer: a status, a stable code, and a message the client can
//! act on. Internal causes are logged, never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::accounts::AccountError;
use crate::authorize::AuthorizeError;
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
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
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
        (
            self.status,
            Json(Body {
                error: self.code,
                message: &self.message,
            }),
        )
            .into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal(e)
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
            AccountError::Store(s) => s.into(),
        }
    }
}

impl From<RentError> for ApiError {
    fn from(e: RentError) -> Self {
        let msg = e.to_string();
        match e {
            RentError::UnknownItem => ApiError::new(StatusCode::NOT_FOUND, "unknown_item", msg),
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
            RentError::InProgress => {
                ApiError::new(StatusCode::CONFLICT, "purchase_in_progress", msg)
            }
            RentError::NoEdge => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no_edge", msg),
            RentError::RegionDenied => ApiError::new(StatusCode::FORBIDDEN, "region_denied", msg),
            RentError::BadIdempotencyKey => ApiError::bad_request(msg),
            RentError::Store(s) => s.into(),
            RentError::Sign(s) => ApiError::internal(s),
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
            LicenceOpError::Invalid(m) => ApiError::bad_request(m),
            LicenceOpError::Store(s) => s.into(),
            LicenceOpError::Keys(k) => ApiError::internal(k),
        }
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
            IngestError::UnknownRegion(_) => ApiError::bad_request(msg),
            IngestError::Seal(m) | IngestError::Parent(m) => ApiError::internal(m),
            IngestError::Store(s) => s.into(),
        }
    }
}
