//! Signed documents: download tokens (checked by every edge on every request), licences (read by
//! the player) and the manifest (read by every edge's prefill).
//!
//! Input: a mode byte, then the document. Mode bit 0 clear: the rest is the compact JWS itself,
//! as a client or main hands it over — header, base64 and signature parsing. Bit 0 set: the rest
//! is the claims payload, which the body signs with its own key (that the verifier trusts) so that
//! the claims parsers and checks behind the signature see arbitrary bytes too.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use protocol::{DownloadToken, ItemId, Jwks, Licence, Manifest, Signer, Verifier};

use crate::mode;

/// The unix second every document is checked at.
pub const NOW: u64 = 1_800_000_000;
/// The key id of the body's signing key.
const KID: &str = "fuzz";

struct Keys {
    signer: Signer,
    pair: ed25519_compact::KeyPair,
    jwks: Jwks,
    verifier: Verifier,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        // A fixed key, so that a corpus file means the same in every run.
        let pair = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([7; 32]));
        let signer = Signer::from_bytes(KID, pair.as_ref()).expect("a valid key pair");
        Keys {
            jwks: signer.jwks(),
            verifier: signer.verifier(),
            signer,
            pair,
        }
    })
}

/// The document to verify: the input as a string, or the input signed as a claims payload.
fn document(data: &[u8]) -> String {
    let (m, rest) = mode(data);
    if m & 1 == 0 {
        return String::from_utf8_lossy(rest).into_owned();
    }
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"EdDSA","typ":"JWT","kid":"{KID}"}}"#));
    let signed_part = format!("{header}.{}", URL_SAFE_NO_PAD.encode(rest));
    let signature = keys().pair.sk.sign(signed_part.as_bytes(), None);
    format!(
        "{signed_part}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_ref())
    )
}

/// A download token as an edge checks it (`edge_fn::keys`), and as main reads it back.
pub fn token(data: &[u8]) {
    let token = document(data);
    let keys = keys();
    let film = ItemId::parse("film").expect("valid id");
    let _ = edge_fn::keys::token_kid(&token);
    let at_edge = edge_fn::keys::check_token(&keys.jwks, &token, &film, NOW);
    let any_item = DownloadToken::verify(&keys.verifier, &token, None, NOW);
    if let Ok(t) = &at_edge {
        assert_eq!(t.item, film);
        assert_eq!(any_item.as_ref(), Ok(t), "the edge and main agree");
    }
    if let Ok(t) = any_item {
        // What verifies, signed again, verifies to the same token.
        let again = t.sign(&keys.signer).expect("a verified token signs");
        assert_eq!(
            DownloadToken::verify(&keys.verifier, &again, None, NOW),
            Ok(t)
        );
    }
}

/// A licence as the player reads it: verified, then its key unwrapped for a device.
pub fn licence(data: &[u8]) {
    let signed = document(data);
    let keys = keys();
    let Ok(licence) = Licence::verify(&keys.verifier, &signed, NOW) else {
        return;
    };
    let _ = licence.key_for(&licence.device_id, &licence.player_id, &[9; 32], NOW);
    let _ = licence.key_for("another device", &licence.player_id, &[9; 32], NOW);
    let again = licence
        .sign(&keys.signer, NOW, NOW + 3600)
        .expect("a verified licence signs");
    assert_eq!(Licence::verify(&keys.verifier, &again, NOW), Ok(licence));
}

/// The manifest as an edge's prefill reads it: from main's answer (mode bit 1) or as the signed
/// document, then the items pinned to a region.
pub fn manifest(data: &[u8]) {
    let (m, rest) = mode(data);
    let keys = keys();
    let signed = if m & 2 != 0 {
        match edge_fn::prefill::signed_manifest(rest) {
            Ok(s) => s,
            Err(_) => return,
        }
    } else {
        document(data)
    };
    let Ok(manifest) = edge_fn::prefill::verify_manifest(&signed, &keys.jwks, NOW) else {
        return;
    };
    for region in ["eu", "us", ""] {
        for item in edge_fn::prefill::pinned(&manifest, region) {
            assert!(item.regions.is_empty() || item.regions.iter().any(|r| r == region));
        }
    }
    let again = manifest
        .sign(&keys.signer, NOW, 3600)
        .expect("a verified manifest signs");
    assert_eq!(Manifest::verify(&keys.verifier, &again, NOW), Ok(manifest));
}
