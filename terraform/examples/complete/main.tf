# A complete deployment in three regions: a KMS key per region, main's table and secrets in the
# primary, a parent bucket per region with S3 replication from the primary, main on Lambda behind
# a function URL, and a parent-sync function in each secondary region that verifies replicas.

locals {
  topic = { for role, region in var.aws_regions : role => lookup(var.alarm_topic_arns, region, null) }
}

module "kms_primary" {
  source    = "../../modules/kms-key"
  providers = { aws = aws.primary }

  alias       = "${var.name}-${var.aws_regions.primary}"
  description = "${var.name}: parent objects, table, secrets, function environments and logs in ${var.aws_regions.primary}"
}

module "kms_secondary1" {
  source    = "../../modules/kms-key"
  providers = { aws = aws.secondary1 }

  alias       = "${var.name}-${var.aws_regions.secondary1}"
  description = "${var.name}: parent objects, function environment and logs in ${var.aws_regions.secondary1}"
}

module "kms_secondary2" {
  source    = "../../modules/kms-key"
  providers = { aws = aws.secondary2 }

  alias       = "${var.name}-${var.aws_regions.secondary2}"
  description = "${var.name}: parent objects, function environment and logs in ${var.aws_regions.secondary2}"
}

module "table" {
  source    = "../../modules/state-table"
  providers = { aws = aws.primary }

  name                = "${var.name}-main"
  kms_key_arn         = module.kms_primary.key_arn
  deletion_protection = var.deletion_protection
  alarm_topic_arn     = local.topic.primary
}

module "secrets" {
  source    = "../../modules/secrets"
  providers = { aws = aws.primary }

  name_prefix = "${var.name}/main"
  kms_key_arn = module.kms_primary.key_arn
}

module "parents" {
  source = "../../modules/parents"
  providers = {
    aws.primary    = aws.primary
    aws.secondary1 = aws.secondary1
    aws.secondary2 = aws.secondary2
  }

  bucket_prefix = var.bucket_prefix
  kms_key_arns = {
    primary    = module.kms_primary.key_arn
    secondary1 = module.kms_secondary1.key_arn
    secondary2 = module.kms_secondary2.key_arn
  }
  alarm_topic_arn = local.topic.primary
  force_destroy   = var.force_destroy
}

module "main" {
  source    = "../../modules/main-service"
  providers = { aws = aws.primary }

  function_name        = "${var.name}-main"
  bootstrap_zip_path   = var.main_zip_path
  architecture         = var.architecture
  kms_key_arn          = module.kms_primary.key_arn
  table_name           = module.table.table_name
  table_arn            = module.table.table_arn
  table_index_arns     = module.table.index_arns
  table_kms_key_arn    = module.kms_primary.key_arn
  parents              = [for p in module.parents.parents : { name = p.name, region = p.region, bucket = p.bucket, bucket_arn = p.bucket_arn, kms_key_arn = p.kms_key_arn, primary = p.primary }]
  items_prefix         = module.parents.items_prefix
  secret_environment   = module.secrets.environment
  secrets_kms_key_arn  = module.kms_primary.key_arn
  regions              = var.delivery_regions
  edges                = var.edges
  settings             = var.main_settings
  reserved_concurrency = var.main_reserved_concurrency
  alarm_topic_arn      = local.topic.primary
}

module "sync_secondary1" {
  source    = "../../modules/parent-sync"
  providers = { aws = aws.secondary1 }

  function_name        = "${var.name}-parent-sync-${var.aws_regions.secondary1}"
  bootstrap_zip_path   = var.parent_sync_zip_path
  architecture         = var.architecture
  kms_key_arn          = module.kms_secondary1.key_arn
  primary              = module.parents.primary
  secondary            = module.parents.secondaries.secondary1
  items_prefix         = module.parents.items_prefix
  reserved_concurrency = var.parent_sync_reserved_concurrency
  alarm_topic_arn      = local.topic.secondary1
}

module "sync_secondary2" {
  source    = "../../modules/parent-sync"
  providers = { aws = aws.secondary2 }

  function_name        = "${var.name}-parent-sync-${var.aws_regions.secondary2}"
  bootstrap_zip_path   = var.parent_sync_zip_path
  architecture         = var.architecture
  kms_key_arn          = module.kms_secondary2.key_arn
  primary              = module.parents.primary
  secondary            = module.parents.secondaries.secondary2
  items_prefix         = module.parents.items_prefix
  reserved_concurrency = var.parent_sync_reserved_concurrency
  alarm_topic_arn      = local.topic.secondary2
}
