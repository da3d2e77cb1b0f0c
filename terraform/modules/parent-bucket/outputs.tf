output "bucket_name" {
  description = "Name of the parent bucket."
  value       = aws_s3_bucket.parent.id
}

output "bucket_arn" {
  description = "ARN of the parent bucket."
  value       = aws_s3_bucket.parent.arn
}

output "bucket_region" {
  description = "Region the bucket lives in (what main signs its requests and presigned URLs for)."
  value       = aws_s3_bucket.parent.region
}

output "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the bucket's objects."
  value       = var.kms_key_arn
}

output "log_bucket_name" {
  description = "Name of the access-log bucket, or null when access logging is off."
  value       = var.access_logging ? aws_s3_bucket.logs[0].id : null
}

output "versioning_id" {
  description = "Id of the versioning configuration; replication depends on it being enabled first."
  value       = aws_s3_bucket_versioning.parent.id
}
