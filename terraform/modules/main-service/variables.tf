variable "function_name" {
  description = "Name of main's Lambda function; also names its role, log group and alarms."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,56}$", var.function_name))
    error_message = "function_name must be 1-56 characters of A-Z, a-z, 0-9, '_' and '-' (the role name adds a suffix)."
  }
}

variable "bootstrap_zip_path" {
  description = "Path of the deployment package: a zip whose root holds the main-service binary named `bootstrap`, built for provided.al2023 and the chosen architecture (docs/deploy-aws.md)."
  type        = string

  validation {
    condition     = endswith(var.bootstrap_zip_path, ".zip")
    error_message = "bootstrap_zip_path must name a .zip file."
  }
}

variable "architecture" {
  description = "Instruction set of the function; the bootstrap binary must be built for it (arm64: aarch64-unknown-linux-gnu, about 20% cheaper per GB-second; x86_64: x86_64-unknown-linux-gnu)."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "memory_mb" {
  description = "Memory of the function in MB; CPU grows with it. Password hashing on register and login is the heaviest work main does."
  type        = number
  default     = 1024

  validation {
    condition     = var.memory_mb >= 128 && var.memory_mb <= 10240
    error_message = "memory_mb must be between 128 and 10240."
  }
}

variable "timeout_secs" {
  description = "Longest a single request may run. Function URL requests are bounded by the client's patience; authorize answers in milliseconds."
  type        = number
  default     = 30

  validation {
    condition     = var.timeout_secs >= 3 && var.timeout_secs <= 900
    error_message = "timeout_secs must be between 3 and 900."
  }
}

variable "reserved_concurrency" {
  description = "Most instances of main that may run at once: a fuse on cost and on the table's write rate if something floods the URL. One download session costs one authorize call (the edge caches the grant), so this bounds new sessions per second, not downloads. Reservations must leave the account 100 unreserved executions: on an account whose concurrency quota is still 10, use -1 (no reservation) until the quota is raised."
  type        = number
  default     = 100

  validation {
    condition     = var.reserved_concurrency == -1 || var.reserved_concurrency >= 1
    error_message = "reserved_concurrency must be at least 1, or -1 for no reservation."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps main's logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "log_filter" {
  description = "RUST_LOG filter of main (tracing EnvFilter syntax)."
  type        = string
  default     = "info,tower_http=warn"
}

variable "kms_key_arn" {
  description = "KMS key of main's region: encrypts the function's environment and log group, and is the key of the table and the secrets."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "table_name" {
  description = "Name of main's DynamoDB table (modules/state-table)."
  type        = string
}

variable "table_arn" {
  description = "ARN of main's DynamoDB table."
  type        = string
}

variable "table_index_arns" {
  description = "ARNs of the table's global secondary indexes (modules/state-table output index_arns)."
  type        = list(string)
}

variable "table_kms_key_arn" {
  description = "KMS key that encrypts the table (usually kms_key_arn)."
  type        = string
}

variable "parents" {
  description = "The parent buckets (modules/parents output `parents`): main writes the primary and presigns reads of all."
  type = list(object({
    name        = string
    region      = string
    bucket      = string
    bucket_arn  = string
    kms_key_arn = string
    primary     = bool
  }))

  validation {
    condition     = length([for p in var.parents : p if p.primary]) == 1
    error_message = "exactly one parent must be primary."
  }
}

variable "items_prefix" {
  description = "Key prefix of sealed items in the parents; main's permissions stop at it."
  type        = string
  default     = "items/"
}

variable "secret_environment" {
  description = "Environment variable name => Secrets Manager secret ARN (modules/secrets output `environment`)."
  type        = map(string)

  validation {
    condition     = alltrue([for k, v in var.secret_environment : can(regex("^MAIN_[A-Z0-9_]+_SECRET_ARN$", k)) && can(regex("^arn:aws[a-z-]*:secretsmanager:", v))])
    error_message = "secret_environment maps MAIN_..._SECRET_ARN names to Secrets Manager ARNs."
  }
}

variable "secrets_kms_key_arn" {
  description = "KMS key that encrypts the secrets (usually kms_key_arn)."
  type        = string
}

variable "regions" {
  description = "Delivery regions => the ISO 3166 country codes each serves (main's [[regions]]). Name them after the AWS region of the parent that should serve them, so main lists that parent first in an edge's fill sources."
  type        = map(list(string))

  validation {
    condition     = alltrue(flatten([for r, cs in var.regions : [for c in cs : can(regex("^[A-Z]{2}$", c))]]))
    error_message = "every country must be a two-letter upper-case ISO code such as \"DE\"."
  }
}

variable "edges" {
  description = "The edges main sends clients to and accepts authorize calls from: id, delivery region (a key of `regions`) and the https URL clients download from. Each edge's credential is in the edge-secrets secret under its id."
  type = list(object({
    id     = string
    region = string
    url    = string
  }))

  validation {
    condition     = length(distinct([for e in var.edges : e.id])) == length(var.edges)
    error_message = "edge ids must be unique."
  }

  validation {
    condition     = alltrue([for e in var.edges : startswith(e.url, "https://")])
    error_message = "edge urls must start with https://."
  }
}

variable "settings" {
  description = "Main's behaviour settings (docs/configuration.md); unset fields keep the code's defaults."
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

  validation {
    condition     = var.settings.token_max_uses >= 1 && var.settings.token_ttl_secs >= 1 && var.settings.licence_window_secs >= 1
    error_message = "token_max_uses, token_ttl_secs and licence_window_secs must be positive."
  }
}

variable "alarm_topic_arn" {
  description = "SNS topic (in main's region) the alarms notify; null creates the alarms without actions."
  type        = string
  default     = null
}

variable "error_alarm_threshold" {
  description = "Function errors (crashes, timeouts; not 4xx answers) in 5 minutes that raise the alarm."
  type        = number
  default     = 5
}

variable "url_5xx_alarm_threshold" {
  description = "5xx answers of the function URL in 5 minutes that raise the alarm."
  type        = number
  default     = 10
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
