variable "function_name" {
  description = "Name of this parent-sync function, unique in the account across regions (include the region: the IAM role named after it is global); also names its queue, log group and alarms."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,56}$", var.function_name))
    error_message = "function_name must be 1-56 characters of A-Z, a-z, 0-9, '_' and '-'."
  }
}

variable "bootstrap_zip_path" {
  description = "Path of the deployment package: a zip whose root holds the parent-sync binary named `bootstrap`, built for provided.al2023 and the chosen architecture."
  type        = string

  validation {
    condition     = endswith(var.bootstrap_zip_path, ".zip")
    error_message = "bootstrap_zip_path must name a .zip file."
  }
}

variable "architecture" {
  description = "Instruction set of the function (arm64 or x86_64); the binary must match."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "memory_mb" {
  description = "Memory in MB. Verification streams chunk by chunk, so memory buys CPU and network bandwidth (BLAKE3 and the read rate), not buffer space."
  type        = number
  default     = 2048

  validation {
    condition     = var.memory_mb >= 128 && var.memory_mb <= 10240
    error_message = "memory_mb must be between 128 and 10240."
  }
}

variable "timeout_secs" {
  description = "Longest one verification may run (Lambda's ceiling is 900 s). At roughly 100 MB/s one read verifies about 90 GB in 900 s."
  type        = number
  default     = 900

  validation {
    condition     = var.timeout_secs >= 30 && var.timeout_secs <= 900
    error_message = "timeout_secs must be between 30 and 900."
  }
}

variable "reserved_concurrency" {
  description = "Most verifications at once in this region: bounds read load on the bucket when a large ingest batch replicates. -1 means no reservation (needed while the account's concurrency quota is below reservations + 100)."
  type        = number
  default     = 10

  validation {
    condition     = var.reserved_concurrency == -1 || var.reserved_concurrency >= 1
    error_message = "reserved_concurrency must be at least 1, or -1 for no reservation."
  }
}

variable "kms_key_arn" {
  description = "KMS key of this function's region: encrypts its environment, log group and dead-letter queue."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "primary" {
  description = "The primary parent (modules/parents output `primary`): the reference every replica is compared with."
  type = object({
    region      = string
    bucket      = string
    bucket_arn  = string
    kms_key_arn = string
  })
}

variable "secondary" {
  description = "The secondary parent in this function's region (an element of modules/parents output `secondaries`): its new objects are verified."
  type = object({
    region      = string
    bucket      = string
    bucket_arn  = string
    kms_key_arn = string
  })
}

variable "items_prefix" {
  description = "Key prefix of sealed items; only objects under it trigger a verification."
  type        = string
  default     = "items/"
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the function's logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "log_filter" {
  description = "RUST_LOG filter (tracing EnvFilter syntax)."
  type        = string
  default     = "info"
}

variable "alarm_topic_arn" {
  description = "SNS topic in this function's region the alarms notify; null creates the alarms without actions."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
