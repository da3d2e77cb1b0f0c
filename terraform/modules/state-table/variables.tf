variable "name" {
  description = "Name of main's DynamoDB table (main reads it from MAIN_DYNAMODB_TABLE)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{3,255}$", var.name))
    error_message = "name must be 3-255 characters of A-Z, a-z, 0-9, '_', '-' and '.'."
  }
}

variable "kms_key_arn" {
  description = "ARN of the customer-managed KMS key that encrypts the table at rest (in the table's region)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "deletion_protection" {
  description = "Refuse DeleteTable while true. Keep it on for any table that holds real accounts and licences; turn it off only to destroy a test deployment."
  type        = bool
  default     = true
}

variable "alarm_topic_arn" {
  description = "SNS topic (in the table's region) that the throttling alarms notify; null creates the alarms without actions."
  type        = string
  default     = null
}

variable "throttle_alarm_threshold" {
  description = "Throttled requests in 5 minutes that raise the alarm. On-demand tables throttle only past their peak doubling, so any sustained throttling deserves a look."
  type        = number
  default     = 10

  validation {
    condition     = var.throttle_alarm_threshold >= 1
    error_message = "throttle_alarm_threshold must be at least 1."
  }
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
