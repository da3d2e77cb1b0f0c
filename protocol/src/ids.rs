//! Identifiers that travel in URLs, object keys and cache keys.
//!
//! An item id becomes part of an S3 key (`items/{id}/v{version}.sealed`), a key-value key on the
//! edge and a URL path segment, so it is restricted to a small alphabet that cannot express a
//! path trick: lowercase ASCII letters, digits and `-`, 1 to 64 characters, starting with a letter
//! or digit.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// The longest item id, in bytes; the sealed header reserves exactly this much.
pub const MAX_ITEM_ID_LEN: usize = 64;

/// An item id that is safe to use in paths and keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ItemId(String);

/// Why a string is not a valid item id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid item id {id:?}: use 1 to 64 of a-z, 0-9 and '-', starting with a letter or digit")]
pub struct InvalidItemId {
    /// The rejected input, truncated to 80 characters.
    pub id: String,
}

impl ItemId {
    /// Checks `id` against the allowed alphabet and length.
    pub fn parse(id: &str) -> Result<Self, InvalidItemId> {
        let ok = !id.is_empty()
            && id.len() <= MAX_ITEM_ID_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !id.starts_with('-');
        if ok {
            Ok(Self(id.to_owned()))
        } else {
            Err(InvalidItemId {
                id: id.chars().take(80).collect(),
            })
        }
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The parent-store key of version `version` of this item's sealed object.
    pub fn object_key(&self, version: u32) -> String {
        format!("items/{}/v{version}.sealed", self.0)
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ItemId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ItemId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_ids() {
        for id in ["a", "big-buck-bunny", "0day", &"x".repeat(64)] {
            assert!(ItemId::parse(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn rejects_path_tricks_and_odd_characters() {
        for id in [
            "",
            "../etc",
            "a/b",
            "A",
            "-lead",
            "a.b",
            "a b",
            "é",
            &"x".repeat(65),
            "a%2f",
        ] {
            assert!(ItemId::parse(id).is_err(), "{id}");
        }
    }

    #[test]
    fn deserializing_validates() {
        assert!(serde_json::from_str::<ItemId>("\"../x\"").is_err());
        assert_eq!(
            serde_json::from_str::<ItemId>("\"ok-1\"").unwrap().as_str(),
            "ok-1"
        );
    }
}
