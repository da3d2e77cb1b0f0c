output "table_name" {
  description = "Name of the table (MAIN_DYNAMODB_TABLE)."
  value       = aws_dynamodb_table.main.name
}

output "table_arn" {
  description = "ARN of the table."
  value       = aws_dynamodb_table.main.arn
}

output "index_arns" {
  description = "ARNs of the table's global secondary indexes (table ARN + /index/NAME)."
  value       = ["${aws_dynamodb_table.main.arn}/index/${local.gsi1_name}"]
}

output "schema" {
  description = "The names the code relies on (docs/dynamodb.md)."
  value = {
    hash_key      = local.hash_key
    range_key     = local.range_key
    gsi1_name     = local.gsi1_name
    gsi1_hash_key = local.gsi1_hash_key
    gsi1_sort_key = local.gsi1_sort_key
    ttl_attribute = local.ttl_attribute
  }
}
