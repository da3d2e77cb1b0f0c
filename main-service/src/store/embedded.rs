//! The embedded backend: one redb file under the data directory, no server. redb runs one write
//! transaction at a time, so every read-check-write below is atomic.
//!
//! Writes run on one thread of their own (`store-writer`), one transaction after another, and
//! are **group-committed**: each write transaction commits without syncing the file (redb's
//! `Durability::None`); when the thread finds no more jobs queued (or has run [`MAX_BATCH`]), it
//! commits an empty transaction with `Durability::Immediate`, which makes every commit before it
//! durable, and only then answers the batch's callers. A write is answered only once it is
//! durable, but concurrent writers share one `fsync`, and no two writers ever wait on each other
//! for redb's write lock (fresh download sessions: `docs/benchmarks.md`). A transaction committed
//! but not yet synced is visible to readers for that moment; a crash inside it loses the write,
//! as it would have lost a write whose commit had not returned.
//!
//! Reads run on the calling task: redb answers them from its cache in microseconds, and a hop to
//! the blocking pool cost more than the read — on the resumed authorize path, half of main's
//! throughput (`docs/benchmarks.md`). A read that misses the cache waits for the file on the
//! async worker; this backend is for one node and its local disk (DynamoDB is the one for
//! fleets).

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use protocol::Window;
use redb::{Database, ReadableDatabase, ReadableTable, Table, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{BindOutcome, ReactivateOutcome, Reservation, SessionOutcome, Store, StoreError};
use crate::records::{
    Account, Binding, DownloadSession, EdgeStatus, Group, ItemRecord, LicenceRecord, Reactivation,
    Rental, Session, SigningKeyRecord, TokenRecord,
};

/// All records, as JSON under `kind/id` keys.
const DOCS: TableDefinition<&str, &[u8]> = TableDefinition::new("docs");

/// How long a purchase may stay "charging" before its key can be reused.
const PURCHASE_RESERVATION_SECS: u64 = 120;

#[derive(Debug, serde::Serialize, serde::Deserialize)]
enum PurchaseState {
    Pending { since: u64 },
    Done { rental_id: String },
}

/// The embedded store.
#[derive(Debug, Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    writer: Arc<Writer>,
}

/// A write transaction to run on the writer thread; what it hands back is called once the sync
/// after it is done (with the sync's error, if any) and answers the caller.
type Job = Box<dyn FnOnce(&Database) -> Answer + Send>;
/// Answers a job's caller once its transaction is durable (or could not be made so).
type Answer = Box<dyn FnOnce(Option<&str>) + Send>;

/// Most transactions committed before one sync covers them.
const MAX_BATCH: usize = 512;

/// The thread that runs every write transaction, one after another, and syncs the file after
/// each batch of them (module docs).
#[derive(Debug)]
struct Writer {
    jobs: Option<std::sync::mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Syncs made (for tests: fewer than the writes they covered when writers overlap).
    #[cfg_attr(not(test), expect(dead_code, reason = "read by the tests"))]
    syncs: Arc<std::sync::atomic::AtomicU64>,
}

impl Writer {
    fn start(db: Arc<Database>) -> std::io::Result<Self> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let syncs = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = syncs.clone();
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || {
                while let Ok(first) = queue.recv() {
                    let mut answers = vec![first(&db)];
                    while answers.len() < MAX_BATCH {
                        match queue.try_recv() {
                            Ok(job) => answers.push(job(&db)),
                            Err(_) => break,
                        }
                    }
                    // An empty transaction committed durably makes every commit before it
                    // durable (redb); one sync for the whole batch.
                    let synced = (|| {
                        let mut txn = db.begin_write().map_err(backend)?;
                        txn.set_durability(redb::Durability::Immediate)
                            .map_err(|e| StoreError::Backend(e.to_string()))?;
                        txn.commit().map_err(backend)
                    })();
                    if synced.is_ok() {
                        counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    let error = synced.err().map(|e| e.to_string());
                    for answer in answers {
                        answer(error.as_deref());
                    }
                }
            })?;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
            syncs,
        })
    }
}

impl Drop for Writer {
    /// Lets the thread finish the jobs sent and waits for it, so that the file is closed when
    /// the last handle of the store is gone (a new open of it then succeeds).
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn backend<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::Backend(e.into().to_string())
}

fn get<T: DeserializeOwned>(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<T>, StoreError> {
    match t.get(key).map_err(backend)? {
        Some(v) => serde_json::from_slice(v.value())
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("{key}: {e}"))),
        None => Ok(None),
    }
}

