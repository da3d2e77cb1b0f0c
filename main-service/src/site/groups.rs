//! Group pages: the account's groups, creating one, joining with an invitation code; a group's
//! members with their privileges; for the owner, inviting (the code is shown once), changing a
//! member's privileges, removing a member, and the audit of rentals charged to the group. A
//! member may leave. Every change goes through `crate::groups`, as the API's do.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::forms::{SignedIn, SiteForm, TokenOnly, Visitor, see_other};
use super::layout::{Failure, alert, answer, page, price, token_field, when};
use crate::AppState;
use crate::http::{ApiError, Path};
use crate::records::{Group, Privileges};

/// A refusal shown on the page it came from (4xx), or the error page.
fn shown(e: ApiError) -> Result<(StatusCode, String), Failure> {
    if e.status.is_client_error() {
        Ok((e.status, e.message))
    } else {
        Err(e.into())
    }
}

fn list_page(visitor: &Visitor, groups: &[Group], problem: Option<&str>) -> Markup {
    let me = visitor.account.as_ref().map(|a| a.account_id.as_str());
    page(
        Some(visitor),
        "Groups",
        html! {
            h1 { "Groups" }
            p { "A group (a family, a company) pays for its members' rentals within the limits its \
                 owner sets, and the owner sees every rental charged to it." }
            @if let Some(p) = problem { (alert(p)) }
            @if groups.is_empty() {
                p { "You belong to no group yet." }
            } @else {
                ul {
                    @for g in groups {
                        li { a href={ "/groups/" (g.group_id) } { (g.name) }
                            @if Some(g.owner_id.as_str()) == me { " (owner)" } }
                    }
                }
            }
            h2 #create-title { "Create a group" }
            form.stack method="post" action="/groups" aria-labelledby="create-title" {
                (token_field(visitor))
                label for="group-name" { "Name" }
                input #group-name name="name" required maxlength="100";
                label for="group-card" { "Card the group's rentals are charged to" }
                input #group-card name="card" inputmode="numeric" autocomplete="cc-number" required;
                button type="submit" { "Create the group" }
            }
            h2 #join-title { "Join a group" }
            form.stack method="post" action="/groups/join" aria-labelledby="join-title" {
                (token_field(visitor))
                label for="join-group" { "Group id (from the invitation)" }
                input #join-group name="group" required;
                label for="join-code" { "Invitation code" }
                input #join-code name="code" required autocomplete="off";
                button type="submit" { "Join" }
            }
        },
    )
}

/// `GET /groups`.
pub async fn groups(
    State(state): State<AppState>,
    SignedIn { visitor, account }: SignedIn,
) -> Result<Response, Failure> {
    let groups = state.store.groups_of(&account.account_id).await?;
    Ok(list_page(&visitor, &groups, None).into_response())
}

