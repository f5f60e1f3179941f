# The WORM evidence bucket of the control plane (DESIGN.md invariant 6:
# evidence in WORM cannot be deleted or shortened), with its dedicated KMS key,
# a separate access-log bucket, and a least-privilege uploader role.
#
# Object Lock in COMPLIANCE mode is what makes the evidence write-once: no
# principal, the account root included, can delete a locked version or shorten
# its retention until it expires. Everything else here narrows who can do what
# around it (TLS only, our key only, COMPLIANCE-locked puts only, an uploader
# that can neither delete nor reconfigure the bucket).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  log_bucket_name    = coalesce(var.log_bucket_name, "${var.bucket_name}-access-logs")
  uploader_role_name = coalesce(var.uploader_role_name, "${var.bucket_name}-uploader")
  account_root       = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"
  bucket_arn         = aws_s3_bucket.evidence.arn
  objects_arn        = "${aws_s3_bucket.evidence.arn}/*"
  writable_arns      = [for p in var.uploader_key_prefixes : "${aws_s3_bucket.evidence.arn}/${p}*"]
}

# ---------------------------------------------------------------- KMS key

# Dedicated to this bucket: revoking it (or its grants) cuts off every reader
# at once, and its CloudTrail events are the evidence bucket's alone.
resource "aws_kms_key" "evidence" {
  description             = "SSE-KMS key of the WORM evidence bucket ${var.bucket_name}"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = var.tags

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_kms_alias" "evidence" {
  name          = "alias/${var.bucket_name}"
  target_key_id = aws_kms_key.evidence.key_id
}

# The account administers the key through IAM; the uploader's use of it is
# granted by its own IAM policy below, limited to this key.
data "aws_iam_policy_document" "kms" {
  statement {
    sid       = "AccountAdministersKeyThroughIam"
    effect    = "Allow"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.account_root]
    }
  }
}

# ---------------------------------------------------------- evidence bucket

resource "aws_s3_bucket" "evidence" {
  bucket              = var.bucket_name
  object_lock_enabled = true
  force_destroy       = false
  tags                = var.tags

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_ownership_controls" "evidence" {
  bucket = aws_s3_bucket.evidence.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "evidence" {
  bucket                  = aws_s3_bucket.evidence.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "evidence" {
  bucket = aws_s3_bucket.evidence.id

  versioning_configuration {
    status = "Enabled"
  }
}

# A backstop: the uploader sets an explicit COMPLIANCE retain-until on every
# object; a version written without one still gets this default.
resource "aws_s3_bucket_object_lock_configuration" "evidence" {
  bucket = aws_s3_bucket.evidence.id

  rule {
    default_retention {
      mode = "COMPLIANCE"
      days = var.retention_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.evidence]
}

resource "aws_s3_bucket_server_side_encryption_configuration" "evidence" {
  bucket = aws_s3_bucket.evidence.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.evidence.arn
    }
    # One data key per bucket and period instead of one KMS call per object.
    bucket_key_enabled = true
  }
}

# No expiration rule: expiring a current version of a versioned bucket only
# adds a delete marker, and locked versions cannot expire before their date.
resource "aws_s3_bucket_lifecycle_configuration" "evidence" {
  bucket = aws_s3_bucket.evidence.id

  rule {
    id     = "archive-evidence"
    status = "Enabled"

    filter {}

    transition {
      days          = var.archive_after_days
      storage_class = var.archive_storage_class
    }

    noncurrent_version_transition {
      noncurrent_days = var.archive_after_days
      storage_class   = var.archive_storage_class
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.evidence]
}

resource "aws_s3_bucket_logging" "evidence" {
  bucket        = aws_s3_bucket.evidence.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3-access/${var.bucket_name}/"
}

resource "aws_s3_bucket_policy" "evidence" {
  bucket = aws_s3_bucket.evidence.id
  policy = data.aws_iam_policy_document.evidence_bucket.json

  # The public access block must exist first, or S3 may judge the policy alone.
  depends_on = [aws_s3_bucket_public_access_block.evidence]
}

data "aws_iam_policy_document" "evidence_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [local.bucket_arn, local.objects_arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  # Requests without an encryption header get the bucket default (this key);
  # one that asks for anything else (AES256, another KMS key) is refused.
  statement {
    sid       = "DenyOtherEncryption"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = [local.objects_arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:x-amz-server-side-encryption"
      values   = ["aws:kms"]
    }
  }

  statement {
    sid       = "DenyOtherKmsKey"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = [local.objects_arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:x-amz-server-side-encryption-aws-kms-key-id"
      values   = [aws_kms_key.evidence.arn]
    }
  }

  # GOVERNANCE locks can be lifted by whoever holds s3:BypassGovernanceRetention.
  statement {
    sid       = "DenyGovernanceMode"
    effect    = "Deny"
    actions   = ["s3:PutObject", "s3:PutObjectRetention"]
    resources = [local.objects_arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:object-lock-mode"
      values   = ["COMPLIANCE"]
    }
  }

  # Object Lock already refuses deleting a locked version; this also refuses
  # delete markers, which would hide the newest version from readers.
  statement {
    sid       = "DenyDeletes"
    effect    = "Deny"
    actions   = ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention"]
    resources = [local.objects_arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }
  }
}

# ------------------------------------------------------------ log bucket

# S3 server access logs can only be delivered to a bucket encrypted with
# SSE-S3, so this bucket uses AES256, not the evidence key.
resource "aws_s3_bucket" "logs" {
  bucket        = local.log_bucket_name
  force_destroy = false
  tags          = var.tags
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.access_log_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 30
    }
  }

  depends_on = [aws_s3_bucket_versioning.logs]
}