fn put<T: Serialize>(
    t: &mut Table<&'static str, &'static [u8]>,
    key: &str,
    value: &T,
) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    t.insert(key, bytes.as_slice()).map_err(backend)?;
    Ok(())
}

impl EmbeddedStore {
    /// Opens or creates the store file.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Backend(format!("{}: {e}", dir.display())))?;
        }
        let db = Database::create(path)
            .map_err(|e| StoreError::Backend(format!("{}: {e}", path.display())))?;
        let txn = db.begin_write().map_err(backend)?;
        txn.open_table(DOCS).map_err(backend)?;
        txn.commit().map_err(backend)?;
        let db = Arc::new(db);
        let writer = Writer::start(db.clone())
            .map_err(|e| StoreError::Backend(format!("starting the writer thread: {e}")))?;
        Ok(Self {
            db,
            writer: Arc::new(writer),
        })
    }

    /// Runs `f` in one write transaction on the writer thread, commits if it returns `Ok`, and
    /// returns once the commit is durable (group commit, module docs).
    async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Table<&'static str, &'static [u8]>) -> Result<R, StoreError>
        + Send
        + 'static,
    ) -> Result<R, StoreError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |db: &Database| -> Answer {
            let result = (|| {
                let mut txn = db.begin_write().map_err(backend)?;
                txn.set_durability(redb::Durability::None)
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
                let out = {
                    let mut t = txn.open_table(DOCS).map_err(backend)?;
                    f(&mut t)?
                };
                txn.commit().map_err(backend)?;
                Ok(out)
            })();
            Box::new(move |sync_error: Option<&str>| {
                let _ = answer.send(match (result, sync_error) {
                    (Ok(_), Some(e)) => Err(StoreError::Backend(format!("sync: {e}"))),
                    (result, _) => result,
                });
            })
        });
        let gone = || StoreError::Backend("the store's writer has stopped".into());
        self.writer
            .jobs
            .as_ref()
            .ok_or_else(gone)?
            .send(job)
            .map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }

    /// Runs `f` in one read transaction, here (module docs).
    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&redb::ReadOnlyTable<&'static str, &'static [u8]>) -> Result<R, StoreError>
        + Send
        + 'static,
    ) -> Result<R, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let t = txn.open_table(DOCS).map_err(backend)?;
        f(&t)
    }

    /// Sets the `revoked_at` (reached through `mark`) of the record at `key` to `at` unless it is
    /// set already; whether the record exists.
    async fn revoke<T: Serialize + DeserializeOwned + 'static>(
        &self,
        key: String,
        at: u64,
        mark: fn(&mut T) -> &mut Option<u64>,
    ) -> Result<bool, StoreError> {
        self.write(move |t| {
            let Some(mut record) = get::<T>(t, &key)? else {
                return Ok(false);
            };
            if mark(&mut record).is_none() {
                *mark(&mut record) = Some(at);
                put(t, &key, &record)?;
            }
            Ok(true)
        })
        .await
    }

    async fn get_doc<T: DeserializeOwned + Send + 'static>(
        &self,
        key: String,
    ) -> Result<Option<T>, StoreError> {
        self.read(move |t| get(t, &key)).await
    }

    async fn put_doc<T: Serialize + Send + 'static>(
        &self,
        key: String,
        value: T,
    ) -> Result<(), StoreError> {
        self.write(move |t| put(t, &key, &value)).await
    }

    fn scan<T: DeserializeOwned>(
        t: &impl ReadableTable<&'static str, &'static [u8]>,
        prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        for entry in t.range(prefix..).map_err(backend)? {
            let (k, v) = entry.map_err(backend)?;
            if !k.value().starts_with(prefix) {
                break;
            }
            out.push(
                serde_json::from_slice(v.value())
                    .map_err(|e| StoreError::Corrupt(format!("{}: {e}", k.value())))?,
            );
        }
        Ok(out)
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn create_account(&self, account: Account) -> Result<bool, StoreError> {
        self.write(move |t| {
            let key = format!("account/{}", account.email);
            if get::<Account>(t, &key)?.is_some() {
                return Ok(false);
            }
            put(
                t,
                &format!("account_id/{}", account.account_id),
                &account.email,
            )?;
            put(t, &key, &account)?;
            Ok(true)
        })
        .await
    }

    async fn account_by_email(&self, email: &str) -> Result<Option<Account>, StoreError> {
        self.get_doc(format!("account/{email}")).await
    }

    async fn account(&self, account_id: &str) -> Result<Option<Account>, StoreError> {
        let id = account_id.to_owned();
        self.read(move |t| {
            if let Some(email) = get::<String>(t, &format!("account_id/{id}"))? {
                return get(t, &format!("account/{email}"));
            }
            // Accounts created before the id index existed: found by a scan.
            Ok(Self::scan::<Account>(t, "account/")?
                .into_iter()
                .find(|a| a.account_id == id))
        })
        .await
    }

    async fn claim_account(
        &self,
        account: &Account,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        let (guest, password_hash) = (account.clone(), password_hash.to_owned());
        self.write(move |t| {
            let key = format!("account/{}", guest.email);
            match get::<Account>(t, &key)? {
                Some(held)
                    if held.account_id == guest.account_id
                        && held.guest_claim.is_some()
                        && held.guest_claim == guest.guest_claim =>
                {
                    let claimed = Account {
                        password_hash,
                        guest_claim: None,
                        ..held
                    };
                    put(t, &key, &claimed)?;
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
        .await
    }

    async fn put_session(&self, session: Session) -> Result<(), StoreError> {
        self.put_doc(format!("session/{}", session.session_id), session)
            .await
    }

    async fn session(&self, session_id: &str) -> Result<Option<Session>, StoreError> {
        self.get_doc(format!("session/{session_id}")).await
    }

    async fn put_item(&self, item: ItemRecord) -> Result<(), StoreError> {
        self.put_doc(format!("item/{}", item.id), item).await
    }

    async fn item(&self, id: &str) -> Result<Option<ItemRecord>, StoreError> {
        self.get_doc(format!("item/{id}")).await
    }

    async fn items(&self) -> Result<Vec<ItemRecord>, StoreError> {
        self.read(|t| Self::scan(t, "item/")).await
    }

    async fn replace_item(
        &self,
        previous: &ItemRecord,
        item: ItemRecord,
    ) -> Result<bool, StoreError> {
        let previous = previous.clone();
        self.write(move |t| {
            let key = format!("item/{}", item.id);
            match get::<ItemRecord>(t, &key)? {
                Some(held)
                    if held.version == previous.version
                        && held.wrapped_content_key == previous.wrapped_content_key =>
                {
                    put(t, &key, &item)?;
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
        .await
    }

    async fn reserve_purchase(&self, key: &str, now: u64) -> Result<Reservation, StoreError> {
        let key = format!("purchase/{key}");
        self.write(move |t| match get::<PurchaseState>(t, &key)? {
            Some(PurchaseState::Done { rental_id }) => {
                let rental =
                    get::<Rental>(t, &format!("rental/{rental_id}"))?.ok_or_else(|| {
                        StoreError::Corrupt(format!("{key} names missing rental {rental_id}"))
                    })?;
                Ok(Reservation::Completed(Box::new(rental)))
            }
            Some(PurchaseState::Pending { since }) if now < since + PURCHASE_RESERVATION_SECS => {
                Ok(Reservation::InProgress)
            }
            _ => {
                put(t, &key, &PurchaseState::Pending { since: now })?;
                Ok(Reservation::Reserved)
            }
        })
        .await
    }

    async fn complete_purchase(
        &self,
        key: &str,
        rental: Rental,
        licence: LicenceRecord,
        token: TokenRecord,
    ) -> Result<(), StoreError> {
        let key = format!("purchase/{key}");
        self.write(move |t| {
            put(
                t,
                &key,
                &PurchaseState::Done {
                    rental_id: rental.rental_id.clone(),
                },
            )?;
            put(
                t,
                &format!("rentals_of/{}/{}", rental.account_id, rental.rental_id),
                &rental,
            )?;
            put(t, &format!("rental/{}", rental.rental_id), &rental)?;
            put(t, &format!("licence/{}", licence.licence_id), &licence)?;
            put(t, &format!("token/{}", token.token_id), &token)
        })
        .await
    }

    async fn release_purchase(&self, key: &str) -> Result<(), StoreError> {
        let key = format!("purchase/{key}");
        self.write(move |t| {
            // A completed purchase is never released: its key keeps answering with the rental.
            if let Some(PurchaseState::Pending { .. }) = get::<PurchaseState>(t, &key)? {
                t.remove(key.as_str()).map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn rentals_of(&self, account_id: &str) -> Result<Vec<Rental>, StoreError> {
        let prefix = format!("rentals_of/{account_id}/");
        self.read(move |t| Self::scan(t, &prefix)).await
    }

    async fn licence(&self, licence_id: &str) -> Result<Option<LicenceRecord>, StoreError> {
        self.get_doc(format!("licence/{licence_id}")).await
    }

    async fn bind_licence(
        &self,
        licence_id: &str,
        binding: Binding,
    ) -> Result<BindOutcome, StoreError> {
        let key = format!("licence/{licence_id}");
        self.write(move |t| {
            let Some(mut lic) = get::<LicenceRecord>(t, &key)? else {
                return Ok(BindOutcome::NotFound);
            };
            match &lic.binding {
                Some(b) if b.device_id != binding.device_id || b.player_id != binding.player_id => {
                    Ok(BindOutcome::BoundElsewhere)
                }
                Some(_) => Ok(BindOutcome::Bound(Box::new(lic))),
                None => {
                    lic.binding = Some(binding);
                    put(t, &key, &lic)?;
                    Ok(BindOutcome::Bound(Box::new(lic)))
                }
            }
        })
        .await
    }

    async fn enable_licence(
        &self,
        licence_id: &str,
        window: Window,
    ) -> Result<Option<LicenceRecord>, StoreError> {
        let key = format!("licence/{licence_id}");
        self.write(move |t| {
            let Some(mut lic) = get::<LicenceRecord>(t, &key)? else {
                return Ok(None);
            };
            if lic.window.is_none() {
                lic.window = Some(window);
                put(t, &key, &lic)?;
            }
            Ok(Some(lic))
        })
        .await
    }

    async fn reactivate_licence(
        &self,
        licence_id: &str,
        ended: u64,
        reactivation: Reactivation,
    ) -> Result<ReactivateOutcome, StoreError> {
        let key = format!("licence/{licence_id}");
        self.write(move |t| {
            let Some(mut lic) = get::<LicenceRecord>(t, &key)? else {
                return Ok(ReactivateOutcome::NotFound);
            };
            if lic.reactivations.iter().any(|r| r.key == reactivation.key) {
                return Ok(ReactivateOutcome::Reactivated(Box::new(lic)));
            }
            if lic.revoked_at.is_some() || lic.window.map(|w| w.end) != Some(ended) {
                return Ok(ReactivateOutcome::Moved(Box::new(lic)));
            }
            lic.window = Some(reactivation.window);
            lic.reactivations.push(reactivation);
            put(t, &key, &lic)?;
            Ok(ReactivateOutcome::Reactivated(Box::new(lic)))
        })
        .await
    }

    async fn token(&self, token_id: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.get_doc(format!("token/{token_id}")).await
    }

    async fn revoke_token(&self, token_id: &str, at: u64) -> Result<bool, StoreError> {
        self.revoke::<TokenRecord>(format!("token/{token_id}"), at, |t| &mut t.revoked_at)
            .await
    }

    async fn revoke_licence(&self, licence_id: &str, at: u64) -> Result<bool, StoreError> {
        self.revoke::<LicenceRecord>(format!("licence/{licence_id}"), at, |l| &mut l.revoked_at)
            .await
    }

    async fn create_group(&self, group: Group) -> Result<bool, StoreError> {
        self.write(move |t| {
            let key = format!("group/{}", group.group_id);
            if get::<Group>(t, &key)?.is_some() {
                return Ok(false);
            }
            for member in super::active_members(&group) {
                put(
                    t,
                    &format!("groups_of/{member}/{}", group.group_id),
                    &group.group_id,
                )?;
            }
            put(t, &key, &group)?;
            Ok(true)
        })
        .await
    }

    async fn group(&self, group_id: &str) -> Result<Option<Group>, StoreError> {
        self.get_doc(format!("group/{group_id}")).await
    }

    async fn update_group(&self, previous: &Group, group: Group) -> Result<bool, StoreError> {
        let previous = previous.clone();
        self.write(move |t| {
            let key = format!("group/{}", group.group_id);
            match get::<Group>(t, &key)? {
                Some(held) if held.revision == previous.revision => {}
                _ => return Ok(false),
            }
            let (joined, left) = super::membership_changes(&previous, &group);
            for member in joined {
                put(
                    t,
                    &format!("groups_of/{member}/{}", group.group_id),
                    &group.group_id,
                )?;
            }
            for member in left {
                let link = format!("groups_of/{member}/{}", group.group_id);
                t.remove(link.as_str()).map_err(backend)?;
            }
            put(t, &key, &group)?;
            Ok(true)
        })
        .await
    }

    async fn groups_of(&self, account_id: &str) -> Result<Vec<Group>, StoreError> {
        let prefix = format!("groups_of/{account_id}/");
        self.read(move |t| {
            let ids: Vec<String> = Self::scan(t, &prefix)?;
            let mut groups = Vec::with_capacity(ids.len());
            for id in ids {
                groups.extend(get::<Group>(t, &format!("group/{id}"))?);
            }
            Ok(groups)
        })
        .await
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        Ok(self
            .get_doc::<Vec<SigningKeyRecord>>("signing_keys".into())
            .await?
            .unwrap_or_default())
    }

    async fn add_signing_key(
        &self,
        expected_len: usize,
        key: SigningKeyRecord,
    ) -> Result<bool, StoreError> {
        self.write(move |t| {
            let mut ring = get::<Vec<SigningKeyRecord>>(t, "signing_keys")?.unwrap_or_default();
            if ring.len() != expected_len {
                return Ok(false);
            }
            ring.push(key);
            put(t, "signing_keys", &ring)?;
            Ok(true)
        })
        .await
    }

    async fn replace_signing_keys(
        &self,
        expected_len: usize,
        keys: Vec<SigningKeyRecord>,
    ) -> Result<bool, StoreError> {
        self.write(move |t| {
            let ring = get::<Vec<SigningKeyRecord>>(t, "signing_keys")?.unwrap_or_default();
            if ring.len() != expected_len {
                return Ok(false);
            }
            put(t, "signing_keys", &keys)?;
            Ok(true)
        })
        .await
    }

    async fn promotions(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.get_doc("promotions".into()).await?.unwrap_or_default())
    }

    async fn set_promotions(&self, items: Vec<String>) -> Result<(), StoreError> {
        self.put_doc("promotions".into(), items).await
    }

    async fn put_edge_status(&self, status: EdgeStatus) -> Result<(), StoreError> {
        self.put_doc(format!("edge/{}", status.edge_id), status)
            .await
    }

    async fn edge_statuses(&self) -> Result<Vec<EdgeStatus>, StoreError> {
        self.read(|t| Self::scan(t, "edge/")).await
    }

    async fn start_or_resume_session(
        &self,
        token_id: &str,
        key: &str,
        now: u64,
        idle_secs: u64,
    ) -> Result<SessionOutcome, StoreError> {
        let token_key = format!("token/{token_id}");
        let session_key = format!("dlsession/{token_id}/{key}");
        // A session refreshed a moment ago is resumed from a read alone: no commit, no fsync.
        let recent = {
            let (token_key, session_key) = (token_key.clone(), session_key.clone());
            self.read(move |t| {
                let Some(token) = get::<TokenRecord>(t, &token_key)? else {
                    return Ok(None);
                };
                Ok(get::<DownloadSession>(t, &session_key)?
                    .filter(|s| {
                        now >= s.last_seen && now < s.last_seen + super::touch_after(idle_secs)
                    })
                    .map(|session| SessionOutcome::Existing {
                        session,
                        uses: token.uses,
                    }))
            })
            .await?
        };
        if let Some(outcome) = recent {
            return Ok(outcome);
        }
        let (token_id, key) = (token_id.to_owned(), key.to_owned());
        self.write(move |t| {
            let Some(mut token) = get::<TokenRecord>(t, &token_key)? else {
                return Ok(SessionOutcome::NotFound);
            };
            if let Some(mut s) = get::<DownloadSession>(t, &session_key)?
                && now < s.last_seen + idle_secs
            {
                s.last_seen = now;
                put(t, &session_key, &s)?;
                return Ok(SessionOutcome::Existing {
                    session: s,
                    uses: token.uses,
                });
            }
            if token.uses >= token.max_uses {
                return Ok(SessionOutcome::Exhausted);
            }
            token.uses += 1;
            let session = DownloadSession {
                session_id: protocol::random_id(),
                token_id,
                key,
                started_at: now,
                last_seen: now,
            };
            put(t, &token_key, &token)?;
            put(t, &session_key, &session)?;
            Ok(SessionOutcome::Started {
                session,
                uses: token.uses,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Concurrent writes are each answered once durable, share syncs, and are all there after
    /// the file is opened again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writes_share_syncs_and_all_persist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store = EmbeddedStore::open(&path).unwrap();
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let item = format!("doc/{i}");
                    store.put_doc(item, i).await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let syncs = store
            .writer
            .syncs
            .load(std::sync::atomic::Ordering::Relaxed);
        assert!((1..64).contains(&syncs), "{syncs} syncs for 64 writes");
        drop(store);
        let again = EmbeddedStore::open(&path).unwrap();
        for i in 0..64 {
            assert_eq!(
                again.get_doc::<i32>(format!("doc/{i}")).await.unwrap(),
                Some(i)
            );
        }
    }
}
