//! `GET|HEAD /v1/content/{item}`: local token check, authorize with main, then stream the
//! requested bytes piece by piece, filling missing chunks from the grant's sources.

use protocol::edge_cache::{OFFER_HEADER, SessionPass, offer_accepted};
use protocol::{AuthorizeRequest, Grant};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};

use super::io::{
    KvCache, SpinOrigin, header, header_values, send_error, send_head_only, send_reply,
    start_response, write,
};
use super::main_client::{authorize, config, jwks_for, now};
use crate::cache::{Cache, STAT_LEASE_WAITS, meta_key, stat_key};
use crate::config::EdgeConfig;
use crate::fill::{ChunkFiller, load_meta};
use crate::grant::{cached_grant, grant_key, keep_grant, session_pass};
use crate::keys::{check_token, token_kid};
use crate::lease::SystemClock;
use crate::meta::layout_of;
use crate::plan::{chunk_indices, pieces};
use crate::range::{RangeChoice, choose};
use crate::reply::{EdgeError, content_head, etag, handoff_reply, none_match, not_modified_head};
use crate::route::{CLIENT_ADDR_HEADER, ContentRequest, platform_client_ip};
use crate::serve::{BodyPieces, Pumped, may_store, pump};
use crate::zone::{Admit, Zone, record_access};

pub async fn serve(request: &IncomingRequest, content: ContentRequest, out: ResponseOutparam) {
    let ready = match prepare(request, &content).await {
        Ok(ready) => ready,
        Err(e) => return send_error(out, &e).await,
    };
    if ready.not_modified {
        send_head_only(out, &not_modified_head(&ready.grant.object));
    } else if content.head {
        head(&ready, out).await;
    } else {
        get(&ready, out).await;
    }
}

/// An authorized request: what to send of which object.
struct Ready {
    config: EdgeConfig,
    cache: KvCache,
    grant: Grant,
    choice: RangeChoice,
    /// The client holds this version already: 304.
    not_modified: bool,
    /// The host offered to send a cached body itself ([`protocol::edge_cache`]).
    handoff_offered: bool,
    /// What the host may answer alone for this session, if it takes a handoff.
    pass: SessionPass,
}

async fn prepare(request: &IncomingRequest, content: &ContentRequest) -> Result<Ready, EdgeError> {
    let token = content.token.as_deref().ok_or(EdgeError::MissingToken)?;
    let config = config()?;
    let cache = KvCache::open()?;
    let now = now();
    let handoff_offered = header(request, OFFER_HEADER)
        .is_some_and(|offer| offer_accepted(&offer, &config.edge_secret));
    let jwks = jwks_for(&cache, &config, token_kid(token).as_deref(), now).await?;
    let claims = check_token(&jwks, token, &content.item, now)?;
    let client = platform_client_ip(&header_values(request, CLIENT_ADDR_HEADER))
        .ok_or(EdgeError::NoClientAddress)?;
    if client.forged {
        crate::log(format_args!(
            "request for {} carried its own {CLIENT_ADDR_HEADER}; using the platform's {}",
            content.item, client.ip
        ));
    }
    let client_ip = client.ip;
    let grant_key = grant_key(token, content.session.as_deref(), client_ip);
    let kept = match cached_grant(&cache, &grant_key, &content.item, now) {
        Some(kept) => kept,
        None => {
            let ask = AuthorizeRequest {
                token: token.to_owned(),
                item: content.item.clone(),
                client_ip: client_ip.to_string(),
                session_hint: content.session.clone(),
            };
            let request_id = protocol::request_id::keep_or_fresh(
                header(request, protocol::request_id::HEADER).as_deref(),
            );
            let grant = authorize(&config, &ask, &request_id).await?;
            // A download session starts: one access for the eviction policy (not one per chunk
            // or per Range request).
            if !content.head {
                record_access(&cache, Zone::Licensed, &grant.object, now);
            }
            keep_grant(&cache, &grant_key, grant, now)
        }
    };
    let pass = session_pass(&grant_key, &kept, claims.expires_at);
    let grant = kept.grant;
    // If-None-Match goes before Range (RFC 9110 §13.2.2): a matching tag is a 304, nothing sent.
    if none_match(
        header(request, "if-none-match").as_deref(),
        &etag(&grant.object),
    ) {
        return Ok(Ready {
            config,
            cache,
            grant,
            choice: RangeChoice::Whole,
            not_modified: true,
            handoff_offered,
            pass,
        });
    }
    let choice = choose(
        header(request, "range").as_deref(),
        header(request, "if-range").as_deref(),
        &etag(&grant.object),
        grant.object.object_len,
    );
    if choice == RangeChoice::Unsatisfiable {
        return Err(EdgeError::Unsatisfiable {
            len: grant.object.object_len,
        });
    }
    Ok(Ready {
        config,
        cache,
        grant,
        choice,
        not_modified: false,
        handoff_offered,
        pass,
    })
}

