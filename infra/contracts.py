"""Names that cross layers: one place for each, imported by infra, ml, the emulator and tests."""

from __future__ import annotations

# --- N: the bootstrap program (infra/bootstrap/) and what the main stacks take from it ------
# One bootstrap per AWS account declares these; the main stacks derive them from the account
# id and region, so a stack file needs no account-specific ARN for them.
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
"""The GitHub Actions OIDC issuer: one IAM provider per account may have this URL."""
STATE_BUCKET_PREFIX = "mlops-state"
"""The Pulumi state bucket is `mlops-state-<account>-<region>` (globally unique by account)."""
STATE_KEY_ALIAS = "alias/mlops-state"
"""The state CMK: SSE-KMS of the state bucket and the secrets provider `awskms://<alias>`."""
PERMISSIONS_BOUNDARY_NAME = "mlops-permissions-boundary"
"""The managed policy that caps the infra role and every role it creates."""
INFRA_ROLE_NAME = "mlops-infra-deploy"
"""The role `infra-deploy.yml` assumes (`AWS_INFRA_ROLE_ARN`) to run `pulumi up`."""
STATE_PROJECT = "mlops"
"""The Pulumi project whose stacks the main roles read and write in the state bucket."""
# Pulumi's DIY (S3) backend layout with project-scoped stacks (pkg/backend/diy, Pulumi 3.x):
# the checkpoint `.pulumi/stacks/<project>/<stack>.json` (+ `.json.bak`, `.json.gz`),
# `.pulumi/history/<project>/<stack>/`, `.pulumi/backups/<project>/<stack>/`, and lock files
# under `.pulumi/locks/organization/<project>/<stack>/`; `.pulumi/meta.yaml` is read at login.
STATE_META_KEY = ".pulumi/meta.yaml"
STATE_STACKS_PREFIX = f".pulumi/stacks/{STATE_PROJECT}/"
STATE_HISTORY_PREFIX = f".pulumi/history/{STATE_PROJECT}/"
STATE_BACKUPS_PREFIX = f".pulumi/backups/{STATE_PROJECT}/"
STATE_LOCKS_PREFIX = f".pulumi/locks/organization/{STATE_PROJECT}/"
EXAMPLE_GITHUB_REPOSITORY = ("acme", "mlops-gitops")
"""The org/repo the shipped stack files trust; `mlops infra validate` warns while it stays."""


def state_bucket_name(account_id: str, region: str) -> str:
    return f"{STATE_BUCKET_PREFIX}-{account_id}-{region}"
