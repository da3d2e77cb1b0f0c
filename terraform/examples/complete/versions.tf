terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.29"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.4"
    }
  }
}

# One provider per parent region. Main, its table and its secrets live in the primary region.
provider "aws" {
  alias  = "primary"
  region = var.aws_regions.primary
  default_tags {
    tags = var.tags
  }
}

provider "aws" {
  alias  = "secondary1"
  region = var.aws_regions.secondary1
  default_tags {
    tags = var.tags
  }
}

provider "aws" {
  alias  = "secondary2"
  region = var.aws_regions.secondary2
  default_tags {
    tags = var.tags
  }
}
