"""CIS AWS Foundations Benchmark v3.0.0, section 4 (Monitoring): the metric filters and
alarms on the trail's CloudWatch Logs group, as data.

infra/components/security_alarms.py declares one filter and one alarm per entry; the policy
pack (`cloudwatch-cis-metric-filters-alarmed`) checks every entry is declared with this
pattern. One place, so a pattern is changed once. The patterns are the benchmark's, with
explicit grouping where it mixes `||` and `&&` (4.1). Recommendation 4.16 (Security Hub is
enabled) is an account setting, not a metric filter: it is not declared here (docs/alerts.md).
"""

from __future__ import annotations

from dataclasses import dataclass

CIS_METRIC_NAMESPACE = "CISBenchmark"
"""The namespace the benchmark suggests for every section-4 metric (one place in the console)."""


@dataclass(frozen=True)
class CisMetricFilter:
    control: str
    """The recommendation, e.g. `4.1`; the pack's control ID is `CIS 4.1`."""
    slug: str
    """Filter, metric and alarm name stem: the alarm is `<prefix>-cis-<slug>`."""
    title: str
    pattern: str
    """The CloudWatch Logs filter pattern over CloudTrail's JSON events."""

    @property
    def metric_name(self) -> str:
        return "".join(part.title() for part in self.slug.split("-"))


def _any_event(*names: str) -> str:
    return " || ".join(f"($.eventName = {name})" for name in names)


