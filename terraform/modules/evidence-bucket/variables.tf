variable "bucket_name" {
  description = "Name of the evidence bucket (globally unique). The control plane's worm.bucket."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 lower-case letters, digits, dots or hyphens (the control plane's worm.bucket rule)."
  }
}

variable "log_bucket_name" {
  description = "Name of the separate bucket that receives the evidence bucket's server access logs. Default: <bucket_name>-access-logs."
  type        = string
  default     = null
}

variable "retention_days" {
  description = "Default Object Lock retention in COMPLIANCE mode, in days. HIPAA 164.316(b)(2)(i) asks for 6 years (2190 days). The uploader also sets an explicit retain-until on every object (bundle time + retention_years); keep this at least 365 * retention_years."
  type        = number
  default     = 2190

  validation {
    condition     = var.retention_days >= 2190 && var.retention_days <= 36500 && floor(var.retention_days) == var.retention_days
    error_message = "retention_days must be a whole number from 2190 (6 years, HIPAA 164.316(b)(2)(i)) to 36500."
  }
}

variable "archive_after_days" {
  description = "Days after which object versions move to archive_storage_class."
  type        = number
  default     = 30

  validation {
    condition     = var.archive_after_days >= 1 && floor(var.archive_after_days) == var.archive_after_days
    error_message = "archive_after_days must be a whole number of days, at least 1."
  }
}

variable "archive_storage_class" {
  description = "Glacier class the lifecycle rule transitions to. GLACIER_IR (Instant Retrieval) keeps objects readable in milliseconds, which proofs, exports and msp-verify need; GLACIER and DEEP_ARCHIVE need a restore before those work on archived days."
  type        = string
  default     = "GLACIER_IR"

  validation {
    condition     = contains(["GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"], var.archive_storage_class)
    error_message = "archive_storage_class must be GLACIER_IR, GLACIER or DEEP_ARCHIVE."
  }
}

variable "access_log_retention_days" {
  description = "Days the server access logs are kept in the log bucket (default 6 years, like the evidence)."
  type        = number
  default     = 2190

  validation {
    condition     = var.access_log_retention_days >= 1 && floor(var.access_log_retention_days) == var.access_log_retention_days
    error_message = "access_log_retention_days must be a whole number of days, at least 1."
  }
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the evidence KMS key is deleted once deletion is scheduled (7-30). Deleting it makes every object unreadable."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be from 7 to 30."
  }
}

variable "uploader_key_prefixes" {
  description = "Key prefixes the uploader may write: the control plane writes evidence/<clinic>/... and checkpoints/<clinic>/...."
  type        = list(string)
  default     = ["evidence/", "checkpoints/"]

  validation {
    condition     = length(var.uploader_key_prefixes) > 0 && alltrue([for p in var.uploader_key_prefixes : can(regex("^[A-Za-z0-9][A-Za-z0-9._-]*/$", p))])
    error_message = "uploader_key_prefixes must be non-empty, each one path segment ending in '/'."
  }
}

variable "uploader_role_name" {
  description = "Name of the uploader IAM role. Default: <bucket_name>-uploader."
  type        = string
  default     = null
}

variable "uploader_trusted_services" {
  description = "AWS services that may assume the uploader role (the control plane's host), e.g. ec2.amazonaws.com."
  type        = list(string)
  default     = ["ec2.amazonaws.com"]
}

variable "uploader_trusted_arns" {
  description = "IAM principals (ARNs) that may assume the uploader role, e.g. the role of a control plane outside EC2."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.uploader_trusted_arns) + length(var.uploader_trusted_services) > 0
    error_message = "give at least one of uploader_trusted_arns or uploader_trusted_services: the uploader role must be assumable by the control plane."
  }
}

variable "create_uploader_instance_profile" {
  description = "Also create an EC2 instance profile for the uploader role (control plane on EC2)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
