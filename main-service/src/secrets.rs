//! Main's secrets in the cloud: the signing key, the key-encryption key, the admin token and the
//! edges' credentials, read from AWS Secrets Manager once at cold start and kept in memory for
//! the life of the process. Environment variables name the secrets (Terraform sets them from
//! `terraform/modules/secrets`); where none is set, nothing is read and main keeps its local
//! behaviour (keys generated into `data_dir`, tokens from the file).
//!
//! Errors name the variable and the secret, never a value.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_secretsmanager::error::DisplayErrorContext;

/// Names the secret holding the Ed25519 signing key: 128 hex characters, the 32-byte seed then
/// the 32-byte public key (the content of `signing-key.hex`).
pub const SIGNING_KEY_ENV: &str = "MAIN_SIGNING_KEY_SECRET_ARN";
/// Names the secret holding the key-encryption key: 64 hex characters.
pub const KEY_ENCRYPTION_KEY_ENV: &str = "MAIN_KEY_ENCRYPTION_KEY_SECRET_ARN";
/// Names the secret holding the previous key-encryption key while it is being rotated out
/// (64 hex characters; `main-service rewrap-keys`).
pub const PREVIOUS_KEY_ENCRYPTION_KEY_ENV: &str = "MAIN_PREVIOUS_KEY_ENCRYPTION_KEY_SECRET_ARN";
/// Names the secret holding the admin token (at least 16 characters).
pub const ADMIN_TOKEN_ENV: &str = "MAIN_ADMIN_TOKEN_SECRET_ARN";
/// Names the secret holding a JSON object from edge id to that edge's credential.
pub const EDGE_SECRETS_ENV: &str = "MAIN_EDGE_SECRETS_SECRET_ARN";

/// How long one `GetSecretValue` may take, retries included, before start-up fails.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Which secrets to read: the ARN (or name) in each variable that is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretIds {
    pub signing_key: Option<String>,
    pub key_encryption_key: Option<String>,
    pub previous_key_encryption_key: Option<String>,
    pub admin_token: Option<String>,
    pub edge_secrets: Option<String>,
}

impl SecretIds {
    /// Reads the four variables through `get`; a variable set to nothing is an error (a
    /// half-wired deployment should not quietly fall back to generated keys).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, SecretError> {
        let read = |var: &'static str| match get(var) {
            Some(v) if v.trim().is_empty() => Err(SecretError::EmptyVariable { var }),
            v => Ok(v.map(|v| v.trim().to_owned())),
        };
        Ok(Self {
            signing_key: read(SIGNING_KEY_ENV)?,
            key_encryption_key: read(KEY_ENCRYPTION_KEY_ENV)?,
            previous_key_encryption_key: read(PREVIOUS_KEY_ENCRYPTION_KEY_ENV)?,
            admin_token: read(ADMIN_TOKEN_ENV)?,
            edge_secrets: read(EDGE_SECRETS_ENV)?,
        })
    }

    /// True when no secret is to be read (the local mode).
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// An Ed25519 key pair as main stores it: seed then public key.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyBytes(pub Vec<u8>);

impl std::fmt::Debug for SigningKeyBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKeyBytes(<redacted>)")
    }
}

/// The values read, checked for form. `Debug` shows which are present, never a value.
#[derive(Default)]
pub struct Secrets {
    pub signing_key: Option<SigningKeyBytes>,
    /// 64 hex characters.
    pub key_encryption_key: Option<String>,
    /// 64 hex characters.
    pub previous_key_encryption_key: Option<String>,
    pub admin_token: Option<String>,
    /// Edge id → credential.
    pub edge_secrets: Option<BTreeMap<String, String>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("signing_key", &self.signing_key.is_some())
            .field("key_encryption_key", &self.key_encryption_key.is_some())
            .field(
                "previous_key_encryption_key",
                &self.previous_key_encryption_key.is_some(),
            )
            .field("admin_token", &self.admin_token.is_some())
            .field(
                "edge_secrets",
                &self
                    .edge_secrets
                    .as_ref()
                    .map(|m| m.keys().collect::<Vec<_>>()),
            )
            .finish()
    }
}

