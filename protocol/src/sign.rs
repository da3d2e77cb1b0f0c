//! Ed25519 signatures over JSON documents, as compact JWS (JWT) with a key id.
//!
//! Main holds a [`Signer`]; edges, players and tests hold a [`Verifier`] built from main's JWKS.
//! Every document type has its own audience ([`Audience`]) so that a licence can never be
//! presented as a download token, or a token as a manifest.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_simple::prelude::{
    Audiences, Clock, Duration, Ed25519KeyPair, Ed25519PublicKey, EdDSAKeyPairLike,
    EdDSAPublicKeyLike, JWTClaims, Token, VerificationOptions,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Clock drift tolerated when checking `exp`/`nbf`.
const TIME_TOLERANCE_SECS: u64 = 30;
/// Longest token accepted before any parsing.
const MAX_TOKEN_LEN: usize = 64 * 1024;

/// The kind of signed document, carried in the `aud` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Download,
    Licence,
    Manifest,
}

impl Audience {
    fn as_str(self) -> &'static str {
        match self {
            Audience::Download => "cdn:download",
            Audience::Licence => "cdn:licence",
            Audience::Manifest => "cdn:manifest",
        }
    }
}

/// Why a signed document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("signature key is unknown (kid {0:?})")]
    UnknownKey(Option<String>),
    #[error("document is expired")]
    Expired,
    #[error("document is invalid: {0}")]
    Invalid(String),
    #[error("bad key material: {0}")]
    BadKey(String),
}

/// Timing and identity of a document to sign.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub audience: Audience,
    /// Unix seconds the document is issued at (and valid from).
    pub issued_at: u64,
    /// Unix seconds after which it is refused.
    pub expires_at: u64,
    pub subject: Option<String>,
    pub id: Option<String>,
}

/// A verified document: the custom claims and the standard ones.
#[derive(Debug, Clone)]
pub struct Verified<C> {
    pub claims: C,
    pub subject: Option<String>,
    pub id: Option<String>,
    pub issued_at: u64,
    pub expires_at: u64,
}

/// Main's signing key.
pub struct Signer {
    key: Ed25519KeyPair,
    kid: String,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A fresh random key with the given key id.
    pub fn generate(kid: &str) -> Self {
        Self {
            key: Ed25519KeyPair::generate().with_key_id(kid),
            kid: kid.to_owned(),
        }
    }

    /// A key from its 64-byte secret form (as returned by [`Signer::to_bytes`]).
    pub fn from_bytes(kid: &str, raw: &[u8]) -> Result<Self, SignError> {
        let key = Ed25519KeyPair::from_bytes(raw).map_err(|e| SignError::BadKey(e.to_string()))?;
        Ok(Self {
            key: key.with_key_id(kid),
            kid: kid.to_owned(),
        })
    }

    /// The same key under another key id.
    pub fn with_kid(self, kid: &str) -> Self {
        Self {
            key: self.key.with_key_id(kid),
            kid: kid.to_owned(),
        }
    }

    /// The secret key bytes, for storage.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.key.to_bytes()
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half, as a JWK set with one key.
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: vec![Jwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                kid: self.kid.clone(),
                x: URL_SAFE_NO_PAD.encode(self.key.public_key().to_bytes()),
            }],
        }
    }

    /// A verifier for this key alone.
    pub fn verifier(&self) -> Verifier {
        Verifier::from_jwks(&self.jwks()).expect("own key is valid")
    }

    /// Signs `claims` in `envelope`.
    pub fn sign<C: Serialize>(&self, envelope: &Envelope, claims: C) -> Result<String, SignError> {
        let mut jwt: JWTClaims<C> =
            jwt_simple::prelude::Claims::with_custom_claims(claims, Duration::from_secs(1))
                .with_audience(envelope.audience.as_str());
        jwt.issued_at = Some(Duration::from_secs(envelope.issued_at));
        jwt.invalid_before = Some(Duration::from_secs(envelope.issued_at));
        jwt.expires_at = Some(Duration::from_secs(envelope.expires_at));
        jwt.subject = envelope.subject.clone();
        jwt.jwt_id = envelope.id.clone();
        self.key
            .sign(jwt)
            .map_err(|e| SignError::Invalid(e.to_string()))
    }
}

/// One public key in JWK form (RFC 8037 OKP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub kid: String,
    pub x: String,
}

