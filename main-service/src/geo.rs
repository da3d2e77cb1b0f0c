//! Geofiltering: client IP → country (overrides first, then the offline RIR database) → region.

use std::net::IpAddr;

use crate::config::{GeoOverride, RegionConfig};

/// Country and region lookups.
#[derive(Debug, Clone)]
pub struct Geo {
    overrides: Vec<GeoOverride>,
    regions: Vec<RegionConfig>,
}

impl Geo {
    /// Builds the lookup; more specific overrides win.
    pub fn new(mut overrides: Vec<GeoOverride>, regions: Vec<RegionConfig>) -> Self {
        overrides.sort_by_key(|o| std::cmp::Reverse(o.cidr.prefix_len()));
        Self { overrides, regions }
    }

    /// The ISO country code of `ip`, if known.
    pub fn country_of(&self, ip: IpAddr) -> Option<String> {
        self.overrides
            .iter()
            .find(|o| o.cidr.contains(&ip))
            .map(|o| o.country.clone())
            .or_else(|| iptocc::country_code(ip).map(str::to_owned))
    }

    /// The delivery region serving `country`, if any.
    pub fn region_of(&self, country: &str) -> Option<&str> {
        self.regions
            .iter()
            .find(|r| r.countries.iter().any(|c| c == country))
            .map(|r| r.name.as_str())
    }

    /// Whether a client at `ip` may receive an item restricted to `regions` (empty = everywhere),
    /// and the client's region.
    pub fn allows(&self, ip: IpAddr, regions: &[String]) -> (bool, Option<String>) {
        let region = self
            .country_of(ip)
            .and_then(|c| self.region_of(&c).map(str::to_owned));
        let allowed = regions.is_empty() || region.as_ref().is_some_and(|r| regions.contains(r));
        (allowed, region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geo() -> Geo {
        Geo::new(
            vec![
                GeoOverride {
                    cidr: "127.0.0.0/8".parse().unwrap(),
                    country: "DE".into(),
                },
                GeoOverride {
                    cidr: "127.0.0.99/32".parse().unwrap(),
                    country: "KP".into(),
                },
            ],
            vec![
                RegionConfig {
                    name: "eu".into(),
                    countries: vec!["DE".into(), "FR".into()],
                },
                RegionConfig {
                    name: "us".into(),
                    countries: vec!["US".into()],
                },
            ],
        )
    }

    #[test]
    fn overrides_then_database() {
        let g = geo();
        assert_eq!(
            g.country_of("127.0.0.1".parse().unwrap()).as_deref(),
            Some("DE")
        );
        assert_eq!(
            g.country_of("127.0.0.99".parse().unwrap()).as_deref(),
            Some("KP")
        );
        // A well-known address from the RIR data.
        assert_eq!(
            g.country_of("8.8.8.8".parse().unwrap()).as_deref(),
            Some("US")
        );
    }

    #[test]
    fn regions_gate_delivery() {
        let g = geo();
        let eu = vec!["eu".to_string()];
        assert_eq!(
            g.allows("127.0.0.1".parse().unwrap(), &eu),
            (true, Some("eu".into()))
        );
        assert!(!g.allows("127.0.0.99".parse().unwrap(), &eu).0);
        assert!(!g.allows("8.8.8.8".parse().unwrap(), &eu).0);
        assert!(g.allows("127.0.0.99".parse().unwrap(), &[]).0);
    }
}
