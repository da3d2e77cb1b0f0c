//! The DynamoDB backend: one table shared by any number of main instances, in the single-table
//! design of `docs/dynamodb.md` (names in [`schema`]). Every state change that can race is one
//! conditional write or one transaction, and a failed condition becomes the trait's outcome; SDK
//! types stay inside this module.

mod errors;
mod ops;
pub mod schema;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, Projection, ProjectionType, Put, ReturnValue, ScalarAttributeType,
    TimeToLiveSpecification, TransactWriteItem,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use self::errors::{classify, is_condition_failed};
use self::schema::{GSI1, GSI1_PK, GSI1_SK, KIND, PK, SK, TTL};
use super::StoreError;
use crate::config::DynamoDbSettings;

/// How long a purchase may stay "charging" before its key can be reused (as in the embedded store).
const PURCHASE_RESERVATION_SECS: u64 = 120;

/// Rounds of "condition failed, read, state moved on, try again" before giving up. Each round
/// means another writer changed the item in between, so more than a few is pathological.
const STATE_ROUNDS: u32 = 8;

type Item = HashMap<String, AttributeValue>;

/// The DynamoDB store.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

/// What a transaction did.
enum Tx {
    Committed,
    /// Cancelled by conditions: per item, whether its condition failed.
    Cancelled(Vec<bool>),
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A record as an item: its fields as attributes (a `None` field absent, so that
/// `attribute_not_exists` means unset), plus the keys and the kind.
fn record_item<T: Serialize>(
    record: &T,
    (pk, sk): (String, String),
    kind: &str,
) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(record)
        .map_err(|e| StoreError::Corrupt(format!("encoding a {kind}: {e}")))?;
    item.retain(|_, v| !matches!(v, AttributeValue::Null(_)));
    item.insert(PK.into(), s(pk));
    item.insert(SK.into(), s(sk));
    item.insert(KIND.into(), s(kind));
    Ok(item)
}

fn decode<T: DeserializeOwned>(item: Item, what: &str) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn number(item: &Item, name: &str) -> Option<u64> {
    item.get(name).and_then(|v| v.as_n().ok())?.parse().ok()
}

fn key_of((pk, sk): (String, String)) -> Item {
    HashMap::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))])
}

fn built<T>(r: Result<T, aws_sdk_dynamodb::error::BuildError>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Backend(format!("building a DynamoDB request: {e}")))
}

