//! The catalog pages: home (promotions and new releases), browse by genre, search, and an
//! item's page with its poster, trailer and rent form. Posters and trailers are public objects:
//! the pages point at an edge near the visitor (`/v1/public/{id}`), never at main.

use axum::extract::{Query, State};
use maud::{Markup, html};

use super::forms::Visitor;
use super::layout::{Failure, alert, page, price, size, token_field};
use crate::AppState;
use crate::catalog::{CatalogQuery, Snapshot};
use crate::http::Path;
use crate::records::ItemRecord;

/// How many items a shelf of the home page shows.
const SHELF: usize = 12;

/// Where this visitor's browser fetches public objects: the edge main would send a download of
/// the same object to (the visitor's region, the edges' health, the object's affinity).
pub struct Showcase<'a> {
    state: &'a AppState,
    region: Option<String>,
    health: crate::edges::Health<'a>,
}

/// The edges' last heartbeats, for a [`Showcase`]. Health is advice: without it, edges are
/// chosen by region and affinity alone.
pub async fn edge_statuses(state: &AppState) -> Vec<crate::records::EdgeStatus> {
    state.store.edge_statuses().await.unwrap_or_default()
}

impl<'a> Showcase<'a> {
    pub fn new(
        state: &'a AppState,
        visitor: &Visitor,
        statuses: &'a [crate::records::EdgeStatus],
    ) -> Self {
        let region = state
            .geo
            .country_of(visitor.ip)
            .and_then(|c| state.geo.region_of(&c).map(str::to_owned));
        let health =
            crate::edges::Health::new(statuses, (state.clock)(), state.config.edge_heartbeat_secs);
        Self {
            state,
            region,
            health,
        }
    }

    /// The URL of public object `id` at the chosen edge.
    pub fn url(&self, id: &str) -> Option<String> {
        let choice = self
            .state
            .edges
            .choose(self.region.as_deref(), id, &self.health)?;
        Some(format!(
            "{}/v1/public/{id}",
            choice.primary.url.trim_end_matches('/')
        ))
    }
}

/// The catalog as searches read it (they leave public objects out themselves).
async fn catalog(state: &AppState) -> Result<std::sync::Arc<Snapshot>, Failure> {
    Ok(state.catalog.snapshot(state.store.as_ref()).await?)
}

/// A row of item cards.
fn shelf(items: &[&ItemRecord], show: &Showcase<'_>) -> Markup {
    html! {
        ul.cards {
            @for item in items {
                li.card {
                    a href={ "/items/" (item.id) } {
                        (poster(item, show, "thumb"))
                        span.title { (item.title) }
                    }
                    p.meta {
                        (price(item.price_cents))
                        @if let Some(r) = item.rating { " · " (rating(r)) }
                    }
                }
            }
        }
    }
}

fn rating(r: u8) -> String {
    if r == 0 {
        "all ages".to_owned()
    } else {
        format!("{r}+")
    }
}

fn poster(item: &ItemRecord, show: &Showcase<'_>, class: &str) -> Markup {
    let url = item
        .presentation
        .poster
        .as_deref()
        .and_then(|p| show.url(p));
    html! {
        @match url {
            Some(url) => img class=(class) src=(url) alt={ "Poster of " (item.title) } loading="lazy";
            None => div class={ (class) " placeholder" } aria-hidden="true" { (item.title.chars().next().unwrap_or('?')) },
        }
    }
}

