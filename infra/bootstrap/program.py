"""The bootstrap program: the validated config, the account's foundation, declared."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.bootstrap.foundation import (
    InfraDeployRole,
    InfraDeployRoleArgs,
    StateBackend,
    StateBackendArgs,
)
from infra.bootstrap.settings import BootstrapConfig, load_plan, parse_bootstrap_config
from infra.components.identity import STS_AUDIENCE
from infra.config import ConfigError
from infra.contracts import GITHUB_OIDC_HOST, STATE_KEY_ALIAS, state_bucket_name
from infra.stack import engine_config

PREFIX = "mlops"


def require_config() -> BootstrapConfig:
    """The validated config, or a one-line `RunError` (Pulumi prints it without a traceback)."""
    try:
        return parse_bootstrap_config(engine_config())
    except ConfigError as error:
        raise pulumi.RunError(f"invalid bootstrap config: {error}") from None


def declare(cfg: BootstrapConfig) -> None:
    """Declare the OIDC provider, the state backend and the infra role of this account."""
    try:
        plan = load_plan(cfg)
    except ConfigError as error:
        raise pulumi.RunError(f"invalid stack config: {error}") from None
    account_id = aws.get_caller_identity().account_id
    partition = aws.get_partition().partition
    tags = {"project": "mlops", "owner": "platform", "purpose": "bootstrap"}

    # One provider per URL per account: the main stacks derive its ARN and trust it.
    provider = aws.iam.OpenIdConnectProvider(
        f"{PREFIX}-github-oidc",
        url=f"https://{GITHUB_OIDC_HOST}",
        client_id_lists=[STS_AUDIENCE],
        tags=tags,
    )
    state = StateBackend(
        f"{PREFIX}-bootstrap",
        StateBackendArgs(
            account_id=account_id,
            partition=partition,
            region=cfg.region,
            key_deletion_window_days=cfg.key_deletion_window_days,
            access_log_retention_days=cfg.access_log_retention_days,
            noncurrent_version_expiration_days=cfg.noncurrent_version_expiration_days,
            tags=tags,
        ),
    )
    infra = InfraDeployRole(
        f"{PREFIX}-infra",
        InfraDeployRoleArgs(
            account_id=account_id,
            partition=partition,
            region=cfg.region,
            oidc_provider_arn=provider.arn,
            deploy_subjects=plan.deploy_subjects,
            state_bucket=state.bucket_name,
            state_key_arn=state.key_arn,
            tags=tags,
        ),
    )
    bucket = state_bucket_name(account_id, cfg.region)
    pulumi.export("oidcProviderArn", provider.arn)
    pulumi.export("stateBucket", state.bucket_name)
    pulumi.export("stateKeyArn", state.key_arn)
    pulumi.export("backendUrl", f"s3://{bucket}?region={cfg.region}&awssdk=v2")
    pulumi.export("secretsProvider", f"awskms://{STATE_KEY_ALIAS}?region={cfg.region}")
    pulumi.export("infraRoleArn", infra.role_arn)
    pulumi.export("permissionsBoundaryArn", infra.boundary_arn)
    pulumi.export("stacks", list(plan.stacks))
