variable "name" {
  description = "Short name of this deployment; prefixes the table, functions, roles, keys and secrets (e.g. cdn-prod)."
  type        = string
  default     = "cdn"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,23}$", var.name))
    error_message = "name must be 2-24 characters of a-z, 0-9 and '-', starting with a letter (function names built from it stay under 64)."
  }
}

variable "bucket_prefix" {
  description = "Prefix of the parent bucket names (PREFIX-REGION). Bucket names are global across all AWS accounts: include your organisation, e.g. acme-cdn-parent."
  type        = string
}

variable "aws_regions" {
  description = "The three AWS regions of the parents. Main, its DynamoDB table and its secrets run in the primary."
  type = object({
    primary    = string
    secondary1 = string
    secondary2 = string
  })
  default = {
    primary    = "eu-west-1"
    secondary1 = "us-east-1"
    secondary2 = "ap-southeast-1"
  }

  validation {
    condition     = length(distinct([var.aws_regions.primary, var.aws_regions.secondary1, var.aws_regions.secondary2])) == 3
    error_message = "the three regions must differ."
  }

  validation {
    condition     = alltrue([for r in [var.aws_regions.primary, var.aws_regions.secondary1, var.aws_regions.secondary2] : can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", r))])
    error_message = "regions must be AWS region names such as eu-west-1."
  }
}

variable "delivery_regions" {
  description = "Main's delivery regions => the ISO countries each serves. Name each after the AWS region of the parent that should serve it: main lists the parent whose region equals the edge's region first in fill sources."
  type        = map(list(string))
  default = {
    "eu-west-1"      = ["AT", "BE", "CH", "DE", "DK", "ES", "FI", "FR", "GB", "IE", "IT", "NL", "NO", "PL", "PT", "SE"]
    "us-east-1"      = ["BR", "CA", "MX", "US"]
    "ap-southeast-1" = ["AU", "ID", "IN", "JP", "KR", "MY", "NZ", "PH", "SG", "TH"]
  }
}

variable "edges" {
  description = "The edges: id, delivery region (a key of delivery_regions) and the https URL clients download from. Put each edge's credential in the edge-secrets secret under its id."
  type = list(object({
    id     = string
    region = string
    url    = string
  }))
  default = []
}

variable "main_zip_path" {
  description = "Path of main's Lambda package (bootstrap zip), relative to this directory or absolute."
  type        = string
  default     = "../../../target/lambda/main-service/bootstrap.zip"
}

variable "parent_sync_zip_path" {
  description = "Path of parent-sync's Lambda package (bootstrap zip)."
  type        = string
  default     = "../../../target/lambda/parent-sync/bootstrap.zip"
}

variable "architecture" {
  description = "Instruction set of both functions (arm64 or x86_64); the packages must be built for it."
  type        = string
  default     = "arm64"
}

variable "main_reserved_concurrency" {
  description = "Most concurrent instances of main (a cost fuse; see modules/main-service). -1 for no reservation, e.g. on a new account whose Lambda concurrency quota is 10."
  type        = number
  default     = 100
}

variable "parent_sync_reserved_concurrency" {
  description = "Most concurrent replica verifications per secondary region. -1 for no reservation."
  type        = number
  default     = 10
}

variable "alarm_topic_arns" {
  description = "SNS topic per AWS region (region => topic ARN) that the alarms of that region notify. A region without one gets alarms without actions."
  type        = map(string)
  default     = {}
}

variable "deletion_protection" {
  description = "Protect the DynamoDB table from deletion. Turn off only to destroy a test deployment."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Let `terraform destroy` empty and delete the parent buckets and access-log buckets (test deployments only)."
  type        = bool
  default     = false
}

variable "main_settings" {
  description = "Main's behaviour settings (token uses and lifetimes, licence window, key version); see modules/main-service."
  type = object({
    key_version         = optional(number, 1)
    max_ingest_bytes    = optional(number, 107374182400)
    token_ttl_secs      = optional(number, 172800)
    token_max_uses      = optional(number, 3)
    session_idle_secs   = optional(number, 900)
    source_url_secs     = optional(number, 900)
    licence_window_secs = optional(number, 86400)
  })
  default = {}
}

variable "tags" {
  description = "Tags on every resource (through the providers' default_tags)."
  type        = map(string)
  default = {
    project = "cdn"
  }
}
