//! Extractors for what a request carries (JSON body, path, query) whose every rejection is an
//! [`ApiError`] in the documented JSON shape, never axum's plain-text rejection.

use std::error::Error as _;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON request body (`Content-Type: application/json`, at most the route's body limit).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

/// Does the request say its body is JSON (`application/json` or `application/*+json`)?
fn says_json(req: &Request) -> bool {
    let Some(value) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json") || subtype.to_ascii_lowercase().ends_with("+json"))
}

/// Was the body read stopped by the server's body-read timeout?
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(body) = c.downcast_ref::<parent_sync::BodyError>() {
            return matches!(body, parent_sync::BodyError::Timeout(_));
        }
        cause = c.source();
    }
    false
}

fn body_rejection(r: BytesRejection) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "the request body is larger than {} KiB",
                super::JSON_LIMIT / 1024
            ),
        );
    }
    if let BytesRejection::FailedToBufferBody(e) = &r
        && timed_out(e)
    {
        return ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            "the request body did not arrive in time; send it without pauses",
        );
    }
    ApiError::bad_request(format!("the request body could not be read: {r}"))
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        // Valid JSON of the wrong shape: a missing, unknown, duplicated or mistyped field.
        JsonRejection::JsonDataError(e) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            format!(
                "the JSON does not fit this call: {}",
                e.source().map_or_else(|| e.to_string(), |s| s.to_string())
            ),
        ),
        JsonRejection::JsonSyntaxError(e) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!(
                "the body is not valid JSON: {}",
                e.source().map_or_else(|| e.to_string(), |s| s.to_string())
            ),
        ),
        other => ApiError::bad_request(other.body_text()),
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !says_json(&req) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        if bytes.is_empty() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "empty_body",
                "the request body is empty; send a JSON object",
            ));
        }
        if let Err(e) = std::str::from_utf8(&bytes) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_utf8",
                format!(
                    "the body is not valid UTF-8 (at byte {}); JSON must be UTF-8",
                    e.valid_up_to()
                ),
            ));
        }
        axum::Json::<T>::from_bytes(&bytes)
            .map(|axum::Json(v)| JsonBody(v))
            .map_err(json_rejection)
    }
}

/// Path parameters.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|r| ApiError::bad_request(format!("the path is not valid: {}", r.body_text())))
    }
}

/// Query parameters.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|r| {
                ApiError::bad_request(format!("the query is not valid: {}", r.body_text()))
            })
    }
}