/// Why the secrets could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{var} is set but empty")]
    EmptyVariable { var: &'static str },
    #[error("{var}: cannot read secret {id}: {message}")]
    Read {
        var: &'static str,
        id: String,
        message: String,
    },
    #[error("{var}: secret {id} has no text value (SecretString); put one with put-secret-value")]
    NoText { var: &'static str, id: String },
    #[error("{var}: the value of secret {id} {problem}")]
    Malformed {
        var: &'static str,
        id: String,
        problem: String,
    },
}

/// Reads every secret `ids` names, at once, and checks each value's form.
pub async fn load(
    client: &aws_sdk_secretsmanager::Client,
    ids: &SecretIds,
) -> Result<Secrets, SecretError> {
    let (signing, kek, previous, admin, edges) = tokio::try_join!(
        read(client, SIGNING_KEY_ENV, ids.signing_key.as_deref()),
        read(
            client,
            KEY_ENCRYPTION_KEY_ENV,
            ids.key_encryption_key.as_deref()
        ),
        read(
            client,
            PREVIOUS_KEY_ENCRYPTION_KEY_ENV,
            ids.previous_key_encryption_key.as_deref()
        ),
        read(client, ADMIN_TOKEN_ENV, ids.admin_token.as_deref()),
        read(client, EDGE_SECRETS_ENV, ids.edge_secrets.as_deref()),
    )?;
    let check = |var: &'static str, id: &Option<String>, problem: String| SecretError::Malformed {
        var,
        id: id.clone().unwrap_or_default(),
        problem,
    };
    Ok(Secrets {
        signing_key: signing
            .map(|v| parse_signing_key(&v))
            .transpose()
            .map_err(|p| check(SIGNING_KEY_ENV, &ids.signing_key, p))?,
        key_encryption_key: kek
            .map(|v| parse_key_encryption_key(&v))
            .transpose()
            .map_err(|p| check(KEY_ENCRYPTION_KEY_ENV, &ids.key_encryption_key, p))?,
        previous_key_encryption_key: previous
            .map(|v| parse_key_encryption_key(&v))
            .transpose()
            .map_err(|p| {
                check(
                    PREVIOUS_KEY_ENCRYPTION_KEY_ENV,
                    &ids.previous_key_encryption_key,
                    p,
                )
            })?,
        admin_token: admin
            .map(|v| parse_admin_token(&v))
            .transpose()
            .map_err(|p| check(ADMIN_TOKEN_ENV, &ids.admin_token, p))?,
        edge_secrets: edges
            .map(|v| parse_edge_secrets(&v))
            .transpose()
            .map_err(|p| check(EDGE_SECRETS_ENV, &ids.edge_secrets, p))?,
    })
}

async fn read(
    client: &aws_sdk_secretsmanager::Client,
    var: &'static str,
    id: Option<&str>,
) -> Result<Option<String>, SecretError> {
    let Some(id) = id else { return Ok(None) };
    let call = client.get_secret_value().secret_id(id).send();
    let out = match tokio::time::timeout(READ_TIMEOUT, call).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => {
            return Err(SecretError::Read {
                var,
                id: id.to_owned(),
                message: DisplayErrorContext(e).to_string(),
            });
        }
        Err(_) => {
            return Err(SecretError::Read {
                var,
                id: id.to_owned(),
                message: format!("no answer within {READ_TIMEOUT:?}"),
            });
        }
    };
    match out.secret_string {
        Some(text) => Ok(Some(text)),
        None => Err(SecretError::NoText {
            var,
            id: id.to_owned(),
        }),
    }
}

/// 128 hex characters (surrounding whitespace allowed): seed then public key, which must match.
pub fn parse_signing_key(text: &str) -> Result<SigningKeyBytes, String> {
    let bytes = hex::decode(text.trim())
        .map_err(|_| "is not hex (expected 128 hex characters: seed then public key)".to_owned())?;
    if bytes.len() != 64 {
        return Err(format!(
            "is {} bytes of hex; expected 64 (seed then public key)",
            bytes.len()
        ));
    }
    protocol::Signer::from_bytes("k", &bytes)
        .map_err(|_| "is not an Ed25519 key pair (the public half does not match the seed)")?;
    Ok(SigningKeyBytes(bytes))
}

