//! The [`Store`] operations over the table: each racing one is a conditional write or a
//! transaction whose failed condition is read back into the trait's outcome.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem, Update};
use protocol::Window;

use super::errors::{classify, is_condition_failed};
use super::schema::{GSI1_PK, GSI1_SK, PK, TTL, attr, key, purchase_state};
use super::{
    DynamoStore, PURCHASE_RESERVATION_SECS, STATE_ROUNDS, Tx, built, decode, key_of, n, number,
    record_item, s, text,
};
use crate::records::{
    Account, Binding, DownloadSession, EdgeStatus, Group, ItemRecord, LicenceRecord, Reactivation,
    Rental, Session, SigningKeyRecord, TokenRecord,
};
use crate::store::{
    BindOutcome, ReactivateOutcome, Reservation, SessionOutcome, Store, StoreError,
};

/// Who wrote a pending reservation, so that a write the SDK retried after it had in fact
/// succeeded is recognised as ours.
const RESERVED_BY: &str = "reserved_by";

impl DynamoStore {
    fn gave_up(operation: &'static str) -> StoreError {
        StoreError::Conflict {
            operation,
            detail: format!("the item kept changing under {STATE_ROUNDS} attempts"),
        }
    }

    async fn rental(&self, operation: &'static str, rental_id: &str) -> Result<Rental, StoreError> {
        self.get_record(operation, key::rental(rental_id))
            .await?
            .ok_or_else(|| {
                StoreError::Corrupt(format!("purchase names missing rental {rental_id}"))
            })
    }

