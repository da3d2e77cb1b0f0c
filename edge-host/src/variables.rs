//! Spin variables (`fermyon:spin/variables@2.0.0`) from the `[variables]` table of the
//! config file.

use crate::bindings::variables::{self, Error};
use std::collections::BTreeMap;

/// The variables the component can read, by name.
#[derive(Debug, Clone, Default)]
pub struct Variables {
    values: BTreeMap<String, String>,
}

impl Variables {
    /// Variables from name → value; fails on the first name Spin would not accept.
    pub fn new(values: BTreeMap<String, String>) -> Result<Self, InvalidVariableName> {
        for name in values.keys() {
            validate_name(name)?;
        }
        Ok(Self { values })
    }

    /// The value of `name`, with Spin's errors: `invalid-name` for a malformed name,
    /// `undefined` for a name the config does not define.
    pub fn get(&self, name: &str) -> Result<String, Error> {
        validate_name(name).map_err(|e| Error::InvalidName(e.to_string()))?;
        self.values
            .get(name)
            .cloned()
            .ok_or_else(|| Error::Undefined(format!("no variable named {name:?}")))
    }
}

/// A variable name that breaks Spin's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid variable name {name:?}: {reason}")]
pub struct InvalidVariableName {
    pub name: String,
    pub reason: &'static str,
}

/// Spin's rules for variable names: lower-case ASCII letters, digits and single
/// underscores, starting with a letter and ending with a letter or digit.
pub fn validate_name(name: &str) -> Result<(), InvalidVariableName> {
    let fail = |reason| {
        Err(InvalidVariableName {
            name: name.to_owned(),
            reason,
        })
    };
    let bytes = name.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return fail("must not be empty");
    };
    if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
    {
        return fail("may contain only lower-case letters, digits and underscores");
    }
    if !first.is_ascii_lowercase() {
        return fail("must start with a lower-case letter");
    }
    if *last == b'_' {
        return fail("must end with a letter or digit");
    }
    if name.contains("__") {
        return fail("must not contain two underscores in a row");
    }
    Ok(())
}

/// The host side of `fermyon:spin/variables` for one request.
#[derive(Debug)]
pub struct VariablesHost<'a>(pub &'a Variables);

/// Marker tying [`VariablesHost`] into `bindgen!`'s `add_to_linker`.
#[derive(Debug)]
pub struct VariablesData;

impl wasmtime::component::HasData for VariablesData {
    type Data<'a> = VariablesHost<'a>;
}

impl variables::Host for VariablesHost<'_> {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, Error>> {
        Ok(self.0.get(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_spin_accepts() {
        for name in ["edge_id", "main_url", "a", "a1", "edge_region_2", "x9y"] {
            assert_eq!(validate_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn names_spin_rejects() {
        for name in [
            "", "Edge_id", "edge-id", "1edge", "_edge", "edge_", "edge__id", "edge id", "é",
        ] {
            assert!(validate_name(name).is_err(), "{name}");
        }
    }

    #[test]
    fn get_maps_to_spin_errors() {
        let vars =
            Variables::new(BTreeMap::from([("edge_id".into(), "edge-eu-1".into())])).unwrap();
        assert_eq!(vars.get("edge_id").unwrap(), "edge-eu-1");
        assert!(matches!(vars.get("main_url"), Err(Error::Undefined(_))));
        assert!(matches!(vars.get("Main-URL"), Err(Error::InvalidName(_))));
    }

    #[test]
    fn config_with_bad_name_is_rejected() {
        let err = Variables::new(BTreeMap::from([("Bad".into(), "x".into())])).unwrap_err();
        assert_eq!(err.name, "Bad");
    }
}
