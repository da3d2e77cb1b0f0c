# The containers of main's secrets. Terraform creates them empty on purpose: a value written by
# Terraform would sit in plain text in its state file. The operator puts each value once with
# `aws secretsmanager put-secret-value` (docs/deploy-aws.md), and main reads them at cold start.

locals {
  secrets = {
    signing-key = {
      env         = "MAIN_SIGNING_KEY_SECRET_ARN"
      description = "Main's Ed25519 signing key (hex, the content of signing-key.hex): signs download tokens, licences and the manifest. Its public half is published at /.well-known/jwks.json."
    }
    key-encryption-key = {
      env         = "MAIN_KEY_ENCRYPTION_KEY_SECRET_ARN"
      description = "Main's key-encryption key (64 hex characters): wraps every item's content key at rest. Losing it loses every sealed item's key."
    }
    admin-token = {
      env         = "MAIN_ADMIN_TOKEN_SECRET_ARN"
      description = "Bearer token of main's /v1/admin/* API (at least 16 characters)."
    }
    edge-secrets = {
      env         = "MAIN_EDGE_SECRETS_SECRET_ARN"
      description = "JSON object from edge id to that edge's credential (each at least 16 characters), e.g. {\"edge-eu-1\": \"...\"}."
    }
  }
}

resource "aws_secretsmanager_secret" "main" {
  #checkov:skip=CKV2_AWS_57:Automatic rotation needs a rotation Lambda that knows each value's meaning. The signing key rotates by publishing a new key id beside the old one and the key-encryption key by re-wrapping content keys; neither is a blind value swap. Rotation is a documented operator procedure (docs/deploy-aws.md).
  for_each = local.secrets

  name                    = "${var.name_prefix}/${each.key}"
  description             = each.value.description
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_in_days
  tags                    = var.tags
}
