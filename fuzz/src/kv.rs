//! The key codec of edge-host's key-value store on disk ([`protocol::kv_name`]), with the keys the
//! edge component writes ([`edge_fn::cache`]).

use protocol::ItemId;
use protocol::kv_name::{decode_key, encode_key};

use crate::{mode, take_u64};

/// Input: a mode byte, then text. Mode bit 0 clear: the text is a file name found in the store's
/// directory; a name that decodes is the one name of its key. Bit 0 set: the text is a key (or,
/// with bit 1, an item id with a `u64` chunk index in front), which encodes to a name that is safe
/// as a file name and decodes back.
pub fn kv_key(data: &[u8]) {
    let (m, rest) = mode(data);
    if m & 1 == 0 {
        let name = String::from_utf8_lossy(rest);
        if let Some(key) = decode_key(&name) {
            assert_eq!(encode_key(&key), name, "one name per key");
        }
        return;
    }
    if m & 2 != 0 {
        let (index, rest) = take_u64(rest);
        let Ok(item) = ItemId::parse(&String::from_utf8_lossy(rest)) else {
            return;
        };
        for key in [
            edge_fn::cache::meta_key(&item, index as u32),
            edge_fn::cache::chunk_key(&item, index as u32, index),
            edge_fn::cache::complete_key(&item, index as u32),
        ] {
            round_trip(&key);
        }
        return;
    }
    round_trip(&String::from_utf8_lossy(rest));
}

fn round_trip(key: &str) {
    let name = encode_key(key);
    assert!(!name.is_empty() && !name.starts_with('.'), "{name:?}");
    assert!(!name.contains('/') && name != "..", "{name:?}");
    assert_eq!(decode_key(&name).as_deref(), Some(key));
}
