//! Sessions already granted, answered without a component instance.
//!
//! When the component hands a cached body over, its plan may carry a
//! [`SessionPass`](protocol::edge_cache::SessionPass): the key of the grant it holds for the
//! request's (token, session, client), the object, and the unix second until which it would use
//! that grant without asking main. edge-host keeps the pass in memory; until then it answers the
//! same session's GETs itself — the 1 KiB probes of a download manager, the next Range of a
//! resumed download — with no instance, no key-value reads of JWKS or grant, and no call to main.
//!
//! What a request must be to be answered here, and how, is decided by the component's own plain
//! functions (edge-fn's `route`, `grant_key`, `choose`, `content_head`, `none_match`), so the
//! answer is the one the component would give: a token, session or client address that differs
//! derives another key and goes to the component; `If-None-Match` is a 304, `If-Range` and
//! `Range` pick the bytes; anything else — HEAD, an unsatisfiable range, an empty body, a pass
//! expired — goes to the component, which authorizes it as always. Revocation at main therefore
//! reaches a session here no later than it reaches the component's cached grant (the bound in
//! `docs/interfaces.md`), and never after the token's own expiry.
//!
//! Bytes still go through [`crate::handoff`]: each chunk verified before it leaves, anything
//! not cached handed back to the component.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use edge_fn::grant::grant_key;
use edge_fn::range::choose;
use edge_fn::reply::{ContentHead, content_head, etag, none_match, not_modified_head};
use edge_fn::route::{CLIENT_ADDR_HEADER, Route, platform_client_ip, route};
use http::{HeaderMap, Method};
use protocol::ObjectInfo;
use protocol::edge_cache::{HandoffPlan, SessionPass};

/// The most passes held (about 400 bytes each); past it, expired ones are dropped, and if that
/// is not enough, all of them (their sessions then go through the component once more).
const MAX_PASSES: usize = 1 << 16;

/// The passes this host holds, by grant key.
#[derive(Debug, Default)]
pub struct Passes {
    map: Mutex<HashMap<String, SessionPass>>,
}

/// What to answer for a request of a session this host holds a pass for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `If-None-Match` matched: the head, no body.
    NotModified(ContentHead),
    /// The head (with `content-length`) and the bytes to send.
    Send {
        head: ContentHead,
        plan: HandoffPlan,
    },
}

impl Passes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SessionPass>> {
        self.map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Keeps `pass` (unless already lapsed at `now`).
    pub fn keep(&self, pass: SessionPass, now: u64) {
        if pass.until <= now {
            return;
        }
        let mut map = self.lock();
        if map.len() >= MAX_PASSES && !map.contains_key(&pass.key) {
            map.retain(|_, p| p.until > now);
            if map.len() >= MAX_PASSES {
                map.clear();
            }
        }
        map.insert(pass.key.clone(), pass);
    }

    /// The object the pass under `key` lets through at `now`; a lapsed pass is dropped.
    pub fn object(&self, key: &str, now: u64) -> Option<ObjectInfo> {
        let mut map = self.lock();
        match map.get(key) {
            Some(pass) if now < pass.until => Some(pass.object.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    /// How many passes are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The answer for a request with `method`, `path_and_query` and `headers` — the headers as
    /// the component would see them, platform headers included — at `now`; `None` when only the
    /// component may answer it.
    pub fn answer(
        &self,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
        now: u64,
    ) -> Option<Answer> {
        if method != Method::GET || self.is_empty() {
            return None;
        }
        let Ok(Route::Content(content)) = route(method.as_str(), path_and_query) else {
            return None;
        };
        let token = content.token.as_deref()?;
        let client = client_ip(headers)?;
        let info = self.object(&grant_key(token, content.session.as_deref(), client), now)?;
        if info.item != content.item {
            return None;
        }
        let tag = etag(&info);
        if none_match(first(headers, "if-none-match"), &tag) {
            return Some(Answer::NotModified(not_modified_head(&info)));
        }
        let choice = choose(
            first(headers, "range"),
            first(headers, "if-range"),
            &tag,
            info.object_len,
        );
        let head = content_head(&info, &choice, true).ok()?;
        if head.body.is_empty() {
            return None;
        }
        let plan = HandoffPlan::of(&info, head.body.clone(), None);
        Some(Answer::Send { head, plan })
    }
}

/// The first UTF-8 value of header `name`, as the component reads headers.
fn first<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(name)
        .iter()
        .find_map(|v| std::str::from_utf8(v.as_bytes()).ok())
}

/// The client address as the component reads it: the last platform value.
fn client_ip(headers: &HeaderMap) -> Option<IpAddr> {
    let values: Vec<String> = headers
        .get_all(CLIENT_ADDR_HEADER)
        .iter()
        .filter_map(|v| std::str::from_utf8(v.as_bytes()).ok().map(str::to_owned))
        .collect();
    platform_client_ip(&values).map(|a| a.ip)
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
