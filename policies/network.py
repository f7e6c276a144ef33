"""Network: private subnets, no route to the internet, closed security groups, flow logs."""

from __future__ import annotations

from policies.core import ADVISORY, MANDATORY, Param, Policy, ResourceCheck, StackCheck

VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE = "aws:ec2/route:Route"
ANYWHERE = ("0.0.0.0/0", "::/0")


def _check_flow_logs(stack: StackCheck) -> None:
    allowed = stack.config["trafficTypes"]
    for vpc in stack.resources(VPC):
        check = stack.check(vpc)
        logs = stack.referrers(vpc, FLOW_LOG, "vpcId")
        kinds = [check.look(log, "trafficType") for log in logs]
        if not any(kind in allowed for kind in kinds):
            check.violation(
                f"VPC flow logs must record {' or '.join(allowed)} traffic",
                kinds or "no FlowLog",
                'add aws.ec2.FlowLog with vpc_id=<the VPC id> and traffic_type="ALL"',
            )


FLOW_LOGS_ENABLED = Policy(
    name="vpc-flow-logs-enabled",
    description="Checks whether every VPC has flow logs recording all traffic.",
    enforcement=MANDATORY,
    controls=("FSBP EC2.6", "CIS 3.7", "NIST AU-2", "NIST AU-12", "NIST SI-4"),
    stack_validator=_check_flow_logs,
    subject_types=(VPC,),
    params=(
        Param(
            "trafficTypes",
            "array",
            ["ALL"],
            "Accepted traffic_type values.",
            items={"type": "string", "enum": ["ALL", "ACCEPT", "REJECT"]},
        ),
    ),
)


def _check_default_sg(stack: StackCheck) -> None:
    for vpc in stack.resources(VPC):
        check = stack.check(vpc)
        groups = stack.referrers(vpc, DEFAULT_SG, "vpcId")
        if not groups:
            check.violation(
                "the default security group must be adopted and emptied",
                "no DefaultSecurityGroup (AWS's default allows traffic within the group and "
                "all egress)",
                "add aws.ec2.DefaultSecurityGroup with vpc_id=<the VPC id>, ingress=[], egress=[]",
            )
            continue
        group = groups[0]
        ingress = check.look(group, "ingress") or []
        egress = check.look(group, "egress") or []
        if ingress or egress:
            check.violation(
                f"the default security group {group.name} must allow no traffic",
                {"ingress": len(ingress), "egress": len(egress)},
                "set ingress=[] and egress=[] and use dedicated security groups",
            )


DEFAULT_SG_CLOSED = Policy(
    name="vpc-default-security-group-closed",
    description="Checks whether every VPC's default security group is managed and allows "
    "no inbound or outbound traffic.",
    enforcement=MANDATORY,
    controls=("FSBP EC2.2", "CIS 5.4", "NIST AC-4", "NIST SC-7"),
    stack_validator=_check_default_sg,
    subject_types=(VPC,),
)


def _open_cidrs(rule) -> list[str]:
    cidrs = list(rule.get("cidrBlocks") or []) + list(rule.get("ipv6CidrBlocks") or [])
    cidrs += [rule.get("cidrIpv4"), rule.get("cidrIpv6")]
    return [c for c in cidrs if c in ANYWHERE]


def _ports(rule) -> str:
    low, high = rule.get("fromPort"), rule.get("toPort")
    protocol = rule.get("protocol") or rule.get("ipProtocol")
    if str(protocol) in ("-1", "all"):
        return "all ports"
    return f"{protocol} {low:g}-{high:g}" if low is not None and high is not None else str(protocol)


def _ingress_rules(check: ResourceCheck) -> list:
    if check.subject.type == SECURITY_GROUP:
        return list(check.get("ingress") or [])
    if check.subject.type == SG_RULE and check.get("type") != "ingress":
        check.not_applicable("an egress rule")
    return [check.subject.props]


def _check_ingress(check: ResourceCheck) -> None:
    allowed = set(check.config["allowedPorts"])
    for rule in _ingress_rules(check):
        if check.subject.type != SECURITY_GROUP:
            for key in ("cidrBlocks", "ipv6CidrBlocks", "cidrIpv4", "cidrIpv6", "fromPort"):
                check.get(key)
        opened = _open_cidrs(rule)
        low, high = rule.get("fromPort"), rule.get("toPort")
        authorized = low is not None and low == high and int(low) in allowed
        if opened and not authorized:
            check.violation(
                "ingress must not be open to the internet",
                f"{', '.join(opened)} on {_ports(rule)}",
                "allow only the CIDRs or security groups that need access",
            )


