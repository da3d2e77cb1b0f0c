# Main on Lambda: the main-service binary as a provided.al2023 `bootstrap`, its non-secret
# configuration in a layer (/opt/main.toml), a public function URL, and a role that reaches only
# main's table and its index, the parents' item objects, and main's secrets.

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  region      = data.aws_region.current.region
  partition   = data.aws_partition.current.partition
  log_group   = "/aws/lambda/${var.function_name}"
  config_path = "/opt/main.toml"
  data_dir    = "/tmp/main"
  primary     = one([for p in var.parents : p if p.primary])

  config = templatefile("${path.module}/templates/main.toml.tftpl", {
    data_dir = local.data_dir
    settings = var.settings
    regions  = var.regions
    parents  = var.parents
    edges    = var.edges
  })

  # The names main reads (docs/deploy-aws.md, "The contract with the code").
  environment = merge(
    {
      MAIN_CONFIG         = local.config_path
      MAIN_DATA_DIR       = local.data_dir
      MAIN_STORE          = "dynamodb"
      MAIN_DYNAMODB_TABLE = var.table_name
      RUST_LOG            = var.log_filter
    },
    var.secret_environment,
  )
}

# ---- configuration layer ------------------------------------------------------------------

data "archive_file" "config" {
  type        = "zip"
  output_path = "${path.root}/.build/${var.function_name}-config.zip"

  source {
    content  = local.config
    filename = "main.toml"
  }
}

resource "aws_lambda_layer_version" "config" {
  layer_name               = "${var.function_name}-config"
  description              = "main.toml of ${var.function_name} (no secrets)"
  filename                 = data.archive_file.config.output_path
  source_code_hash         = data.archive_file.config.output_base64sha256
  compatible_runtimes      = ["provided.al2023"]
  compatible_architectures = [var.architecture]

  lifecycle {
    precondition {
      condition     = alltrue([for e in var.edges : contains(keys(var.regions), e.region)])
      error_message = "every edge's region must be one of the delivery regions (var.regions)."
    }
  }
}

# ---- logs ---------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "main" {
  name              = local.log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
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
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "main" {
  name               = "${var.function_name}-role"
  assume_role_policy = data.aws_iam_policy_document.trust.json
  tags               = var.tags
}

data "aws_iam_policy_document" "main" {
  # Every store operation of docs/dynamodb.md: GetItem (consistent reads), PutItem, UpdateItem,
  # DeleteItem (releasing a purchase), ConditionCheckItem (inside TransactWriteItems, which needs
  # the per-item actions of what it writes), Query on the table and gsi1. No Scan, no table admin.
  statement {
    sid = "MainTableItems"
    actions = [
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:DeleteItem",
      "dynamodb:ConditionCheckItem",
      "dynamodb:Query",
    ]
    resources = [var.table_arn]
  }

  statement {
    sid       = "MainTableIndexes"
    actions   = ["dynamodb:Query"]
    resources = var.table_index_arns
  }

  # Ingest writes sealed items to the primary with multipart upload (PutObject covers create,
  # upload part and complete; abort is its own action).
  statement {
    sid       = "WritePrimaryItems"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${local.primary.bucket_arn}/${var.items_prefix}*"]
  }

  # Reading an item back and the presigned GET URLs that edges fill from: a presigned URL carries
  # the signer's permissions, so main must itself be allowed to read what it hands out.
  statement {
    sid       = "ReadParentItems"
    actions   = ["s3:GetObject"]
    resources = [for p in var.parents : "${p.bucket_arn}/${var.items_prefix}*"]
  }

  statement {
    sid       = "EncryptPrimaryItems"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [local.primary.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.primary.region}.amazonaws.com"]
    }
  }

  dynamic "statement" {
    for_each = { for p in var.parents : p.name => p if !p.primary }
    content {
      sid       = "DecryptItemsIn${replace(title(replace(statement.key, "-", " ")), " ", "")}"
      actions   = ["kms:Decrypt"]
      resources = [statement.value.kms_key_arn]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${statement.value.region}.amazonaws.com"]
      }
    }
  }

  statement {
    sid       = "UseTableKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [var.table_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "ReadMainSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = values(var.secret_environment)
  }

  statement {
    sid       = "DecryptMainSecrets"
    actions   = ["kms:Decrypt"]
    resources = [var.secrets_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }

  # Lambda decrypts the function's environment with the execution role's permission.
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
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.main.arn}:*"]
  }

  # X-Ray has no resource-level permissions for these two actions.
  statement {
    sid       = "WriteTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "main" {
  name   = "main-service"
  role   = aws_iam_role.main.id
  policy = data.aws_iam_policy_document.main.json
}

