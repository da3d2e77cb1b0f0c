# The three parents and the replication path between them.
#
# Replication: S3 replication rules copy every new object under items/ from the primary to both
# secondaries (no Lambda time limit on a 50 GB item, no bytes through our code, nothing to run);
# modules/parent-sync then verifies each replica where it lands, chunk by chunk against the digest
# root, and removes a replica that fails. docs/deploy-aws.md says why in full.

data "aws_region" "primary" {
  provider = aws.primary
}
data "aws_region" "secondary1" {
  provider = aws.secondary1
}
data "aws_region" "secondary2" {
  provider = aws.secondary2
}

locals {
  items_prefix = "items/"
  regions = {
    primary    = data.aws_region.primary.region
    secondary1 = data.aws_region.secondary1.region
    secondary2 = data.aws_region.secondary2.region
  }
}

module "primary" {
  source    = "../parent-bucket"
  providers = { aws = aws.primary }

  bucket_name             = "${var.bucket_prefix}-${local.regions.primary}"
  kms_key_arn             = var.kms_key_arns.primary
  noncurrent_version_days = var.noncurrent_version_days
  abort_multipart_days    = var.abort_multipart_days
  access_logging          = var.access_logging
  force_destroy           = var.force_destroy
  tags                    = var.tags
}

module "secondary1" {
  source    = "../parent-bucket"
  providers = { aws = aws.secondary1 }

  bucket_name             = "${var.bucket_prefix}-${local.regions.secondary1}"
  kms_key_arn             = var.kms_key_arns.secondary1
  noncurrent_version_days = var.noncurrent_version_days
  abort_multipart_days    = var.abort_multipart_days
  access_logging          = var.access_logging
  force_destroy           = var.force_destroy
  tags                    = var.tags
}

module "secondary2" {
  source    = "../parent-bucket"
  providers = { aws = aws.secondary2 }

  bucket_name             = "${var.bucket_prefix}-${local.regions.secondary2}"
  kms_key_arn             = var.kms_key_arns.secondary2
  noncurrent_version_days = var.noncurrent_version_days
  abort_multipart_days    = var.abort_multipart_days
  access_logging          = var.access_logging
  force_destroy           = var.force_destroy
  tags                    = var.tags
}

locals {
  destinations = {
    secondary1 = module.secondary1
    secondary2 = module.secondary2
  }
}

# ---- the replication role: read the primary's items, write replicas, nothing else ------------

data "aws_iam_policy_document" "replication_trust" {
  provider = aws.primary

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "replication" {
  provider           = aws.primary
  name               = "${var.bucket_prefix}-replication"
  assume_role_policy = data.aws_iam_policy_document.replication_trust.json
  tags               = var.tags
}

data "aws_iam_policy_document" "replication" {
  provider = aws.primary

  statement {
    sid       = "ReadTheReplicationConfiguration"
    actions   = ["s3:GetReplicationConfiguration", "s3:ListBucket"]
    resources = [module.primary.bucket_arn]
  }

  statement {
    sid = "ReadPrimaryItems"
    actions = [
      "s3:GetObjectVersionForReplication",
      "s3:GetObjectVersionAcl",
      "s3:GetObjectVersionTagging",
    ]
    resources = ["${module.primary.bucket_arn}/${local.items_prefix}*"]
  }

  statement {
    sid       = "WriteReplicas"
    actions   = ["s3:ReplicateObject", "s3:ReplicateTags"]
    resources = [for d in local.destinations : "${d.bucket_arn}/${local.items_prefix}*"]
  }

  statement {
    sid       = "DecryptPrimaryObjects"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arns.primary]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.regions.primary}.amazonaws.com"]
    }
  }

  dynamic "statement" {
    for_each = local.destinations
    content {
      sid       = "EncryptReplicasIn${title(statement.key)}"
      actions   = ["kms:Encrypt", "kms:GenerateDataKey"]
      resources = [var.kms_key_arns[statement.key]]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${local.regions[statement.key]}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "replication" {
  provider = aws.primary
  name     = "replicate-parent-items"
  role     = aws_iam_role.replication.id
  policy   = data.aws_iam_policy_document.replication.json
}

resource "aws_s3_bucket_replication_configuration" "primary" {
  provider = aws.primary
  bucket   = module.primary.bucket_name
  role     = aws_iam_role.replication.arn

  dynamic "rule" {
    for_each = local.destinations
    content {
      id       = "items-to-${local.regions[rule.key]}"
      status   = "Enabled"
      priority = rule.key == "secondary1" ? 1 : 2

      filter {
        prefix = local.items_prefix
      }

      # A delete on the primary (an operator mistake, or a version withdrawn) does not reach the
      # secondaries: edges keep a parent to fail over to while someone looks.
      delete_marker_replication {
        status = "Disabled"
      }

      source_selection_criteria {
        sse_kms_encrypted_objects {
          status = "Enabled"
        }
      }

      destination {
        bucket        = rule.value.bucket_arn
        storage_class = var.replica_storage_class

        encryption_configuration {
          replica_kms_key_id = var.kms_key_arns[rule.key]
        }

        metrics {
          status = "Enabled"
          dynamic "event_threshold" {
            for_each = var.replication_time_control ? [1] : []
            content {
              minutes = 15
            }
          }
        }

        dynamic "replication_time" {
          for_each = var.replication_time_control ? [1] : []
          content {
            status = "Enabled"
            time {
              minutes = 15
            }
          }
        }
      }
    }
  }

  # S3 refuses a replication configuration until versioning is on at both ends.
  depends_on = [module.primary, module.secondary1, module.secondary2]
}

# Replication metrics are published in the source region, per rule.
resource "aws_cloudwatch_metric_alarm" "replication_failed" {
  for_each = local.destinations
  provider = aws.primary

  alarm_name        = "${module.primary.bucket_name}-replication-failed-${local.regions[each.key]}"
  alarm_description = "Objects that failed to replicate from ${module.primary.bucket_name} to ${each.value.bucket_name}; edges fail over to the other parents meanwhile."
  namespace         = "AWS/S3"
  metric_name       = "OperationsFailedReplication"
  dimensions = {
    SourceBucket      = module.primary.bucket_name
    DestinationBucket = each.value.bucket_name
    RuleId            = "items-to-${local.regions[each.key]}"
  }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]
  tags                = var.tags
}
