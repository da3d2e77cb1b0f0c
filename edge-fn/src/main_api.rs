//! Main's answers to the edge's calls, interpreted: a grant or a denial to pass on, fill
//! sources, the JWKS. The calls themselves are made by the Spin glue; a transport failure there is
//! [`EdgeError::MainUnreachable`].

use protocol::{Denial, FillSources, Grant, ItemId, Jwks};
use serde::de::DeserializeOwned;

use crate::meta::layout_of;
use crate::reply::EdgeError;

fn parse<T: DeserializeOwned>(what: &str, body: &[u8]) -> Result<T, EdgeError> {
    serde_json::from_slice(body).map_err(|e| EdgeError::MainFailed(format!("{what}: {e}")))
}

/// `POST /v1/edge/authorize` answered `status` with `body`: a grant for `item`, or a denial to
/// pass on to the client with main's status.
pub fn grant_from(status: u16, body: &[u8], item: &ItemId) -> Result<Grant, EdgeError> {
    match status {
        200 => {
            let grant: Grant = parse("grant", body)?;
            if grant.object.item != *item {
                return Err(EdgeError::MainFailed(format!(
                    "grant for {} when {item} was asked",
                    grant.object.item
                )));
            }
            layout_of(&grant.object).map_err(|e| EdgeError::MainFailed(e.to_string()))?;
            Ok(grant)
        }
        400..=499 => match serde_json::from_slice::<Denial>(body) {
            Ok(denial) => Err(EdgeError::Denied { status, denial }),
            Err(e) => Err(EdgeError::MainFailed(format!("authorize {status}: {e}"))),
        },
        _ => Err(EdgeError::MainFailed(format!(
            "authorize answered {status}"
        ))),
    }
}

/// `POST /v1/edge/fill-sources` answered `status` with `body`.
pub fn fill_sources_from(status: u16, body: &[u8]) -> Result<FillSources, EdgeError> {
    if status != 200 {
        return Err(EdgeError::MainFailed(format!(
            "fill-sources answered {status}"
        )));
    }
    let fill: FillSources = parse("fill sources", body)?;
    layout_of(&fill.object).map_err(|e| EdgeError::MainFailed(e.to_string()))?;
    Ok(fill)
}

/// `GET /.well-known/jwks.json` answered `status` with `body`.
pub fn jwks_from(status: u16, body: &[u8]) -> Result<Jwks, EdgeError> {
    if status != 200 {
        return Err(EdgeError::MainFailed(format!("jwks answered {status}")));
    }
    let jwks: Jwks = parse("jwks", body)?;
    protocol::Verifier::from_jwks(&jwks).map_err(|e| EdgeError::MainFailed(e.to_string()))?;
    Ok(jwks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestObject;
    use protocol::{DenialReason, Signer};

    fn grant(o: &TestObject) -> Vec<u8> {
        serde_json::to_vec(&Grant {
            session_id: "s".into(),
            new_session: true,
            uses_left: 2,
            object: o.info.clone(),
            sources: vec![],
            expires_at: 0,
        })
        .unwrap()
    }

    #[test]
    fn grants_denials_and_failures() {
        let o = TestObject::new("film", 5000);
        let film = o.info.item.clone();
        assert_eq!(grant_from(200, &grant(&o), &film).unwrap().uses_left, 2);
        let other = ItemId::parse("other").unwrap();
        assert!(matches!(
            grant_from(200, &grant(&o), &other),
            Err(EdgeError::MainFailed(_))
        ));
        let denial =
            serde_json::to_vec(&Denial::new(DenialReason::RegionDenied, "not here")).unwrap();
        match grant_from(403, &denial, &film) {
            Err(EdgeError::Denied {
                status: 403,
                denial,
            }) => {
                assert_eq!(denial.reason, DenialReason::RegionDenied)
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            grant_from(404, b"<html>", &film),
            Err(EdgeError::MainFailed(_))
        ));
        assert!(matches!(
            grant_from(500, b"", &film),
            Err(EdgeError::MainFailed(_))
        ));
    }

    #[test]
    fn jwks_and_fill_sources() {
        let jwks = serde_json::to_vec(&Signer::generate("k").jwks()).unwrap();
        assert!(jwks_from(200, &jwks).is_ok());
        assert!(jwks_from(200, br#"{"keys":[]}"#).is_err());
        assert!(jwks_from(503, &jwks).is_err());
        let o = TestObject::new("film", 5000);
        let fill = FillSources {
            object: o.info.clone(),
            sources: vec![],
            expires_at: 1,
        };
        assert_eq!(
            fill_sources_from(200, &serde_json::to_vec(&fill).unwrap()).unwrap(),
            fill
        );
        assert!(fill_sources_from(401, b"{}").is_err());
    }
}