# ---- function -----------------------------------------------------------------------------

resource "aws_lambda_function" "main" {
  #checkov:skip=CKV_AWS_116:Main is invoked synchronously through its function URL; a dead-letter queue only receives failed asynchronous invocations, which main never gets.
  #checkov:skip=CKV_AWS_117:Main talks only to public AWS endpoints (DynamoDB, S3, Secrets Manager) over TLS with IAM; a VPC would add NAT gateway or endpoint costs and cold-start time and protect nothing here.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile and a signing step in the build; the package is built and uploaded by the same operator who runs Terraform, so a signature would prove nothing more. Revisit when a CI pipeline builds releases.
  function_name                  = var.function_name
  description                    = "Main service of the delivery network (accounts, catalog, rentals, licences, edge authorize)"
  role                           = aws_iam_role.main.arn
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

  tracing_config {
    mode = "Active"
  }

  logging_config {
    # Main already writes JSON lines (tracing's JSON formatter) when AWS_LAMBDA_RUNTIME_API is set.
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.main.name
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.main]
}

# Auth NONE on purpose: main authenticates every caller itself. Customers carry session bearer
# tokens, edges their per-edge credential (X-Edge-Id + Authorization), operators the admin token,
# and the public endpoints (healthz, JWKS, catalog, register, login) are public by design. AWS_IAM
# would require SigV4 from browsers, players and edge platforms that hold no AWS credentials.
resource "aws_lambda_function_url" "main" {
  #checkov:skip=CKV_AWS_258:Main authenticates its callers itself (sessions, per-edge credentials, admin token); see the comment above.
  function_name      = aws_lambda_function.main.function_name
  authorization_type = "NONE"
  invoke_mode        = "BUFFERED"
}

resource "aws_lambda_permission" "url" {
  #checkov:skip=CKV_AWS_301:The function URL is main's public API and web site by design; main authenticates every caller itself (see the function URL above).
  statement_id           = "PublicFunctionUrl"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.main.function_name
  principal              = "*"
  function_url_auth_type = "NONE"
}

# Required for new function URLs since October 2025; the condition limits it to calls that came
# through the URL, so nobody can invoke main directly through the Lambda API.
resource "aws_lambda_permission" "url_invoke" {
  #checkov:skip=CKV_AWS_301:Public only through the function URL (invoked_via_function_url); main authenticates every caller itself.
  statement_id             = "PublicInvokeViaFunctionUrl"
  action                   = "lambda:InvokeFunction"
  function_name            = aws_lambda_function.main.function_name
  principal                = "*"
  invoked_via_function_url = true
}

# ---- alarms -------------------------------------------------------------------------------

locals {
  alarm_actions = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]
  alarms = {
    errors = {
      metric      = "Errors"
      threshold   = var.error_alarm_threshold
      description = "main crashed or timed out (not 4xx answers)"
    }
    throttles = {
      metric      = "Throttles"
      threshold   = 1
      description = "invocations refused at the reserved concurrency: raise reserved_concurrency or look for a flood"
    }
    url-5xx = {
      metric      = "Url5xxCount"
      threshold   = var.url_5xx_alarm_threshold
      description = "the function URL answered 5xx (main's own 5xx and Lambda's)"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "main" {
  for_each = local.alarms

  alarm_name          = "${var.function_name}-${each.key}"
  alarm_description   = "${var.function_name}: ${each.value.description}."
  namespace           = "AWS/Lambda"
  metric_name         = each.value.metric
  dimensions          = { FunctionName = aws_lambda_function.main.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}