fn genres_nav(genres: &[String], current: Option<&str>) -> Markup {
    html! {
        @if !genres.is_empty() {
            nav.genres aria-label="Genres" {
                ul {
                    @for g in genres {
                        li {
                            @if Some(g.as_str()) == current {
                                a href={ "/browse?genre=" (g) } aria-current="page" { (g) }
                            } @else {
                                a href={ "/browse?genre=" (g) } { (g) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /`: promotions, new releases, genres.
pub async fn home(State(state): State<AppState>, visitor: Visitor) -> Result<Markup, Failure> {
    let items = catalog(&state).await?;
    let statuses = edge_statuses(&state).await;
    let show = Showcase::new(&state, &visitor, &statuses);
    let promoted: Vec<&ItemRecord> = state
        .store
        .promotions()
        .await?
        .iter()
        .filter_map(|id| {
            items
                .items
                .iter()
                .find(|i| i.id.as_str() == id && !i.public)
        })
        .collect();
    let newest = items.search(&CatalogQuery {
        sort: Some("new".into()),
        ..CatalogQuery::default()
    });
    let newest = &newest[..newest.len().min(SHELF)];
    Ok(page(
        Some(&visitor),
        "Home",
        html! {
            h1 { "Films, games and software to rent" }
            @if !promoted.is_empty() {
                section aria-labelledby="promoted" {
                    h2 #promoted { "Featured" }
                    (shelf(&promoted, &show))
                }
            }
            section aria-labelledby="new" {
                h2 #new { "New releases" }
                @if newest.is_empty() {
                    p { "Nothing to rent yet." }
                } @else {
                    (shelf(newest, &show))
                }
            }
            section aria-labelledby="genres-title" {
                h2 #genres-title { "Browse by genre" }
                (genres_nav(&items.genres, None))
                p { a href="/browse" { "Everything, by title" } }
            }
        },
    ))
}

/// `GET /browse?genre=`: the catalog by title, or one genre of it.
pub async fn browse(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<CatalogQuery>,
) -> Result<Markup, Failure> {
    let items = catalog(&state).await?;
    let statuses = edge_statuses(&state).await;
    let show = Showcase::new(&state, &visitor, &statuses);
    let genre = query.genre.clone().filter(|g| !g.is_empty());
    let found = items.search(&CatalogQuery {
        genre: genre.clone(),
        ..CatalogQuery::default()
    });
    let title = match &genre {
        Some(g) => format!("Genre: {g}"),
        None => "Everything".to_owned(),
    };
    Ok(page(
        Some(&visitor),
        &title,
        html! {
            h1 { (title) }
            (genres_nav(&items.genres, genre.as_deref()))
            @if found.is_empty() { p { "Nothing here yet." } } @else { (shelf(&found, &show)) }
        },
    ))
}

/// `GET /search?q=`: titles whose words start with the words asked.
pub async fn search(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<CatalogQuery>,
) -> Result<Markup, Failure> {
    let items = catalog(&state).await?;
    let statuses = edge_statuses(&state).await;
    let show = Showcase::new(&state, &visitor, &statuses);
    let asked = query.q.clone().unwrap_or_default();
    let found = if asked.trim().is_empty() {
        Vec::new()
    } else {
        items.search(&CatalogQuery {
            q: Some(asked.clone()),
            ..CatalogQuery::default()
        })
    };
    Ok(page(
        Some(&visitor),
        "Search",
        html! {
            h1 { "Search" }
            form.stack role="search" action="/search" method="get" {
                label for="q" { "Title" }
                input #q type="search" name="q" value=(asked);
                button type="submit" { "Search" }
            }
            @if !asked.trim().is_empty() {
                h2 { (found.len()) " found for “" (asked) "”" }
                @if !found.is_empty() { (shelf(&found, &show)) }
            }
        },
    ))
}

/// `GET /items/{id}`: the item's page.
pub async fn item(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Result<Markup, Failure> {
    let item = rentable(&state, &id).await?;
    Ok(item_page(&state, &visitor, &item, None).await)
}

/// The item `id` for rent, or the 404 page.
pub async fn rentable(state: &AppState, id: &str) -> Result<ItemRecord, Failure> {
    let id = protocol::ItemId::parse(id).map_err(|_| Failure::not_found())?;
    state
        .store
        .item(id.as_str())
        .await?
        .filter(|i| !i.public)
        .ok_or_else(Failure::not_found)
}

/// What went wrong with a rent form, shown above it.
pub struct RentProblem {
    pub message: String,
    /// The rental the visitor already holds, when that is the problem.
    pub rental: Option<String>,
}

/// An item's page; `problem` is what went wrong with the rent form just sent.
pub async fn item_page(
    state: &AppState,
    visitor: &Visitor,
    item: &ItemRecord,
    problem: Option<&RentProblem>,
) -> Markup {
    let statuses = edge_statuses(state).await;
    let show = Showcase::new(state, visitor, &statuses);
    let p = &item.presentation;
    let regions = if item.regions.is_empty() {
        "everywhere".to_owned()
    } else {
        item.regions.join(", ")
    };
    let trailer = p.trailer.as_deref().and_then(|t| show.url(t));
    // The groups the visitor may rent on, offered beside their own card.
    let mut groups = Vec::new();
    if let Some(account) = &visitor.account {
        for g in state
            .store
            .groups_of(&account.account_id)
            .await
            .unwrap_or_default()
        {
            let may = g.members.iter().any(|m| {
                m.account_id == account.account_id
                    && m.removed_at.is_none()
                    && m.privileges.may_rent
            });
            if may {
                groups.push((g.group_id, g.name));
            }
        }
    }
    // A sound clip plays in an audio player; anything else in a video player.
    let sound = match p.trailer.as_deref() {
        Some(t) => state
            .store
            .item(t)
            .await
            .ok()
            .flatten()
            .and_then(|i| i.presentation.media_type)
            .is_some_and(|m| m.starts_with("audio/")),
        None => false,
    };
    page(
        Some(visitor),
        &item.title,
        html! {
            article.item {
                (poster(item, &show, "poster"))
                div.about {
                    h1 { (item.title) }
                    dl.facts {
                        dt { "Price" } dd { (price(item.price_cents)) }
                        dt { "Rating" } dd { (item.rating.map_or("unrated".to_owned(), rating)) }
                        dt { "Available in" } dd { (regions) }
                        dt { "Download size" } dd { (size(item.object_len)) }
                        @if !p.genres.is_empty() {
                            dt { "Genres" } dd { (p.genres.join(", ")) }
                        }
                    }
                    @if !p.description.is_empty() { p.description { (p.description) } }
                }
            }
            @if let Some(url) = trailer {
                section aria-labelledby="trailer-title" {
                    @if sound {
                        h2 #trailer-title { "Sound clip" }
                        audio #trailer controls preload="metadata" src=(url) {
                            a href=(url) { "Open the clip" }
                        }
                    } @else {
                        h2 #trailer-title { "Trailer" }
                        video #trailer controls preload="metadata" src=(url) {
                            a href=(url) { "Open the trailer" }
                        }
                    }
                }
            }
            section aria-labelledby="rent-title" {
                h2 #rent-title { "Rent " (item.title) " for " (price(item.price_cents)) }
                (rent_form(visitor, item, &groups, problem))
            }
        },
    )
}

fn rent_form(
    visitor: &Visitor,
    item: &ItemRecord,
    groups: &[(String, String)],
    problem: Option<&RentProblem>,
) -> Markup {
    // One key per form shown: sending the form twice charges once.
    let key = protocol::random_id();
    html! {
        @if let Some(p) = problem {
            (alert(&p.message))
            @if let Some(r) = &p.rental {
                p { a href={ "/rentals/" (r) } { "Go to your rental" } }
            }
        }
        form.stack.rent method="post" action={ "/items/" (item.id) "/rent" } {
            (token_field(visitor))
            input type="hidden" name="key" value=(key);
            @if visitor.account.is_none() {
                p { "Renting as a guest: we keep the rental under your email. "
                    a href="/login" { "Log in" } " or " a href="/register" { "register" }
                    " to keep your rentals together." }
                label for="email" { "Email" }
                input #email type="email" name="email" autocomplete="email" required;
                label for="claim" { "Claim code (from your first guest rental, if any)" }
                input #claim type="text" name="claim_code" autocomplete="off";
            }
            @if !groups.is_empty() {
                fieldset {
                    legend { "Pay with" }
                    div.check {
                        input #pay-card type="radio" name="pay" value="card" checked;
                        label for="pay-card" { "My card" }
                    }
                    @for (id, name) in groups {
                        div.check {
                            input id={ "pay-" (id) } type="radio" name="pay" value=(id);
                            label for={ "pay-" (id) } { "The group " (name) "'s account" }
                        }
                    }
                }
            }
            label for="card" { "Card number" @if !groups.is_empty() { " (when paying with your card)" } }
            input #card type="text" name="card" inputmode="numeric" autocomplete="cc-number"
                required[groups.is_empty()] pattern="[0-9 ]{12,23}" aria-describedby="card-help";
            p #card-help.help { "Sandbox payments: 4242 4242 4242 4242 pays; 4000 0000 0000 0002 is declined." }
            button type="submit" { "Rent for " (price(item.price_cents)) }
        }
    }
}
