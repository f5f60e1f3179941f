output "bucket_name" {
  description = "The evidence bucket: the control plane's worm.bucket."
  value       = aws_s3_bucket.evidence.id
}

output "bucket_arn" {
  description = "ARN of the evidence bucket."
  value       = aws_s3_bucket.evidence.arn
}

output "bucket_region" {
  description = "Region of the evidence bucket: the control plane's worm.region (and msp-verify's --s3-region)."
  value       = aws_s3_bucket.evidence.region
}

output "kms_key_arn" {
  description = "ARN of the dedicated SSE-KMS key (rotation on)."
  value       = aws_kms_key.evidence.arn
}

output "kms_alias" {
  description = "Alias of the evidence key."
  value       = aws_kms_alias.evidence.name
}

output "log_bucket_name" {
  description = "The separate bucket holding the evidence bucket's server access logs (prefix s3-access/<bucket>/)."
  value       = aws_s3_bucket.logs.id
}

output "retention_days" {
  description = "Default COMPLIANCE retention of the bucket, in days."
  value       = var.retention_days
}

output "uploader_role_arn" {
  description = "The least-privilege uploader role the control plane runs as."
  value       = aws_iam_role.uploader.arn
}

output "uploader_instance_profile_name" {
  description = "EC2 instance profile of the uploader role, or null when not created."
  value       = var.create_uploader_instance_profile ? aws_iam_instance_profile.uploader[0].name : null
}

output "uploader_policy_json" {
  description = "The uploader's IAM policy, for review or to attach elsewhere."
  value       = data.aws_iam_policy_document.uploader.json
}

output "auditor_read_policy_json" {
  description = "Read-only policy for msp-verify's retention check: objects, versions, retention and kms:Decrypt on the evidence key."
  value       = data.aws_iam_policy_document.auditor_read.json
}

output "control_plane_worm_config" {
  description = "The worm section of control-plane.yaml for this bucket (credentials come from the uploader role)."
  value = {
    kind   = "s3"
    bucket = aws_s3_bucket.evidence.id
    region = aws_s3_bucket.evidence.region
  }
}
