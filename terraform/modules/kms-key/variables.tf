variable "alias" {
  description = "Alias of the key without the `alias/` prefix, e.g. `cdn-eu-west-1`."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9/_-]{1,250}$", var.alias)) && !startswith(var.alias, "aws/")
    error_message = "alias must be 1-250 characters of A-Z, a-z, 0-9, '/', '_' and '-', and must not start with aws/."
  }
}

variable "description" {
  description = "What the key protects, shown in the KMS console."
  type        = string
}

variable "deletion_window_in_days" {
  description = "Days a scheduled deletion waits before the key is gone (and every object it encrypted with it)."
  type        = number
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "deletion_window_in_days must be between 7 and 30."
  }
}

variable "tags" {
  description = "Tags for the key."
  type        = map(string)
  default     = {}
}
