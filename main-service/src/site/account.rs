//! A customer's pages: register, log in and out, rent (with an account, its group, or as a
//! guest), "My rentals" with each licence's state, and a rental's download page. Every form
//! carries the visitor's form token; every rental form carries its own idempotency key, so a
//! form sent twice charges once. Group pages are in [`super::groups`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use maud::{Markup, html};
use serde::Deserialize;

use super::forms::{SESSION_COOKIE, SignedIn, SiteForm, TokenOnly, Visitor, cookie, see_other};
use super::layout::{Failure, alert, answer, page, price, span, token_field, when};
use super::shop::{RentProblem, item_page, rentable};
use crate::AppState;
use crate::http::{ApiError, Path};
use crate::records::{LicenceRecord, Rental, TokenRecord};

/// The register and login forms.
#[derive(Debug, Deserialize)]
pub struct AccountForm {
    /// Missing: refused as a forged form by the handler, not as a malformed body.
    #[serde(default)]
    form_token: String,
    email: String,
    password: String,
    #[serde(default)]
    claim_code: String,
}

fn account_form(visitor: &Visitor, register: bool, email: &str, problem: Option<&str>) -> Markup {
    let (title, action, button) = if register {
        ("Register", "/register", "Create my account")
    } else {
        ("Log in", "/login", "Log in")
    };
    page(
        Some(visitor),
        title,
        html! {
            h1 { (title) }
            @if let Some(p) = problem { (alert(p)) }
            form.stack method="post" action=(action) {
                (token_field(visitor))
                label for="email" { "Email" }
                input #email type="email" name="email" value=(email) autocomplete="email" required;
                label for="password" { "Password" }
                @if register {
                    input #password type="password" name="password" autocomplete="new-password"
                        required minlength="8" aria-describedby="password-help";
                    p #password-help.help { "At least 8 characters." }
                    label for="claim" { "Claim code (if you rented as a guest with this email)" }
                    input #claim type="text" name="claim_code" autocomplete="off";
                } @else {
                    input #password type="password" name="password" autocomplete="current-password" required;
                }
                button type="submit" { (button) }
            }
            @if register {
                p { "Already registered? " a href="/login" { "Log in" } }
            } @else {
                p { "New here? " a href="/register" { "Register" } }
            }
        },
    )
}

/// `GET /register`.
pub async fn register_form(visitor: Visitor) -> Markup {
    account_form(&visitor, true, "", None)
}

/// `GET /login`.
pub async fn login_form(visitor: Visitor) -> Markup {
    account_form(&visitor, false, "", None)
}

/// The answer that logs `visitor` in to `session` (at `now`) and sends them to `to`.
fn logged_in(visitor: &Visitor, session: &crate::records::Session, now: u64, to: &str) -> Response {
    let jar = CookieJar::new().add(cookie(
        SESSION_COOKIE,
        session.session_id.clone(),
        visitor.secure,
        Some(session.expires_at.saturating_sub(now)),
    ));
    (jar, see_other(to)).into_response()
}

/// `POST /register`: creates the account and logs in.
pub async fn register(
    State(state): State<AppState>,
    visitor: Visitor,
    SiteForm(form): SiteForm<AccountForm>,
) -> Result<Response, Failure> {
    visitor.check(&form.form_token)?;
    let claim = Some(form.claim_code.trim()).filter(|c| !c.is_empty());
    let registered =
        crate::http::register_account(&state, visitor.ip, &form.email, &form.password, claim).await;
    match registered {
        Ok(account) => {
            let session = crate::accounts::open_session(
                state.store.as_ref(),
                &account.account_id,
                (state.clock)(),
            )
            .await?;
            Ok(logged_in(&visitor, &session, (state.clock)(), "/rentals"))
        }
        Err(e) => Ok(answer(
            form_status(&e),
            account_form(&visitor, true, &form.email, Some(&e.message)),
        )),
    }
}

