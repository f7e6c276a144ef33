"""The trust-model policies, judged on the rendered graphs and on single attacker changes.

Each attack is one change to a shipped stack's rendered graph that an attacker (or a
careless change) would make; the named mandatory policy must fail and say why.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from infra.graph import Graph, Resource
from ml.audit.engine import subjects_of
from policies import trust
from policies.core import evaluate_stack
from policies.reachability import role_access
from policies.trust import PULL_REQUEST_ROLES_POWERLESS, RELEASE_DUTIES_SEPARATED
from tests.policies.fixtures import (
    github_role,
)
from tests.policies.harness import only_message, run_policy

REPO = "repo:acme/mlops-gitops"


def _messages(policy, graph: Graph) -> list[str]:
    evaluations = evaluate_stack(policy, subjects_of(graph), {}, graph.stack)
    return [m for e in evaluations for m in e.violations]


def _role(graph: Graph, suffix: str) -> Resource:
    (role,) = [r for r in graph.of_type("aws:iam/role:Role") if r.name.endswith(suffix)]
    return role


def _edit(graph: Graph, target: Resource, key: str, change: Callable[[dict], None]) -> Graph:
    """`graph` with the JSON policy document at `target.inputs[key]` changed in place."""
    document = json.loads(target.inputs[key])
    change(document)
    edited = replace(target, inputs={**target.inputs, key: json.dumps(document)})
    return replace(
        graph, resources=tuple(edited if r.urn == target.urn else r for r in graph.resources)
    )


def _inline_policy(graph: Graph, role: Resource) -> Resource:
    (policy,) = [
        p
        for p in graph.of_type("aws:iam/rolePolicy:RolePolicy")
        if p.inputs.get("role") in (role.id, role.name, role.outputs.get("name"))
    ]
    return policy


def _grant(graph: Graph, role_suffix: str, actions: list[str], resource: str) -> Graph:
    policy = _inline_policy(graph, _role(graph, role_suffix))
    statement: dict[str, Any] = {"Effect": "Allow", "Action": actions, "Resource": [resource]}
    return _edit(graph, policy, "policy", lambda d: d["Statement"].append(statement))


def _trust_subjects(graph: Graph, role_suffix: str, operator: str, subjects: list[str]) -> Graph:
    def change(document: dict) -> None:
        condition = document["Statement"][0]["Condition"]
        condition.get("StringEquals", {}).pop("token.actions.githubusercontent.com:sub", None)
        condition.setdefault(operator, {})["token.actions.githubusercontent.com:sub"] = subjects

    return _edit(graph, _role(graph, role_suffix), "assumeRolePolicy", change)


def _key(graph: Graph, usage: str) -> Resource:
    return next(k for k in graph.of_type("aws:kms/key:Key") if k.inputs.get("keyUsage") == usage)


# --- the shipped stacks ---------------------------------------------------------------


def test_shipped_stack_roles_that_pull_requests_reach_hold_no_release_power(stack_graph):
    # Given a shipped stack's rendered graph
    # When the pull-request policy judges its roles
    messages = _messages(PULL_REQUEST_ROLES_POWERLESS, stack_graph)
    # Then no role a pull request can assume holds a forbidden power
    assert messages == [], f"{stack_graph.stack}: {messages}"


def test_shipped_stack_keeps_sign_approve_and_deploy_apart(stack_graph):
    messages = _messages(RELEASE_DUTIES_SEPARATED, stack_graph)
    assert messages == [], f"{stack_graph.stack}: {messages}"


def test_prod_matrix_gives_each_release_duty_to_exactly_one_role(graph_of):
    # Given prod's roles and their powers, as the audit matrix shows them
    access = {r.name: set(r.powers) for r in role_access(subjects_of(graph_of("prod")), "prod")}
    # Then sign, approve and deploy each belong to one named role only
    holders = {
        duty: sorted(name for name, powers in access.items() if duty in powers)
        for duty in ("sign", "approve", "deploy")
    }
    assert holders == {
        "sign": ["mlops-prod-gh-release"],
        "approve": ["mlops-prod-gh-approve"],
        "deploy": ["mlops-prod-gh-deploy"],
    }, holders


# --- attacks: one change each, and the policy that must catch it ---------------------


@pytest.mark.parametrize(
    ("role", "actions", "resource_of", "power"),
    [
        ("gh-plan", ["kms:Sign"], lambda g: _key(g, "SIGN_VERIFY").outputs["arn"], "sign"),
        (
            "gh-plan",
            ["sagemaker:UpdateModelPackage"],
            lambda g: "arn:aws:sagemaker:eu-west-1:123456789012:model-package/mlops-prod-*",
            "approve",
        ),
        (
            "gh-plan",
            ["s3:PutObject"],
            lambda g: f"{g.named('mlops-prod-artifacts', 'aws:s3/bucket:Bucket').outputs['arn']}/*",
            "write-models",
        ),
        (
            "gh-plan",
            ["s3:PutObject"],
            lambda g: f"{g.named('mlops-prod-data', 'aws:s3/bucket:Bucket').outputs['arn']}/*",
            "write-data",
        ),
        (
            "gh-plan",
            ["kms:Decrypt"],
            lambda g: _key(g, "ENCRYPT_DECRYPT").outputs["arn"],
            "decrypt",
        ),
        (
            "gh-plan",
            ["s3:Get*"],
            lambda g: (
                f"{g.named('mlops-prod-artifacts', 'aws:s3/bucket:Bucket').outputs['arn']}/models/*"
            ),
            "read-models",
        ),
        ("gh-plan", ["sagemaker:Update*"], lambda g: "*", "deploy"),
    ],
)
def test_grant_to_the_pull_request_role_fails_the_policy(
    graph_of, role, actions, resource_of, power
):
    # Given prod's graph where the role pull requests assume gains one grant
    graph = graph_of("prod")
    attacked = _grant(graph, role, actions, resource_of(graph))
    # When the policy judges it
    messages = _messages(PULL_REQUEST_ROLES_POWERLESS, attacked)
    # Then it fails on that role, naming the power
    assert len(messages) == 1 and f"{power}:" in messages[0], messages
    assert "mlops-prod-gh-plan" in messages[0] and f"{REPO}:pull_request" in messages[0]


@pytest.mark.parametrize(
    ("operator", "subjects"),
    [
        ("StringEquals", [f"{REPO}:pull_request"]),
        ("StringLike", [f"{REPO}:*"]),
        ("StringLike", [f"{REPO}:ref:refs/heads/*"]),
        ("ForAnyValue:StringLike", [f"{REPO}:ref:refs/*"]),
    ],
)
def test_signing_role_trusting_pull_requests_or_branches_fails(graph_of, operator, subjects):
    # Given prod's signing role made to trust a subject a pull request or branch can produce
    attacked = _trust_subjects(graph_of("prod"), "gh-release", operator, subjects)
    # When judged
    messages = _messages(PULL_REQUEST_ROLES_POWERLESS, attacked)
    # Then the policy fails on the signing role and names the signing power
    assert len(messages) == 1 and "mlops-prod-gh-release" in messages[0], messages
    assert "sign:" in messages[0]


def test_signing_role_without_subject_condition_fails(graph_of):
    # Given the signing role's trust loses its `sub` pin (any repository's workflow)
    def unpin(document: dict) -> None:
        document["Statement"][0]["Condition"]["StringEquals"].pop(
            "token.actions.githubusercontent.com:sub"
        )

    graph = graph_of("prod")
    attacked = _edit(graph, _role(graph, "gh-release"), "assumeRolePolicy", unpin)
    messages = _messages(PULL_REQUEST_ROLES_POWERLESS, attacked)
    assert len(messages) == 1 and "mlops-prod-gh-release" in messages[0], messages


def test_pull_request_role_may_read_models_in_staging_but_not_prod(graph_of):
    # Given the same read grant on models/ for the role pull requests preview with
    staging, prod = graph_of("staging"), graph_of("prod")

    def read_models(graph: Graph) -> Graph:
        bucket = next(b for b in graph.of_type("aws:s3/bucket:Bucket") if "artifacts" in b.name)
        return _grant(graph, "gh-plan", ["s3:GetObject"], f"{bucket.outputs['arn']}/models/*")

    # Then staging accepts it (the production baseline to beat), prod refuses it
    assert _messages(PULL_REQUEST_ROLES_POWERLESS, read_models(staging)) == []
    assert len(_messages(PULL_REQUEST_ROLES_POWERLESS, read_models(prod))) == 1


def test_deployer_given_the_signing_key_fails_separation_of_duties(graph_of):
    # Given prod's signing key policy also lets the deploy role sign
    graph = graph_of("prod")
    deploy_arn = _role(graph, "gh-deploy").outputs["arn"]
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": [deploy_arn]},
        "Action": ["kms:Sign"],
        "Resource": "*",
    }
    attacked = _edit(
        graph,
        _key(graph, "SIGN_VERIFY"),
        "policy",
        lambda d: d["Statement"].append(statement),
    )
    # When judged
    messages = _messages(RELEASE_DUTIES_SEPARATED, attacked)
    # Then the deploy role is named with both duties
    assert len(messages) == 1 and "mlops-prod-gh-deploy" in messages[0], messages
    assert "sign:" in messages[0] and "deploy:" in messages[0]


def test_signer_without_the_approval_deny_fails_separation_of_duties(graph_of):
    # Given the signing role loses its explicit Deny on approving
    graph = graph_of("prod")
    policy = _inline_policy(graph, _role(graph, "gh-release"))

    def drop_denies(document: dict) -> None:
        document["Statement"] = [s for s in document["Statement"] if s["Effect"] != "Deny"]

    attacked = _edit(graph, policy, "policy", drop_denies)
    # When judged: registering straight into Approved is approving
    messages = _messages(RELEASE_DUTIES_SEPARATED, attacked)
    # Then the signer is named with sign and approve
    assert len(messages) == 1 and "mlops-prod-gh-release" in messages[0], messages
    assert "sign:" in messages[0] and "approve:" in messages[0]


def test_role_trusting_another_repository_fails():
    # Given three roles of one repository and one that trusts a fork
    roles = [github_role(name=f"mlops-prod-gh-{n}") for n in ("a", "b", "c")]
    fork = {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": "repo:acme/fork:environment:prod",
        }
    }
    stray = github_role(fork, name="mlops-prod-gh-d")
    # When the one-repository rule runs over the stack
    messages = run_policy(trust.ROLES_TRUST_ONE_REPOSITORY, *roles, stray)
    # Then only the stray role is reported, naming the fork
    only_message(messages, "`mlops-prod-gh-d`", "acme/fork")
