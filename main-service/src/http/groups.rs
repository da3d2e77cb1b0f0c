//! Group accounts over HTTP: create, invite, join, privileges, leave or remove, the audit view.
//! Thin handlers over [`crate::groups`]; the group as each caller may see it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, Customer, ErrorBody, JsonBody, Path};
use crate::AppState;
use crate::groups;
use crate::records::{Group, Member, Privileges};

/// The routes under `/v1/groups`.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, mine))
        .routes(routes!(one))
        .routes(routes!(invite))
        .routes(routes!(join))
        .routes(routes!(set_privileges, remove))
        .routes(routes!(audit))
}

/// A member as the owner sees them.
#[derive(Serialize)]
struct MemberView<'a> {
    account_id: &'a str,
    email: &'a str,
    privileges: &'a Privileges,
    joined_at: u64,
    /// Spent on the group's account this calendar month (UTC), in cents.
    spent_this_month_cents: u64,
}

fn member_view(m: &Member, month: u32) -> MemberView<'_> {
    MemberView {
        account_id: &m.account_id,
        email: &m.email,
        privileges: &m.privileges,
        joined_at: m.joined_at,
        spent_this_month_cents: groups::spent_in(m, month),
    }
}

/// The last four characters of a payment method: all that is ever shown of it.
fn masked(method: &str) -> String {
    let digits: Vec<char> = method.chars().filter(|c| !c.is_whitespace()).collect();
    let tail: String = digits[digits.len().saturating_sub(4)..].iter().collect();
    format!("•••• {tail}")
}

/// The group as `account` may see it: the owner everything (members, open invitations, the
/// payment method's last four), a member the group and their own privileges and spend.
fn view(group: &Group, account: &str, now: u64) -> serde_json::Value {
    let month = groups::month_of(now);
    let owner = group
        .members
        .iter()
        .find(|m| m.account_id == group.owner_id);
    let mut v = json!({
        "group_id": group.group_id,
        "name": group.name,
        "owner_email": owner.map(|m| m.email.as_str()),
        "created_at": group.created_at,
    });
    if account == group.owner_id {
        v["role"] = json!("owner");
        v["payment_method"] = json!(masked(&group.payment_method));
        v["members"] = json!(
            group
                .members
                .iter()
                .filter(|m| m.removed_at.is_none())
                .map(|m| member_view(m, month))
                .collect::<Vec<_>>()
        );
        v["invitations"] = json!(
            group
                .invitations
                .iter()
                .filter(|i| i.expires_at > now)
                .map(|i| json!({"email": i.email, "privileges": i.privileges, "expires_at": i.expires_at}))
                .collect::<Vec<_>>()
        );
    } else if let Some(me) = group
        .members
        .iter()
        .find(|m| m.account_id == account && m.removed_at.is_none())
    {
        v["role"] = json!("member");
        v["you"] = json!(member_view(me, month));
    }
    v
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    /// The card the group's rentals are charged to.
    card: String,
}

#[utoipa::path(post, path = "/v1/groups", tag = "groups", security(("session" = [])), request_body = CreateBody, responses((status = 201, description = "the group as its owner sees it", body = serde_json::Value), (status = 400, description = "a bad name or card", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    Customer(account): Customer,
    JsonBody(b): JsonBody<CreateBody>,
) -> Result<impl IntoResponse, ApiError> {
    let now = (state.clock)();
    let group = groups::create(&state, &account, &b.name, &b.card, now).await?;
    Ok((StatusCode::CREATED, Json(view(&group, &account, now))))
}

#[utoipa::path(get, path = "/v1/groups", tag = "groups", security(("session" = [])), responses((status = 200, description = "`{groups: […]}`, each as the caller may see it", body = serde_json::Value)))]
async fn mine(
    State(state): State<AppState>,
    Customer(account): Customer,
) -> Result<impl IntoResponse, ApiError> {
    let now = (state.clock)();
    let list: Vec<_> = state
        .store
        .groups_of(&account)
        .await?
        .iter()
        .filter(|g| groups::is_member(g, &account))
        .map(|g| view(g, &account, now))
        .collect();
    Ok(Json(json!({ "groups": list })))
}

#[utoipa::path(get, path = "/v1/groups/{id}", tag = "groups", security(("session" = [])), params(("id" = String, Path, description = "group id")), responses((status = 200, description = "the group as the caller may see it", body = serde_json::Value), (status = 404, description = "`unknown_group`", body = ErrorBody)))]
async fn one(
    State(state): State<AppState>,
    Customer(account): Customer,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let group = groups::visible(&state, &account, &id).await?;
    Ok(Json(view(&group, &account, (state.clock)())))
}

/// Privileges as a request states them; unset parts are the most generous.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PrivilegesBody {
    #[serde(default = "yes")]
    may_rent: bool,
    #[serde(default)]
    monthly_cap_cents: Option<u64>,
    #[serde(default)]
    max_rating: Option<u8>,
}

