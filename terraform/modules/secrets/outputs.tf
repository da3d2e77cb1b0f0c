output "secret_arns" {
  description = "ARN of each secret, by short name (signing-key, key-encryption-key, admin-token, edge-secrets)."
  value       = { for k, s in aws_secretsmanager_secret.main : k => s.arn }
}

output "environment" {
  description = "The environment variables that tell main where each secret is (name => ARN)."
  value       = { for k, s in aws_secretsmanager_secret.main : local.secrets[k].env => s.arn }
}

output "secret_names" {
  description = "Name of each secret, for `aws secretsmanager put-secret-value --secret-id`."
  value       = { for k, s in aws_secretsmanager_secret.main : k => s.name }
}
