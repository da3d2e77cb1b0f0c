//! The catalog as customers and edges see it, and the signed manifest built from it.

use protocol::{Manifest, ManifestItem, ObjectInfo};
use serde::{Deserialize, Serialize};

use crate::records::{ItemRecord, ObjectVersion};

/// An item as the public API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ItemView {
    pub id: String,
    pub title: String,
    pub plaintext_len: u64,
    pub object_len: u64,
    pub chunk_size: u32,
    pub chunk_count: u64,
    pub version: u32,
    pub key_version: u32,
    pub root: String,
    pub level: Option<u8>,
    pub regions: Vec<String>,
    pub price_cents: u64,
    /// A public object (poster, trailer): served by the edges at `/v1/public/{id}`, not rented.
    pub public: bool,
    /// The age rating (the youngest age the item is for); absent when unrated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rating: Option<u8>,
    /// Description, genres, poster and trailer (public objects, at the edges'
    /// `/v1/public/{id}`).
    #[serde(default)]
    pub presentation: crate::records::Presentation,
    /// Unix second the current version was published.
    #[serde(default)]
    pub published_at: u64,
}

impl From<&ItemRecord> for ItemView {
    fn from(r: &ItemRecord) -> Self {
        Self {
            id: r.id.to_string(),
            title: r.title.clone(),
            plaintext_len: r.plaintext_len,
            object_len: r.object_len,
            chunk_size: r.chunk_size,
            chunk_count: r.chunk_count,
            version: r.version,
            key_version: r.key_version,
            root: r.root.clone(),
            level: r.level,
            regions: r.regions.clone(),
            price_cents: r.price_cents,
            public: r.public,
            rating: r.rating,
            presentation: r.presentation.clone(),
            published_at: r.published_at,
        }
    }
}

impl ItemView {
    /// Item `r` as it was at `object`, one of its versions.
    pub fn of_version(r: &ItemRecord, object: &ObjectVersion) -> Self {
        Self {
            plaintext_len: object.plaintext_len,
            object_len: object.object_len,
            chunk_size: object.chunk_size,
            chunk_count: object.chunk_count,
            version: object.version,
            key_version: object.key_version,
            root: object.root.clone(),
            ..Self::from(r)
        }
    }
}

/// The catalog list in memory: read from the store at most once per `ttl` (concurrent requests
/// that find it stale wait for one read), and dropped by this main's own changes ([`forget`]),
/// so that an ingest or edit shows at once here and within `ttl` on other mains.
///
/// [`forget`]: Cache::forget
#[derive(Debug)]
pub struct Cache {
    ttl: std::time::Duration,
    held: std::sync::RwLock<Option<(std::time::Instant, std::sync::Arc<Snapshot>)>>,
    refresh: tokio::sync::Mutex<()>,
    /// Bumped by [`forget`](Cache::forget): a read that began before it is not kept.
    generation: std::sync::atomic::AtomicU64,
}

impl Cache {
    pub fn new(ttl: std::time::Duration) -> Self {
        Self {
            ttl,
            held: Default::default(),
            refresh: Default::default(),
            generation: Default::default(),
        }
    }

    fn fresh(&self) -> Option<std::sync::Arc<Snapshot>> {
        let held = self.held.read().expect("not poisoned");
        held.as_ref()
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, items)| items.clone())
    }

    /// The catalog (public objects included), at most `ttl` old.
    pub async fn snapshot(
        &self,
        store: &dyn crate::store::Store,
    ) -> Result<std::sync::Arc<Snapshot>, crate::store::StoreError> {
        use std::sync::atomic::Ordering;
        if let Some(items) = self.fresh() {
            return Ok(items);
        }
        let _one_read = self.refresh.lock().await;
        if let Some(items) = self.fresh() {
            return Ok(items);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let items = std::sync::Arc::new(Snapshot::new(store.items().await?));
        if self.generation.load(Ordering::SeqCst) == generation {
            *self.held.write().expect("not poisoned") =
                Some((std::time::Instant::now(), items.clone()));
        }
        Ok(items)
    }

    /// Drops the list: the next request reads the store.
    pub fn forget(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        *self.held.write().expect("not poisoned") = None;
    }
}

