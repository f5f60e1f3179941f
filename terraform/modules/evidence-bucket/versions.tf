terraform {
  # 1.9: variable validations may refer to other variables (the uploader trust check).
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.70, < 7.0"
    }
  }
}