impl DynamoStore {
    /// Builds the AWS SDK configuration (region, endpoint, credentials, bounded retries and
    /// timeouts) and a client for the table. Does not contact DynamoDB.
    pub async fn connect(settings: &DynamoDbSettings) -> Result<Self, StoreError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(
                aws_config::retry::RetryConfig::standard()
                    .with_max_attempts(errors::SDK_MAX_ATTEMPTS)
                    .with_initial_backoff(errors::SDK_INITIAL_BACKOFF)
                    .with_max_backoff(errors::SDK_MAX_BACKOFF),
            )
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(Duration::from_secs(5))
                    .operation_timeout(Duration::from_secs(20))
                    .build(),
            );
        if let Some(r) = &settings.region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(e) = &settings.endpoint {
            loader = loader.endpoint_url(e);
        }
        if let (Some(a), Some(k)) = (&settings.access_key, &settings.secret_key) {
            loader = loader.credentials_provider(Credentials::new(a, k, None, None, "main-config"));
        }
        let sdk = loader.load().await;
        if sdk.region().is_none() {
            return Err(StoreError::Backend(
                "no AWS region for DynamoDB: set dynamodb.region or AWS_REGION".into(),
            ));
        }
        Ok(Self {
            client: Client::new(&sdk),
            table: settings.table.clone(),
        })
    }

    /// Creates the table with its GSI and TTL, as `docs/dynamodb.md` describes, and waits until
    /// it is active. For tests and local networks; in AWS, Terraform owns the table.
    pub async fn create_table(&self) -> Result<(), StoreError> {
        const OP: &str = "create_table";
        let key = |name: &str, t| {
            built(
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(t)
                    .build(),
            )
        };
        let string = |name: &str| {
            built(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::S)
                    .build(),
            )
        };
        let gsi = built(
            GlobalSecondaryIndex::builder()
                .index_name(GSI1)
                .key_schema(key(GSI1_PK, KeyType::Hash)?)
                .key_schema(key(GSI1_SK, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build(),
        )?;
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(string(PK)?)
            .attribute_definitions(string(SK)?)
            .attribute_definitions(string(GSI1_PK)?)
            .attribute_definitions(string(GSI1_SK)?)
            .key_schema(key(PK, KeyType::Hash)?)
            .key_schema(key(SK, KeyType::Range)?)
            .global_secondary_indexes(gsi)
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        self.client
            .wait_until_table_exists()
            .table_name(&self.table)
            .wait(Duration::from_secs(60))
            .await
            .map_err(|e| StoreError::Backend(format!("waiting for table {}: {e}", self.table)))?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(built(
                TimeToLiveSpecification::builder()
                    .attribute_name(TTL)
                    .enabled(true)
                    .build(),
            )?)
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(())
    }

    /// Creates the table unless it exists; true when it was created. For local networks
    /// (`main-service create-table`); in AWS, Terraform owns the table.
    pub async fn ensure_table(&self) -> Result<bool, StoreError> {
        let described = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await;
        match described {
            Ok(_) => Ok(false),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                self.create_table().await.map(|()| true)
            }
            Err(e) => Err(classify("describe_table", e)),
        }
    }

    async fn get(
        &self,
        operation: &'static str,
        key: (String, String),
    ) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_of(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(operation, e))?;
        Ok(out.item)
    }

    async fn get_record<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        key: (String, String),
    ) -> Result<Option<T>, StoreError> {
        let what = key.0.clone();
        match self.get(operation, key).await? {
            Some(item) => decode(item, &what).map(Some),
            None => Ok(None),
        }
    }

    async fn put(&self, operation: &'static str, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| classify(operation, e))?;
        Ok(())
    }

    /// All records under `gsi1pk = partition` whose `gsi1sk` starts with `prefix`, in `gsi1sk`
    /// order, every page.
    async fn query_gsi1<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        partition: String,
        prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("#p = :p AND begins_with(#s, :prefix)")
            .expression_attribute_names("#p", GSI1_PK)
            .expression_attribute_names("#s", GSI1_SK)
            .expression_attribute_values(":p", s(partition))
            .expression_attribute_values(":prefix", s(prefix))
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| classify(operation, e))?;
            let what = text(&item, PK).unwrap_or("?").to_owned();
            out.push(decode(item, &what)?);
        }
        Ok(out)
    }

    /// Runs one transaction, retrying (with backoff) while it is cancelled only for conflicts
    /// with other transactions. A client token per attempt makes the SDK's own retries of an
    /// attempt idempotent.
    async fn transact(
        &self,
        operation: &'static str,
        items: Vec<TransactWriteItem>,
    ) -> Result<Tx, StoreError> {
        for attempt in 1..=errors::CONFLICT_ATTEMPTS {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(protocol::random_id())
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(Tx::Committed),
                Err(e) => e,
            };
            let reasons: Option<Vec<Option<String>>> = match &err {
                SdkError::ServiceError(ctx) => match ctx.err() {
                    TransactWriteItemsError::TransactionCanceledException(c) => Some(
                        c.cancellation_reasons()
                            .iter()
                            .map(|r| r.code().map(str::to_owned))
                            .collect(),
                    ),
                    _ => None,
                },
                _ => None,
            };
            let Some(reasons) = reasons else {
                return Err(classify(operation, err));
            };
            let failed: Vec<bool> = reasons
                .iter()
                .map(|c| c.as_deref() == Some("ConditionalCheckFailed"))
                .collect();
            if failed.iter().any(|f| *f) {
                return Ok(Tx::Cancelled(failed));
            }
            let retryable = reasons.iter().all(|c| {
                matches!(
                    c.as_deref(),
                    None | Some(
                        "None"
                            | "NONE"
                            | "TransactionConflict"
                            | "ThrottlingError"
                            | "ProvisionedThroughputExceeded"
                    )
                )
            });
            if !retryable || attempt == errors::CONFLICT_ATTEMPTS {
                return Err(match retryable {
                    true => StoreError::Throttled {
                        operation,
                        detail: format!(
                            "transaction still conflicting after {attempt} attempts: {reasons:?}"
                        ),
                        source: Some(Box::new(err)),
                    },
                    false => classify(operation, err),
                });
            }
            tokio::time::sleep(errors::conflict_backoff(attempt)).await;
        }
        unreachable!("the last attempt returns")
    }

    fn put_tx(
        &self,
        item: Item,
        condition: Option<&str>,
        names: &[(&str, &str)],
        values: &[(&str, AttributeValue)],
    ) -> Result<TransactWriteItem, StoreError> {
        let mut put = Put::builder().table_name(&self.table).set_item(Some(item));
        if let Some(c) = condition {
            put = put.condition_expression(c);
        }
        for (k, v) in names {
            put = put.expression_attribute_names(*k, *v);
        }
        for (k, v) in values {
            put = put.expression_attribute_values(*k, v.clone());
        }
        Ok(TransactWriteItem::builder()
            .put(built(put.build())?)
            .build())
    }

    fn delete_tx(&self, key: (String, String)) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key_of(key)));
        Ok(TransactWriteItem::builder()
            .delete(built(delete.build())?)
            .build())
    }

    /// Sets `name = value` on the item if the item exists and `name` is unset; the item after the
    /// write, or `None` when the condition failed.
    async fn set_once(
        &self,
        operation: &'static str,
        key: (String, String),
        name: &str,
        value: AttributeValue,
    ) -> Result<Option<Item>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_of(key)))
            .update_expression("SET #a = :v")
            .condition_expression("attribute_exists(#pk) AND attribute_not_exists(#a)")
            .expression_attribute_names("#a", name)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":v", value)
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.attributes),
            Err(e) if is_condition_failed(&e) => Ok(None),
            Err(e) => Err(classify(operation, e)),
        }
    }
}
