variable "name_prefix" {
  description = "Prefix of the secret names: PREFIX/signing-key, PREFIX/key-encryption-key, PREFIX/admin-token, PREFIX/edge-secrets."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9/_+=.@-]{1,400}$", var.name_prefix))
    error_message = "name_prefix may hold only A-Z, a-z, 0-9 and /_+=.@- (Secrets Manager's alphabet)."
  }
}

variable "kms_key_arn" {
  description = "ARN of the KMS key (in main's region) that encrypts the secrets."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "recovery_window_in_days" {
  description = "Days a deleted secret can still be restored. Losing the key-encryption key loses every content key it wrapped, so keep the longest window outside throwaway deployments."
  type        = number
  default     = 30

  validation {
    condition     = var.recovery_window_in_days == 0 || (var.recovery_window_in_days >= 7 && var.recovery_window_in_days <= 30)
    error_message = "recovery_window_in_days must be 0 (delete at once) or between 7 and 30."
  }
}

variable "tags" {
  description = "Tags for every secret."
  type        = map(string)
  default     = {}
}