/// What the catalog is asked for: words of a title, a genre, an order.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CatalogQuery {
    /// Words of the title: an item matches when each word starts a different word of its title
    /// (case-insensitive); titles that start with the whole query come first.
    #[serde(default)]
    pub q: Option<String>,
    /// Only items of this genre.
    #[serde(default)]
    pub genre: Option<String>,
    /// `new`: newest publication first [default: by title].
    #[serde(default)]
    pub sort: Option<String>,
}

/// Lower-case words of `text` (letters and digits).
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether each of `asked` (longest first) starts a word of `title`, a different word each.
fn each_starts_a_word(asked: &[String], title: &[String]) -> bool {
    if title.len() <= 128 {
        let mut used = 0u128;
        asked.iter().all(|a| {
            let free = (0..title.len())
                .find(|&i| used & (1 << i) == 0 && title[i].starts_with(a.as_str()));
            free.inspect(|&i| used |= 1 << i).is_some()
        })
    } else {
        let mut used = vec![false; title.len()];
        asked.iter().all(|a| {
            let free = (0..title.len()).find(|&i| !used[i] && title[i].starts_with(a.as_str()));
            free.inspect(|&i| used[i] = true).is_some()
        })
    }
}

/// An item's title as search reads it: its lower-case words, and those joined by spaces.
#[derive(Debug, Clone)]
pub struct TitleWords {
    words: Vec<String>,
    joined: String,
}

impl TitleWords {
    pub fn of(title: &str) -> Self {
        let words = words(title);
        let joined = words.join(" ");
        Self { words, joined }
    }
}

/// The catalog as searches read it: every item, its title's words, and the genres of the items
/// for rent — built once per read of the store ([`Cache`]), so that a search allocates nothing
/// per item.
#[derive(Debug)]
pub struct Snapshot {
    pub items: Vec<ItemRecord>,
    titles: Vec<TitleWords>,
    /// Every genre of an item for rent, sorted, once each.
    pub genres: Vec<String>,
}

impl Snapshot {
    pub fn new(items: Vec<ItemRecord>) -> Self {
        let titles = items.iter().map(|i| TitleWords::of(&i.title)).collect();
        let mut genres: Vec<String> = items
            .iter()
            .filter(|i| !i.public)
            .flat_map(|i| i.presentation.genres.iter().cloned())
            .collect();
        genres.sort_unstable();
        genres.dedup();
        Self {
            items,
            titles,
            genres,
        }
    }

    /// [`search`] over this snapshot.
    pub fn search(&self, query: &CatalogQuery) -> Vec<&ItemRecord> {
        search_indexed(&self.items, &self.titles, query)
    }
}

/// The items for rent that `query` asks for, in its order. A linear pass over the catalog.
pub fn search<'a>(items: &'a [ItemRecord], query: &CatalogQuery) -> Vec<&'a ItemRecord> {
    let titles: Vec<TitleWords> = items.iter().map(|i| TitleWords::of(&i.title)).collect();
    search_indexed(items, &titles, query)
}

/// [`search`] with each item's title words (`titles[i]` of `items[i]`) already made.
fn search_indexed<'a>(
    items: &'a [ItemRecord],
    titles: &[TitleWords],
    query: &CatalogQuery,
) -> Vec<&'a ItemRecord> {
    let mut asked = query.q.as_deref().map(words).unwrap_or_default();
    let phrase = asked.join(" ");
    // The longest asked words are placed first.
    asked.sort_by_key(|a| std::cmp::Reverse(a.len()));
    let genre = query.genre.as_deref().map(str::to_lowercase);
    let mut found: Vec<(bool, &ItemRecord)> = items
        .iter()
        .zip(titles)
        .filter(|(i, _)| !i.public)
        .filter(|(i, _)| {
            genre
                .as_ref()
                .is_none_or(|g| i.presentation.genres.iter().any(|h| h == g))
        })
        .filter(|(_, title)| each_starts_a_word(&asked, &title.words))
        .map(|(i, title)| (!phrase.is_empty() && title.joined.starts_with(&phrase), i))
        .collect();
    match query.sort.as_deref() {
        Some("new") => found.sort_by(|a, b| {
            b.1.published_at
                .cmp(&a.1.published_at)
                .then_with(|| a.1.title.cmp(&b.1.title))
        }),
        _ => found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.title.cmp(&b.1.title))),
    }
    found.into_iter().map(|(_, i)| i).collect()
}

/// What an edge needs to serve the item's current object.
pub fn object_info(r: &ItemRecord) -> ObjectInfo {
    version_info(r, &r.current())
}