/// 64 hex characters (surrounding whitespace allowed).
pub fn parse_key_encryption_key(text: &str) -> Result<String, String> {
    let text = text.trim();
    match hex::decode(text) {
        Ok(b) if b.len() == 32 => Ok(text.to_ascii_lowercase()),
        _ => Err("must be 64 hex characters (32 bytes)".into()),
    }
}

/// At least 16 characters once surrounding whitespace is removed.
pub fn parse_admin_token(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.len() < 16 {
        return Err("must be at least 16 characters".into());
    }
    Ok(text.to_owned())
}

/// A JSON object of edge id → credential of at least 16 characters.
pub fn parse_edge_secrets(text: &str) -> Result<BTreeMap<String, String>, String> {
    let map: BTreeMap<String, String> = serde_json::from_str(text).map_err(|e| {
        // serde_json's message quotes no input, only its position.
        format!("is not a JSON object of edge id to credential string ({e})")
    })?;
    if let Some((id, _)) = map.iter().find(|(_, s)| s.len() < 16) {
        return Err(format!(
            "gives edge {id:?} a credential shorter than 16 characters"
        ));
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_read_and_empty_ones_refused() {
        let ids = SecretIds::from_env(|_| None).unwrap();
        assert!(ids.is_empty());
        let ids =
            SecretIds::from_env(|k| (k == ADMIN_TOKEN_ENV).then(|| " arn:x ".into())).unwrap();
        assert_eq!(ids.admin_token.as_deref(), Some("arn:x"));
        assert!(!ids.is_empty());
        let err = SecretIds::from_env(|k| (k == EDGE_SECRETS_ENV).then(String::new)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "MAIN_EDGE_SECRETS_SECRET_ARN is set but empty"
        );
    }

    #[test]
    fn values_are_checked_without_being_repeated() {
        let pair = protocol::Signer::generate("k").to_bytes();
        assert_eq!(
            parse_signing_key(&format!("{}\n", hex::encode(&pair)))
                .unwrap()
                .0,
            pair
        );
        let mut wrong = pair.clone();
        wrong[40] ^= 1;
        for bad in [
            hex::encode(&wrong),
            hex::encode(&pair[..32]),
            "zz".repeat(64),
        ] {
            let e = parse_signing_key(&bad).unwrap_err();
            assert!(!e.contains(&bad), "{e}");
        }
        assert_eq!(
            parse_key_encryption_key(&"AB".repeat(32)).unwrap(),
            "ab".repeat(32)
        );
        parse_key_encryption_key("abcd").unwrap_err();
        assert_eq!(
            parse_admin_token(" admin-token-0123456789\n").unwrap(),
            "admin-token-0123456789"
        );
        parse_admin_token("short").unwrap_err();
        let edges = parse_edge_secrets(r#"{"edge-eu-1": "edge-eu-1-secret-0123456789"}"#).unwrap();
        assert_eq!(edges["edge-eu-1"], "edge-eu-1-secret-0123456789");
        let e = parse_edge_secrets(r#"{"edge-eu-1": "tiny"}"#).unwrap_err();
        assert!(e.contains("edge-eu-1") && !e.contains("tiny"), "{e}");
        let e = parse_edge_secrets("not json at all").unwrap_err();
        assert!(!e.contains("not json"), "{e}");
        parse_edge_secrets(r#"["edge-eu-1"]"#).unwrap_err();
    }

    #[test]
    fn debug_shows_no_value() {
        let s = Secrets {
            signing_key: Some(SigningKeyBytes(vec![7; 64])),
            key_encryption_key: Some("ab".repeat(32)),
            previous_key_encryption_key: Some("cd".repeat(32)),
            admin_token: Some("admin-token-0123456789".into()),
            edge_secrets: Some([("e1".to_owned(), "edge-secret-0123456789".to_owned())].into()),
        };
        let text = format!("{s:?}");
        assert!(
            !text.contains("admin-token")
                && !text.contains("abab")
                && !text.contains("cdcd")
                && !text.contains("edge-secret"),
            "{text}"
        );
        assert!(text.contains("e1"), "{text}");
    }
}
