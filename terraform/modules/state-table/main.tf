# Main's single table. Every name here is a contract with the code: docs/dynamodb.md and
# main-service/src/store/dynamodb/schema.rs (`PK`, `SK`, `GSI1`, `GSI1_PK`, `GSI1_SK`, `TTL`).
# Change them everywhere or nowhere; the hcl consistency test compares them.

locals {
  hash_key      = "pk"
  range_key     = "sk"
  gsi1_name     = "gsi1"
  gsi1_hash_key = "gsi1pk"
  gsi1_sort_key = "gsi1sk"
  ttl_attribute = "purge_at"
}

resource "aws_dynamodb_table" "main" {
  name                        = var.name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = local.hash_key
  range_key                   = local.range_key
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = local.hash_key
    type = "S"
  }

  attribute {
    name = local.range_key
    type = "S"
  }

  attribute {
    name = local.gsi1_hash_key
    type = "S"
  }

  attribute {
    name = local.gsi1_sort_key
    type = "S"
  }

  # The catalog (gsi1pk = CATALOG) and the rentals of an account (gsi1pk = ACCOUNT#id).
  global_secondary_index {
    name            = local.gsi1_name
    hash_key        = local.gsi1_hash_key
    range_key       = local.gsi1_sort_key
    projection_type = "ALL"
  }

  # Login sessions and download sessions carry purge_at; DynamoDB deletes them lazily and the code
  # never relies on the deletion.
  ttl {
    attribute_name = local.ttl_attribute
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}

# Throttling that outlives the SDK's retries reaches customers as StoreError::Throttled. Reads and
# writes are alarmed separately, for the table and for gsi1 (an index that throttles throttles the
# table's writes too), so the alarm says which side hit the wall.
locals {
  alarm_actions = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]
  throttle_alarms = {
    read = {
      metric     = "ReadThrottleEvents"
      dimensions = { TableName = aws_dynamodb_table.main.name }
    }
    write = {
      metric     = "WriteThrottleEvents"
      dimensions = { TableName = aws_dynamodb_table.main.name }
    }
    ("${local.gsi1_name}-read") = {
      metric     = "ReadThrottleEvents"
      dimensions = { TableName = aws_dynamodb_table.main.name, GlobalSecondaryIndexName = local.gsi1_name }
    }
    ("${local.gsi1_name}-write") = {
      metric     = "WriteThrottleEvents"
      dimensions = { TableName = aws_dynamodb_table.main.name, GlobalSecondaryIndexName = local.gsi1_name }
    }
  }
  # SystemErrors is published per operation only; these are the operations main uses.
  operations = ["GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "TransactWriteItems"]
}

resource "aws_cloudwatch_metric_alarm" "throttled" {
  for_each = local.throttle_alarms

  alarm_name          = "${var.name}-${each.key}-throttles"
  alarm_description   = "DynamoDB table ${var.name} (${each.key}): ${each.value.metric} reached ${var.throttle_alarm_threshold} in 5 minutes."
  namespace           = "AWS/DynamoDB"
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.throttle_alarm_threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# Conditional-check failures and cancelled transactions are normal answers (a fourth download
# session on a 3-use token); server-side errors are not.
resource "aws_cloudwatch_metric_alarm" "system_errors" {
  alarm_name          = "${var.name}-system-errors"
  alarm_description   = "DynamoDB table ${var.name}: server-side errors (5xx) in 5 minutes, summed over main's operations."
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  tags                = var.tags

  metric_query {
    id          = "errors"
    expression  = join(" + ", [for i, op in local.operations : "FILL(op${i}, 0)"])
    label       = "SystemErrors"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = local.operations
    content {
      id = "op${metric_query.key}"
      metric {
        namespace   = "AWS/DynamoDB"
        metric_name = "SystemErrors"
        dimensions  = { TableName = aws_dynamodb_table.main.name, Operation = metric_query.value }
        stat        = "Sum"
        period      = 300
      }
    }
  }
}