/// HEAD: the headers a GET would send; nothing is fetched, `X-Cache` says what is cached now.
async fn head(ready: &Ready, out: ResponseOutparam) {
    let info = &ready.grant.object;
    let range = ready.choice.bytes(info.object_len).expect("satisfiable");
    let cached = |key: String| ready.cache.exists(&key).unwrap_or(false);
    let hit = layout_of(info).is_ok_and(|layout| {
        cached(meta_key(&info.item, info.version))
            && chunk_indices(&pieces(&layout, range))
                .all(|i| cached(crate::cache::chunk_key(&info.item, info.version, i)))
    });
    match content_head(info, &ready.choice, hit) {
        Ok(h) => send_head_only(out, &h),
        Err(e) => send_error(out, &e).await,
    }
}

async fn get(ready: &Ready, out: ResponseOutparam) {
    let info = &ready.grant.object;
    let sources = &ready.grant.sources;
    let store = may_store(&ready.cache, &info.item, &ready.config.edge_region).then(|| {
        let budget = ready.config.budgets.licensed;
        Admit::new(Zone::Licensed, budget, &info.item, info.version)
    });
    let origin = SpinOrigin {
        timeouts: ready.config.timeouts,
    };
    let loaded = match load_meta(&ready.cache, &origin, info, sources, store.is_some()).await {
        Ok(loaded) => loaded,
        Err(e) => return send_error(out, &EdgeError::SourcesFailed(e.to_string())).await,
    };
    let filler = ChunkFiller::new(&ready.cache, &origin, &loaded.meta, info, sources, store)
        .collapsing(&SystemClock)
        .parallel(ready.config.parallel_gets);
    let range = ready.choice.bytes(info.object_len).expect("satisfiable");
    let mut body = BodyPieces::new(filler, &loaded.meta, range);
    let hit = loaded.was_cached && body.all_cached();
    if hit && ready.handoff_offered {
        // Every byte is cached: the host sends them itself, verified, without the copies
        // through this sandbox.
        return match content_head(info, &ready.choice, true) {
            Ok(head) => {
                let pass = Some(ready.pass.clone());
                send_reply(out, handoff_reply(info, head, pass)).await
            }
            Err(e) => send_error(out, &e).await,
        };
    }
    // The first piece is ready before the status goes out, so that a fill nobody can serve is a
    // 502 rather than a truncated 200.
    let first = match body.next_piece().await {
        Some(Ok(piece)) => piece,
        Some(Err(e)) => return send_error(out, &EdgeError::SourcesFailed(e.to_string())).await,
        None => Vec::new(),
    };
    let head = match content_head(info, &ready.choice, hit) {
        Ok(head) => head,
        Err(e) => return send_error(out, &e).await,
    };
    let Some(sink) = start_response(out, head.status, &head.headers) else {
        crate::log(format_args!("host refused the response head"));
        return;
    };
    let mut sink = std::pin::pin!(sink);
    if !write(&mut sink, first).await {
        return;
    }
    match pump(&mut body, &mut sink).await {
        Pumped::Done => {}
        Pumped::ClientGone => return,
        Pumped::Failed(e) => {
            // Headers are out: dropping the body short of its Content-Length makes the host
            // abort the response, so the client sees a truncated transfer, never bad bytes.
            crate::log(format_args!(
                "aborting {}/v{}: {e}",
                info.item, info.version
            ));
            return;
        }
    }
    if body.awaited() > 0
        && let Err(e) = ready
            .cache
            .increment(&stat_key(STAT_LEASE_WAITS), body.awaited() as i64)
    {
        crate::log(format_args!("counting {STAT_LEASE_WAITS}: {e}"));
    }
    if body.filled() > 0 {
        crate::log(format_args!(
            "filled {} chunks of {}/v{}",
            body.filled(),
            info.item,
            info.version
        ));
    }
}
