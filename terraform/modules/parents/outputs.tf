output "parents" {
  description = "The three parents as main's and parent-sync's [[parents]] tables expect them (name = AWS region, bucket, primary), plus the ARNs IAM policies need."
  value = [
    for role, m in {
      primary    = module.primary
      secondary1 = module.secondary1
      secondary2 = module.secondary2
      } : {
      role        = role
      name        = local.regions[role]
      region      = local.regions[role]
      bucket      = m.bucket_name
      bucket_arn  = m.bucket_arn
      kms_key_arn = var.kms_key_arns[role]
      primary     = role == "primary"
    }
  ]
}

output "primary" {
  description = "The primary parent (main writes here)."
  value = {
    region      = local.regions.primary
    bucket      = module.primary.bucket_name
    bucket_arn  = module.primary.bucket_arn
    kms_key_arn = var.kms_key_arns.primary
  }
}

output "secondaries" {
  description = "The secondaries by provider role (replication destinations, verified by parent-sync)."
  value = {
    for role, m in local.destinations : role => {
      region      = local.regions[role]
      bucket      = m.bucket_name
      bucket_arn  = m.bucket_arn
      kms_key_arn = var.kms_key_arns[role]
    }
  }
}

output "items_prefix" {
  description = "Key prefix of the sealed items (items/{item}/v{version}.sealed)."
  value       = local.items_prefix
}

output "replication_role_arn" {
  description = "ARN of the role S3 replication assumes."
  value       = aws_iam_role.replication.arn
}
