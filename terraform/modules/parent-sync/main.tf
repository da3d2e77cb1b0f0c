# parent-sync on S3 events in one secondary region. S3 replication (modules/parents) copies each
# new item from the primary; when the replica lands here, S3 invokes this function, which reads it
# back chunk by chunk, checks every chunk digest against the digest root and the header against
# the primary's, and deletes a replica that fails (edges then fail over to another parent, and the
# failure alarms). A replica whose ETag differs from the primary's is copied again by the function
# itself, as `parent-sync once` would.

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  region      = data.aws_region.current.region
  account_id  = data.aws_caller_identity.current.account_id
  log_group   = "/aws/lambda/${var.function_name}"
  config_path = "/opt/parent-sync.toml"

  config = templatefile("${path.module}/templates/parent-sync.toml.tftpl", {
    parents = [
      { name = var.primary.region, region = var.primary.region, bucket = var.primary.bucket, primary = true },
      { name = var.secondary.region, region = var.secondary.region, bucket = var.secondary.bucket, primary = false },
    ]
  })

  # The names parent-sync reads (docs/deploy-aws.md, "The contract with the code").
  environment = {
    PARENT_SYNC_CONFIG         = local.config_path
    PARENT_SYNC_VERIFY_PRESENT = "true"
    RUST_LOG                   = var.log_filter
  }
}

# ---- configuration layer ------------------------------------------------------------------

data "archive_file" "config" {
  type        = "zip"
  output_path = "${path.root}/.build/${var.function_name}-config.zip"

  source {
    content  = local.config
    filename = "parent-sync.toml"
  }
}

resource "aws_lambda_layer_version" "config" {
  layer_name               = "${var.function_name}-config"
  description              = "parent-sync.toml of ${var.function_name}"
  filename                 = data.archive_file.config.output_path
  source_code_hash         = data.archive_file.config.output_base64sha256
  compatible_runtimes      = ["provided.al2023"]
  compatible_architectures = [var.architecture]

  lifecycle {
    precondition {
      condition     = var.secondary.region == local.region
      error_message = "the secondary's bucket must be in this provider's region: S3 notifies only functions of its own region."
    }
  }
}

# ---- logs and dead letters ----------------------------------------------------------------

resource "aws_cloudwatch_log_group" "sync" {
  name              = local.log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# S3 invokes asynchronously; an event that still fails after Lambda's retries lands here, so a
# replica nobody verified is never forgotten silently.
resource "aws_sqs_queue" "dead_letters" {
  name                      = "${var.function_name}-dead-letters"
  message_retention_seconds = 1209600
  kms_master_key_id         = var.kms_key_arn
  tags                      = var.tags
}

# ---- role ---------------------------------------------------------------------------------

data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "sync" {
  name               = "${var.function_name}-role"
  assume_role_policy = data.aws_iam_policy_document.trust.json
  tags               = var.tags
}

data "aws_iam_policy_document" "sync" {
  # The primary is only read: its header is the reference, and its bytes the source of a re-copy.
  statement {
    sid       = "ReadPrimaryItems"
    actions   = ["s3:GetObject"]
    resources = ["${var.primary.bucket_arn}/${var.items_prefix}*"]
  }

  # ListBucket makes a HEAD of a missing key answer 404 instead of 403, which parent-sync reads as
  # "absent" (S3 checks it without a prefix, so it cannot be narrowed to items/). It reveals only
  # key names in buckets this role already reads.
  statement {
    sid       = "ListParents"
    actions   = ["s3:ListBucket"]
    resources = [var.primary.bucket_arn, var.secondary.bucket_arn]
  }

  # The secondary: read to verify, write to re-copy, delete a replica that fails verification.
  statement {
    sid = "VerifyAndRepairSecondaryItems"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:AbortMultipartUpload",
      "s3:DeleteObject",
    ]
    resources = ["${var.secondary.bucket_arn}/${var.items_prefix}*"]
  }

  statement {
    sid       = "DecryptPrimaryItems"
    actions   = ["kms:Decrypt"]
    resources = [var.primary.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.primary.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "UseSecondaryItemKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.secondary.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "DecryptEnvironment"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["lambda.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "SendDeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letters.arn]
  }

  statement {
    sid       = "EncryptDeadLetters"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sqs.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.sync.arn}:*"]
  }

  # X-Ray has no resource-level permissions for these two actions.
  statement {
    sid       = "WriteTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "sync" {
  name   = "parent-sync"
  role   = aws_iam_role.sync.id
  policy = data.aws_iam_policy_document.sync.json
}

# ---- function -----------------------------------------------------------------------------

resource "aws_lambda_function" "sync" {
  #checkov:skip=CKV_AWS_117:parent-sync talks only to public S3 endpoints over TLS with IAM; a VPC would need S3 endpoints in every region and protect nothing here.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile and a signing step in the build; the package is built and uploaded by the operator who runs Terraform. Revisit with a release pipeline.
  function_name                  = var.function_name
  description                    = "Verifies replicas arriving in ${var.secondary.bucket} against the primary ${var.primary.bucket}"
  role                           = aws_iam_role.sync.arn
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = [var.architecture]
  filename                       = var.bootstrap_zip_path
  source_code_hash               = filebase64sha256(var.bootstrap_zip_path)
  memory_size                    = var.memory_mb
  timeout                        = var.timeout_secs
  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = var.kms_key_arn
  layers                         = [aws_lambda_layer_version.config.arn]

  environment {
    variables = local.environment
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.dead_letters.arn
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.sync.name
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.sync]
}

resource "aws_lambda_function_event_invoke_config" "sync" {
  function_name                = aws_lambda_function.sync.function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 21600
}

# ---- S3 events ----------------------------------------------------------------------------

resource "aws_lambda_permission" "s3" {
  statement_id   = "InvokeFromSecondaryBucket"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.sync.function_name
  principal      = "s3.amazonaws.com"
  source_arn     = var.secondary.bucket_arn
  source_account = local.account_id
}

# A bucket has one notification configuration; this resource owns the secondary's.
resource "aws_s3_bucket_notification" "secondary" {
  bucket = var.secondary.bucket

  lambda_function {
    id                  = "verify-replicas"
    lambda_function_arn = aws_lambda_function.sync.arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = var.items_prefix
    filter_suffix       = ".sealed"
  }

  depends_on = [aws_lambda_permission.s3]
}

# ---- alarms -------------------------------------------------------------------------------

locals {
  alarm_actions = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]
}

resource "aws_cloudwatch_metric_alarm" "lambda" {
  for_each = {
    errors    = { metric = "Errors", description = "a verification failed or crashed (a bad replica is deleted; see the logs)" }
    throttles = { metric = "Throttles", description = "verifications waited at the reserved concurrency" }
  }

  alarm_name          = "${var.function_name}-${each.key}"
  alarm_description   = "${var.function_name}: ${each.value.description}."
  namespace           = "AWS/Lambda"
  metric_name         = each.value.metric
  dimensions          = { FunctionName = aws_lambda_function.sync.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  alarm_name          = "${var.function_name}-dead-letters"
  alarm_description   = "${var.function_name}: replica events that were never verified; replay them or run `parent-sync once`."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dead_letters.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  tags                = var.tags
}
