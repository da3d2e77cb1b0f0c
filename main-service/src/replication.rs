//! How far each parent store is behind, as the console shows it: the newest objects main
//! published (the [`NEWEST`] latest item versions) looked up on every parent (`HEAD`, in
//! parallel, each parent within [`CHECK_SECS`]). A parent is in sync when it holds all of them
//! at their full length; otherwise its lag is the age of the oldest one it lacks — how long
//! replication has kept a new object from it. Main does not replicate (parent-sync does), so
//! this is what an operator can see from main's side. The newest objects come from the catalog
//! main keeps in memory (`catalog::Cache`), not from a read of the whole store per look.

use std::time::Duration;

use crate::AppState;

/// How many of the newest objects are looked up.
pub const NEWEST: usize = 20;
/// How long a parent may take to answer all its lookups.
pub const CHECK_SECS: u64 = 5;

/// One parent's standing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ParentLag {
    pub name: String,
    pub region: String,
    pub primary: bool,
    /// Objects looked up.
    pub checked: usize,
    /// Of those, the ones the parent lacks (or holds at another length).
    pub missing: usize,
    /// Seconds since the oldest missing object was published; `None` when none is missing.
    pub lag_secs: Option<u64>,
    /// Why the parent could not be checked, if it could not.
    pub error: Option<String>,
}

/// The missing count and the lag, from each object's publication time and whether the parent
/// holds it.
pub fn summarize(objects: &[(u64, bool)], now: u64) -> (usize, Option<u64>) {
    let missing: Vec<u64> = objects
        .iter()
        .filter(|(_, held)| !held)
        .map(|(at, _)| *at)
        .collect();
    let lag = missing.iter().min().map(|at| now.saturating_sub(*at));
    (missing.len(), lag)
}

/// Every parent's standing against the newest objects.
pub async fn lag(state: &AppState) -> Result<Vec<ParentLag>, crate::store::StoreError> {
    let now = (state.clock)();
    let catalog = state.catalog.snapshot(state.store.as_ref()).await?;
    let mut items: Vec<&crate::records::ItemRecord> = catalog.items.iter().collect();
    items.sort_by_key(|i| std::cmp::Reverse(i.published_at));
    items.truncate(NEWEST);
    let objects: Vec<(String, u64, u64)> = items
        .iter()
        .map(|i| (i.id.object_key(i.version), i.object_len, i.published_at))
        .collect();
    let checks = state.parents.iter().map(|parent| {
        let objects = &objects;
        async move {
            let lookups =
                futures::future::try_join_all(objects.iter().map(|(key, len, at)| async move {
                    let meta = parent.store.head(key).await?;
                    Ok::<_, parent_sync::StoreError>((*at, meta.is_some_and(|m| m.len == *len)))
                }));
            let answer = tokio::time::timeout(Duration::from_secs(CHECK_SECS), lookups).await;
            let mut out = ParentLag {
                name: parent.config.name.clone(),
                region: parent.config.region.clone(),
                primary: parent.config.primary,
                checked: objects.len(),
                missing: 0,
                lag_secs: None,
                error: None,
            };
            match answer {
                Ok(Ok(held)) => (out.missing, out.lag_secs) = summarize(&held, now),
                Ok(Err(e)) => out.error = Some(e.to_string()),
                Err(_) => out.error = Some(format!("no answer within {CHECK_SECS} s")),
            }
            out
        }
    });
    Ok(futures::future::join_all(checks).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_the_age_of_the_oldest_missing_object() {
        assert_eq!(summarize(&[(100, true), (200, true)], 1000), (0, None));
        assert_eq!(
            summarize(&[(100, true), (300, false), (500, false)], 1000),
            (2, Some(700))
        );
        assert_eq!(summarize(&[], 1000), (0, None));
    }
}
