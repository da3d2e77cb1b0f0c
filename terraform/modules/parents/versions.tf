terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.29, < 7.0"
      # The three parents live in three regions; the caller passes one provider per region.
      configuration_aliases = [aws.primary, aws.secondary1, aws.secondary2]
    }
  }
}