/// After creating or joining: the group's page, or the list again with the refusal.
async fn to_group(
    state: &AppState,
    visitor: &Visitor,
    account: &crate::records::Account,
    outcome: Result<Group, crate::groups::GroupError>,
) -> Result<Response, Failure> {
    match outcome {
        Ok(g) => Ok(see_other(&format!("/groups/{}", g.group_id))),
        Err(e) => {
            let (status, message) = shown(e.into())?;
            let groups = state.store.groups_of(&account.account_id).await?;
            Ok(answer(status, list_page(visitor, &groups, Some(&message))))
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    form_token: String,
    name: String,
    card: String,
}

/// `POST /groups`: creates a group owned by the visitor.
pub async fn create(
    State(state): State<AppState>,
    SignedIn { visitor, account }: SignedIn,
    SiteForm(form): SiteForm<CreateForm>,
) -> Result<Response, Failure> {
    visitor.check(&form.form_token)?;
    let card: String = form.card.chars().filter(|c| !c.is_whitespace()).collect();
    let outcome = crate::groups::create(
        &state,
        &account.account_id,
        &form.name,
        &card,
        (state.clock)(),
    )
    .await;
    to_group(&state, &visitor, &account, outcome).await
}

#[derive(Debug, Deserialize)]
pub struct JoinForm {
    #[serde(default)]
    form_token: String,
    group: String,
    code: String,
}

/// `POST /groups/join`: joins with an invitation code sent to the visitor's email.
pub async fn join(
    State(state): State<AppState>,
    SignedIn { visitor, account }: SignedIn,
    SiteForm(form): SiteForm<JoinForm>,
) -> Result<Response, Failure> {
    visitor.check(&form.form_token)?;
    let group = form.group.trim();
    let outcome = crate::groups::join(
        &state,
        &account.account_id,
        group,
        form.code.trim(),
        (state.clock)(),
    )
    .await;
    to_group(&state, &visitor, &account, outcome).await
}

/// What the owner was just told (a new invitation's code), or what went wrong.
enum Note {
    Invited { email: String, code: String },
    Problem(String),
}

async fn group_page(
    state: &AppState,
    visitor: &Visitor,
    group: &Group,
    note: Option<&Note>,
) -> Result<Markup, Failure> {
    let me = visitor
        .account
        .as_ref()
        .map_or("", |a| a.account_id.as_str());
    let owner = group.owner_id == me;
    let audit = if owner {
        crate::groups::audit(state, me, &group.group_id).await?
    } else {
        Vec::new()
    };
    let base = format!("/groups/{}", group.group_id);
    Ok(page(
        Some(visitor),
        &group.name,
        html! {
            h1 { (group.name) }
            p { "Group id " code { (group.group_id) } ". Rentals are charged to the card ending in "
                (group.payment_method.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect::<String>()) "." }
            @match note {
                Some(Note::Invited { email, code }) => {
                    div.notice role="status" {
                        p { "Invitation for " (email) ". Give them the group id and this code (shown once, valid 7 days); \
                             they join from their Groups page, logged in with that email:" }
                        p { "Invitation code: " code #invitation-code { (code) } }
                    }
                }
                Some(Note::Problem(m)) => { (alert(m)) }
                None => {}
            }
            h2 { "Members" }
            div.table tabindex="0" role="region" aria-label="Members" { table #members {
                thead { tr { th scope="col" { "Member" } th scope="col" { "May rent" }
                    th scope="col" { "Monthly cap" } th scope="col" { "Rating cap" } th scope="col" { "Since" }
                    @if owner { th scope="col" { "Change" } } } }
                tbody {
                    @for m in group.members.iter().filter(|m| m.removed_at.is_none()) {
                        tr {
                            th scope="row" { (m.email) @if m.account_id == group.owner_id { " (owner)" } }
                            td { @if m.privileges.may_rent { "yes" } @else { "no" } }
                            td { (m.privileges.monthly_cap_cents.map_or("none".to_owned(), price)) }
                            td { (m.privileges.max_rating.map_or("none".to_owned(), |r| format!("{r}"))) }
                            td { (when(m.joined_at)) }
                            @if owner {
                                td {
                                    @if m.account_id != group.owner_id {
                                        form.privileges method="post" action={ (base) "/members/" (m.account_id) } {
                                            (token_field(visitor))
                                            (privilege_fields(&format!("m-{}", m.account_id), &m.privileges))
                                            button type="submit" { "Save " (m.email) }
                                        }
                                        form.inline method="post" action={ (base) "/members/" (m.account_id) "/remove" } {
                                            (token_field(visitor))
                                            button.danger type="submit" { "Remove " (m.email) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            } }
            @if owner {
                h2 #invite-title { "Invite a member" }
                form.stack method="post" action={ (base) "/invitations" } aria-labelledby="invite-title" {
                    (token_field(visitor))
                    label for="invite-email" { "Their email" }
                    input #invite-email type="email" name="email" required;
                    (privilege_fields("invite", &Privileges { may_rent: true, monthly_cap_cents: None, max_rating: None }))
                    button type="submit" { "Invite" }
                }
                h2 { "Rentals charged to the group" }
                @if audit.is_empty() { p { "None yet." } } @else {
                    div.table tabindex="0" role="region" aria-label="Rentals charged to the group" { table #audit {
                        thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "Item" }
                            th scope="col" { "Amount" } th scope="col" { "From" } } }
                        tbody {
                            @for e in &audit {
                                tr { td { (when(e.created_at)) } td { (e.email) } td { (e.item) }
                                     td { (price(e.amount_cents)) } td { (e.client_ip.as_deref().unwrap_or("—")) } }
                            }
                        }
                    } }
                }
            } @else {
                form.inline method="post" action={ (base) "/members/" (me) "/remove" } {
                    (token_field(visitor))
                    button.danger type="submit" { "Leave the group" }
                }
            }
            p { a href="/groups" { "All my groups" } }
        },
    ))
}

/// The privilege inputs of a form, ids prefixed with `prefix`.
fn privilege_fields(prefix: &str, p: &Privileges) -> Markup {
    let cap = p
        .monthly_cap_cents
        .map(|c| format!("{}.{:02}", c / 100, c % 100))
        .unwrap_or_default();
    html! {
        div.check {
            input id={ (prefix) "-may-rent" } type="checkbox" name="may_rent" value="yes" checked[p.may_rent];
            label for={ (prefix) "-may-rent" } { "May rent on the group's account" }
        }
        label for={ (prefix) "-cap" } { "Monthly cap in dollars (empty: none)" }
        input id={ (prefix) "-cap" } name="monthly_cap" inputmode="decimal" value=(cap);
        label for={ (prefix) "-rating" } { "Highest age rating (empty: any)" }
        input id={ (prefix) "-rating" } name="max_rating" inputmode="numeric"
            value=(p.max_rating.map(|r| r.to_string()).unwrap_or_default());
    }
}

/// The privilege inputs as sent.
#[derive(Debug, Default, Deserialize)]
pub struct PrivilegeInputs {
    #[serde(default)]
    may_rent: Option<String>,
    #[serde(default)]
    monthly_cap: String,
    #[serde(default)]
    max_rating: String,
}

impl PrivilegeInputs {
    /// The privileges asked for; a value that is not one is named.
    fn privileges(&self) -> Result<Privileges, String> {
        let cap = self.monthly_cap.trim().trim_start_matches('$');
        let monthly_cap_cents = if cap.is_empty() {
            None
        } else {
            let (whole, cents) = cap.split_once('.').unwrap_or((cap, "0"));
            let cents = format!("{cents:0<2}");
            match (whole.parse::<u64>(), cents.parse::<u64>()) {
                (Ok(w), Ok(c)) if cents.len() == 2 => Some(w * 100 + c),
                _ => {
                    return Err(format!(
                        "{cap:?} is not an amount in dollars, such as 10 or 12.50"
                    ));
                }
            }
        };
        let rating = self.max_rating.trim();
        let max_rating = if rating.is_empty() {
            None
        } else {
            Some(
                rating
                    .parse::<u8>()
                    .map_err(|_| format!("{rating:?} is not an age rating"))?,
            )
        };
        Ok(Privileges {
            may_rent: self.may_rent.is_some(),
            monthly_cap_cents,
            max_rating,
        })
    }
}

/// `GET /groups/{id}`.
pub async fn group(
    State(state): State<AppState>,
    SignedIn { visitor, account }: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let group = crate::groups::visible(&state, &account.account_id, &id).await?;
    Ok(group_page(&state, &visitor, &group, None)
        .await?
        .into_response())
}

#[derive(Debug, Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    form_token: String,
    email: String,
    #[serde(flatten)]
    privileges: PrivilegeInputs,
}

/// `POST /groups/{id}/invitations`: the owner invites an email; the code is on the answer.
pub async fn invite(
    State(state): State<AppState>,
    SignedIn { visitor, account }: SignedIn,
    Path(id): Path<String>,
    SiteForm(form): SiteForm<InviteForm>,
) -> Result<Response, Failure> {
    visitor.check(&form.form_token)?;
    let me = account.account_id.clone();
    let outcome = match form.privileges.privileges() {
        Err(m) => Err((StatusCode::BAD_REQUEST, m)),
        Ok(p) => {
            match crate::groups::invite(&state, &me, &id, &form.email, p, (state.clock)()).await {
                Ok((invitation, code)) => Ok((invitation.email, code)),
                Err(e) => Err(shown(e.into())?),
            }
        }
    };
    let group = crate::groups::visible(&state, &me, &id).await?;
    let (status, note) = match outcome {
        Ok((email, code)) => (StatusCode::CREATED, Note::Invited { email, code }),
        Err((status, message)) => (status, Note::Problem(message)),
    };
    Ok(answer(
        status,
        group_page(&state, &visitor, &group, Some(&note)).await?,
    ))
}

#[derive(Debug, Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    form_token: String,
    #[serde(flatten)]
    privileges: PrivilegeInputs,
}

/// `POST /groups/{id}/members/{account}`: the owner changes a member's privileges.
pub async fn set_privileges(
    State(state): State<AppState>,
    SignedIn { visitor, account }: SignedIn,
    Path((id, member)): Path<(String, String)>,
    SiteForm(form): SiteForm<MemberForm>,
) -> Result<Response, Failure> {
    visitor.check(&form.form_token)?;
    let me = account.account_id.clone();
    let (status, message) = match form.privileges.privileges() {
        Err(m) => (StatusCode::BAD_REQUEST, m),
        Ok(p) => match crate::groups::set_privileges(&state, &me, &id, &member, p).await {
            Ok(_) => return Ok(see_other(&format!("/groups/{id}"))),
            Err(e) => shown(e.into())?,
        },
    };
    let group = crate::groups::visible(&state, &me, &id).await?;
    Ok(answer(
        status,
        group_page(&state, &visitor, &group, Some(&Note::Problem(message))).await?,
    ))
}

/// `POST /groups/{id}/members/{account}/remove`: the owner removes a member, or a member leaves.
pub async fn remove(
    State(state): State<AppState>,
    SignedIn { visitor, account }: SignedIn,
    Path((id, member)): Path<(String, String)>,
    SiteForm(form): SiteForm<TokenOnly>,
) -> Result<Response, Failure> {
    visitor.check(&form.form_token)?;
    crate::groups::remove(&state, &account.account_id, &id, &member, (state.clock)()).await?;
    Ok(if member == account.account_id {
        see_other("/groups")
    } else {
        see_other(&format!("/groups/{id}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(may: bool, cap: &str, rating: &str) -> PrivilegeInputs {
        PrivilegeInputs {
            may_rent: may.then(|| "yes".to_owned()),
            monthly_cap: cap.into(),
            max_rating: rating.into(),
        }
    }

    #[test]
    fn privileges_are_read_from_the_form() {
        assert_eq!(
            inputs(true, "12.5", "12").privileges().unwrap(),
            Privileges {
                may_rent: true,
                monthly_cap_cents: Some(1250),
                max_rating: Some(12)
            }
        );
        assert_eq!(
            inputs(false, "$10", "").privileges().unwrap(),
            Privileges {
                may_rent: false,
                monthly_cap_cents: Some(1000),
                max_rating: None
            }
        );
        assert_eq!(
            inputs(true, "", "").privileges().unwrap().monthly_cap_cents,
            None
        );
        assert!(inputs(true, "ten", "").privileges().is_err());
        assert!(inputs(true, "1.234", "").privileges().is_err());
        assert!(inputs(true, "", "PG").privileges().is_err());
    }
}
