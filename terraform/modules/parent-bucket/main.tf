# One parent store: a bucket holding every sealed item under items/{item}/v{version}.sealed
# (docs/interfaces.md), private, versioned, encrypted with the region's KMS key, reached only by
# main, parent-sync and S3 replication with IAM credentials. Edges read through URLs that main
# presigns, so no bucket policy ever grants a reader.

resource "aws_s3_bucket" "parent" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is configured by modules/parents on the primary bucket only; the secondaries are its destinations, and replicating them again would loop.
  #checkov:skip=CKV2_AWS_62:Event notifications are attached by modules/parent-sync to the secondary buckets (replica verification); the primary needs none, its writes come from main.
  bucket        = var.bucket_name
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_versioning" "parent" {
  bucket = aws_s3_bucket.parent.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "parent" {
  bucket = aws_s3_bucket.parent.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    # One data key per bucket instead of one KMS call per GET: a 50 GB item read in 8 MiB ranges
    # is thousands of GETs, and KMS request charges and quotas would otherwise follow them.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "parent" {
  bucket                  = aws_s3_bucket.parent.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "parent" {
  bucket = aws_s3_bucket.parent.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "parent" {
  bucket = aws_s3_bucket.parent.id

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    expiration {
      expired_object_delete_marker = true
    }
  }

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_multipart_days
    }
  }

  # Lifecycle rules act on the versions that versioning creates.
  depends_on = [aws_s3_bucket_versioning.parent]
}

# Refuse plain HTTP: presigned URLs and SDK calls are all HTTPS, so this only stops mistakes.
data "aws_iam_policy_document" "parent" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.parent.arn, "${aws_s3_bucket.parent.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "parent" {
  bucket = aws_s3_bucket.parent.id
  policy = data.aws_iam_policy_document.parent.json
  # The public access block must exist first, or the policy could briefly be evaluated without it.
  depends_on = [aws_s3_bucket_public_access_block.parent]
}

# ---- access logs ------------------------------------------------------------------------------

resource "aws_s3_bucket" "logs" {
  #checkov:skip=CKV_AWS_18:This is the access-log bucket; logging it into itself would log every log delivery forever.
  #checkov:skip=CKV_AWS_144:Access logs are per-region operational data, not worth a second copy in another region.
  #checkov:skip=CKV_AWS_145:S3 server access logging delivers only to buckets encrypted with SSE-S3; SSE-KMS destinations are not supported.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to a log delivery; notifications would be noise.
  count         = var.access_logging ? 1 : 0
  bucket        = "${var.bucket_name}-logs"
  force_destroy = var.force_destroy
  tags          = var.tags

  lifecycle {
    precondition {
      condition     = length(var.bucket_name) <= 58
      error_message = "with access_logging on, bucket_name must leave room for the -logs suffix (58 characters at most)."
    }
  }
}

resource "aws_s3_bucket_versioning" "logs" {
  count  = var.access_logging ? 1 : 0
  bucket = aws_s3_bucket.logs[0].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  count  = var.access_logging ? 1 : 0
  bucket = aws_s3_bucket.logs[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "logs" {
  count                   = var.access_logging ? 1 : 0
  bucket                  = aws_s3_bucket.logs[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  count  = var.access_logging ? 1 : 0
  bucket = aws_s3_bucket.logs[0].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  count  = var.access_logging ? 1 : 0
  bucket = aws_s3_bucket.logs[0].id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.access_log_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.logs]
}

data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "logs" {
  count = var.access_logging ? 1 : 0

  statement {
    sid       = "S3ServerAccessLogsFromTheParent"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs[0].arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.parent.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.logs[0].arn, "${aws_s3_bucket.logs[0].arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  count      = var.access_logging ? 1 : 0
  bucket     = aws_s3_bucket.logs[0].id
  policy     = data.aws_iam_policy_document.logs[0].json
  depends_on = [aws_s3_bucket_public_access_block.logs]
}

resource "aws_s3_bucket_logging" "parent" {
  count         = var.access_logging ? 1 : 0
  bucket        = aws_s3_bucket.parent.id
  target_bucket = aws_s3_bucket.logs[0].id
  target_prefix = "s3/${var.bucket_name}/"
}