fn yes() -> bool {
    true
}

impl From<PrivilegesBody> for Privileges {
    fn from(b: PrivilegesBody) -> Self {
        Self {
            may_rent: b.may_rent,
            monthly_cap_cents: b.monthly_cap_cents,
            max_rating: b.max_rating,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct InviteBody {
    email: String,
    #[serde(default)]
    privileges: Option<PrivilegesBody>,
}

#[utoipa::path(post, path = "/v1/groups/{id}/invitations", tag = "groups", security(("session" = [])), params(("id" = String, Path, description = "group id")), request_body = InviteBody, responses((status = 201, description = "`{email, privileges, expires_at, code}` (the code shown once)", body = serde_json::Value), (status = 403, description = "`not_group_owner`", body = ErrorBody), (status = 404, description = "`unknown_group`", body = ErrorBody), (status = 409, description = "`already_member`, `group_full`", body = ErrorBody)))]
async fn invite(
    State(state): State<AppState>,
    Customer(account): Customer,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<InviteBody>,
) -> Result<impl IntoResponse, ApiError> {
    let privileges = b.privileges.map_or(
        Privileges {
            may_rent: true,
            monthly_cap_cents: None,
            max_rating: None,
        },
        Privileges::from,
    );
    let now = (state.clock)();
    let (invitation, code) =
        groups::invite(&state, &account, &id, &b.email, privileges, now).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "email": invitation.email,
            "privileges": invitation.privileges,
            "expires_at": invitation.expires_at,
            "code": code,
            "note": "pass the code to the invitee, who joins with POST /v1/groups/{id}/join; it is shown only this once",
        })),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct JoinBody {
    code: String,
}

#[utoipa::path(post, path = "/v1/groups/{id}/join", tag = "groups", security(("session" = [])), params(("id" = String, Path, description = "group id")), request_body = JoinBody, responses((status = 200, description = "the group as a member sees it", body = serde_json::Value), (status = 403, description = "`bad_invitation`", body = ErrorBody), (status = 409, description = "`already_member`, `group_full`", body = ErrorBody)))]
async fn join(
    State(state): State<AppState>,
    Customer(account): Customer,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<JoinBody>,
) -> Result<impl IntoResponse, ApiError> {
    let now = (state.clock)();
    let group = groups::join(&state, &account, &id, &b.code, now).await?;
    Ok(Json(view(&group, &account, now)))
}

#[utoipa::path(put, path = "/v1/groups/{id}/members/{account}", tag = "groups", security(("session" = [])), params(("id" = String, Path, description = "group id"), ("account" = String, Path, description = "the member's account id")), request_body = PrivilegesBody, responses((status = 200, description = "the group", body = serde_json::Value), (status = 400, description = "not a member", body = ErrorBody), (status = 403, description = "`not_group_owner`", body = ErrorBody), (status = 404, description = "`unknown_group`", body = ErrorBody)))]
async fn set_privileges(
    State(state): State<AppState>,
    Customer(account): Customer,
    Path((id, member)): Path<(String, String)>,
    JsonBody(b): JsonBody<PrivilegesBody>,
) -> Result<impl IntoResponse, ApiError> {
    let group = groups::set_privileges(&state, &account, &id, &member, b.into()).await?;
    Ok(Json(view(&group, &account, (state.clock)())))
}

#[utoipa::path(delete, path = "/v1/groups/{id}/members/{account}", tag = "groups", security(("session" = [])), params(("id" = String, Path, description = "group id"), ("account" = String, Path, description = "the member's account id")), responses((status = 204, description = "removed (or left)"), (status = 403, description = "`not_group_owner`", body = ErrorBody), (status = 404, description = "`unknown_group`", body = ErrorBody), (status = 409, description = "`owner_stays`", body = ErrorBody)))]
async fn remove(
    State(state): State<AppState>,
    Customer(account): Customer,
    Path((id, member)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    groups::remove(&state, &account, &id, &member, (state.clock)()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/groups/{id}/audit", tag = "groups", security(("session" = [])), params(("id" = String, Path, description = "group id")), responses((status = 200, description = "`{group_id, rentals: [AuditEntry], total_cents}`, newest first", body = serde_json::Value), (status = 403, description = "`not_group_owner`", body = ErrorBody), (status = 404, description = "`unknown_group`", body = ErrorBody)))]
async fn audit(
    State(state): State<AppState>,
    Customer(account): Customer,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let rentals = groups::audit(&state, &account, &id).await?;
    let total: u64 = rentals.iter().map(|r| r.amount_cents).sum();
    Ok(Json(
        json!({ "group_id": id, "rentals": rentals, "total_cents": total }),
    ))
}
