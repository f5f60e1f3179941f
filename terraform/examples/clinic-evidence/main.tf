# One MSP's evidence bucket for its control plane, in the region its clinics'
# data lives in. The control plane runs on EC2 with the uploader's instance
# profile, so it needs no static keys.

terraform {
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.70, < 7.0"
    }
  }
}

variable "region" {
  description = "AWS region of the evidence bucket."
  type        = string
  default     = "us-east-1"
}

variable "bucket_name" {
  description = "Globally unique name of the evidence bucket."
  type        = string
}

provider "aws" {
  region = var.region
}

module "evidence" {
  source = "../../modules/evidence-bucket"

  bucket_name = var.bucket_name
  # 6 years (HIPAA 164.316(b)(2)(i)); matches the control plane's retention_years: 6.
  retention_days     = 2190
  archive_after_days = 30

  tags = {
    purpose = "hipaa-evidence"
    managed = "terraform"
  }
}

output "control_plane_worm_config" {
  description = "Paste under worm: in control-plane.yaml."
  value       = module.evidence.control_plane_worm_config
}

output "uploader_instance_profile_name" {
  description = "Attach to the control plane's EC2 instance."
  value       = module.evidence.uploader_instance_profile_name
}

output "auditor_read_policy_json" {
  description = "Give the auditor an identity with this policy for msp-verify --s3-bucket."
  value       = module.evidence.auditor_read_policy_json
}
