//! Request extractors: who is calling (customer session, edge, admin) and from which address.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use super::error::ApiError;
use crate::AppState;
use crate::config::EdgeConfig;

fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// A logged-in customer's account id.
#[derive(Debug)]
pub struct Customer(pub String);

impl FromRequestParts<AppState> for Customer {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let session = bearer(parts).ok_or_else(|| {
            ApiError::unauthorized("log in first (Authorization: Bearer <session>)")
        })?;
        crate::accounts::account_of_session(state.store.as_ref(), session, (state.clock)())
            .await?
            .map(Customer)
            .ok_or_else(|| ApiError::unauthorized("your session has expired; log in again"))
    }
}

/// An authenticated edge.
#[derive(Debug)]
pub struct Edge(pub EdgeConfig);

impl FromRequestParts<AppState> for Edge {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let id = parts.headers.get("x-edge-id").and_then(|v| v.to_str().ok());
        match (id, bearer(parts)) {
            (Some(id), Some(secret)) => state
                .edges
                .authenticate(id, secret)
                .cloned()
                .map(Edge)
                .ok_or_else(|| {
                    tracing::warn!(edge = id, "edge authentication failed");
                    ApiError::new(
                        axum::http::StatusCode::UNAUTHORIZED,
                        "edge_unauthorized",
                        "unknown edge or wrong credential",
                    )
                }),
            _ => Err(ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "edge_unauthorized",
                "X-Edge-Id and Authorization are required",
            )),
        }
    }
}

/// The operator.
#[derive(Debug)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let given = bearer(parts).unwrap_or("");
        if crate::edges::same_secret(given, &state.config.admin_token) {
            Ok(Admin)
        } else {
            Err(ApiError::unauthorized("admin token required"))
        }
    }
}

/// The client's address: the Lambda request context's source IP, else the socket peer.
#[derive(Debug)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        use lambda_http::request::RequestContext;
        if let Some(RequestContext::ApiGatewayV2(ctx)) = parts.extensions.get::<RequestContext>()
            && let Some(ip) = ctx.http.source_ip.as_deref().and_then(|s| s.parse().ok())
        {
            return Ok(ClientIp(ip));
        }
        // The extractor (not the raw extension) also honours `MockConnectInfo` in tests.
        match ConnectInfo::<SocketAddr>::from_request_parts(parts, state).await {
            Ok(ConnectInfo(addr)) => Ok(ClientIp(addr.ip())),
            Err(_) => Err(ApiError::internal("client address unavailable")),
        }
    }
}
