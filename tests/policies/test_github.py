"""GitHub policies, as attacks: one change someone with admin on the repository would make
to reach a role's credentials, and the policy that must catch it."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.github.offline import render_github_graph
from infra.graph import Graph
from ml.audit.engine import run_pack
from policies import github
from tests.policies.fixtures import parts
from tests.policies.harness import Res, only_message, run_policy, statuses_of

REPO = "mlops-gitops"
TEAM = 10042596
SUBJECTS = [f"repo:acme/{REPO}:environment:{e}" for e in ("prod", "model-signing-prod")]


def environment(name: str, reviewed: bool) -> Res:
    props: dict = {
        "repository": REPO,
        "environment": name,
        "deploymentBranchPolicy": {"protectedBranches": False, "customBranchPolicies": True},
        "canAdminsBypass": False,
    }
    if reviewed:
        props |= {"reviewers": [{"teams": [TEAM], "users": []}], "preventSelfReview": True}
    return Res(github.ENVIRONMENT, f"{REPO}-env-{name}", props, id=f"{REPO}:{name}")


def branch_rule(name: str, pattern: str = "main") -> Res:
    return Res(
        github.DEPLOYMENT_POLICY,
        f"{REPO}-env-{name}-{pattern.replace('/', '-').replace('*', 'any')}",
        {"repository": REPO, "environment": name, "branchPattern": pattern},
        refs={"environment": (f"{REPO}-env-{name}",)},
    )


def repository() -> dict[str, Res]:
    """What infra/github declares for prod and dev: every GitHub policy satisfied."""
    d: dict[str, Res] = {}
    for name, reviewed in (("prod", True), ("model-signing-prod", True),
                           ("model-approval-dev", True), ("dev", False)):  # fmt: skip
        d[name] = environment(name, reviewed)
        d[f"{name}-main"] = branch_rule(name)
    d["template"] = Res(
        github.OIDC_TEMPLATE, f"{REPO}-oidc-subject", {"repository": REPO, "useDefault": True}
    )
    d["protection"] = Res(
        github.BRANCH_PROTECTION,
        f"{REPO}-main-protection",
        {
            "repositoryId": REPO,
            "pattern": "main",
            "enforceAdmins": True,
            "allowsForcePushes": False,
            "allowsDeletions": False,
            "requiredPullRequestReviews": [
                {"requiredApprovingReviewCount": 1.0, "requireCodeOwnerReviews": True}
            ],
            "requiredStatusChecks": [{"strict": True, "contexts": ["test (all, slow included)"]}],
        },
    )
    return d


def changed(name: str, **props) -> Res:
    """Part `name` of the repository with top-level props replaced (None drops one)."""
    return repository()[name].with_props(**props)


TRUST = {"trustedSubjects": SUBJECTS}


@pytest.mark.parametrize("policy", github.POLICIES, ids=lambda p: p.name)
def test_github_policy_passes_the_declared_repository(policy) -> None:
    config = TRUST if policy is github.ENVIRONMENTS_COVER_TRUST else None
    messages = run_policy(policy, *parts(repository()), config=config, environment="github")
    assert messages == [], messages


def test_fixture_keys_match_the_rendered_github_graph(repo_root: Path) -> None:
    # Given the real program's graph / Then the fixtures use the keys it records
    graph = Graph.from_json(render_github_graph(repo_root))
    for part in parts(repository()):
        keys = {key for r in graph.of_type(part.type) for key in r.inputs}
        unknown = set(part.props) - keys
        assert not unknown, f"{part.type}: fixture keys the graph does not have: {unknown}"


def test_main_only_release_branch_rule_on_prod_signing_fails() -> None:
    # Attack: let a release/* branch (which a writer can push) into prod's signing environment
    resources = [*parts(repository()), branch_rule("model-signing-prod", "release/*")]
    messages = run_policy(github.DEPLOYS_FROM_MAIN_ONLY, *resources, environment="github")
    only_message(messages, "`mlops-gitops-env-model-signing-prod`", "only `main` may deploy",
                 '["main", "release/*"]')  # fmt: skip


def test_main_only_no_deployment_branch_policy_fails() -> None:
    # Attack: drop the branch policy on prod, so any branch's job gets the deploy role
    prod = changed("prod", deploymentBranchPolicy=None)
    messages = run_policy(github.DEPLOYS_FROM_MAIN_ONLY, *parts(repository(), prod=prod))
    only_message(messages, "GitHub environment `mlops-gitops-env-prod`", "every branch may deploy")


def test_main_only_any_protected_branch_fails() -> None:
    prod = changed("prod", deploymentBranchPolicy={"protectedBranches": True,
                                                   "customBranchPolicies": False})  # fmt: skip
    messages = run_policy(github.DEPLOYS_FROM_MAIN_ONLY, *parts(repository(), prod=prod))
    only_message(messages, "`mlops-gitops-env-prod`", "protected_branches true")


def test_main_only_admin_bypass_fails() -> None:
    # Attack: a repository admin turns bypass on and deploys from their own branch
    dev = changed("dev", canAdminsBypass=True)
    messages = run_policy(github.DEPLOYS_FROM_MAIN_ONLY, *parts(repository(), dev=dev))
    only_message(messages, "`mlops-gitops-env-dev`", "must not bypass", "(found true)",
                 "can_admins_bypass=False")  # fmt: skip


def test_reviewers_removed_from_approval_environment_fails() -> None:
    # Attack: remove the reviewers of an approval environment, approving without anyone
    approval = changed("model-approval-dev", reviewers=None)
    messages = run_policy(
        github.PROTECTED_REQUIRE_REVIEWERS, *parts(repository(), **{"model-approval-dev": approval})
    )
    only_message(messages, "`mlops-gitops-env-model-approval-dev`", "required reviewer",
                 "(found no reviewers)")  # fmt: skip


def test_reviewers_self_review_allowed_on_prod_fails() -> None:
    # Attack: the release manager who triggers the prod deploy approves it themselves
    prod = changed("prod", preventSelfReview=None)
    messages = run_policy(github.PROTECTED_REQUIRE_REVIEWERS, *parts(repository(), prod=prod))
    only_message(messages, "`mlops-gitops-env-prod`", "must not approve",
                 "(found prevent_self_review not set)", "prevent_self_review=True")  # fmt: skip


def test_reviewers_not_required_of_dev_deploy() -> None:
    statuses = statuses_of(github.PROTECTED_REQUIRE_REVIEWERS, *parts(repository()))
    assert statuses[f"{REPO}-env-dev"] == "not-applicable", statuses
    assert statuses[f"{REPO}-env-model-signing-prod"] == "pass", statuses


def test_oidc_custom_subject_claim_fails() -> None:
    # Attack: a custom subject (`repo:...:context:...`) no longer matches what IAM pins, or
    # a crafted one matches a role it should not
    template = changed("template", useDefault=False, includeClaimKeys=["repo", "context"])
    messages = run_policy(github.OIDC_DEFAULT_SUBJECT, *parts(repository(), template=template))
    only_message(messages, "OIDC subject template `mlops-gitops-oidc-subject`",
                 'found use_default false, include_claim_keys ["repo", "context"]')  # fmt: skip


def test_oidc_template_removed_flags_every_environment() -> None:
    messages = run_policy(github.OIDC_DEFAULT_SUBJECT, *parts(repository(), template=None))
    assert len(messages) == 4, messages
    assert all("no subject template for repository mlops-gitops" in m for m in messages), messages


def test_main_protection_force_push_allowed_fails() -> None:
    # Attack: force-push an unreviewed commit to main, then run the signing job from it
    protection = changed("protection", allowsForcePushes=True)
    messages = run_policy(github.MAIN_PROTECTED, *parts(repository(), protection=protection))
    only_message(messages, "branch protection `mlops-gitops-main-protection`",
                 "must not be rewritten", "allows_force_pushes true")  # fmt: skip


def test_main_protection_no_reviews_fails() -> None:
    protection = changed("protection", requiredPullRequestReviews=None)
    messages = run_policy(github.MAIN_PROTECTED, *parts(repository(), protection=protection))
    assert len(messages) == 2, messages
    assert "at least 1 approving review" in messages[0] and "(found 0)" in messages[0]
    assert "needs its code owners' review" in messages[1], messages


def test_main_protection_without_code_owner_reviews_fails() -> None:
    # Attack: a pull request that adds a waiver (or weakens a policy) merges with any
    # reviewer's approval, not the guardrails' owners'
    protection = changed(
        "protection", requiredPullRequestReviews=[{"requiredApprovingReviewCount": 1.0}]
    )
    messages = run_policy(github.MAIN_PROTECTED, *parts(repository(), protection=protection))
    only_message(messages, "needs its code owners' review", "require_code_owner_reviews")


def test_main_protection_removed_flags_every_environment() -> None:
    messages = run_policy(github.MAIN_PROTECTED, *parts(repository(), protection=None))
    assert len(messages) == 4, messages
    assert all("`main` must be protected" in m for m in messages), messages


def test_trust_names_an_undeclared_environment_fails() -> None:
    # Attack: a role trusts an environment nobody declared; the first workflow naming it
    # creates it without branch rules or reviewers
    subjects = [*SUBJECTS, f"repo:acme/{REPO}:environment:model-approval-prod"]
    messages = run_policy(github.ENVIRONMENTS_COVER_TRUST, *parts(repository()),
                          config={"trustedSubjects": subjects})  # fmt: skip
    only_message(messages, "IAM trusts `repo:acme/mlops-gitops:environment:model-approval-prod`",
                 "environment `model-approval-prod` must be declared")  # fmt: skip


def test_trust_of_another_repository_fails() -> None:
    config = {"trustedSubjects": ["repo:acme/fork:environment:prod"]}
    messages = run_policy(github.ENVIRONMENTS_COVER_TRUST, *parts(repository()), config=config)
    only_message(messages, "`repo:acme/fork:environment:prod`", "in repository mlops-gitops")


def test_trusted_subjects_reads_the_rendered_prod_trust_policies(graph_of) -> None:
    subjects = github.trusted_subjects([graph_of("prod")])
    assert "repo:acme/mlops-gitops:environment:prod" in subjects, subjects
    assert all(":environment:" in s for s in subjects), f"branch subjects leaked: {subjects}"


def test_shipped_github_graph_covers_every_main_stack_trust(repo_root: Path, graph_of) -> None:
    # Given the rendered GitHub program and the three rendered main stacks, as they are
    graph = Graph.from_json(render_github_graph(repo_root))
    subjects = github.trusted_subjects([graph_of(s) for s in ("dev", "staging", "prod")])
    # When every GitHub policy runs, the seam with the subjects the roles trust
    config = {github.ENVIRONMENTS_COVER_TRUST.name: {"trustedSubjects": subjects}}
    findings = run_pack(graph, None, github.POLICIES, config)
    # Then nothing fails, and the seam was judged
    failed = [m for f in findings for m in f.evaluation.violations]
    assert failed == [], failed
    seam = [f for f in findings if f.policy is github.ENVIRONMENTS_COVER_TRUST]
    assert [f.status for f in seam] == ["pass"], seam
    assert len(subjects) >= 4, subjects
