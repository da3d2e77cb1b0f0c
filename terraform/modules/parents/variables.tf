variable "bucket_prefix" {
  description = "Prefix of the parent bucket names; each bucket is PREFIX-REGION (e.g. acme-cdn-parent-eu-west-1). Bucket names are global, so include something only you use."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,36}$", var.bucket_prefix))
    error_message = "bucket_prefix must be 2-37 characters of a-z, 0-9 and '-', starting with a letter or digit (the region and '-logs' must still fit in 63)."
  }
}

variable "kms_key_arns" {
  description = "KMS key of each region (from modules/kms-key), by provider role."
  type = object({
    primary    = string
    secondary1 = string
    secondary2 = string
  })
}

variable "noncurrent_version_days" {
  description = "Days a replaced or deleted object version is kept (see modules/parent-bucket)."
  type        = number
  default     = 30
}

variable "abort_multipart_days" {
  description = "Days after which an unfinished multipart upload is aborted (see modules/parent-bucket)."
  type        = number
  default     = 7
}

variable "access_logging" {
  description = "Server access logs for each parent (see modules/parent-bucket)."
  type        = bool
  default     = true
}

variable "replication_time_control" {
  description = "S3 Replication Time Control: replicas within 15 minutes, backed by an SLA, at an extra charge per GB. Off, replication usually completes in minutes but has no bound."
  type        = bool
  default     = false
}

variable "replica_storage_class" {
  description = "Storage class of the replicas in the secondaries."
  type        = string
  default     = "STANDARD"

  validation {
    condition     = contains(["STANDARD", "INTELLIGENT_TIERING", "STANDARD_IA"], var.replica_storage_class)
    error_message = "replica_storage_class must be STANDARD, INTELLIGENT_TIERING or STANDARD_IA (parents serve reads at any time, so no archive class)."
  }
}

variable "alarm_topic_arn" {
  description = "SNS topic in the primary region notified when replication fails; null creates the alarm without actions."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete non-empty buckets (test deployments only)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
