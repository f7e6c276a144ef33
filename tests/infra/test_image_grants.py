"""Who may push the serving image and sign its digest, asked of the rendered policies.

The main build (`gh-build`) pushes to its stack's repository; the release role signs (the
signing key's only signer). The attacks: a pull request's roles (`gh-train`, `gh-plan`)
push an image or sign a digest; the build role signs; the build role pushes elsewhere or
rewrites what it pushed. Each asks the project's IAM evaluator (`policies.evaluation`), with
the key policy where KMS would read it.
"""

from __future__ import annotations

import pytest

from infra.graph import Graph
from tests.infra.test_release_grants import _decide, _key, _role

PUSH = ("ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload",
        "ecr:PutImage", "ecr:BatchCheckLayerAvailability")  # fmt: skip
PULL_REQUEST_ROLES = ("gh-train", "gh-plan")


def _repository(graph: Graph) -> str:
    (repository,) = graph.of_type("aws:ecr/repository:Repository")
    return str(repository.outputs["arn"])


def _roles(graph: Graph, candidates: tuple[str, ...]) -> list[str]:
    names = {r.name for r in graph.of_type("aws:iam/role:Role")}
    return [c for c in candidates if f"mlops-{graph.stack}-{c}" in names]


@pytest.mark.parametrize("action", [*PUSH, "ecr:DescribeImages"])
def test_build_role_may_push_to_its_stacks_repository(stack_graph: Graph, action: str) -> None:
    decision = _decide(stack_graph, "gh-build", action, _repository(stack_graph), {})
    assert decision == "allow", f"gh-build {action} on its repository: {decision}"


def test_build_role_may_log_in_to_ecr(stack_graph: Graph) -> None:
    assert _decide(stack_graph, "gh-build", "ecr:GetAuthorizationToken", "*", {}) == "allow"


@pytest.mark.parametrize("action", PUSH)
def test_pull_request_roles_cannot_push_an_image(stack_graph: Graph, action: str) -> None:
    # The attack: a pull request's job logs in and pushes its own image under the stack's repo
    for role in _roles(stack_graph, PULL_REQUEST_ROLES):
        decision = _decide(stack_graph, role, action, _repository(stack_graph), {})
        assert decision != "allow", f"{role} may {action} on {stack_graph.stack}'s repository"


def test_pull_request_and_build_roles_cannot_sign_a_digest(stack_graph: Graph) -> None:
    # The attack: sign a digest of one's own image with the stack's signing key
    # (with the algorithm the key policy requires, as `mlops image sign` sends it)
    signing = _key(stack_graph, "SIGN_VERIFY")
    arn, request = str(signing.outputs["arn"]), {"kms:SigningAlgorithm": ["ECDSA_SHA_256"]}
    for role in _roles(stack_graph, (*PULL_REQUEST_ROLES, "gh-build")):
        decision = _decide(stack_graph, role, "kms:Sign", arn, request, signing)
        assert decision != "allow", f"{role} may sign with {stack_graph.stack}'s key"
    # while the release role, in model-signing-<stack>, may
    assert _decide(stack_graph, "gh-release", "kms:Sign", arn, request, signing) == "allow"


@pytest.mark.parametrize(
    "action",
    [
        "ecr:BatchDeleteImage",
        "ecr:PutImageTagMutability",
        "ecr:SetRepositoryPolicy",
        "ecr:DeleteRepository",
        "ecr:PutLifecyclePolicy",
    ],
)
def test_build_role_cannot_delete_or_loosen_the_repository(stack_graph: Graph, action: str) -> None:
    # The attack: delete the released image, or make tags mutable and re-point one
    decision = _decide(stack_graph, "gh-build", action, _repository(stack_graph), {})
    assert decision != "allow", f"gh-build may {action}"


def test_build_role_cannot_push_to_another_repository(stack_graph: Graph) -> None:
    other = _repository(stack_graph).rsplit("/", 1)[0] + "/someone-elses-images"
    assert _decide(stack_graph, "gh-build", "ecr:PutImage", other, {}) != "allow"


def test_release_role_cannot_push_an_image(stack_graph: Graph) -> None:
    # The signer signs a digest the build pushed; it cannot put its own bytes there
    assert _role(stack_graph, "gh-release") is not None
    decision = _decide(stack_graph, "gh-release", "ecr:PutImage", _repository(stack_graph), {})
    assert decision != "allow", decision
