"""Credentials of the stack's roles in the emulator, by the duty each role serves.

On AWS every step of the release runs as its own role (one identity per duty, see
docs/emulator.md); in the emulator the same roles exist (`bootstrap_stack` creates
them from the rendered graph), and `credentials_for` assumes one with `sts:AssumeRole`
so a step (or the `mlops` process it starts) runs with that role's session. The
session's caller identity (`sts:GetCallerIdentity`) is what the step records as who
ran it.

moto issues credentials for any role ARN, existing or not, and checks no trust policy:
the lookup here is what refuses a duty whose role the graph does not declare.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.errors import MlopsError
from infra.contracts import PROMOTE_ROLE_SUFFIX
from ml.emulator.bootstrap import EmulatedStack

DUTY_ROLES: dict[str, str] = {
    "build": "gh-build",
    "release": "gh-release",
    "approve": "gh-approve",
    "plan": "gh-plan",
    "deploy": "gh-deploy",
    "monitor": "gh-monitor",
    "audit": "auditor",
    "inference": "inference",
    "kubernetes": "k8s-serving",
    "promote": PROMOTE_ROLE_SUFFIX,
}
"""Duty -> role name suffix (`mlops-<stack>-<suffix>`), as in the shared trust design."""


@dataclass(frozen=True)
class RoleCredentials:
    duty: str
    role_arn: str
    access_key_id: str
    secret_access_key: str
    session_token: str

    def environment(self) -> dict[str, str]:
        """The variables that make boto3 (here or in a child process) use this session."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }

    def session(self, region: str | None = None) -> Any:
        """A boto3 session of this role, for clients made in this process."""
        import boto3

        return boto3.session.Session(
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            aws_session_token=self.session_token,
            region_name=region,
        )


def role_for(stack: EmulatedStack, duty: str) -> str:
    """The emulator ARN of the role that does `duty`; one line if the graph has none."""
    if duty not in DUTY_ROLES:
        raise MlopsError(f"unknown duty {duty!r}; choose one of {', '.join(DUTY_ROLES)}")
    suffix = DUTY_ROLES[duty]
    arn = stack.roles.get(suffix)
    if arn is None:
        raise MlopsError(
            f"stack {stack.stack} declares no IAM role mlops-{stack.stack}-{suffix} for the "
            f"{duty} duty; add it to the Pulumi program (infra/components/identity.py)"
        )
    return arn


def credentials_for(stack: EmulatedStack, duty: str, sts: Any) -> RoleCredentials:
    """Assume the role of `duty` (session `demo-<duty>`) with the caller's `sts` client."""
    arn = role_for(stack, duty)
    issued = sts.assume_role(RoleArn=arn, RoleSessionName=f"demo-{duty}")["Credentials"]
    return RoleCredentials(
        duty=duty,
        role_arn=arn,
        access_key_id=issued["AccessKeyId"],
        secret_access_key=issued["SecretAccessKey"],
        session_token=issued["SessionToken"],
    )