/// What an edge needs to serve `object`, one version of item `r`.
pub fn version_info(r: &ItemRecord, object: &ObjectVersion) -> ObjectInfo {
    ObjectInfo {
        item: r.id.clone(),
        version: object.version,
        object_len: object.object_len,
        chunk_size: object.chunk_size,
        plaintext_len: object.plaintext_len,
        root: object.root.clone(),
    }
}

/// The manifest of all items for rent (public objects are filled on demand, into the edges'
/// other zone); its serial is the latest publication time, so it grows with every ingest.
pub fn manifest(items: &[ItemRecord]) -> Manifest {
    let mut items: Vec<&ItemRecord> = items.iter().filter(|i| !i.public).collect();
    items.sort_by(|a, b| a.id.cmp(&b.id));
    Manifest {
        serial: items.iter().map(|i| i.published_at).max().unwrap_or(0),
        items: items
            .into_iter()
            .map(|r| ManifestItem {
                id: r.id.clone(),
                version: r.version,
                object_len: r.object_len,
                root: r.root.clone(),
                level: r.level,
                regions: r.regions.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, title: &str, genres: &[&str], published_at: u64) -> ItemRecord {
        ItemRecord {
            id: protocol::ItemId::parse(id).unwrap(),
            title: title.into(),
            version: 1,
            key_version: 1,
            plaintext_len: 1,
            object_len: 1,
            chunk_size: 1,
            chunk_count: 1,
            root: String::new(),
            wrapped_content_key: String::new(),
            level: None,
            regions: vec![],
            price_cents: 1,
            published_at,
            public: false,
            policy: Default::default(),
            rating: None,
            presentation: crate::records::Presentation {
                genres: genres.iter().map(|g| (*g).to_owned()).collect(),
                ..Default::default()
            },
            previous: vec![],
        }
    }

    fn ids(found: Vec<&ItemRecord>) -> Vec<&str> {
        found.into_iter().map(|i| i.id.as_str()).collect()
    }

    #[tokio::test]
    async fn the_cached_list_is_read_once_per_ttl_and_dropped_by_a_change() {
        use crate::store::Store;
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::EmbeddedStore::open(&dir.path().join("s.redb")).unwrap();
        store.put_item(item("a", "A", &[], 1)).await.unwrap();
        let held = Cache::new(std::time::Duration::from_secs(3600));
        assert_eq!(held.snapshot(&store).await.unwrap().items.len(), 1);
        store.put_item(item("b", "B", &[], 2)).await.unwrap();
        assert_eq!(
            held.snapshot(&store).await.unwrap().items.len(),
            1,
            "served from memory"
        );
        held.forget();
        assert_eq!(
            held.snapshot(&store).await.unwrap().items.len(),
            2,
            "read again"
        );
        let uncached = Cache::new(std::time::Duration::ZERO);
        assert_eq!(uncached.snapshot(&store).await.unwrap().items.len(), 2);
        store.put_item(item("c", "C", &[], 3)).await.unwrap();
        assert_eq!(uncached.snapshot(&store).await.unwrap().items.len(), 3);
    }

    #[test]
    fn search_matches_word_prefixes_and_ranks_title_starts_first() {
        let items = [
            item("sea", "The Silent Sea", &["drama"], 3),
            item("silence", "Silence", &["drama"], 1),
            item("river", "Silent River", &["documentary"], 2),
            item("poster", "Silent Poster", &[], 9),
        ];
        let mut items = items.to_vec();
        items[3].public = true;
        let q = |q: &str| CatalogQuery {
            q: Some(q.into()),
            ..Default::default()
        };
        // "sil" starts a word of three titles; the public object is never listed.
        assert_eq!(ids(search(&items, &q("sil"))), ["silence", "river", "sea"]);
        assert_eq!(ids(search(&items, &q("silent s"))), ["sea"]);
        assert_eq!(ids(search(&items, &q("SEA the"))), ["sea"]);
        assert!(
            search(&items, &q("ilent")).is_empty(),
            "prefixes, not substrings"
        );
        let drama = CatalogQuery {
            genre: Some("Drama".into()),
            sort: Some("new".into()),
            ..Default::default()
        };
        assert_eq!(ids(search(&items, &drama)), ["sea", "silence"]);
        assert_eq!(
            ids(search(&items, &CatalogQuery::default())),
            ["silence", "river", "sea"],
            "by title"
        );
    }
}
