//! `GET|HEAD /v1/public/{item}`: a public object, no token. Main's public grant is kept in the
//! store until shortly before it expires; chunks are filled into the other zone, verified, opened
//! with the grant's content key, and the plaintext range is streamed.

use protocol::{Opener, PublicGrant, PublicGrantRequest};
use spin_sdk::http::{IncomingRequest, Method, ResponseOutparam};

use super::io::{KvCache, SpinOrigin, header, send_error, send_head_only, start_response, write};
use super::main_client::{call, config, edge_request, now};
use crate::cache::{Cache, meta_key};
use crate::fill::{ChunkFiller, load_meta};
use crate::lease::SystemClock;
use crate::public::{
    content_key, keep_grant, kept_grant, plain_pieces, public_etag, public_grant_from, public_head,
    public_not_modified,
};
use crate::range::choose;
use crate::reply::{EdgeError, none_match};
use crate::route::PublicRequest;
use crate::serve::BodyPieces;
use crate::zone::{Admit, Zone, record_access};

pub async fn serve(request: &IncomingRequest, public: PublicRequest, out: ResponseOutparam) {
    if let Err(e) = answer(request, &public, out).await {
        // Only reached before the response head went out.
        crate::log(format_args!("public {}: {e}", public.item));
    }
}

async fn grant(
    cache: &KvCache,
    config: &crate::EdgeConfig,
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

async fn answer(
    request: &IncomingRequest,
    public: &PublicRequest,
    out: ResponseOutparam,
) -> Result<(), EdgeError> {
    let prepared = async {
        let config = config()?;
        let cache = KvCache::open()?;
        let grant = grant(&cache, &config, public, now()).await?;
        Ok::<_, EdgeError>((config, cache, grant))
    }
    .await;
    let (config, cache, grant) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            send_error(out, &e).await;
            return Ok(());
        }
    };
    let etag = public_etag(&grant);
    if none_match(header(request, "if-none-match").as_deref(), &etag) {
        send_head_only(out, &public_not_modified(&grant));
        return Ok(());
    }
    let info = &grant.object;
    let choice = choose(
        header(request, "range").as_deref(),
        header(request, "if-range").as_deref(),
        &etag,
        info.plaintext_len,
    );
    let Some(range) = choice.bytes(info.plaintext_len) else {
        send_error(
            out,
            &EdgeError::Unsatisfiable {
                len: info.plaintext_len,
            },
        )
        .await;
        return Ok(());
    };
    if public.head {
        let hit = cache
            .exists(&meta_key(&info.item, info.version))
            .unwrap_or(false);
        return match public_head(&grant, &choice, hit) {
            Ok(head) => {
                send_head_only(out, &head);
                Ok(())
            }
            Err(e) => {
                send_error(out, &e).await;
                Ok(())
            }
        };
    }
    if range.start == 0 {
        // A view starts: one access for the other zone's eviction policy.
        record_access(&cache, Zone::Other, info, now());
    }
    let origin = SpinOrigin {
        timeouts: config.timeouts,
    };
    let store = Some(Admit::new(
        Zone::Other,
        config.budgets.other,
        &info.item,
        info.version,
    ));
    let loaded = match load_meta(&cache, &origin, info, &grant.sources, true).await {
        Ok(loaded) => loaded,
        Err(e) => {
            send_error(out, &EdgeError::SourcesFailed(e.to_string())).await;
            return Ok(());
        }
    };
    let key = content_key(&grant)?;
    let opener = Opener::new(&key, loaded.meta.header.clone(), loaded.meta.trailer())
        .map_err(|e| EdgeError::MainFailed(format!("opening {}: {e}", info.item)))?;
    let layout = loaded.meta.layout();
    let wanted = plain_pieces(&layout, range.clone());
    let filler = ChunkFiller::new(&cache, &origin, &loaded.meta, info, &grant.sources, store)
        .collapsing(&SystemClock)
        .parallel(config.parallel_gets);
    let sealed = match (wanted.first(), wanted.last()) {
        (Some((first, _)), Some((last, _))) => {
            layout.sealed_chunk_range(*first).start..layout.sealed_chunk_range(*last).end
        }
        _ => 0..0,
    };
    let mut body = BodyPieces::new(filler, &loaded.meta, sealed);
    let hit = loaded.was_cached && body.all_cached();
    let head = public_head(&grant, &choice, hit)?;
    let mut pieces = wanted.into_iter();
    // The first chunk is opened before the status goes out: a fill nobody can serve is a 502.
    let first = match pieces.next() {
        Some((index, within)) => match next_plain(&mut body, &opener, index, within).await {
            Ok(bytes) => bytes,
            Err(e) => {
                send_error(out, &e).await;
                return Ok(());
            }
        },
        None => Vec::new(),
    };
    let Some(sink) = start_response(out, head.status, &head.headers) else {
        return Err(EdgeError::Cache("host refused the response head".into()));
    };
    let mut sink = std::pin::pin!(sink);
    if !write(&mut sink, first).await {
        return Ok(());
    }
    for (index, within) in pieces {
        match next_plain(&mut body, &opener, index, within).await {
            Ok(bytes) => {
                if !write(&mut sink, bytes).await {
                    return Ok(());
                }
            }
            Err(e) => {
                // Headers are out: dropping the body short makes the host abort the response.
                crate::log(format_args!("aborting public {}: {e}", info.item));
                return Ok(());
            }
        }
    }
    Ok(())
}

/// The next sealed chunk of `body` (chunk `index`), opened, bytes `within` of its plaintext.
async fn next_plain<C: Cache, O: crate::Origin>(
    body: &mut BodyPieces<'_, C, O>,
    opener: &Opener,
    index: u64,
    within: std::ops::Range<usize>,
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
