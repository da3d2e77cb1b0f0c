terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 6.29 added `invoked_via_function_url` to aws_lambda_permission. Since October 2025 a new
      # function URL answers 403 unless the function's policy also allows lambda:InvokeFunction
      # under that condition, which 5.x cannot express.
      version = ">= 6.29, < 7.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4, < 3.0"
    }
  }
}