CIS_METRIC_FILTERS: tuple[CisMetricFilter, ...] = (
    CisMetricFilter(
        "4.1",
        "unauthorized-api-calls",
        "Unauthorized API calls are monitored",
        '{ (($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*")) && '
        '($.sourceIPAddress != "delivery.logs.amazonaws.com") && ($.eventName != "HeadBucket") }',
    ),
    CisMetricFilter(
        "4.2",
        "console-signin-without-mfa",
        "Management console sign-in without MFA is monitored",
        '{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") && '
        '($.userIdentity.type = "IAMUser") && ($.responseElements.ConsoleLogin = "Success") }',
    ),
    CisMetricFilter(
        "4.3",
        "root-account-usage",
        "Usage of the 'root' account is monitored",
        '{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && '
        '$.eventType != "AwsServiceEvent" }',
    ),
    CisMetricFilter(
        "4.4",
        "iam-policy-changes",
        "IAM policy changes are monitored",
        "{ ($.eventSource = iam.amazonaws.com) && ("
        + _any_event(
            "DeleteGroupPolicy",
            "DeleteRolePolicy",
            "DeleteUserPolicy",
            "PutGroupPolicy",
            "PutRolePolicy",
            "PutUserPolicy",
            "CreatePolicy",
            "DeletePolicy",
            "CreatePolicyVersion",
            "DeletePolicyVersion",
            "AttachRolePolicy",
            "DetachRolePolicy",
            "AttachUserPolicy",
            "DetachUserPolicy",
            "AttachGroupPolicy",
            "DetachGroupPolicy",
        )
        + ") }",
    ),
    CisMetricFilter(
        "4.5",
        "cloudtrail-changes",
        "CloudTrail configuration changes are monitored",
        "{ "
        + _any_event("CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging")
        + " }",
    ),
    CisMetricFilter(
        "4.6",
        "console-authentication-failures",
        "AWS Management Console authentication failures are monitored",
        '{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }',
    ),
    CisMetricFilter(
        "4.7",
        "cmk-disable-or-deletion",
        "Disabling or scheduled deletion of customer created CMKs is monitored",
        "{ ($.eventSource = kms.amazonaws.com) && ("
        + _any_event("DisableKey", "ScheduleKeyDeletion")
        + ") }",
    ),
    CisMetricFilter(
        "4.8",
        "s3-bucket-policy-changes",
        "S3 bucket policy changes are monitored",
        "{ ($.eventSource = s3.amazonaws.com) && ("
        + _any_event(
            "PutBucketAcl",
            "PutBucketPolicy",
            "PutBucketCors",
            "PutBucketLifecycle",
            "PutBucketReplication",
            "DeleteBucketPolicy",
            "DeleteBucketCors",
            "DeleteBucketLifecycle",
            "DeleteBucketReplication",
        )
        + ") }",
    ),
    CisMetricFilter(
        "4.9",
        "config-changes",
        "AWS Config configuration changes are monitored",
        "{ ($.eventSource = config.amazonaws.com) && ("
        + _any_event(
            "StopConfigurationRecorder",
            "DeleteDeliveryChannel",
            "PutDeliveryChannel",
            "PutConfigurationRecorder",
        )
        + ") }",
    ),
    CisMetricFilter(
        "4.10",
        "security-group-changes",
        "Security group changes are monitored",
        "{ "
        + _any_event(
            "AuthorizeSecurityGroupIngress",
            "AuthorizeSecurityGroupEgress",
            "RevokeSecurityGroupIngress",
            "RevokeSecurityGroupEgress",
            "CreateSecurityGroup",
            "DeleteSecurityGroup",
        )
        + " }",
    ),
    CisMetricFilter(
        "4.11",
        "nacl-changes",
        "Changes to Network Access Control Lists (NACL) are monitored",
        "{ "
        + _any_event(
            "CreateNetworkAcl",
            "CreateNetworkAclEntry",
            "DeleteNetworkAcl",
            "DeleteNetworkAclEntry",
            "ReplaceNetworkAclEntry",
            "ReplaceNetworkAclAssociation",
        )
        + " }",
    ),
    CisMetricFilter(
        "4.12",
        "network-gateway-changes",
        "Changes to network gateways are monitored",
        "{ "
        + _any_event(
            "CreateCustomerGateway",
            "DeleteCustomerGateway",
            "AttachInternetGateway",
            "CreateInternetGateway",
            "DeleteInternetGateway",
            "DetachInternetGateway",
        )
        + " }",
    ),
    CisMetricFilter(
        "4.13",
        "route-table-changes",
        "Route table changes are monitored",
        "{ ($.eventSource = ec2.amazonaws.com) && ("
        + _any_event(
            "CreateRoute",
            "CreateRouteTable",
            "ReplaceRoute",
            "ReplaceRouteTableAssociation",
            "DeleteRouteTable",
            "DeleteRoute",
            "DisassociateRouteTable",
        )
        + ") }",
    ),
    CisMetricFilter(
        "4.14",
        "vpc-changes",
        "VPC changes are monitored",
        "{ "
        + _any_event(
            "CreateVpc",
            "DeleteVpc",
            "ModifyVpcAttribute",
            "AcceptVpcPeeringConnection",
            "CreateVpcPeeringConnection",
            "DeleteVpcPeeringConnection",
            "RejectVpcPeeringConnection",
            "AttachClassicLinkVpc",
            "DetachClassicLinkVpc",
            "DisableVpcClassicLink",
            "EnableVpcClassicLink",
        )
        + " }",
    ),
    CisMetricFilter(
        "4.15",
        "organizations-changes",
        "AWS Organizations changes are monitored",
        "{ ($.eventSource = organizations.amazonaws.com) && ("
        + _any_event(
            *(
                f'"{name}"'
                for name in (
                    "AcceptHandshake",
                    "AttachPolicy",
                    "CreateAccount",
                    "CreateOrganizationalUnit",
                    "CreatePolicy",
                    "DeclineHandshake",
                    "DeleteOrganization",
                    "DeleteOrganizationalUnit",
                    "DeletePolicy",
                    "DetachPolicy",
                    "DisablePolicyType",
                    "EnablePolicyType",
                    "InviteAccountToOrganization",
                    "LeaveOrganization",
                    "MoveAccount",
                    "RemoveAccountFromOrganization",
                    "UpdatePolicy",
                    "UpdateOrganizationalUnit",
                )
            )
        )
        + ") }",
    ),
)


def cis_alarm_name(prefix: str, item: CisMetricFilter) -> str:
    """`<prefix>-cis-<slug>`: under the prefix the alarm topic's policy admits."""
    return f"{prefix}-cis-{item.slug}"


def normalised_pattern(pattern: str) -> str:
    """A pattern with runs of whitespace collapsed: how the pack compares patterns."""
    return " ".join(pattern.split())