NO_OPEN_INGRESS = Policy(
    name="security-group-no-unrestricted-ingress",
    description="Checks whether any security group rule allows ingress from 0.0.0.0/0 or "
    "::/0 (on any port not explicitly authorized).",
    enforcement=MANDATORY,
    severity="high",
    controls=(
        "FSBP EC2.18",
        "FSBP EC2.19",
        "CIS 5.2",
        "CIS 5.3",
        "NIST SC-7",
        "NIST AC-4",
    ),
    validators={
        SECURITY_GROUP: _check_ingress,
        SG_RULE: _check_ingress,
        INGRESS_RULE: _check_ingress,
    },
    params=(
        Param(
            "allowedPorts",
            "array",
            [],
            "Single ports that may be open to the internet (none for this platform).",
            items={"type": "integer", "minimum": 0, "maximum": 65535},
        ),
    ),
)


def _egress_rules(check: ResourceCheck) -> list:
    if check.subject.type == SECURITY_GROUP:
        return list(check.get("egress") or [])
    if check.subject.type == SG_RULE and check.get("type") != "egress":
        check.not_applicable("an ingress rule")
    return [check.subject.props]


def _check_egress(check: ResourceCheck) -> None:
    for rule in _egress_rules(check):
        opened = _open_cidrs(rule)
        if opened:
            check.violation(
                "egress should not be open to the internet (workloads reach AWS through VPC "
                "endpoints)",
                f"{', '.join(opened)} on {_ports(rule)}",
                "allow egress only to the VPC endpoints' security group and the S3 prefix list",
            )


NO_OPEN_EGRESS = Policy(
    name="security-group-egress-restricted",
    description="Checks whether any security group rule allows egress to 0.0.0.0/0 or ::/0.",
    enforcement=ADVISORY,
    controls=("NIST SC-7", "NIST AC-4"),
    validators={SECURITY_GROUP: _check_egress, SG_RULE: _check_egress, EGRESS_RULE: _check_egress},
)


def _check_subnet(check: ResourceCheck) -> None:
    if check.get("mapPublicIpOnLaunch") is True:
        check.violation(
            "subnets must not assign public IP addresses",
            True,
            "set map_public_ip_on_launch=False",
        )


SUBNET_PRIVATE = Policy(
    name="vpc-subnet-no-public-ip",
    description="Checks whether any subnet assigns public IP addresses on launch.",
    enforcement=MANDATORY,
    controls=("FSBP EC2.15", "NIST SC-7", "NIST AC-4"),
    validators={SUBNET: _check_subnet},
)


def _check_routes(check: ResourceCheck) -> None:
    if check.subject.type == ROUTE:
        routes = [
            {
                "cidrBlock": check.get("destinationCidrBlock"),
                "ipv6CidrBlock": check.get("destinationIpv6CidrBlock"),
            }
        ]
    else:
        routes = list(check.get("routes") or [])
    for route in routes:
        destination = route.get("cidrBlock") or route.get("ipv6CidrBlock")
        if destination in ANYWHERE:
            check.violation(
                "private networks must have no default route (no path to the internet)",
                f"a route to {destination}",
                "remove the route; reach AWS services through VPC endpoints",
            )


NO_INTERNET_ROUTE = Policy(
    name="vpc-no-route-to-internet",
    description="Checks whether any route table sends 0.0.0.0/0 or ::/0 anywhere (an "
    "internet or NAT gateway), keeping training and serving without direct internet access.",
    enforcement=MANDATORY,
    severity="high",
    controls=("NIST SC-7", "NIST AC-4"),
    validators={ROUTE_TABLE: _check_routes, ROUTE: _check_routes},
)

POLICIES = (
    FLOW_LOGS_ENABLED,
    DEFAULT_SG_CLOSED,
    NO_OPEN_INGRESS,
    NO_OPEN_EGRESS,
    SUBNET_PRIVATE,
    NO_INTERNET_ROUTE,
)
