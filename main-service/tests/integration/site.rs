//! The web site and the console over a real socket, as a browser without JavaScript uses them:
//! cookies kept between requests, forms sent with the token their page carried, redirects
//! looked at rather than followed. (The browser itself drives them in `tests/tests/integration/
//! site_browser.rs`.)

use std::collections::HashMap;
use std::net::SocketAddr;

use main_service::AppState;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::common;

const OK_CARD: &str = "4242 4242 4242 4242";
const DECLINED_CARD: &str = "4000 0000 0000 0002";
const ADMIN: &str = "admin-token-0123456789";

/// Main's app on a loopback port, served as the binary serves it.
async fn serve(state: AppState) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(main_service::run(listener, state, std::future::pending()));
    addr
}

/// One browser: its cookies, no redirects followed.
struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: HashMap<String, String>,
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    /// The value of the first hidden field `name` on the page.
    fn field(&self, name: &str) -> String {
        let at = self
            .body
            .find(&format!("name=\"{name}\" value=\""))
            .unwrap_or_else(|| panic!("no field {name} in:\n{}", self.body));
        let rest = &self.body[at + name.len() + 15..];
        rest[..rest.find('"').unwrap()].to_owned()
    }

    fn location(&self) -> &str {
        self.headers
            .get("location")
            .map(|v| v.to_str().unwrap())
            .unwrap_or_else(|| panic!("no redirect ({}):\n{}", self.status, self.body))
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }
}