    /// Refreshes the live download session `(token_id, key)`; `None` if there is none.
    async fn resume_session(
        &self,
        token_id: &str,
        key: &str,
        now: u64,
        cutoff: i128,
        purge_at: u64,
    ) -> Result<Option<DownloadSession>, StoreError> {
        const OP: &str = "start_or_resume_session";
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_of(key::download_session(token_id, key))))
            .update_expression("SET #seen = :now, #purge = :purge")
            .condition_expression("attribute_exists(#pk) AND #seen > :cutoff")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#seen", attr::LAST_SEEN)
            .expression_attribute_names("#purge", TTL)
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":purge", n(purge_at))
            .expression_attribute_values(":cutoff", n(cutoff))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out.attributes.unwrap_or_default();
                decode(item, "download session").map(Some)
            }
            Err(e) if is_condition_failed(&e) => Ok(None),
            Err(e) => Err(classify(OP, e)),
        }
    }

    /// The put of `account_id`'s membership of `group_id`, found through GSI1 under the account.
    fn membership_tx(
        &self,
        group_id: &str,
        account_id: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut link = key_of(key::membership(group_id, account_id));
        let (gpk, gsk) = key::group_of(account_id, group_id);
        link.insert(super::KIND.into(), s("membership"));
        link.insert(attr::GROUP_ID.into(), s(group_id));
        link.insert(GSI1_PK.into(), s(gpk));
        link.insert(GSI1_SK.into(), s(gsk));
        self.put_tx(link, None, &[], &[])
    }

    async fn uses_of(&self, operation: &'static str, token_id: &str) -> Result<u32, StoreError> {
        let token: TokenRecord = self
            .get_record(operation, key::token(token_id))
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("token {token_id} vanished")))?;
        Ok(token.uses)
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn create_account(&self, account: Account) -> Result<bool, StoreError> {
        const OP: &str = "create_account";
        let account_item = record_item(&account, key::account(&account.account_id), "account")?;
        let mut email_item = key_of(key::email(&account.email));
        email_item.insert(super::KIND.into(), s("email"));
        email_item.insert(attr::ACCOUNT_ID.into(), s(account.account_id.clone()));
        let new = Some("attribute_not_exists(#pk)");
        let names = [("#pk", PK)];
        let tx = vec![
            self.put_tx(account_item, new, &names, &[])?,
            self.put_tx(email_item, new, &names, &[])?,
        ];
        match self.transact(OP, tx).await? {
            Tx::Committed => Ok(true),
            Tx::Cancelled(failed) if failed.get(1) == Some(&true) => Ok(false),
            Tx::Cancelled(_) => Err(StoreError::Conflict {
                operation: OP,
                detail: format!("account id {} exists", account.account_id),
            }),
        }
    }

    async fn account(&self, account_id: &str) -> Result<Option<Account>, StoreError> {
        self.get_record("account", key::account(account_id)).await
    }

    async fn claim_account(
        &self,
        account: &Account,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        const OP: &str = "claim_account";
        let Some(claim) = &account.guest_claim else {
            return Ok(false);
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(super::key_of(key::account(&account.account_id))))
            .update_expression("SET #h = :h REMOVE #c")
            .condition_expression("#c = :c")
            .expression_attribute_names("#h", attr::PASSWORD_HASH)
            .expression_attribute_names("#c", attr::GUEST_CLAIM)
            .expression_attribute_values(":h", AttributeValue::S(password_hash.to_owned()))
            .expression_attribute_values(":c", AttributeValue::S(claim.clone()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(classify(OP, e)),
        }
    }

    async fn account_by_email(&self, email: &str) -> Result<Option<Account>, StoreError> {
        const OP: &str = "account_by_email";
        let Some(item) = self.get(OP, key::email(email)).await? else {
            return Ok(None);
        };
        let id = text(&item, attr::ACCOUNT_ID)
            .ok_or_else(|| StoreError::Corrupt(format!("email item {email} has no account_id")))?;
        self.get_record(OP, key::account(id)).await
    }

    async fn put_session(&self, session: Session) -> Result<(), StoreError> {
        let mut item = record_item(&session, key::session(&session.session_id), "session")?;
        item.insert(TTL.into(), n(session.expires_at));
        self.put("put_session", item).await
    }

    async fn session(&self, session_id: &str) -> Result<Option<Session>, StoreError> {
        self.get_record("session", key::session(session_id)).await
    }

    async fn put_item(&self, item: ItemRecord) -> Result<(), StoreError> {
        let mut it = record_item(&item, key::item(item.id.as_str()), "item")?;
        let (gpk, gsk) = key::catalog_entry(item.id.as_str());
        it.insert(GSI1_PK.into(), s(gpk));
        it.insert(GSI1_SK.into(), s(gsk));
        self.put("put_item", it).await
    }

    async fn item(&self, id: &str) -> Result<Option<ItemRecord>, StoreError> {
        self.get_record("item", key::item(id)).await
    }

    async fn items(&self) -> Result<Vec<ItemRecord>, StoreError> {
        self.query_gsi1("items", super::schema::CATALOG.into(), "ITEM#")
            .await
    }

    async fn replace_item(
        &self,
        previous: &ItemRecord,
        item: ItemRecord,
    ) -> Result<bool, StoreError> {
        const OP: &str = "replace_item";
        let mut it = record_item(&item, key::item(item.id.as_str()), "item")?;
        let (gpk, gsk) = key::catalog_entry(item.id.as_str());
        it.insert(GSI1_PK.into(), s(gpk));
        it.insert(GSI1_SK.into(), s(gsk));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(it))
            .condition_expression("#v = :v AND #w = :w")
            .expression_attribute_names("#v", attr::VERSION)
            .expression_attribute_names("#w", attr::WRAPPED_CONTENT_KEY)
            .expression_attribute_values(":v", n(previous.version))
            .expression_attribute_values(":w", s(previous.wrapped_content_key.clone()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(classify(OP, e)),
        }
    }

    async fn reserve_purchase(&self, key: &str, now: u64) -> Result<Reservation, StoreError> {
        const OP: &str = "reserve_purchase";
        let me = protocol::random_id();
        let mut item = key_of(key::purchase(key));
        item.insert(super::KIND.into(), s("purchase"));
        item.insert(attr::STATE.into(), s(purchase_state::PENDING));
        item.insert(attr::RESERVED_AT.into(), n(now));
        item.insert(attr::STALE_AT.into(), n(now + PURCHASE_RESERVATION_SECS));
        item.insert(RESERVED_BY.into(), s(me.clone()));
        for _ in 0..STATE_ROUNDS {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item.clone()))
                .condition_expression(
                    "attribute_not_exists(#pk) OR (#state = :pending AND #stale <= :now)",
                )
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#state", attr::STATE)
                .expression_attribute_names("#stale", attr::STALE_AT)
                .expression_attribute_values(":pending", s(purchase_state::PENDING))
                .expression_attribute_values(":now", n(now))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(Reservation::Reserved),
                Err(e) if is_condition_failed(&e) => {}
                Err(e) => return Err(classify(OP, e)),
            }
            let Some(current) = self.get(OP, key::purchase(key)).await? else {
                continue; // released in between
            };
            match text(&current, attr::STATE) {
                Some(purchase_state::DONE) => {
                    let rental_id = text(&current, attr::RENTAL_ID).ok_or_else(|| {
                        StoreError::Corrupt(format!("purchase {key} done without rental_id"))
                    })?;
                    let rental = self.rental(OP, rental_id).await?;
                    return Ok(Reservation::Completed(Box::new(rental)));
                }
                Some(purchase_state::PENDING) if text(&current, RESERVED_BY) == Some(&me) => {
                    return Ok(Reservation::Reserved);
                }
                Some(purchase_state::PENDING)
                    if number(&current, attr::STALE_AT).is_some_and(|t| now < t) =>
                {
                    return Ok(Reservation::InProgress);
                }
                Some(purchase_state::PENDING) => continue,
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "purchase {key} in unknown state {other:?}"
                    )));
                }
            }
        }
        Err(Self::gave_up(OP))
    }

    async fn complete_purchase(
        &self,
        key: &str,
        rental: Rental,
        licence: LicenceRecord,
        token: TokenRecord,
    ) -> Result<(), StoreError> {
        const OP: &str = "complete_purchase";
        let mut purchase = key_of(key::purchase(key));
        purchase.insert(super::KIND.into(), s("purchase"));
        purchase.insert(attr::STATE.into(), s(purchase_state::DONE));
        purchase.insert(attr::RENTAL_ID.into(), s(rental.rental_id.clone()));
        let mut rental_item = record_item(&rental, key::rental(&rental.rental_id), "rental")?;
        let (gpk, gsk) = key::rental_of(&rental.account_id, &rental.rental_id);
        rental_item.insert(GSI1_PK.into(), s(gpk));
        rental_item.insert(GSI1_SK.into(), s(gsk));
        let licence_item = record_item(&licence, key::licence(&licence.licence_id), "licence")?;
        let token_item = record_item(&token, key::token(&token.token_id), "token")?;
        let tx = vec![
            self.put_tx(
                purchase,
                Some("attribute_not_exists(#pk) OR #state = :pending"),
                &[("#pk", PK), ("#state", attr::STATE)],
                &[(":pending", s(purchase_state::PENDING))],
            )?,
            self.put_tx(rental_item, None, &[], &[])?,
            self.put_tx(licence_item, None, &[], &[])?,
            self.put_tx(token_item, None, &[], &[])?,
        ];
        match self.transact(OP, tx).await? {
            Tx::Committed => Ok(()),
            Tx::Cancelled(_) => {
                // Done already: by this very rental (a retry) is success, by another a conflict.
                let current = self.get(OP, key::purchase(key)).await?;
                let done_by = current.as_ref().and_then(|c| text(c, attr::RENTAL_ID));
                if done_by == Some(rental.rental_id.as_str()) {
                    Ok(())
                } else {
                    Err(StoreError::Conflict {
                        operation: OP,
                        detail: format!("purchase {key} was completed by rental {done_by:?}"),
                    })
                }
            }
        }
    }

    async fn release_purchase(&self, key: &str) -> Result<(), StoreError> {
        const OP: &str = "release_purchase";
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_of(key::purchase(key))))
            // A completed purchase is never released: its key keeps answering with the rental.
            .condition_expression("#state = :pending")
            .expression_attribute_names("#state", attr::STATE)
            .expression_attribute_values(":pending", s(purchase_state::PENDING))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Ok(()),
            Err(e) => Err(classify(OP, e)),
        }
    }

    async fn rentals_of(&self, account_id: &str) -> Result<Vec<Rental>, StoreError> {
        let (partition, _) = key::rental_of(account_id, "");
        self.query_gsi1("rentals_of", partition, key::RENTAL_PREFIX)
            .await
    }

    async fn licence(&self, licence_id: &str) -> Result<Option<LicenceRecord>, StoreError> {
        self.get_record("licence", key::licence(licence_id)).await
    }

    async fn bind_licence(
        &self,
        licence_id: &str,
        binding: Binding,
    ) -> Result<BindOutcome, StoreError> {
        const OP: &str = "bind_licence";
        let value: AttributeValue = serde_dynamo::to_attribute_value(&binding)
            .map_err(|e| StoreError::Corrupt(format!("encoding a binding: {e}")))?;
        for _ in 0..STATE_ROUNDS {
            let k = key::licence(licence_id);
            if let Some(item) = self
                .set_once(OP, k.clone(), attr::BINDING, value.clone())
                .await?
            {
                return Ok(BindOutcome::Bound(Box::new(decode(item, licence_id)?)));
            }
            let Some(lic) = self.get_record::<LicenceRecord>(OP, k).await? else {
                return Ok(BindOutcome::NotFound);
            };
            match &lic.binding {
                Some(b) if b.device_id == binding.device_id && b.player_id == binding.player_id => {
                    return Ok(BindOutcome::Bound(Box::new(lic)));
                }
                Some(_) => return Ok(BindOutcome::BoundElsewhere),
                None => continue, // unbound in between; nothing unbinds today
            }
        }
        Err(Self::gave_up(OP))
    }

    async fn enable_licence(
        &self,
        licence_id: &str,
        window: Window,
    ) -> Result<Option<LicenceRecord>, StoreError> {
        const OP: &str = "enable_licence";
        let value: AttributeValue = serde_dynamo::to_attribute_value(window)
            .map_err(|e| StoreError::Corrupt(format!("encoding a window: {e}")))?;
        let k = key::licence(licence_id);
        if let Some(item) = self.set_once(OP, k.clone(), attr::WINDOW, value).await? {
            return decode(item, licence_id).map(Some);
        }
        // Missing, or enabled before: the window in force stays.
        self.get_record(OP, k).await
    }

    async fn reactivate_licence(
        &self,
        licence_id: &str,
        ended: u64,
        reactivation: Reactivation,
    ) -> Result<ReactivateOutcome, StoreError> {
        const OP: &str = "reactivate_licence";
        let window = value(&reactivation.window, "window")?;
        let receipt = AttributeValue::L(vec![value(&reactivation, "reactivation")?]);
        let k = key::licence(licence_id);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_of(k.clone())))
            .update_expression("SET #w = :w, #r = list_append(if_not_exists(#r, :none), :r)")
            .condition_expression("#w.#end = :ended AND attribute_not_exists(#revoked)")
            .expression_attribute_names("#w", attr::WINDOW)
            .expression_attribute_names("#end", "end")
            .expression_attribute_names("#r", attr::REACTIVATIONS)
            .expression_attribute_names("#revoked", attr::REVOKED_AT)
            .expression_attribute_values(":w", window)
            .expression_attribute_values(":r", receipt)
            .expression_attribute_values(":none", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":ended", n(ended))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let lic = decode(out.attributes.unwrap_or_default(), licence_id)?;
                Ok(ReactivateOutcome::Reactivated(Box::new(lic)))
            }
            Err(e) if is_condition_failed(&e) => {
                // Missing, moved on, or our own write retried by the SDK after it succeeded.
                let Some(lic) = self.get_record::<LicenceRecord>(OP, k).await? else {
                    return Ok(ReactivateOutcome::NotFound);
                };
                if lic.reactivations.iter().any(|r| r.key == reactivation.key) {
                    Ok(ReactivateOutcome::Reactivated(Box::new(lic)))
                } else {
                    Ok(ReactivateOutcome::Moved(Box::new(lic)))
                }
            }
            Err(e) => Err(classify(OP, e)),
        }
    }

    async fn token(&self, token_id: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.get_record("token", key::token(token_id)).await
    }

    async fn revoke_token(&self, token_id: &str, at: u64) -> Result<bool, StoreError> {
        self.revoke("revoke_token", key::token(token_id), at).await
    }

    async fn revoke_licence(&self, licence_id: &str, at: u64) -> Result<bool, StoreError> {
        self.revoke("revoke_licence", key::licence(licence_id), at)
            .await
    }

    async fn create_group(&self, group: Group) -> Result<bool, StoreError> {
        const OP: &str = "create_group";
        let item = record_item(&group, key::group(&group.group_id), "group")?;
        let mut tx =
            vec![self.put_tx(item, Some("attribute_not_exists(#pk)"), &[("#pk", PK)], &[])?];
        for member in crate::store::active_members(&group) {
            tx.push(self.membership_tx(&group.group_id, member)?);
        }
        match self.transact(OP, tx).await? {
            Tx::Committed => Ok(true),
            Tx::Cancelled(_) => Ok(false),
        }
    }

    async fn group(&self, group_id: &str) -> Result<Option<Group>, StoreError> {
        self.get_record("group", key::group(group_id)).await
    }

    async fn update_group(&self, previous: &Group, group: Group) -> Result<bool, StoreError> {
        const OP: &str = "update_group";
        let (joined, left) = crate::store::membership_changes(previous, &group);
        let mut tx = Vec::with_capacity(1 + joined.len() + left.len());
        for member in joined {
            tx.push(self.membership_tx(&group.group_id, member)?);
        }
        for member in left {
            tx.push(self.delete_tx(key::membership(&group.group_id, member))?);
        }
        let item = record_item(&group, key::group(&group.group_id), "group")?;
        tx.push(self.put_tx(
            item,
            Some("#r = :r"),
            &[("#r", attr::REVISION)],
            &[(":r", n(previous.revision))],
        )?);
        match self.transact(OP, tx).await? {
            Tx::Committed => Ok(true),
            Tx::Cancelled(_) => Ok(false),
        }
    }

    async fn groups_of(&self, account_id: &str) -> Result<Vec<Group>, StoreError> {
        const OP: &str = "groups_of";
        #[derive(serde::Deserialize)]
        struct Link {
            group_id: String,
        }
        let links: Vec<Link> = self
            .query_gsi1(OP, key::group_of(account_id, "").0, key::GROUP_PREFIX)
            .await?;
        let mut groups = Vec::with_capacity(links.len());
        for link in links {
            groups.extend(
                self.get_record::<Group>(OP, key::group(&link.group_id))
                    .await?,
            );
        }
        Ok(groups)
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Ring {
            keys: Vec<SigningKeyRecord>,
        }
        Ok(self
            .get_record::<Ring>("signing_keys", key::signing_keys())
            .await?
            .map_or_else(Vec::new, |r| r.keys))
    }

    async fn add_signing_key(
        &self,
        expected_len: usize,
        key: SigningKeyRecord,
    ) -> Result<bool, StoreError> {
        const OP: &str = "add_signing_key";
        let added = AttributeValue::L(vec![value(&key, "signing key")?]);
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_of(key::signing_keys())))
            .update_expression("SET #k = list_append(if_not_exists(#k, :none), :k), #kind = :kind")
            .expression_attribute_names("#k", attr::KEYS)
            .expression_attribute_names("#kind", super::KIND)
            .expression_attribute_values(":k", added)
            .expression_attribute_values(":none", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":kind", s("signing_keys"));
        update = if expected_len == 0 {
            update.condition_expression("attribute_not_exists(#k)")
        } else {
            update
                .condition_expression("size(#k) = :n")
                .expression_attribute_values(":n", n(expected_len))
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(classify(OP, e)),
        }
    }

    async fn replace_signing_keys(
        &self,
        expected_len: usize,
        keys: Vec<SigningKeyRecord>,
    ) -> Result<bool, StoreError> {
        const OP: &str = "replace_signing_keys";
        let all = AttributeValue::L(
            keys.iter()
                .map(|k| value(k, "signing key"))
                .collect::<Result<_, _>>()?,
        );
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_of(key::signing_keys())))
            .update_expression("SET #k = :k")
            .condition_expression("size(#k) = :n")
            .expression_attribute_names("#k", attr::KEYS)
            .expression_attribute_values(":k", all)
            .expression_attribute_values(":n", n(expected_len))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(classify(OP, e)),
        }
    }

    async fn promotions(&self) -> Result<Vec<String>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Promotions {
            items: Vec<String>,
        }
        Ok(self
            .get_record::<Promotions>("promotions", key::promotions())
            .await?
            .map_or_else(Vec::new, |p| p.items))
    }

    async fn set_promotions(&self, items: Vec<String>) -> Result<(), StoreError> {
        #[derive(serde::Serialize)]
        struct Promotions {
            items: Vec<String>,
        }
        let item = record_item(&Promotions { items }, key::promotions(), "promotions")?;
        self.put("set_promotions", item).await
    }

    async fn put_edge_status(&self, status: EdgeStatus) -> Result<(), StoreError> {
        let mut it = record_item(&status, key::edge(&status.edge_id), "edge")?;
        let (gpk, gsk) = key::edge_entry(&status.edge_id);
        it.insert(GSI1_PK.into(), s(gpk));
        it.insert(GSI1_SK.into(), s(gsk));
        self.put("put_edge_status", it).await
    }

    async fn edge_statuses(&self) -> Result<Vec<EdgeStatus>, StoreError> {
        self.query_gsi1("edge_statuses", super::schema::EDGES.into(), "EDGE#")
            .await
    }

    async fn start_or_resume_session(
        &self,
        token_id: &str,
        key: &str,
        now: u64,
        idle_secs: u64,
    ) -> Result<SessionOutcome, StoreError> {
        const OP: &str = "start_or_resume_session";
        // A session is live while now < last_seen + idle, that is last_seen > now - idle.
        let cutoff = i128::from(now) - i128::from(idle_secs);
        let purge_at = now.saturating_add(idle_secs);
        for _ in 0..STATE_ROUNDS {
            if let Some(session) = self
                .resume_session(token_id, key, now, cutoff, purge_at)
                .await?
            {
                let uses = self.uses_of(OP, token_id).await?;
                return Ok(SessionOutcome::Existing { session, uses });
            }
            let session = DownloadSession {
                session_id: protocol::random_id(),
                token_id: token_id.to_owned(),
                key: key.to_owned(),
                started_at: now,
                last_seen: now,
            };
            let mut session_item = record_item(
                &session,
                key::download_session(token_id, key),
                "download_session",
            )?;
            session_item.insert(TTL.into(), n(purge_at));
            let spend = built(
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_of(key::token(token_id))))
                    .update_expression("SET #uses = #uses + :one")
                    .condition_expression("attribute_exists(#pk) AND #uses < #max")
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_names("#uses", attr::USES)
                    .expression_attribute_names("#max", attr::MAX_USES)
                    .expression_attribute_values(":one", n(1))
                    .build(),
            )?;
            let tx = vec![
                TransactWriteItem::builder().update(spend).build(),
                self.put_tx(
                    session_item,
                    Some("attribute_not_exists(#pk) OR #seen <= :cutoff"),
                    &[("#pk", PK), ("#seen", attr::LAST_SEEN)],
                    &[(":cutoff", n(cutoff))],
                )?,
            ];
            match self.transact(OP, tx).await? {
                Tx::Committed => {
                    // The count now, which concurrent starts may have raised past ours.
                    let uses = self.uses_of(OP, token_id).await?;
                    return Ok(SessionOutcome::Started { session, uses });
                }
                // Another request started this session just now: resume it.
                Tx::Cancelled(failed) if failed.get(1) == Some(&true) => continue,
                Tx::Cancelled(_) => {
                    return Ok(match self.token(token_id).await? {
                        None => SessionOutcome::NotFound,
                        Some(_) => SessionOutcome::Exhausted,
                    });
                }
            }
        }
        Err(Self::gave_up(OP))
    }
}

