"""Wire the components of one stack together from its validated config."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.arns import Arns
from infra.components.alerts import Alerts, AlertsArgs, SlackChannel
from infra.components.audit_trail import (
    AuditTrail,
    AuditTrailArgs,
    trail_log_group_name,
    trail_name,
)
from infra.components.identity import GitHubTrust, Identity, IdentityArgs, KubernetesTrust
from infra.components.keys import Keys, KeysArgs, KeyUse, LogsKeyArgs
from infra.components.network import Network, NetworkArgs, flow_log_group_name
from infra.components.permissions import (
    DATA_KEY_DESCRIBERS,
    DATA_KEY_USE,
    GRANT_USERS,
    VERIFIERS,
    AuditLogs,
    NetworkIds,
    Permissions,
    PermissionsArgs,
    PromotionSource,
)
from infra.components.registry import Registry, RegistryArgs, image_uri
from infra.components.secure_bucket import (
    LogDelivery,
    ObjectLock,
    PrefixReaders,
    SecureBucket,
    SecureBucketArgs,
)
from infra.components.security_alarms import SecurityAlarms, SecurityAlarmsArgs
from infra.components.serving_sagemaker import (
    RetainedVersion,
    RollbackAlarms,
    SageMakerServing,
    SageMakerServingArgs,
    ServedModel,
    TrafficShift,
    VpcPlacement,
)
from infra.components.tracking import (
    ExperimentTracking,
    ExperimentTrackingArgs,
    tracking_server_name,
)
from infra.config import PROJECT, StackConfig
from infra.contracts import (
    ACCESS_LOGS_PREFIX,
    CAPTURE_NONCURRENT_DAYS,
    ENDPOINT_VARIANT,
    GITHUB_OIDC_HOST,
    StackOutput,
    group_models_prefix,
    role_output_key,
    state_bucket_name,
)


def declare(cfg: StackConfig) -> None:
    """Declare every resource of the stack and export what CI and `mlops` read."""
    prefix = cfg.name_prefix
    tags = {"project": "mlops", "environment": cfg.environment, "owner": cfg.owner, **cfg.tags}
    identity_info = aws.get_caller_identity()
    partition = aws.get_partition().partition
    account_id = identity_info.account_id
    arns = Arns(partition=partition, region=cfg.region, account_id=account_id)

    # One provider per account, declared by infra/bootstrap: its ARN follows from the URL.
    oidc_provider_arn = cfg.github.oidc_provider_arn or (
        f"arn:{partition}:iam::{account_id}:oidc-provider/{GITHUB_OIDC_HOST}"
    )
    k8s = cfg.serving.kubernetes
    # The pods' ServiceAccount is named after the model they serve (one per namespace).
    k8s_model = cfg.kubernetes_model if k8s.enabled else None
    identity = Identity(
        prefix,
        IdentityArgs(
            account_id=account_id,
            partition=partition,
            oidc_provider_arn=oidc_provider_arn,
            github=GitHubTrust(
                org=cfg.github.org,
                repo=cfg.github.repo,
                deploy_environment=cfg.github.deploy_environment,
                signing_environment=cfg.github.signing_environment,
                approval_environment=cfg.github.approval_environment,
                train_on_pull_requests=cfg.github.train_on_pull_requests,
                promotion_environment=cfg.github.promotion_environment
                if cfg.promotion is not None
                else None,
            ),
            auditor_principal_arns=cfg.iam.auditor_principal_arns,
            approver_principal_arns=cfg.iam.approver_principal_arns,
            permissions_boundary_arn=cfg.iam.permissions_boundary_arn,
            tags=tags,
            kubernetes=KubernetesTrust(
                oidc_provider_arn=f"arn:{partition}:iam::{account_id}:oidc-provider/"
                f"{k8s.oidc_issuer}",
                issuer=k8s.oidc_issuer,
                namespace=k8s.namespace,
                service_account=k8s_model,
            )
            if k8s_model is not None
            else None,
            tracking=cfg.tracking.enabled,
        ),
    )
    roles = identity.roles
    # The stacks that promote from this one, each from its own account (Pulumi.staging.yaml's
    # `promotesTo`): their fixed-name `gh-promote` role reads released models, nothing else.
    promoters = cfg.promoter_role_arns(partition)
    promotion_accounts = [f"arn:{partition}:iam::{t.account_id}:root" for t in cfg.promotes_to]
    groups = [cfg.model_group(model) for model in cfg.models]
    # Pull requests reach the plan role: in prod it reads metadata only (no data key at all).
    plan_metadata_only = cfg.environment == "prod"
    key_users = [p for p in DATA_KEY_USE if p in roles and not (p == "plan" and plan_metadata_only)]
    trail_arn = (
        arns.service("cloudtrail", f"trail/{trail_name(prefix)}")
        if cfg.audit_trail.enabled
        else None
    )
    flow_log_group_arn = (
        arns.log_group(flow_log_group_name(prefix)) if cfg.network.enabled else None
    )
    keys = Keys(
        prefix,
        KeysArgs(
            account_id=account_id,
            partition=partition,
            region=cfg.region,
            alias_prefix=prefix,
            data_key_uses=[
                KeyUse(
                    sid=_sid(purpose),
                    principals=[roles[purpose].arn],
                    actions=use.actions,
                    via_services=use.via_services,
                )
                for purpose, use in DATA_KEY_USE.items()
                if purpose in key_users
            ],
            grant_users=[roles[p].arn for p in GRANT_USERS if p in roles],
            data_key_describers=[roles[p].arn for p in DATA_KEY_DESCRIBERS if p in roles],
            signers=[roles["release"].arn],
            verifiers=[roles[p].arn for p in VERIFIERS if p in roles],
            logs=LogsKeyArgs(
                trail_arn=trail_arn,
                log_group_arn=flow_log_group_arn,
                trail_log_group_arn=arns.log_group(trail_log_group_name(prefix))
                if trail_arn is not None
                else None,
                readers=[roles["auditor"].arn],
            )
            if trail_arn is not None or flow_log_group_arn is not None
            else None,
            deletion_window_days=cfg.kms.deletion_window_days,
            signing_key_spec=cfg.kms.signing_key_spec,
            tags=tags,
            promoters=promoters,
            promotion_accounts=promotion_accounts,
        ),
    )

    b = cfg.buckets
    logs = SecureBucket(
        f"{prefix}-logs",
        SecureBucketArgs(
            partition=partition,
            kms_key_arn=None,
            log_bucket=None,
            noncurrent_version_expiration_days=b.noncurrent_version_expiration_days,
            abort_incomplete_multipart_days=b.abort_incomplete_multipart_days,
            expiration_days=b.access_log_retention_days,
            force_destroy=b.force_destroy,
            log_deliveries=[
                LogDelivery("logging.s3.amazonaws.com", ACCESS_LOGS_PREFIX, account_id)
            ],
            tags=tags,
        ),
    )

    def data_bucket(
        role: str,
        object_lock: ObjectLock | None = None,
        deliveries: list[LogDelivery] | None = None,
        expiration_days: int | None = None,
        noncurrent_days: int = b.noncurrent_version_expiration_days,
        kms_key_arn: pulumi.Input[str] = keys.data_key_arn,
        readers: list[PrefixReaders] | None = None,
    ) -> SecureBucket:
        return SecureBucket(
            f"{prefix}-{role}",
            SecureBucketArgs(
                partition=partition,
                kms_key_arn=kms_key_arn,
                log_bucket=logs.bucket_name,
                noncurrent_version_expiration_days=noncurrent_days,
                abort_incomplete_multipart_days=b.abort_incomplete_multipart_days,
                expiration_days=expiration_days,
                object_lock=object_lock,
                force_destroy=b.force_destroy,
                log_deliveries=deliveries or [],
                tags=tags,
                readers=readers or [],
            ),
        )

    lock = b.artifact_object_lock
    data = data_bucket("data")
    artifacts = data_bucket(
        "artifacts",
        ObjectLock(lock.mode, lock.retention_days) if lock.enabled else None,
        readers=[
            PrefixReaders(
                "PromotersReadReleasedModels", promoters, [group_models_prefix(g) for g in groups]
            )
        ]
        if promoters
        else None,
    )
    # Every request and response an endpoint captured, and their labels: personal data,
    # kept only as long as monitoring needs it (docs/policies.md, retention).
    capture = data_bucket(
        "capture",
        expiration_days=b.capture_retention_days,
        noncurrent_days=CAPTURE_NONCURRENT_DAYS,
    )

    registry = Registry(
        prefix,
        RegistryArgs(
            repository_name=f"{prefix}-model-server",
            kms_key_arn=keys.data_key_arn,
            model_groups=groups,
            force_delete=b.force_destroy,
            tags=tags,
            promoters=promoters,
            arn_prefix=arns.service("sagemaker", ""),
        ),
    )

    network: Network | None = None
    if cfg.network.enabled:
        assert keys.logs_key_arn is not None  # created whenever the stack has flow logs
        zones = aws.get_availability_zones(state="available").names
        if len(zones) < cfg.network.availability_zone_count:
            raise pulumi.RunError(
                f"mlops:network.availabilityZoneCount: {cfg.region} has only {len(zones)} zones"
            )
        network = Network(
            prefix,
            NetworkArgs(
                cidr_block=cfg.network.cidr_block,
                availability_zones=zones[: cfg.network.availability_zone_count],
                region=cfg.region,
                kms_key_arn=keys.logs_key_arn,
                account_id=account_id,
                partition=partition,
                flow_log_retention_days=cfg.network.flow_log_retention_days,
                tags=tags,
            ),
        )
        pulumi.export(StackOutput.VPC_ID, network.vpc_id)
        pulumi.export(StackOutput.PRIVATE_SUBNET_IDS, network.private_subnet_ids)
        pulumi.export(StackOutput.TRAINING_SECURITY_GROUP_ID, network.training_security_group_id)
        pulumi.export(StackOutput.ENDPOINT_SECURITY_GROUP_ID, network.endpoint_security_group_id)

    trail_bucket: SecureBucket | None = None
    alarm_topics: dict[str, pulumi.Output[str]] = {}
    if cfg.audit_trail.enabled:
        assert keys.logs_key_arn is not None  # created whenever the stack has a trail
        # The trail gets its own bucket on the logs CMK, itself access-logged (CIS 3.4).
        trail_bucket = data_bucket(
            "trail",
            deliveries=[
                LogDelivery(
                    "cloudtrail.amazonaws.com",
                    f"cloudtrail/AWSLogs/{account_id}/",
                    account_id,
                    checks_bucket_acl=True,
                )
            ],
            expiration_days=cfg.audit_trail.log_retention_days,
            kms_key_arn=keys.logs_key_arn,
        )
        trail = AuditTrail(
            prefix,
            AuditTrailArgs(
                log_bucket=trail_bucket.bucket_name,
                artifact_bucket=artifacts.bucket_name,
                kms_key_arn=keys.logs_key_arn,
                arns=arns,
                log_group_retention_days=cfg.audit_trail.cloudwatch_log_retention_days,
                permissions_boundary_arn=cfg.iam.permissions_boundary_arn,
                tags=tags,
            ),
            # The logs key must let CloudWatch Logs encrypt the trail's group first.
            opts=pulumi.ResourceOptions(depends_on=[trail_bucket, keys]),
        )
        security = SecurityAlarms(
            prefix,
            SecurityAlarmsArgs(
                arns=arns,
                prefix=prefix,
                log_group_name=trail.log_group_name,
                kms_key_arn=keys.data_key_arn,
                tags=tags,
            ),
        )
        alarm_topics["security"] = security.topic_arn
        pulumi.export(StackOutput.SECURITY_ALARM_TOPIC_ARN, security.topic_arn)
        pulumi.export(StackOutput.TRAIL_BUCKET, trail_bucket.bucket_name)
        pulumi.export(StackOutput.TRAIL_ARN, trail.trail_arn)
    if keys.logs_key_arn is not None:
        pulumi.export(StackOutput.LOGS_KEY_ARN, keys.logs_key_arn)

    tracking_server_arn = (
        arns.sagemaker("mlflow-tracking-server", tracking_server_name(prefix))
        if cfg.tracking.enabled
        else None
    )
    permissions = Permissions(
        prefix,
        PermissionsArgs(
            arns=arns,
            prefix=prefix,
            data_key_arn=keys.data_key_arn,
            signing_key_arn=keys.signing_key_arn,
            data_bucket=data.bucket_name,
            artifact_bucket=artifacts.bucket_name,
            capture_bucket=capture.bucket_name,
            log_bucket=logs.bucket_name,
            ecr_repository_arn=registry.repository_arn,
            roles=roles,
            network=NetworkIds(
                subnet_ids=network.private_subnet_ids,
                training_security_group_id=network.training_security_group_id,
                endpoint_security_group_id=network.endpoint_security_group_id,
            )
            if network
            else None,
            plan_metadata_only=plan_metadata_only,
            stack=cfg.environment,
            state_bucket=state_bucket_name(account_id, cfg.region),
            audit_logs=AuditLogs(
                logs_key_arn=keys.logs_key_arn,
                trail_bucket=trail_bucket.bucket_name if trail_bucket else None,
                flow_log_group_arn=flow_log_group_arn,
            )
            if keys.logs_key_arn is not None
            else None,
            kubernetes_model_group=cfg.model_group(k8s_model) if k8s_model else None,
            promotion=PromotionSource(
                prefix=f"{PROJECT}-{cfg.promotion.from_stack}",
                account_id=cfg.promotion.source_account_id,
                trusted_signing_key_arns=cfg.promotion.trusted_signing_key_arns,
            )
            if cfg.promotion is not None
            else None,
            tracking_server_arn=tracking_server_arn,
        ),
    )
    if cfg.tracking.enabled:
        tracking = ExperimentTracking(
            prefix,
            ExperimentTrackingArgs(
                artifact_bucket=artifacts.bucket_name,
                role_arn=roles["tracking"].arn,
                size=cfg.tracking.size,
                weekly_maintenance_window_start=cfg.tracking.weekly_maintenance_window_start,
                tags=tags,
            ),
            # the server checks its role can reach the artifact store when it starts
            opts=pulumi.ResourceOptions(depends_on=[permissions]),
        )
        pulumi.export(StackOutput.TRACKING_SERVER_ARN, tracking.server_arn)

    pulumi.export(StackOutput.ENVIRONMENT, cfg.environment)
    pulumi.export(StackOutput.REGION, cfg.region)
    pulumi.export(StackOutput.DATA_KEY_ARN, keys.data_key_arn)
    pulumi.export(StackOutput.SIGNING_KEY_ARN, keys.signing_key_arn)
    pulumi.export(StackOutput.SIGNING_KEY_ALIAS, keys.signing_key_alias)
    pulumi.export(StackOutput.DATA_BUCKET, data.bucket_name)
    pulumi.export(StackOutput.ARTIFACT_BUCKET, artifacts.bucket_name)
    pulumi.export(StackOutput.CAPTURE_BUCKET, capture.bucket_name)
    pulumi.export(StackOutput.LOG_BUCKET, logs.bucket_name)
    pulumi.export(StackOutput.REPOSITORY_URL, registry.repository_url)
    pulumi.export(StackOutput.MODEL_PACKAGE_GROUPS, registry.model_group_arns)
    pulumi.export(
        StackOutput.ROLES, {role_output_key(purpose): role.arn for purpose, role in roles.items()}
    )
    serving_topic = _declare_serving(cfg, arns, tags, identity, keys, capture, registry, network)
    if serving_topic is not None:
        alarm_topics["serving"] = serving_topic
    a = cfg.alerts
    if alarm_topics and a.destinations:
        Alerts(
            prefix,
            AlertsArgs(
                arns=arns,
                prefix=prefix,
                topic_arns=alarm_topics,
                emails=a.emails,
                webhooks=a.webhooks,
                slack=SlackChannel(a.slack.workspace_id, a.slack.channel_id) if a.slack else None,
                permissions_boundary_arn=cfg.iam.permissions_boundary_arn,
                tags=tags,
            ),
        )


def _sid(purpose: str) -> str:
    """`training-pr` -> `TrainingPrUsesKey`: the key policy statement of one role."""
    return "".join(part.title() for part in purpose.split("-")) + "UsesKey"


def _declare_serving(
    cfg: StackConfig,
    arns: Arns,
    tags: dict[str, str],
    identity: Identity,
    keys: Keys,
    capture: SecureBucket,
    registry: Registry,
    network: Network | None,
) -> pulumi.Output[str] | None:
    """Serve every model the stack file gives a version: on SageMaker, and on Kubernetes
    when the stack enables it. The version comes from the stack file and nothing else.
    Returns the serving alarm topic's ARN (None when nothing serves on SageMaker)."""
    prefix = cfg.name_prefix
    # The server verifies the model offline with the signing key's public half: a
    # network-isolated container cannot call KMS.
    public_key_pem = aws.kms.get_public_key_output(key_id=keys.signing_key_arn).public_key_pem
    if cfg.promotion is not None:
        # Promoted models keep their source signature: the server trusts those keys too.
        public_key_pem = pulumi.Output.concat(
            public_key_pem,
            *(
                aws.kms.get_public_key_output(key_id=arn).public_key_pem
                for arn in cfg.promotion.trusted_signing_key_arns
            ),
        )
    s, routing, alarms = cfg.serving, cfg.serving.traffic_routing, cfg.serving.alarms

    def package(model: str, version: int) -> str:
        return arns.sagemaker("model-package", f"{cfg.model_group(model)}/{version}")

    models = [
        ServedModel(
            name=model,
            version=version,
            model_package_arn=package(model, version),
            retained=tuple(
                RetainedVersion(kept, package(model, kept))
                for kept in [cfg.retained_models.get(model)]
                if kept is not None
            ),
        )
        for model, version in cfg.served_models.items()
    ]
    topic_arn: pulumi.Output[str] | None = None
    if models:
        serving = SageMakerServing(
            prefix,
            SageMakerServingArgs(
                arns=arns,
                prefix=prefix,
                stack=cfg.environment,
                models=models,
                execution_role_arn=identity.roles["inference"].arn,
                kms_key_arn=keys.data_key_arn,
                capture_bucket=capture.bucket_name,
                signing_public_key_pem=public_key_pem,
                instance_type=s.instance_type,
                initial_instance_count=s.initial_instance_count,
                max_instance_count=s.max_instance_count,
                target_invocations_per_instance=s.target_invocations_per_instance,
                data_capture_percent=s.data_capture_percent,
                log_retention_days=s.log_retention_days,
                traffic=TrafficShift(
                    type=routing.type,
                    canary_size_percent=routing.canary_size_percent,
                    linear_step_percent=routing.linear_step_percent,
                    wait_interval_seconds=routing.wait_interval_seconds,
                    termination_wait_seconds=routing.termination_wait_seconds,
                    maximum_execution_timeout_seconds=routing.maximum_execution_timeout_seconds,
                ),
                alarms=RollbackAlarms(
                    latency_p99_ms=alarms.latency_p99_ms,
                    error_rate_percent=alarms.error_rate_percent,
                    evaluation_periods=alarms.evaluation_periods,
                    period_seconds=alarms.period_seconds,
                    rollback_on=alarms.rollback_alarms,
                    drifted_features_threshold=alarms.drifted_features_threshold,
                    quality_regressions_threshold=alarms.quality_regressions_threshold,
                    monitor_period_seconds=alarms.monitor_period_seconds,
                ),
                vpc=VpcPlacement(
                    subnet_ids=network.private_subnet_ids,
                    security_group_ids=[network.endpoint_security_group_id],
                )
                if network
                else None,
                tags=tags,
                promoted_from=cfg.promotion.from_stack if cfg.promotion else None,
            ),
            # The model package groups must exist before a model is built from one.
            opts=pulumi.ResourceOptions(depends_on=[registry]),
        )
        topic_arn = serving.alarm_topic_arn
        pulumi.export(StackOutput.SERVING_ALARM_TOPIC_ARN, serving.alarm_topic_arn)
        pulumi.export(
            StackOutput.ENDPOINTS,
            {
                model: {
                    "endpointName": e.endpoint_name,
                    "endpointConfigName": e.endpoint_config_name,
                    "modelName": e.model_name,
                    "modelPackageArn": e.model_package_arn,
                    "variantName": ENDPOINT_VARIANT,
                    "rollbackAlarms": e.rollback_alarm_names,
                    "monitorAlarms": e.monitor_alarm_names,
                }
                for model, e in serving.endpoints.items()
            },
        )

    k = s.kubernetes
    if k.enabled:
        # Here, not at the top: pulumi-kubernetes is a second SDK to import, and only
        # stacks that serve on Kubernetes need it.
        from infra.components.serving_kubernetes import KubernetesServing, KubernetesServingArgs

        model = cfg.kubernetes_model
        image = k.image or image_uri(registry.repository_url, cfg.image.reference)
        cluster = KubernetesServing(
            f"{prefix}-k8s",
            KubernetesServingArgs(
                namespace=k.namespace,
                model=model,
                model_version=cfg.served_models[model],
                model_group=cfg.model_group(model),
                service_account=model,  # the subject the `kubernetes` role trusts (above)
                fetch_role_arn=identity.roles["kubernetes"].arn,
                fetch_egress_cidrs=k.fetch_egress_cidrs,
                region=cfg.region,
                image=image,
                signing_public_key_pem=public_key_pem,
                environment=cfg.environment,
                replicas=k.replicas,
                max_replicas=k.max_replicas,
                cpu_request=k.cpu_request,
                cpu_limit=k.cpu_limit,
                memory_request=k.memory_request,
                memory_limit=k.memory_limit,
                run_as_user=k.run_as_user,
                client_namespaces=k.client_namespaces,
                context=k.context,
                render_yaml_to_directory=k.render_yaml_to_directory,
            ),
        )
        pulumi.export(
            StackOutput.KUBERNETES,
            {
                "namespace": cluster.namespace,
                "service": cluster.service_name,
                "deployment": cluster.deployment_name,
            },
        )
    return topic_arn