resource "aws_s3_bucket_policy" "logs" {
  bucket     = aws_s3_bucket.logs.id
  policy     = data.aws_iam_policy_document.logs_bucket.json
  depends_on = [aws_s3_bucket_public_access_block.logs]
}

data "aws_iam_policy_document" "logs_bucket" {
  statement {
    sid       = "S3ServerAccessLogsFromEvidenceBucket"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/s3-access/${var.bucket_name}/*"]

    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [local.bucket_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.logs.arn, "${aws_s3_bucket.logs.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

# ----------------------------------------------------------- uploader role

data "aws_iam_policy_document" "uploader_trust" {
  statement {
    sid     = "ControlPlaneAssumesUploader"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    dynamic "principals" {
      for_each = length(var.uploader_trusted_services) > 0 ? [1] : []
      content {
        type        = "Service"
        identifiers = var.uploader_trusted_services
      }
    }

    dynamic "principals" {
      for_each = length(var.uploader_trusted_arns) > 0 ? [1] : []
      content {
        type        = "AWS"
        identifiers = var.uploader_trusted_arns
      }
    }
  }
}

resource "aws_iam_role" "uploader" {
  name               = local.uploader_role_name
  description        = "WORM uploader of the MSP control plane: writes COMPLIANCE-locked evidence to ${var.bucket_name}; cannot delete or reconfigure it"
  assume_role_policy = data.aws_iam_policy_document.uploader_trust.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "uploader" {
  name   = "worm-uploader"
  role   = aws_iam_role.uploader.id
  policy = data.aws_iam_policy_document.uploader.json
}

resource "aws_iam_instance_profile" "uploader" {
  count = var.create_uploader_instance_profile ? 1 : 0
  name  = local.uploader_role_name
  role  = aws_iam_role.uploader.name
  tags  = var.tags
}

# Exactly the calls of control-plane/src/worm/s3.ts: checkBucket
# (GetObjectLockConfiguration, GetBucketVersioning), head/get/retention
# (HeadObject, GetObject with a version, GetObjectRetention) and put
# (PutObject with ObjectLockMode COMPLIANCE, which needs PutObjectRetention).
data "aws_iam_policy_document" "uploader" {
  statement {
    sid    = "CheckBucket"
    effect = "Allow"
    # ListBucket only makes HEAD of a missing key answer 404 instead of 403:
    # the uploader's idempotence check needs to tell "absent" from "denied".
    actions   = ["s3:GetBucketObjectLockConfiguration", "s3:GetBucketVersioning", "s3:ListBucket"]
    resources = [local.bucket_arn]
  }

  # In COMPLIANCE mode S3 itself only lets PutObjectRetention lengthen a lock.
  statement {
    sid       = "WriteLockedObjects"
    effect    = "Allow"
    actions   = ["s3:PutObject", "s3:PutObjectRetention"]
    resources = local.writable_arns
  }

  statement {
    sid       = "ReadObjects"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectRetention"]
    resources = [local.objects_arn]
  }

  statement {
    sid       = "UseEvidenceKey"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt"]
    resources = [aws_kms_key.evidence.arn]
  }

  # Explicit denies win over any allow a later policy attached to this role
  # might add by mistake.
  statement {
    sid    = "NeverDeleteOrReconfigure"
    effect = "Deny"
    actions = [
      "s3:Delete*",
      "s3:BypassGovernanceRetention",
      "s3:PutBucketObjectLockConfiguration",
      "s3:PutLifecycleConfiguration",
      "s3:PutBucketVersioning",
      "s3:PutBucketPolicy",
      "s3:PutEncryptionConfiguration",
      "s3:PutBucketPublicAccessBlock",
      "s3:PutBucketLogging",
      "s3:PutBucketOwnershipControls",
      "s3:PutBucketAcl",
      "s3:PutObjectAcl",
      "s3:PutObjectVersionAcl",
    ]
    resources = [local.bucket_arn, local.objects_arn]
  }

  statement {
    sid       = "OnlyComplianceLockedPuts"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = [local.objects_arn]

    condition {
      test     = "StringNotEquals"
      variable = "s3:object-lock-mode"
      values   = ["COMPLIANCE"]
    }
  }

  statement {
    sid    = "NeverAdministerTheKey"
    effect = "Deny"
    actions = [
      "kms:ScheduleKeyDeletion",
      "kms:DisableKey",
      "kms:PutKeyPolicy",
      "kms:CreateGrant",
      "kms:DisableKeyRotation",
    ]
    resources = [aws_kms_key.evidence.arn]
  }
}

# ------------------------------------------------- auditor read access

# For msp-verify's retention check (--s3-bucket ...): read objects and their
# retention, nothing else. Attach it to whatever identity the auditor gets.
data "aws_iam_policy_document" "auditor_read" {
  statement {
    sid       = "ReadBucketState"
    effect    = "Allow"
    actions   = ["s3:GetBucketObjectLockConfiguration", "s3:GetBucketVersioning", "s3:ListBucket", "s3:ListBucketVersions"]
    resources = [local.bucket_arn]
  }

  statement {
    sid       = "ReadObjectsAndRetention"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectRetention"]
    resources = [local.objects_arn]
  }

  statement {
    sid       = "DecryptEvidence"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.evidence.arn]
  }
}
