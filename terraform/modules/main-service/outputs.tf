output "function_name" {
  description = "Name of main's function."
  value       = aws_lambda_function.main.function_name
}

output "function_arn" {
  description = "ARN of main's function."
  value       = aws_lambda_function.main.arn
}

output "function_url" {
  description = "Main's public base URL (ends with /); give it to edges as main_url and to players as --main."
  value       = aws_lambda_function_url.main.function_url
}

output "role_arn" {
  description = "ARN of main's execution role."
  value       = aws_iam_role.main.arn
}

output "log_group_name" {
  description = "CloudWatch log group of main."
  value       = aws_cloudwatch_log_group.main.name
}

output "config_toml" {
  description = "The main.toml placed in the config layer (no secrets), for review."
  value       = local.config
}

output "environment_names" {
  description = "Names of the environment variables main is given (values omitted)."
  value       = sort(keys(local.environment))
}