impl DynamoStore {
    /// Sets `revoked_at` once on the record at `key`; whether the record exists.
    async fn revoke(
        &self,
        op: &'static str,
        k: (String, String),
        at: u64,
    ) -> Result<bool, StoreError> {
        if self
            .set_once(op, k.clone(), attr::REVOKED_AT, n(at))
            .await?
            .is_some()
        {
            return Ok(true);
        }
        // Missing, or revoked before (the first time stays).
        Ok(self.get(op, k).await?.is_some())
    }
}

/// A record (a window, a reactivation) as one attribute value.
fn value<T: serde::Serialize>(v: &T, what: &str) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(v)
        .map_err(|e| StoreError::Corrupt(format!("encoding a {what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::super::Item;
    use super::*;

    #[test]
    fn none_fields_are_absent_so_conditions_can_test_them() {
        let lic = LicenceRecord {
            licence_id: "l".into(),
            account_id: "a".into(),
            item: protocol::ItemId::parse("film").unwrap(),
            item_version: 1,
            policy: protocol::Policy::default(),
            binding: None,
            window: None,
            enable_by: None,
            revoked_at: None,
            reactivations: Vec::new(),
        };
        let item: Item = record_item(&lic, key::licence("l"), "licence").unwrap();
        assert!(!item.contains_key(attr::BINDING) && !item.contains_key(attr::WINDOW));
        assert!(
            !item.contains_key(attr::REACTIVATIONS),
            "absent, so if_not_exists starts it"
        );
        assert_eq!(text(&item, PK), Some("LICENCE#l"));
        let back: LicenceRecord = decode(item, "l").unwrap();
        assert_eq!(back, lic);
    }
}
