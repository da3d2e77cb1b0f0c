//! `GET|HEAD /v1/public/{item}`: a public object, no token. Main's public grant is kept in the
//! store until shortly before it expires; chunks are filled into the other zone, verified, opened
//! with the grant's content key, and the plaintext range is streamed.

use std::ops::Range;

use protocol::{Opener, PublicGrant, PublicGrantRequest};
use spin_sdk::http::{IncomingRequest, Method, ResponseOutparam};

use super::io::{KvCache, SpinOrigin, header, send_error, send_head_only, start_response, write};
use super::main_client::{call, config, edge_request, now};
use crate::cache::{Cache, meta_key};
use crate::config::EdgeConfig;
use crate::fill::{ChunkFiller, load_meta};
use crate::lease::SystemClock;
use crate::public::{
    content_key, keep_grant, kept_grant, plain_pieces, public_etag, public_grant_from, public_head,
    public_not_modified,
};
use crate::range::{RangeChoice, choose};
use crate::reply::{EdgeError, none_match};
use crate::route::PublicRequest;
use crate::serve::BodyPieces;
use crate::zone::{Admit, Zone, record_access};

pub async fn serve(request: &IncomingRequest, public: PublicRequest, out: ResponseOutparam) {
    let ready = match prepare(request, &public).await {
        Ok(ready) => ready,
        Err(e) => return send_error(out, &e).await,
    };
    match &ready.answer {
        Answer::NotModified => send_head_only(out, &public_not_modified(&ready.grant)),
        Answer::Head => {
            let info = &ready.grant.object;
            let hit = ready
                .cache
                .exists(&meta_key(&info.item, info.version))
                .unwrap_or(false);
            match public_head(&ready.grant, &ready.choice, hit) {
                Ok(head) => send_head_only(out, &head),
                Err(e) => send_error(out, &e).await,
            }
        }
        Answer::Get(range) => get(&ready, range.clone(), out).await,
    }
}

/// What to answer once the grant is known.
enum Answer {
    /// The client holds this version already: 304.
    NotModified,
    /// HEAD: the headers a GET would send, nothing filled.
    Head,
    /// GET: these plaintext bytes.
    Get(Range<u64>),
}

struct Ready {
    config: EdgeConfig,
    cache: KvCache,
    grant: PublicGrant,
    choice: RangeChoice,
    answer: Answer,
}

async fn prepare(request: &IncomingRequest, public: &PublicRequest) -> Result<Ready, EdgeError> {
    let config = config()?;
    let cache = KvCache::open()?;
    let grant = grant(&cache, &config, public, now()).await?;
    let etag = public_etag(&grant);
    let len = grant.object.plaintext_len;
    let choice = choose(
        header(request, "range").as_deref(),
        header(request, "if-range").as_deref(),
        &etag,
        len,
    );
    let answer = if none_match(header(request, "if-none-match").as_deref(), &etag) {
        Answer::NotModified
    } else {
        let range = choice.bytes(len).ok_or(EdgeError::Unsatisfiable { len })?;
        if public.head {
            Answer::Head
        } else {
            Answer::Get(range)
        }
    };
    Ok(Ready {
        config,
        cache,
        grant,
        choice,
        answer,
    })
}

async fn grant(
    cache: &KvCache,
    config: &EdgeConfig,
    public: &PublicRequest,
    now: u64,
) -> Result<PublicGrant, EdgeError> {
    if let Some(grant) = kept_grant(cache, &public.item, now) {
        return Ok(grant);
    }
    let ask = PublicGrantRequest {
        item: public.item.clone(),
    };
    let body = serde_json::to_vec(&ask).expect("plain struct serializes");
    let request =
        |base: &str| edge_request(config, base, Method::Post, "/v1/edge/public", body.clone());
    let (status, body) = call(config, "public", request).await?;
    let grant = public_grant_from(status, &body, &public.item)?;
    keep_grant(cache, &grant);
    Ok(grant)
}

async fn get(ready: &Ready, range: Range<u64>, out: ResponseOutparam) {
    let (cache, grant) = (&ready.cache, &ready.grant);
    let info = &grant.object;
    if range.start == 0 {
        // A view starts: one access for the other zone's eviction policy.
        record_access(cache, Zone::Other, info, now());
    }
    let origin = SpinOrigin {
        timeouts: ready.config.timeouts,
    };
    let store = Admit::new(
        Zone::Other,
        ready.config.budgets.other,
        &info.item,
        info.version,
    );
    let loaded = match load_meta(cache, &origin, info, &grant.sources, true).await {
        Ok(loaded) => loaded,
        Err(e) => return send_error(out, &EdgeError::SourcesFailed(e.to_string())).await,
    };
    let opener = content_key(grant).and_then(|key| {
        Opener::new(&key, loaded.meta.header.clone(), loaded.meta.trailer())
            .map_err(|e| EdgeError::MainFailed(format!("opening {}: {e}", info.item)))
    });
    let opener = match opener {
        Ok(opener) => opener,
        Err(e) => return send_error(out, &e).await,
    };
    let layout = loaded.meta.layout();
    let wanted = plain_pieces(&layout, range);
    let sealed = match (wanted.first(), wanted.last()) {
        (Some((first, _)), Some((last, _))) => {
            layout.sealed_chunk_range(*first).start..layout.sealed_chunk_range(*last).end
        }
        _ => 0..0,
    };
    let filler = ChunkFiller::new(
        cache,
        &origin,
        &loaded.meta,
        info,
        &grant.sources,
        Some(store),
    )
    .collapsing(&SystemClock)
    .parallel(ready.config.parallel_gets);
    let mut body = BodyPieces::new(filler, &loaded.meta, sealed);
    let hit = loaded.was_cached && body.all_cached();
    let head = match public_head(grant, &ready.choice, hit) {
        Ok(head) => head,
        Err(e) => return send_error(out, &e).await,
    };
    let mut pieces = wanted.into_iter();
    // The first chunk is opened before the status goes out: a fill nobody can serve is a 502.
    let first = match pieces.next() {
        Some((index, within)) => match next_plain(&mut body, &opener, index, within).await {
            Ok(bytes) => bytes,
            Err(e) => return send_error(out, &e).await,
        },
        None => Vec::new(),
    };
    let Some(sink) = start_response(out, head.status, &head.headers) else {
        return crate::log(format_args!("host refused the response head"));
    };
    let mut sink = std::pin::pin!(sink);
    if !write(&mut sink, first).await {
        return;
    }
    for (index, within) in pieces {
        let bytes = match next_plain(&mut body, &opener, index, within).await {
            Ok(bytes) => bytes,
            Err(e) => {
                // Headers are out: dropping the body short makes the host abort the response.
                return crate::log(format_args!("aborting public {}: {e}", info.item));
            }
        };
        if !write(&mut sink, bytes).await {
            return;
        }
    }
}

/// The next sealed chunk of `body` (chunk `index`), opened, bytes `within` of its plaintext.
async fn next_plain<C: Cache, O: crate::Origin>(
    body: &mut BodyPieces<'_, C, O>,
    opener: &Opener,
    index: u64,
    within: Range<usize>,
) -> Result<Vec<u8>, EdgeError> {
    let sealed = match body.next_piece().await {
        Some(Ok(sealed)) => sealed,
        Some(Err(e)) => return Err(EdgeError::SourcesFailed(e.to_string())),
        None => return Err(EdgeError::SourcesFailed("the body ended early".into())),
    };
    let plain = opener
        .open_chunk(index, &sealed)
        .map_err(|e| EdgeError::SourcesFailed(format!("chunk {index}: {e}")))?;
    Ok(plain[within].to_vec())
}