impl Browser {
    fn new(addr: SocketAddr) -> Self {
        Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let resp = req
            .header("cookie", self.cookie_header())
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        for set in resp.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let (pair, attrs) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Page {
            status: resp.status(),
            headers: resp.headers().clone(),
            body: resp.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let req = self.client.post(format!("{}{path}", self.base)).form(form);
        self.send(req).await
    }
}

#[tokio::test]
async fn pages_carry_the_site_headers_and_unknown_paths_answer_by_kind() {
    let dir = tempfile::tempdir().unwrap();
    let addr = serve(common::state(dir.path(), &["a-film"]).await).await;
    let mut b = Browser::new(addr);
    let home = b.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.header("content-type").starts_with("text/html"));
    assert!(home.body.contains("a-film"), "{}", home.body);
    let csp = home.header("content-security-policy");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(
        csp.contains("img-src 'self' http://edge-eu-1.test"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(home.header("cache-control"), "no-store");
    assert_eq!(home.header("x-content-type-options"), "nosniff");
    assert!(
        b.cookies.contains_key("seed"),
        "a new browser gets its seed"
    );
    let css = b.get("/static/site.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.header("cache-control").contains("max-age"));

    let missing = b.get("/no/such/page").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(
        missing.body.contains("There is no such page"),
        "{}",
        missing.body
    );
    let api = reqwest::get(format!("http://{addr}/v1/nope"))
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::NOT_FOUND);
    assert!(api.text().await.unwrap().contains("\"not_found\""));
    assert_eq!(b.get("/items/nope").await.status, StatusCode::NOT_FOUND);
    assert_eq!(b.get("/items/..%2Fetc").await.status, StatusCode::NOT_FOUND);

    let found = b.get("/search?q=fil").await;
    assert!(found.body.contains("1 found for"), "{}", found.body);
    let none = b.get("/search?q=zebra").await;
    assert!(none.body.contains("0 found for"), "{}", none.body);
}

#[tokio::test]
async fn a_customer_registers_rents_once_for_a_double_submit_and_sees_the_rental() {
    let dir = tempfile::tempdir().unwrap();
    let state = common::state(dir.path(), &["a-film"]).await;
    let addr = serve(state.clone()).await;
    let mut b = Browser::new(addr);

    let form = b.get("/register").await;
    let token = form.field("form_token");
    let done = b
        .post(
            "/register",
            &[
                ("form_token", &token),
                ("email", "site@example.com"),
                ("password", "correct horse battery"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), "/rentals");
    assert!(b.cookies.contains_key("sid"));
    let set = done.header("set-cookie");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );

    let empty = b.get("/rentals").await;
    assert!(empty.body.contains("No rentals yet"), "{}", empty.body);
    assert!(empty.body.contains("site@example.com"));

    // A declined card: the item page again, with the reason, nothing charged.
    let item = b.get("/items/a-film").await;
    assert!(item.body.contains("Rent a-film"), "{}", item.body);
    let token = item.field("form_token");
    let key = item.field("key");
    let declined = b
        .post(
            "/items/a-film/rent",
            &[
                ("form_token", &token),
                ("key", &key),
                ("card", DECLINED_CARD),
            ],
        )
        .await;
    assert_eq!(declined.status, StatusCode::PAYMENT_REQUIRED);
    assert!(
        declined.body.contains("role=\"alert\""),
        "{}",
        declined.body
    );
    assert!(declined.body.contains("declined"), "{}", declined.body);

    // A good card, sent twice with the form's key: one rental.
    let key = declined.field("key");
    let first = b
        .post(
            "/items/a-film/rent",
            &[("form_token", &token), ("key", &key), ("card", OK_CARD)],
        )
        .await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    let again = b
        .post(
            "/items/a-film/rent",
            &[("form_token", &token), ("key", &key), ("card", OK_CARD)],
        )
        .await;
    assert_eq!(again.location(), first.location());
    let account = state
        .store
        .account_by_email("site@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        state
            .store
            .rentals_of(&account.account_id)
            .await
            .unwrap()
            .len(),
        1
    );

    let rental = b.get(first.location()).await;
    assert_eq!(rental.status, StatusCode::OK);
    assert!(
        rental.body.contains("curl -C - -o a-film.sealed"),
        "{}",
        rental.body
    );
    assert!(
        rental.body.contains("http://edge-eu-1.test/"),
        "{}",
        rental.body
    );
    assert!(rental.body.contains("not bound"), "{}", rental.body);
    let list = b.get("/rentals").await;
    assert!(list.body.contains("3 of 3"), "{}", list.body);
    assert!(
        list.body.contains("href=\"http://edge-eu-1.test/"),
        "the list links the download again: {}",
        list.body
    );

    // Another customer cannot open this rental's page.
    let mut other = Browser::new(addr);
    assert_eq!(
        other.get(first.location()).await.location(),
        "/login",
        "anonymous visitors are sent to log in"
    );

    // Logging out ends the session in the store: the old cookie opens nothing.
    let sid = b.cookies["sid"].clone();
    let token = b.get("/rentals").await.field("form_token");
    let out = b.post("/logout", &[("form_token", &token)]).await;
    assert_eq!(out.location(), "/");
    assert!(!b.cookies.contains_key("sid"));
    b.cookies.insert("sid".into(), sid);
    assert_eq!(b.get("/rentals").await.location(), "/login");
}

#[tokio::test]
async fn forms_without_their_token_or_from_another_site_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = common::state(dir.path(), &["a-film"]).await;
    let addr = serve(state.clone()).await;
    let mut b = Browser::new(addr);
    let token = b.get("/register").await.field("form_token");
    let form = [
        ("email", "forged@example.com"),
        ("password", "correct horse battery"),
    ];
    let missing = b.post("/register", &form).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert!(missing.body.contains("did not come from this site"));
    let wrong = b
        .post(
            "/register",
            &[("form_token", "0".repeat(32).as_str()), form[0], form[1]],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    // Another browser's token does not fit this browser.
    let mut other = Browser::new(addr);
    let theirs = other.get("/register").await.field("form_token");
    assert_ne!(theirs, token);
    let stolen = b
        .post("/register", &[("form_token", &theirs), form[0], form[1]])
        .await;
    assert_eq!(stolen.status, StatusCode::FORBIDDEN);
    // The right token, but the browser says the post came from another site.
    let req = b
        .client
        .post(format!("http://{addr}/register"))
        .header("sec-fetch-site", "cross-site")
        .form(&[
            ("form_token", &token),
            ("email", &form[0].1.to_owned()),
            ("password", &form[1].1.to_owned()),
        ]);
    let cross = b.send(req).await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    assert!(
        state
            .store
            .account_by_email("forged@example.com")
            .await
            .unwrap()
            .is_none(),
        "no refused form created anything"
    );
    // A form missing a field is the site's page with the reason, not a bare text answer.
    let partial = b
        .post("/register", &[("form_token", &token), form[0]])
        .await;
    assert_eq!(partial.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        partial.body.contains("This form could not be read"),
        "{}",
        partial.body
    );
    assert!(partial.body.contains("password"), "{}", partial.body);
    // With its token the same form goes through.
    let ok = b
        .post("/register", &[("form_token", &token), form[0], form[1]])
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
}

#[tokio::test]
async fn a_guest_rents_from_the_site_and_keeps_the_claim_code() {
    let dir = tempfile::tempdir().unwrap();
    let state = common::state(dir.path(), &["a-film"]).await;
    let addr = serve(state.clone()).await;
    let mut b = Browser::new(addr);
    let item = b.get("/items/a-film").await;
    assert!(item.body.contains("Renting as a guest"), "{}", item.body);
    let (token, key) = (item.field("form_token"), item.field("key"));
    let rented = b
        .post(
            "/items/a-film/rent",
            &[
                ("form_token", &token),
                ("key", &key),
                ("card", OK_CARD),
                ("email", "guest@example.com"),
            ],
        )
        .await;
    assert_eq!(rented.status, StatusCode::CREATED, "{}", rented.body);
    assert!(rented.body.contains("Claim code: "), "{}", rented.body);
    assert!(rented.body.contains("curl -C -"), "{}", rented.body);
    // The guest is logged in to their rental.
    let list = b.get("/rentals").await;
    assert!(list.body.contains("a-film"), "{}", list.body);
}

#[tokio::test]
async fn the_console_is_the_operators_alone() {
    let dir = tempfile::tempdir().unwrap();
    let state = common::state(dir.path(), &["a-film", "b-film"]).await;
    let addr = serve(state.clone()).await;

    // A customer, with a rental, is not an operator.
    let mut customer = Browser::new(addr);
    let token = customer.get("/register").await.field("form_token");
    customer
        .post(
            "/register",
            &[
                ("form_token", &token),
                ("email", "buyer@example.com"),
                ("password", "correct horse battery"),
            ],
        )
        .await;
    let item = customer.get("/items/a-film").await;
    let rented = customer
        .post(
            "/items/a-film/rent",
            &[
                ("form_token", &item.field("form_token")),
                ("key", &item.field("key")),
                ("card", OK_CARD),
            ],
        )
        .await;
    assert_eq!(rented.status, StatusCode::SEE_OTHER, "{}", rented.body);
    assert_eq!(customer.get("/admin").await.location(), "/admin/login");

    let mut op = Browser::new(addr);
    let login = op.get("/admin/login").await;
    let token = login.field("form_token");
    let wrong = op
        .post(
            "/admin/login",
            &[("form_token", &token), ("admin_token", "guess")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let ok = op
        .post(
            "/admin/login",
            &[("form_token", &token), ("admin_token", ADMIN)],
        )
        .await;
    assert_eq!(ok.location(), "/admin");
    let set = ok.header("set-cookie");
    assert!(
        set.contains("Path=/admin") && set.contains("SameSite=Strict"),
        "{set}"
    );

    let network = op.get("/admin").await;
    assert_eq!(network.status, StatusCode::OK);
    assert!(network.body.contains("edge-eu-1"), "{}", network.body);
    assert!(
        network.body.contains("never"),
        "no heartbeat yet: {}",
        network.body
    );

    // Promote b-film: the home page features it.
    let catalog = op.get("/admin/catalog").await;
    let token = catalog.field("form_token");
    let saved = op
        .post(
            "/admin/promotions",
            &[("form_token", &token), ("items", "b-film")],
        )
        .await;
    assert_eq!(saved.location(), "/admin/catalog");
    let home = customer.get("/").await;
    assert!(home.body.contains("Featured"), "{}", home.body);
    let bad = op
        .post(
            "/admin/promotions",
            &[("form_token", &token), ("items", "nope")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // Edit an item: a number that is not one is named; a good edit is saved.
    let edit = [
        ("form_token", token.as_str()),
        ("title", "B Film Remastered"),
        ("level", "x"),
        ("regions", ""),
        ("price_cents", "250"),
        ("rating", "12"),
        ("genres", "drama, comedy"),
        ("description", "A film."),
        ("poster", ""),
        ("trailer", ""),
    ];
    let refused = op.post("/admin/items/b-film", &edit).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("hot level must be a whole number"));
    let mut good = edit;
    good[2] = ("level", "1");
    assert_eq!(
        op.post("/admin/items/b-film", &good).await.location(),
        "/admin/catalog"
    );
    let b_film = state.store.item("b-film").await.unwrap().unwrap();
    assert_eq!(
        (
            b_film.title.as_str(),
            b_film.level,
            b_film.price_cents,
            b_film.rating
        ),
        ("B Film Remastered", Some(1), 250, Some(12))
    );
    let drama = customer.get("/browse?genre=drama").await;
    assert!(drama.body.contains("B Film Remastered"), "{}", drama.body);

    // Look the customer up and revoke the licence, then the token.
    let found = op.get("/admin/licences?email=buyer%40example.com").await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    let at = found.body.find("action=\"/admin/licences/").unwrap();
    let licence: String = found.body[at + 24..]
        .chars()
        .take_while(|c| *c != '/')
        .collect();
    let revoked = op
        .post(
            &format!("/admin/licences/{licence}/revoke"),
            &[("form_token", &token), ("email", "buyer@example.com")],
        )
        .await;
    assert_eq!(
        revoked.location(),
        "/admin/licences?email=buyer%40example.com"
    );
    assert!(
        state
            .store
            .licence(&licence)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    let list = customer.get("/rentals").await;
    assert!(list.body.contains("revoked"), "{}", list.body);
    let unknown = op.get("/admin/licences?email=nobody%40example.com").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // Leaving the console ends its cookie; a forged console cookie opens nothing.
    let out = op.post("/admin/logout", &[("form_token", &token)]).await;
    assert_eq!(out.location(), "/");
    assert_eq!(op.get("/admin").await.location(), "/admin/login");
    op.cookies.insert(
        "console".into(),
        "99999999999.0123456789abcdef0123456789abcdef".into(),
    );
    assert_eq!(op.get("/admin").await.location(), "/admin/login");
}

/// Registers `email` in `b` and leaves it logged in.
async fn register(b: &mut Browser, email: &str) {
    let token = b.get("/register").await.field("form_token");
    let done = b
        .post(
            "/register",
            &[
                ("form_token", &token),
                ("email", email),
                ("password", "correct horse battery"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
}

/// The text of the element with `id` (its first text run).
fn text_of(page: &Page, id: &str) -> String {
    let at = page
        .body
        .find(&format!("id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no #{id} in:\n{}", page.body));
    let rest = &page.body[at + id.len() + 6..];
    rest[..rest.find('<').unwrap()].to_owned()
}

#[tokio::test]
async fn a_family_shares_a_group_from_the_site() {
    let dir = tempfile::tempdir().unwrap();
    let state = common::state(dir.path(), &["a-film", "b-film"]).await;
    let addr = serve(state.clone()).await;
    let mut owner = Browser::new(addr);
    register(&mut owner, "parent@example.com").await;
    let groups = owner.get("/groups").await;
    let token = groups.field("form_token");
    let created = owner
        .post(
            "/groups",
            &[
                ("form_token", &token),
                ("name", "Family"),
                ("card", OK_CARD),
            ],
        )
        .await;
    let group_url = created.location().to_owned();
    let group_id = group_url.trim_start_matches("/groups/").to_owned();

    // Invite with a cap that is not an amount: named; then a good one.
    let bad = owner
        .post(
            &format!("{group_url}/invitations"),
            &[
                ("form_token", &token),
                ("email", "kid@example.com"),
                ("may_rent", "yes"),
                ("monthly_cap", "ten"),
                ("max_rating", ""),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body.contains("not an amount in dollars"),
        "{}",
        bad.body
    );
    let invited = owner
        .post(
            &format!("{group_url}/invitations"),
            &[
                ("form_token", &token),
                ("email", "kid@example.com"),
                ("may_rent", "yes"),
                ("monthly_cap", "10"),
                ("max_rating", ""),
            ],
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    let code = text_of(&invited, "invitation-code");

    // The member registers with the invited email, joins, and rents on the group's account.
    let mut kid = Browser::new(addr);
    register(&mut kid, "kid@example.com").await;
    let token_kid = kid.get("/groups").await.field("form_token");
    let wrong = kid
        .post(
            "/groups/join",
            &[
                ("form_token", &token_kid),
                ("group", &group_id),
                ("code", "nope"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.body);
    let joined = kid
        .post(
            "/groups/join",
            &[
                ("form_token", &token_kid),
                ("group", &group_id),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(joined.location(), group_url);
    let item = kid.get("/items/a-film").await;
    assert!(item.body.contains("The group Family"), "{}", item.body);
    let rented = kid
        .post(
            "/items/a-film/rent",
            &[
                ("form_token", &item.field("form_token")),
                ("key", &item.field("key")),
                ("pay", &group_id),
                ("card", ""),
            ],
        )
        .await;
    assert_eq!(rented.status, StatusCode::SEE_OTHER, "{}", rented.body);

    // The owner sees the rental in the audit, then stops the member renting.
    let page = owner.get(&group_url).await;
    assert!(page.body.contains("id=\"audit\""), "{}", page.body);
    assert!(page.body.contains("kid@example.com"), "{}", page.body);
    let kid_id = state
        .store
        .account_by_email("kid@example.com")
        .await
        .unwrap()
        .unwrap()
        .account_id;
    let saved = owner
        .post(
            &format!("{group_url}/members/{kid_id}"),
            &[
                ("form_token", &token),
                ("monthly_cap", "10"),
                ("max_rating", ""),
            ],
        )
        .await;
    assert_eq!(saved.location(), group_url);
    let item = kid.get("/items/b-film").await;
    assert!(
        !item.body.contains("The group Family"),
        "no longer offered: {}",
        item.body
    );
    let refused = kid
        .post(
            "/items/b-film/rent",
            &[
                ("form_token", &item.field("form_token")),
                ("key", &item.field("key")),
                ("pay", &group_id),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(
        refused.body.contains("has not allowed you to rent"),
        "{}",
        refused.body
    );

    // The member leaves; the group's page is no longer theirs.
    let left = kid
        .post(
            &format!("{group_url}/members/{kid_id}/remove"),
            &[("form_token", &token_kid)],
        )
        .await;
    assert_eq!(left.location(), "/groups");
    assert_eq!(kid.get(&group_url).await.status, StatusCode::NOT_FOUND);
}
