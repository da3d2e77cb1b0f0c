output "main_url" {
  description = "Main's base URL: edges' main_url, the player's --main, the web site."
  value       = module.main.function_url
}

output "jwks_url" {
  description = "Where edges fetch main's public keys."
  value       = "${trimsuffix(module.main.function_url, "/")}/.well-known/jwks.json"
}

output "table_name" {
  description = "Main's DynamoDB table."
  value       = module.table.table_name
}

output "parents" {
  description = "The parent buckets (name = AWS region, bucket, primary)."
  value       = [for p in module.parents.parents : { name = p.name, region = p.region, bucket = p.bucket, primary = p.primary }]
}

output "secret_names" {
  description = "Secrets to fill with `aws secretsmanager put-secret-value` before main can start."
  value       = module.secrets.secret_names
}

output "main_config_toml" {
  description = "The main.toml in main's config layer (no secrets)."
  value       = module.main.config_toml
}

output "main_environment_names" {
  description = "Environment variables main is given."
  value       = module.main.environment_names
}

output "parent_sync_functions" {
  description = "The replica-verifying functions by region, with their dead-letter queues."
  value = {
    (var.aws_regions.secondary1) = { function = module.sync_secondary1.function_name, dead_letters = module.sync_secondary1.dead_letter_queue_url }
    (var.aws_regions.secondary2) = { function = module.sync_secondary2.function_name, dead_letters = module.sync_secondary2.dead_letter_queue_url }
  }
}

output "parent_origins" {
  description = "Origins the edges may fetch presigned parent URLs from (Spin variables parent_origin_1..3); main presigns virtual-hosted URLs on AWS."
  value       = [for p in module.parents.parents : "https://${p.bucket}.s3.${p.region}.amazonaws.com"]
}
