variable "bucket_name" {
  description = "Name of the parent bucket. Main and parent-sync are told it in their [[parents]] tables (`bucket`)."
  type        = string

  validation {
    # The same rule as parent_sync::valid_bucket_name, so a name Terraform accepts the code accepts.
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name)) && !strcontains(var.bucket_name, "..")
    error_message = "bucket_name must be 3-63 characters of a-z, 0-9, '.' and '-', starting and ending with a letter or digit, without '..'."
  }
}

variable "kms_key_arn" {
  description = "ARN of the KMS key (in this bucket's region) that encrypts the objects."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "noncurrent_version_days" {
  description = "Days a replaced or deleted object version is kept before it expires. Object keys carry the item version (items/{item}/v{version}.sealed), so noncurrent versions only exist after an overwrite or a delete: this is the undo window."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_days >= 1
    error_message = "noncurrent_version_days must be at least 1."
  }
}

variable "abort_multipart_days" {
  description = "Days after which an unfinished multipart upload (an ingest or a copy that died) is aborted and its parts freed."
  type        = number
  default     = 7

  validation {
    condition     = var.abort_multipart_days >= 1
    error_message = "abort_multipart_days must be at least 1."
  }
}

variable "access_logging" {
  description = "Write S3 server access logs to a log bucket created beside the parent. Turn off only where CloudTrail S3 data events already record object access for this account."
  type        = bool
  default     = true
}

variable "access_log_days" {
  description = "Days access logs are kept."
  type        = number
  default     = 90

  validation {
    condition     = var.access_log_days >= 1
    error_message = "access_log_days must be at least 1."
  }
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete a bucket that still holds objects. Only for test deployments: a parent holds the whole library."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