/// A JWK set, as served at `/.well-known/jwks.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// Verifies documents signed by any key of a JWK set.
#[derive(Clone)]
pub struct Verifier {
    keys: BTreeMap<String, Ed25519PublicKey>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Verifier {
    /// Builds a verifier from the Ed25519 keys of a JWK set (other key types are ignored).
    pub fn from_jwks(jwks: &Jwks) -> Result<Self, SignError> {
        let mut keys = BTreeMap::new();
        for k in jwks
            .keys
            .iter()
            .filter(|k| k.kty == "OKP" && k.crv == "Ed25519")
        {
            let raw = URL_SAFE_NO_PAD
                .decode(&k.x)
                .map_err(|e| SignError::BadKey(e.to_string()))?;
            let pk =
                Ed25519PublicKey::from_bytes(&raw).map_err(|e| SignError::BadKey(e.to_string()))?;
            keys.insert(k.kid.clone(), pk.with_key_id(&k.kid));
        }
        if keys.is_empty() {
            return Err(SignError::BadKey("no Ed25519 key in the JWK set".into()));
        }
        Ok(Self { keys })
    }

    /// Whether this verifier knows key `kid`.
    pub fn knows(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// The key id a token claims to be signed with (unverified).
    pub fn token_kid(token: &str) -> Option<String> {
        Token::decode_metadata(token)
            .ok()
            .and_then(|m| m.key_id().map(str::to_owned))
    }

    /// Checks signature, audience and times (at unix second `now`) and returns the claims. A
    /// document without `iat` or `exp` is invalid.
    pub fn verify<C: Serialize + DeserializeOwned>(
        &self,
        audience: Audience,
        token: &str,
        now: u64,
    ) -> Result<Verified<C>, SignError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(SignError::Invalid("too long".into()));
        }
        let kid = Self::token_kid(token);
        let key = kid
            .as_deref()
            .and_then(|k| self.keys.get(k))
            .ok_or(SignError::UnknownKey(kid))?;
        let options = VerificationOptions {
            allowed_audiences: Some(HashSet::from([audience.as_str().to_owned()])),
            time_tolerance: Some(Duration::from_secs(TIME_TOLERANCE_SECS)),
            artificial_time: Some(Duration::from_secs(now)),
            max_validity: None,
            ..Default::default()
        };
        let claims = key.verify_token::<C>(token, Some(options)).map_err(|e| {
            let text = e.to_string();
            if text.contains("expired") {
                SignError::Expired
            } else {
                SignError::Invalid(text)
            }
        })?;
        // Every document main signs has both; one without `exp` would never expire.
        let (Some(issued_at), Some(expires_at)) = (claims.issued_at, claims.expires_at) else {
            return Err(SignError::Invalid("iat or exp is missing".into()));
        };
        Ok(Verified {
            claims: claims.custom,
            subject: claims.subject,
            id: claims.jwt_id,
            issued_at: issued_at.as_secs(),
            expires_at: expires_at.as_secs(),
        })
    }
}

/// Reads a document's claims **without checking its signature**, then checks its audience and
/// times as [`Verifier::verify`] does. Only for a holder that knows the document is authentic by
/// other means — main, which finds the [`digest`] of a download token it issued in the token's
/// record — never for a document that came from anyone else.
pub fn read_authenticated<C: DeserializeOwned>(
    audience: Audience,
    token: &str,
    now: u64,
) -> Result<Verified<C>, SignError> {
    let claims: JWTClaims<C> = unverified_claims(token)?;
    let audience_ok = match &claims.audiences {
        Some(Audiences::AsString(a)) => a == audience.as_str(),
        Some(Audiences::AsSet(set)) => set.contains(audience.as_str()),
        None => false,
    };
    if !audience_ok {
        return Err(SignError::Invalid("wrong audience".into()));
    }
    let (Some(issued_at), Some(expires_at)) = (claims.issued_at, claims.expires_at) else {
        return Err(SignError::Invalid("iat or exp is missing".into()));
    };
    let (issued_at, expires_at) = (issued_at.as_secs(), expires_at.as_secs());
    if issued_at > now + TIME_TOLERANCE_SECS
        || claims
            .invalid_before
            .is_some_and(|nbf| nbf.as_secs() > now + TIME_TOLERANCE_SECS)
    {
        return Err(SignError::Invalid("not valid yet".into()));
    }
    if now.saturating_sub(TIME_TOLERANCE_SECS) > expires_at {
        return Err(SignError::Expired);
    }
    Ok(Verified {
        claims: claims.custom,
        subject: claims.subject,
        id: claims.jwt_id,
        issued_at,
        expires_at,
    })
}

/// The `jti` a document claims (unverified): which record to look up before comparing digests.
pub fn claimed_id(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Id {
        jti: Option<String>,
    }
    unverified_claims::<Id>(token).ok().and_then(|c| c.jti)
}

/// A compact JWS's payload, parsed, nothing checked.
fn unverified_claims<C: DeserializeOwned>(token: &str) -> Result<C, SignError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(SignError::Invalid("too long".into()));
    }
    let mut parts = token.split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SignError::Invalid("not a compact JWS".into()));
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|e| SignError::Invalid(format!("payload: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| SignError::Invalid(format!("claims: {e}")))
}

/// The digest a holder keeps of a document it issued, to recognise it later by comparison
/// ([`read_authenticated`]): BLAKE3 of the compact text.
pub fn digest(token: &str) -> blake3::Hash {
    blake3::hash(token.as_bytes())
}

/// The current unix time in seconds.
pub fn unix_now() -> u64 {
    Clock::now_since_epoch().as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_without_an_expiry_is_refused() {
        let signer = Signer::generate("k1");
        let mut claims = jwt_simple::prelude::Claims::with_custom_claims(
            serde_json::json!({"item": "film", "max_uses": 3}),
            Duration::from_secs(60),
        )
        .with_audience(Audience::Download.as_str());
        claims.expires_at = None;
        let token = signer.key.sign(claims).unwrap();
        assert_eq!(
            signer
                .verifier()
                .verify::<serde_json::Value>(Audience::Download, &token, unix_now())
                .unwrap_err(),
            SignError::Invalid("iat or exp is missing".into())
        );
    }
}
