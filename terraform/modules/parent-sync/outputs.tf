output "function_name" {
  description = "Name of the function."
  value       = aws_lambda_function.sync.function_name
}

output "function_arn" {
  description = "ARN of the function."
  value       = aws_lambda_function.sync.arn
}

output "dead_letter_queue_url" {
  description = "URL of the queue that holds events whose verification never succeeded."
  value       = aws_sqs_queue.dead_letters.id
}

output "log_group_name" {
  description = "CloudWatch log group of the function."
  value       = aws_cloudwatch_log_group.sync.name
}

output "config_toml" {
  description = "The parent-sync.toml placed in the config layer."
  value       = local.config
}
