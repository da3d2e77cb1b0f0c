//! Download tokens: the signed part of a download URL (`/v1/content/ITEM?token=JWT`).
//!
//! Claims: `jti` token id, `sub` recipient account, `iat`/`exp`, and custom `item` and `max_uses`.
//! An edge checks the signature and the item locally before it asks main, which checks the rest
//! (purchase, region, uses).

use serde::{Deserialize, Serialize};

use crate::ids::ItemId;
use crate::sign::{Audience, Envelope, SignError, Signer, Verified, Verifier};

/// Default number of download sessions a token allows.
pub const DEFAULT_MAX_USES: u32 = 3;

/// A download token's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadToken {
    pub token_id: String,
    pub item: ItemId,
    pub recipient: String,
    pub issued_at: u64,
    pub expires_at: u64,
    pub max_uses: u32,
}

#[derive(Serialize, Deserialize)]
struct DownloadClaims {
    item: ItemId,
    max_uses: u32,
}

/// Why a token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the download token is expired; ask for a new download link")]
    Expired,
    #[error("the download token is not valid: {0}")]
    Invalid(String),
    #[error("the download token is for another item")]
    WrongItem,
}

impl From<SignError> for TokenError {
    fn from(e: SignError) -> Self {
        match e {
            SignError::Expired => TokenError::Expired,
            other => TokenError::Invalid(other.to_string()),
        }
    }
}

impl DownloadToken {
    /// Signs this token.
    pub fn sign(&self, signer: &Signer) -> Result<String, SignError> {
        let envelope = Envelope {
            audience: Audience::Download,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            subject: Some(self.recipient.clone()),
            id: Some(self.token_id.clone()),
        };
        signer.sign(
            &envelope,
            DownloadClaims {
                item: self.item.clone(),
                max_uses: self.max_uses,
            },
        )
    }

    /// Verifies `token` at unix second `now` and, when `item` is given, that it names that item.
    pub fn verify(
        verifier: &Verifier,
        token: &str,
        item: Option<&ItemId>,
        now: u64,
    ) -> Result<Self, TokenError> {
        Self::checked(
            verifier.verify::<DownloadClaims>(Audience::Download, token, now)?,
            item,
        )
    }

    /// Reads `token` **without checking its signature**, then its times at unix second `now`
    /// and, when `item` is given, its item. Only for main, once the token matched the
    /// [`crate::sign::digest`] kept in the record of the token it issued: that comparison is
    /// what makes it authentic (the edge has checked the signature before it asked).
    pub fn read_issued(token: &str, item: Option<&ItemId>, now: u64) -> Result<Self, TokenError> {
        Self::checked(
            crate::sign::read_authenticated::<DownloadClaims>(Audience::Download, token, now)?,
            item,
        )
    }

    /// The id a token claims (unverified): which record to compare it with.
    pub fn claimed_id(token: &str) -> Option<String> {
        crate::sign::claimed_id(token)
    }

    fn checked(v: Verified<DownloadClaims>, item: Option<&ItemId>) -> Result<Self, TokenError> {
        let (Some(token_id), Some(recipient)) = (v.id, v.subject) else {
            return Err(TokenError::Invalid("missing jti or sub".into()));
        };
        if item.is_some_and(|i| *i != v.claims.item) {
            return Err(TokenError::WrongItem);
        }
        Ok(Self {
            token_id,
            item: v.claims.item,
            recipient,
            issued_at: v.issued_at,
            expires_at: v.expires_at,
            max_uses: v.claims.max_uses,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(now: u64) -> DownloadToken {
        DownloadToken {
            token_id: "t1".into(),
            item: ItemId::parse("film").unwrap(),
            recipient: "acct-1".into(),
            issued_at: now,
            expires_at: now + 3600,
            max_uses: 3,
        }
    }

    #[test]
    fn round_trip_and_refusals() {
        let signer = Signer::generate("k1");
        let now = 1_800_000_000;
        let t = token(now);
        let jwt = t.sign(&signer).unwrap();
        let v = signer.verifier();
        assert_eq!(
            DownloadToken::verify(&v, &jwt, Some(&t.item), now + 10).unwrap(),
            t
        );
        let other = ItemId::parse("other").unwrap();
        assert_eq!(
            DownloadToken::verify(&v, &jwt, Some(&other), now),
            Err(TokenError::WrongItem)
        );
        assert_eq!(
            DownloadToken::verify(&v, &jwt, None, now + 7200),
            Err(TokenError::Expired)
        );
        // Flip one character of the signature.
        let mut tampered = jwt.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(matches!(
            DownloadToken::verify(&v, &tampered, None, now),
            Err(TokenError::Invalid(_))
        ));
        // A key main never had.
        let stranger = Signer::generate("k1");
        assert!(DownloadToken::verify(&stranger.verifier(), &jwt, None, now).is_err());
    }

    #[test]
    fn reading_an_issued_token_checks_what_verify_checks_but_the_signature() {
        let signer = Signer::generate("k1");
        let now = 1_800_000_000;
        let t = token(now);
        let jwt = t.sign(&signer).unwrap();
        let v = signer.verifier();
        assert_eq!(DownloadToken::claimed_id(&jwt).as_deref(), Some("t1"));
        // The same answers as verify at every time around the validity, tolerance included.
        for at in [now - 31, now - 30, now, now + 3600, now + 3630, now + 3631] {
            // The same outcome; an invalid token's wording may differ.
            let kind = |r: Result<DownloadToken, TokenError>| {
                r.map_err(|e| match e {
                    TokenError::Invalid(_) => TokenError::Invalid(String::new()),
                    other => other,
                })
            };
            assert_eq!(
                kind(DownloadToken::read_issued(&jwt, Some(&t.item), at)),
                kind(DownloadToken::verify(&v, &jwt, Some(&t.item), at)),
                "at {at}"
            );
        }
        let other = ItemId::parse("other").unwrap();
        assert_eq!(
            DownloadToken::read_issued(&jwt, Some(&other), now),
            Err(TokenError::WrongItem)
        );
        // Another kind of document is not a token, signed or not.
        let licence_like = {
            let envelope = Envelope {
                audience: Audience::Licence,
                issued_at: now,
                expires_at: now + 60,
                subject: Some("acct-1".into()),
                id: Some("t1".into()),
            };
            signer
                .sign(
                    &envelope,
                    serde_json::json!({"item": "film", "max_uses": 3}),
                )
                .unwrap()
        };
        assert!(matches!(
            DownloadToken::read_issued(&licence_like, None, now),
            Err(TokenError::Invalid(_))
        ));
        for garbage in ["", "a.b", "a.b.c.d", "x.!!!.y", &"a".repeat(70_000)] {
            assert!(DownloadToken::read_issued(garbage, None, now).is_err());
            assert_eq!(DownloadToken::claimed_id(garbage), None);
        }
        assert_ne!(
            crate::sign::digest(&jwt),
            crate::sign::digest(&format!("{jwt}x"))
        );
    }
}
