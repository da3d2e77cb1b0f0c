//! The shell every page shares (head, navigation, landmarks), the error page, and small
//! formatting helpers. Pages are `maud` templates, checked and compiled with main.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::forms::{TOKEN_FIELD, Visitor};
use crate::http::ApiError;

/// The site's name, in titles and the header.
pub const SITE_NAME: &str = "cdn";

/// A whole page: `title` (also the `<h1>` unless the body has its own), the navigation for
/// `visitor`, and `body` inside `<main>`.
pub fn page(visitor: Option<&Visitor>, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (SITE_NAME) }
                link rel="stylesheet" href="/static/site.css";
                script src="/static/site.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    nav aria-label="Main" {
                        a.brand href="/" { (SITE_NAME) }
                        a href="/browse" { "Browse" }
                        form.search role="search" action="/search" method="get" {
                            label.hidden for="site-search" { "Search titles" }
                            input #site-search type="search" name="q" placeholder="Search titles";
                            button type="submit" { "Search" }
                        }
                        (account_links(visitor))
                    }
                }
                main #main { (body) }
                footer {
                    p { "Downloads are encrypted; the player decrypts with a licence bound to your device. "
                        a href="/openapi.json" { "API" } }
                }
            }
        }
    }
}

fn account_links(visitor: Option<&Visitor>) -> Markup {
    html! {
        @match visitor.and_then(|v| v.account.as_ref().map(|a| (v, a))) {
            Some((v, account)) => {
                a href="/rentals" { "My rentals" }
                a href="/groups" { "Groups" }
                span.who { (account.email) }
                form.inline method="post" action="/logout" {
                    (token_field(v))
                    button type="submit" { "Log out" }
                }
            }
            None => {
                a href="/login" { "Log in" }
                a href="/register" { "Register" }
            }
        }
    }
}

/// The hidden field carrying the visitor's form token.
pub fn token_field(visitor: &Visitor) -> Markup {
    html! { input type="hidden" name=(TOKEN_FIELD) value=(visitor.form_token); }
}

/// A message the visitor must read (an error), announced by screen readers.
pub fn alert(message: &str) -> Markup {
    html! { p.alert role="alert" { (message) } }
}

/// A page's answer: its status and markup.
pub fn answer(status: StatusCode, markup: Markup) -> Response {
    (status, markup).into_response()
}

/// A price in cents as dollars: `$3.99`.
pub fn price(cents: u64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

/// A span of seconds as people read it: `13 h 02 min`, `5 min`, `40 s`, `2 d 4 h`.
pub fn span(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h) {
        (0, 0) if m == 0 => format!("{secs} s"),
        (0, 0) => format!("{m} min"),
        (0, h) => format!("{h} h {m:02} min"),
        (d, h) => format!("{d} d {h} h"),
    }
}

/// A Unix second as a UTC date and time: `2026-11-25 14:03 UTC`.
pub fn when(secs: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(0))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// A size in bytes as people read it: `1.5 GiB`, `700 MiB`, `12 KiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    if value < 1024.0 {
        return format!("{bytes} bytes");
    }
    let mut unit = "";
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    if value < 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.0} {unit}")
    }
}

/// A page that could not be shown: its status and a message the visitor can act on.
#[derive(Debug)]
pub struct Failure {
    pub status: StatusCode,
    pub message: String,
}

impl Failure {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// A form that did not come from this site, or that has expired.
    pub fn forged() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "This form did not come from this site or has expired. Go back, reload the page and \
             try again.",
        )
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "There is no such page.")
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Self::new(e.status, e.message)
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<crate::groups::GroupError> for Failure {
    fn from(e: crate::groups::GroupError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let title = match self.status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
            s if s.is_server_error() => "Something went wrong",
            _ => "That did not work",
        };
        answer(
            self.status,
            page(
                None,
                title,
                html! {
                    h1 { (title) }
                    (alert(&self.message))
                    p { a href="/" { "Back to the home page" } }
                },
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_like_a_clock() {
        assert_eq!(span(13 * 3600 + 2 * 60 + 30), "13 h 02 min");
        assert_eq!(span(5 * 60), "5 min");
        assert_eq!(span(10), "10 s");
        assert_eq!(span(2 * 86_400 + 4 * 3600), "2 d 4 h");
    }

    #[test]
    fn prices_sizes_and_times() {
        assert_eq!(price(399), "$3.99");
        assert_eq!(price(1200), "$12.00");
        assert_eq!(size(512), "512 bytes");
        assert_eq!(size(3 << 20), "3.0 MiB");
        assert_eq!(size(700 << 20), "700 MiB");
        assert_eq!(when(0), "1970-01-01 00:00 UTC");
    }
}
