"""Stack config of the trust model: per-stack signing and approval environments, named
principals with MFA, and `mlops infra validate` refusing a prod that shares its signer."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra.config import STACKS, ConfigError, load_stack, parse_stack_config

BASE = {
    "aws:region": "eu-west-1",
    "mlops:environment": "staging",
    "mlops:owner": "ml-platform",
    "mlops:github": {"org": "acme", "repo": "mlops-gitops", "deployEnvironment": "staging"},
    "mlops:iam": {"auditorPrincipalArns": ["arn:aws:iam::111122223333:user/auditor"]},
}


def _error_for(overrides: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config({**BASE, **overrides})
    return str(caught.value)


@pytest.mark.parametrize("stack", STACKS)
def test_load_stack_defaults_signing_and_approval_environments_per_stack(
    repo_root: Path, stack: str
) -> None:
    github = load_stack(stack, repo_root).github
    assert github.signing_environment == f"model-signing-{stack}", github.signing_environment
    assert github.approval_environment == f"model-approval-{stack}", github.approval_environment


def test_parse_explicit_signing_environment_is_kept() -> None:
    github = {**BASE["mlops:github"], "signingEnvironment": "release-signing"}
    cfg = parse_stack_config({**BASE, "mlops:github": github})
    assert cfg.github.signing_subject == "repo:acme/mlops-gitops:environment:release-signing"


def test_parse_missing_auditors_is_one_line_naming_the_key() -> None:
    message = _error_for({"mlops:iam": {}})
    assert message == (
        "mlops:iam.auditorPrincipalArns: required key is missing; add it to the stack file"
    ), message


def test_parse_empty_auditor_list_is_refused() -> None:
    message = _error_for({"mlops:iam": {"auditorPrincipalArns": []}})
    assert message.startswith("mlops:iam.auditorPrincipalArns: invalid value []"), message


@pytest.mark.parametrize("key", ["auditorPrincipalArns", "approverPrincipalArns"])
def test_parse_account_root_as_a_named_principal_is_refused(key: str) -> None:
    # The attack: trust "the whole account" instead of named people.
    iam = {**BASE["mlops:iam"], key: ["arn:aws:iam::111122223333:root"]}
    message = _error_for({"mlops:iam": iam})
    assert message.startswith(f'mlops:iam.{key}.0: invalid value "arn:aws:iam::111122223333:root"')


def _mlops(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("mlops")
    return subprocess.run(
        [str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def _stacks_in(tmp_path: Path, repo_root: Path) -> Path:
    for stack in STACKS:
        shutil.copy(repo_root / f"Pulumi.{stack}.yaml", tmp_path / f"Pulumi.{stack}.yaml")
    return tmp_path


def _set_github(root: Path, stack: str, line: str) -> None:
    path = root / f"Pulumi.{stack}.yaml"
    text = path.read_text()
    anchor = f"    deployEnvironment: {stack}\n"
    assert anchor in text, f"Pulumi.{stack}.yaml changed shape"
    path.write_text(text.replace(anchor, anchor + f"    {line}\n"))


def test_cli_validate_accepts_the_shipped_stacks(repo_root: Path) -> None:
    result = _mlops("infra", "validate", "--stack", "prod", cwd=repo_root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "prod: stack config is valid (prod, eu-west-1)",
        "warning: prod's mlops:image.digest is still the all-zero placeholder; set it to the "
        "digest the image workflow pushed before pulumi up (docs/image.md)",
        "warning: prod's mlops:alerts still names the examples ml-oncall@example.com, "
        "security-team@example.com, https://events.example.com/integration/mlops-prod/enqueue, "
        "slack T00000000/C00000000; replace them with your on-call destinations "
        "(docs/alerts.md)",
        "warning: prod still trusts the example repository acme/mlops-gitops; set "
        "mlops:github.org and repo to yours before pulumi up (docs/from-demo-to-aws.md)",
    ], result.stdout


@pytest.mark.parametrize(
    ("stack", "line", "key", "subject"),
    [
        (
            "prod",
            "signingEnvironment: model-signing-staging",
            "signingEnvironment",
            "repo:acme/mlops-gitops:environment:model-signing-staging",
        ),
        (
            "dev",
            "approvalEnvironment: model-approval-prod",
            "approvalEnvironment",
            "repo:acme/mlops-gitops:environment:model-approval-prod",
        ),
        (
            "staging",
            "signingEnvironment: model-approval-prod",
            "approvalEnvironment",
            "repo:acme/mlops-gitops:environment:model-approval-prod",
        ),
    ],
    ids=["prod-signs-in-staging-env", "dev-approves-in-prod-env", "staging-signs-in-prod-approval"],
)
def test_cli_validate_refuses_prod_sharing_a_signing_or_approval_subject(
    tmp_path: Path, repo_root: Path, stack: str, line: str, key: str, subject: str
) -> None:
    # The attack: one line in a stack file makes another stack's (unprotected) GitHub
    # environment yield a token that prod's release or approver role accepts.
    root = _stacks_in(tmp_path, repo_root)
    _set_github(root, stack, line)
    result = _mlops("infra", "validate", "--stack", "dev", cwd=root)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, f"expected exit 2, got {result.returncode}: {result.stderr}"
    assert len(lines) == 1, f"expected one line on stderr, got: {result.stderr}"
    assert lines[0].startswith(f"error: mlops:github.{key}: Pulumi.prod.yaml's"), lines[0]
    assert repr(subject) in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout, "no traceback for a config error"
