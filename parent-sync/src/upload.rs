//! Streaming uploads to a parent: one `PutObject` for small objects, else a multipart upload
//! that holds one part in memory at a time and is aborted on any error.

use std::collections::HashMap;

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::store::{
    MAX_PARTS, ObjectMeta, PART_SIZE, ParentStore, REPLICATED_FROM, StoreError, unquote,
};

impl ParentStore {
    /// Uploads exactly `len` bytes from `reader` to `key`: one `PutObject` up to [`PART_SIZE`],
    /// else a multipart upload holding one part in memory at a time, aborted on any error.
    ///
    /// Fails if the reader fails or yields more or fewer than `len` bytes, or the parent refuses.
    pub async fn put_object_stream(
        &self,
        key: &str,
        reader: impl AsyncRead + Unpin + Send,
        len: u64,
    ) -> Result<ObjectMeta, StoreError> {
        self.put_stream(key, reader, len, None).await
    }

    /// [`ParentStore::put_object_stream`], recording the primary's ETag on the replica.
    pub(crate) async fn put_stream(
        &self,
        key: &str,
        mut reader: impl AsyncRead + Unpin + Send,
        len: u64,
        replicated_from: Option<&str>,
    ) -> Result<ObjectMeta, StoreError> {
        let metadata = replicated_from
            .map(|etag| HashMap::from([(REPLICATED_FROM.to_owned(), etag.to_owned())]));
        let part_size = PART_SIZE.max(len.div_ceil(MAX_PARTS));
        if len <= part_size {
            let body = self.read_part(key, &mut reader, len, len).await?;
            self.expect_end(key, &mut reader, len).await?;
            let out = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_length(len as i64)
                .set_metadata(metadata)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| self.request_error("PutObject", key, e))?;
            return Ok(ObjectMeta {
                len,
                etag: unquote(out.e_tag()),
                replicated_from: replicated_from.map(str::to_owned),
            });
        }
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .set_metadata(metadata)
            .send()
            .await
            .map_err(|e| self.request_error("CreateMultipartUpload", key, e))?;
        let upload_id = created.upload_id().ok_or_else(|| StoreError::Invalid {
            parent: self.name.clone(),
            problem: format!("CreateMultipartUpload for {key:?} returned no upload id"),
        })?;
        match self
            .upload_parts(key, upload_id, &mut reader, len, part_size)
            .await
        {
            Ok(etag) => Ok(ObjectMeta {
                len,
                etag,
                replicated_from: replicated_from.map(str::to_owned),
            }),
            Err(e) => {
                let abort = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .send()
                    .await;
                if let Err(abort) = abort {
                    tracing::warn!(parent = %self.name, key, error = %DisplayErrorContext(&abort),
                        "could not abort a failed multipart upload; a lifecycle rule must clean it up");
                }
                Err(e)
            }
        }
    }

    async fn upload_parts(
        &self,
        key: &str,
        upload_id: &str,
        reader: &mut (impl AsyncRead + Unpin + Send),
        len: u64,
        part_size: u64,
    ) -> Result<String, StoreError> {
        let mut parts = Vec::new();
        let mut sent = 0u64;
        let mut number = 1i32;
        while sent < len {
            let this_len = part_size.min(len - sent);
            let body = self.read_part(key, reader, this_len, len).await?;
            let out = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .checksum_algorithm(ChecksumAlgorithm::Crc32)
                .content_length(this_len as i64)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| self.request_error("UploadPart", key, e))?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag().map(str::to_owned))
                    .set_checksum_crc32(out.checksum_crc32().map(str::to_owned))
                    .build(),
            );
            sent += this_len;
            number += 1;
        }
        self.expect_end(key, reader, len).await?;
        let out = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| self.request_error("CompleteMultipartUpload", key, e))?;
        Ok(unquote(out.e_tag()))
    }

    /// Reads exactly `n` bytes (one part) from `reader`.
    async fn read_part(
        &self,
        key: &str,
        reader: &mut (impl AsyncRead + Unpin + Send),
        n: u64,
        announced: u64,
    ) -> Result<Bytes, StoreError> {
        let mut buf = Vec::with_capacity(n as usize);
        reader
            .take(n)
            .read_to_end(&mut buf)
            .await
            .map_err(|source| StoreError::Source {
                parent: self.name.clone(),
                key: key.to_owned(),
                source,
            })?;
        if buf.len() as u64 != n {
            return Err(StoreError::LengthMismatch {
                parent: self.name.clone(),
                key: key.to_owned(),
                expected: announced,
                detail: "the data ended early".into(),
            });
        }
        Ok(Bytes::from(buf))
    }

    /// Fails if `reader` has more bytes after the announced length.
    async fn expect_end(
        &self,
        key: &str,
        reader: &mut (impl AsyncRead + Unpin + Send),
        announced: u64,
    ) -> Result<(), StoreError> {
        let mut probe = [0u8; 1];
        let n = reader
            .read(&mut probe)
            .await
            .map_err(|source| StoreError::Source {
                parent: self.name.clone(),
                key: key.to_owned(),
                source,
            })?;
        if n == 0 {
            Ok(())
        } else {
            Err(StoreError::LengthMismatch {
                parent: self.name.clone(),
                key: key.to_owned(),
                expected: announced,
                detail: "the data is longer".into(),
            })
        }
    }
}