/// A refused form is shown again with its status (4xx), a failure of main as the error page.
fn form_status(e: &ApiError) -> StatusCode {
    if e.status.is_client_error() {
        e.status
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

/// `POST /login`.
pub async fn login(
    State(state): State<AppState>,
    visitor: Visitor,
    SiteForm(form): SiteForm<AccountForm>,
) -> Result<Response, Failure> {
    visitor.check(&form.form_token)?;
    match crate::http::log_in(&state, visitor.ip, &form.email, &form.password).await {
        Ok(session) => Ok(logged_in(&visitor, &session, (state.clock)(), "/rentals")),
        Err(e) => Ok(answer(
            form_status(&e),
            account_form(&visitor, false, &form.email, Some(&e.message)),
        )),
    }
}

/// `POST /logout`: the session ends in the store, and its cookie goes.
pub async fn logout(
    State(state): State<AppState>,
    visitor: Visitor,
    SiteForm(form): SiteForm<TokenOnly>,
) -> Result<Response, Failure> {
    visitor.check(&form.form_token)?;
    if let Some(sid) = &visitor.session {
        crate::accounts::close_session(state.store.as_ref(), sid, (state.clock)()).await?;
    }
    let jar = CookieJar::new().add(cookie(
        SESSION_COOKIE,
        String::new(),
        visitor.secure,
        Some(0),
    ));
    Ok((jar, see_other("/")).into_response())
}

/// The rent form.
#[derive(Debug, Deserialize)]
pub struct RentForm {
    /// Missing: refused as a forged form by the handler, not as a malformed body.
    #[serde(default)]
    form_token: String,
    /// The form's idempotency key.
    key: String,
    #[serde(default)]
    card: String,
    /// `card`, or the id of a group to charge.
    #[serde(default)]
    pay: String,
    /// A guest's email (no account).
    #[serde(default)]
    email: String,
    #[serde(default)]
    claim_code: String,
}

/// `POST /items/{id}/rent`: rents with the account, or as a guest; on success the rental's
/// page, on a refusal the item's page again with the reason.
pub async fn rent(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    SiteForm(form): SiteForm<RentForm>,
) -> Result<Response, Failure> {
    visitor.check(&form.form_token)?;
    let item = rentable(&state, &id).await?;
    let key = crate::rentals::idempotency_key(Some(form.key.as_bytes()))
        .map_err(|e| Failure::from(ApiError::from(e)))?;
    let result = match &visitor.account {
        Some(account) => crate::http::rent_for(
            &state,
            &account.account_id,
            visitor.ip,
            key,
            &id,
            match form.pay.as_str() {
                "" | "card" => crate::http::Payer::Card(&form.card),
                group => crate::http::Payer::Group(group),
            },
            false,
        )
        .await
        .map(|answer| see_other(&format!("/rentals/{}", answer.rental_id))),
        None => {
            let body = crate::http::GuestRentBody {
                email: form.email.clone(),
                item: id.clone(),
                card: form.card.clone(),
                claim_code: Some(form.claim_code.trim().to_owned()).filter(|c| !c.is_empty()),
                another_copy: false,
            };
            match crate::http::guest_checkout(&state, visitor.ip, key, &body).await {
                Ok(done) => return guest_rented(&state, &visitor, done).await,
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(response) => Ok(response),
        Err(e) if e.status.is_client_error() => {
            let problem = RentProblem {
                rental: e
                    .detail
                    .as_ref()
                    .filter(|(name, _)| *name == "rental_id")
                    .map(|(_, id)| id.clone()),
                message: e.message,
            };
            let shown = item_page(&state, &visitor, &item, Some(&problem)).await;
            Ok(answer(e.status, shown))
        }
        Err(e) => Err(e.into()),
    }
}

/// A guest checkout done: the guest is logged in to their rental, whose page shows the claim
/// code once.
async fn guest_rented(
    state: &AppState,
    visitor: &Visitor,
    done: crate::http::GuestCheckout,
) -> Result<Response, Failure> {
    let account = state
        .store
        .account(&done.account_id)
        .await?
        .ok_or_else(Failure::not_found)?;
    let guest = visitor.signed_in(state, &done.session.session_id, account);
    let rental = own_rental(state, &done.account_id, &done.answer.rental_id)
        .await?
        .ok_or_else(Failure::not_found)?;
    let shown = rental_page(state, &guest, &rental, done.claim_code.as_deref()).await?;
    let jar = CookieJar::new().add(cookie(
        SESSION_COOKIE,
        done.session.session_id,
        visitor.secure,
        Some(crate::accounts::SESSION_SECS),
    ));
    Ok((jar, answer(StatusCode::CREATED, shown)).into_response())
}

/// The rental `rental_id` of `account_id`.
async fn own_rental(
    state: &AppState,
    account_id: &str,
    rental_id: &str,
) -> Result<Option<Rental>, Failure> {
    Ok(state
        .store
        .rentals_of(account_id)
        .await?
        .into_iter()
        .find(|r| r.rental_id == rental_id))
}

/// A licence's state as the customer reads it.
pub fn licence_state(licence: &LicenceRecord, now: u64) -> String {
    if licence.revoked_at.is_some() {
        return "revoked".to_owned();
    }
    match (&licence.window, &licence.binding) {
        (Some(w), _) if now < w.end => format!("window ends in {}", span(w.end - now)),
        (Some(_), _) => "expired (the viewing window has ended)".to_owned(),
        (None, _) if licence.enable_by.is_some_and(|by| now >= by) => {
            "lapsed (not enabled within the rental period)".to_owned()
        }
        (None, Some(b)) => format!("bound to device {}, not yet enabled", b.device_id),
        (None, None) => "not bound".to_owned(),
    }
}

/// Uses left of a token, as "2 of 5".
fn uses_left(token: &TokenRecord) -> String {
    format!(
        "{} of {}",
        token.max_uses.saturating_sub(token.uses),
        token.max_uses
    )
}

/// `GET /rentals`: every rental of the account, newest first.
pub async fn rentals(
    State(state): State<AppState>,
    SignedIn { visitor, account }: SignedIn,
) -> Result<Response, Failure> {
    let now = (state.clock)();
    let mut list = state.store.rentals_of(&account.account_id).await?;
    list.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    let mut rows = Vec::new();
    for r in &list {
        let title = state
            .store
            .item(r.item.as_str())
            .await?
            .map_or_else(|| r.item.to_string(), |i| i.title);
        let licence = state.store.licence(&r.licence_id).await?;
        let token = state.store.token(&r.token_id).await?;
        rows.push((r, title, licence, token));
    }
    Ok(page(
        Some(&visitor),
        "My rentals",
        html! {
            h1 { "My rentals" }
            @if rows.is_empty() {
                p { "No rentals yet. " a href="/" { "Find something to watch" } }
            } @else {
                div.table tabindex="0" role="region" aria-label="Your rentals" {
                    table {
                        caption.hidden { "Your rentals, newest first" }
                        thead { tr { th scope="col" { "Title" } th scope="col" { "Rented" }
                            th scope="col" { "Downloads left" } th scope="col" { "Licence" }
                            th scope="col" { "Download" } } }
                        tbody {
                            @for (r, title, licence, token) in &rows {
                                tr {
                                    th scope="row" { a href={ "/items/" (r.item) } { (title) } }
                                    td { (when(r.created_at)) }
                                    td.uses { (token.as_ref().map_or("—".to_owned(), uses_left)) }
                                    td.licence { (licence.as_ref().map_or("—".to_owned(), |l| licence_state(l, now))) }
                                    td {
                                        a href=(r.download_url) rel="noreferrer" download { "Download again" }
                                        " · "
                                        a href={ "/rentals/" (r.rental_id) } { "Link and instructions" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response())
}

/// `GET /rentals/{id}`: the download link with instructions, and the licence's state.
pub async fn rental(
    State(state): State<AppState>,
    SignedIn { visitor, account }: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let rental = own_rental(&state, &account.account_id, &id)
        .await?
        .ok_or_else(Failure::not_found)?;
    Ok(rental_page(&state, &visitor, &rental, None)
        .await?
        .into_response())
}

async fn rental_page(
    state: &AppState,
    visitor: &Visitor,
    rental: &Rental,
    claim_code: Option<&str>,
) -> Result<Markup, Failure> {
    let now = (state.clock)();
    let item = state.store.item(rental.item.as_str()).await?;
    let title = item
        .as_ref()
        .map_or_else(|| rental.item.to_string(), |i| i.title.clone());
    let licence = state.store.licence(&rental.licence_id).await?;
    let token = state.store.token(&rental.token_id).await?;
    let file = format!("{}.sealed", rental.item);
    Ok(page(
        Some(visitor),
        &format!("Download {title}"),
        html! {
            h1 { "Download " (title) }
            @if let Some(code) = claim_code {
                div.notice role="status" {
                    p { "You rented as a guest. Keep this claim code: you need it to rent again with \
                         this email, and to register this email and keep your rentals." }
                    p { "Claim code: " code #claim-code { (code) } }
                }
            }
            dl.facts {
                dt { "Paid" } dd { (price(rental.amount_cents)) " on " (when(rental.created_at)) }
                dt { "Downloads left" } dd #uses { (token.as_ref().map_or("—".to_owned(), uses_left)) }
                dt { "Link valid until" } dd { (when(rental.token_expires_at)) }
                dt { "Licence" } dd #licence-state { (licence.as_ref().map_or("—".to_owned(), |l| licence_state(l, now))) }
            }
            h2 { "Your download link" }
            p { "The link is yours alone: each download started with it counts as one use; \
                 resuming a download does not." }
            div.copy {
                label for="download-url" { "Download link" }
                input #download-url type="text" readonly value=(rental.download_url);
                button type="button" data-copy="download-url" { "Copy link" }
            }
            @if let Some(fallback) = &rental.fallback_url {
                p { "If that edge cannot be reached, the same download from another: "
                    a href=(fallback) rel="noreferrer" { "fallback link" } }
            }
            h2 { "Download with curl (resumable)" }
            pre tabindex="0" { code { "curl -C - -o " (file) " \"" (rental.download_url) "\"" } }
            p { "If the download stops, run the same command again: " code { "-C -" }
                " resumes where it stopped." }
            h2 { "Play it" }
            p { "The player downloads, checks every chunk, binds the licence to your device, \
                 and opens a 24-hour viewing window when you enable it:" }
            pre tabindex="0" { code {
                "player login --email " (visitor.account.as_ref().map_or("you@example.com", |a| a.email.as_str())) "\n"
                "player download " (rental.item) "\n"
                "player licence " (rental.item) " && player enable " (rental.item) "\n"
                "player play " (rental.item)
            } }
            p { a href="/rentals" { "All my rentals" } }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Binding;

    fn licence() -> LicenceRecord {
        LicenceRecord {
            licence_id: "l".into(),
            account_id: "a".into(),
            item: protocol::ItemId::parse("film").unwrap(),
            item_version: 1,
            policy: protocol::Policy::default(),
            binding: None,
            window: None,
            enable_by: Some(1000),
            revoked_at: None,
            reactivations: Vec::new(),
        }
    }

    #[test]
    fn licence_states_read_as_the_customer_needs() {
        let mut l = licence();
        assert_eq!(licence_state(&l, 10), "not bound");
        assert_eq!(
            licence_state(&l, 1000),
            "lapsed (not enabled within the rental period)"
        );
        l.binding = Some(Binding {
            device_id: "laptop".into(),
            player_id: "p".into(),
            device_public_key: String::new(),
        });
        assert_eq!(
            licence_state(&l, 10),
            "bound to device laptop, not yet enabled"
        );
        l.window = Some(protocol::Window {
            start: 100,
            end: 100 + 13 * 3600 + 2 * 60,
        });
        assert_eq!(licence_state(&l, 100), "window ends in 13 h 02 min");
        assert_eq!(
            licence_state(&l, 100 + 24 * 3600),
            "expired (the viewing window has ended)"
        );
        l.revoked_at = Some(5);
        assert_eq!(licence_state(&l, 100), "revoked");
    }
}
