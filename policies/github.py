"""GitHub: the repository settings an AWS role's OIDC trust relies on (`infra/github`).

A role that trusts `repo:O/R:environment:E` hands its credentials to any job GitHub lets
into environment E. So E must admit only `main` (no admin bypass), the environments that
sign, approve or deploy to prod must wait for a reviewer who did not trigger the job, the
token's `sub` must keep GitHub's default format the `sub` conditions are written against,
`main` must only change through reviewed, checked pull requests, and every environment a
role trusts must exist (an environment that does not exist is created unprotected by the
first workflow that names it).
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from common.iam_document import MalformedPolicy, parse_document
from infra.graph import Graph
from policies.core import (
    MANDATORY,
    Param,
    Policy,
    ResourceCheck,
    StackCheck,
    Subject,
    evaluate_stack,
    peek,
    shown,
)

ENVIRONMENT = "github:index/repositoryEnvironment:RepositoryEnvironment"
DEPLOYMENT_POLICY = (
    "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy"
)
OIDC_TEMPLATE = (
    "github:index/actionsRepositoryOidcSubjectClaimCustomizationTemplate:"
    "ActionsRepositoryOidcSubjectClaimCustomizationTemplate"
)
BRANCH_PROTECTION = "github:index/branchProtection:BranchProtection"
SUBJECT_KEY = "token.actions.githubusercontent.com:sub"
ENVIRONMENT_SUBJECT = ":environment:"


def _repository(subject: Subject) -> str | None:
    value = peek(subject.props, "repository") or peek(subject.props, "repositoryId")
    return value if isinstance(value, str) else None


def _deployment_policies(stack: StackCheck, environment: Subject) -> list[Subject]:
    """The branch/tag rules of `environment` (by reference, or by repository and name)."""
    name, repository = peek(environment.props, "environment"), _repository(environment)
    return [
        p
        for p in stack.resources(DEPLOYMENT_POLICY)
        if environment.urn in p.dependencies.get("environment", ())
        or (peek(p.props, "environment") == name and _repository(p) == repository)
    ]


def _check_main_only(stack: StackCheck) -> None:
    branch = stack.config["branch"]
    fix = (
        'set deployment_branch_policy={"protected_branches": False, "custom_branch_policies": '
        f'True}} and one RepositoryEnvironmentDeploymentPolicy with branch_pattern="{branch}"'
    )
    for environment in stack.resources(ENVIRONMENT):
        check = stack.check(environment)
        rule = f"only `{branch}` may deploy to an environment that hands out a role"
        policy = check.get("deploymentBranchPolicy")
        if policy is None:
            check.violation(rule, "no deployment branch policy: every branch may deploy", fix)
        elif peek(policy, "protectedBranches") is True:
            check.violation(rule, "protected_branches true: any protected branch may deploy", fix)
        elif peek(policy, "customBranchPolicies") is not True:
            check.violation(rule, policy, fix)
        else:
            rules = _deployment_policies(stack, environment)
            patterns = [
                f"tag {peek(r.props, 'tagPattern')}"
                if peek(r.props, "tagPattern")
                else str(peek(r.props, "branchPattern"))
                for r in rules
            ]
            check.note("deploymentPolicies", patterns)
            if patterns != [branch]:
                check.violation(rule, patterns or "no branch or tag rule", fix)
        bypass = check.get("canAdminsBypass", True)
        if bypass is not False:
            check.violation(
                "repository admins must not bypass the environment's protection rules",
                bypass,
                "set can_admins_bypass=False",
            )


DEPLOYS_FROM_MAIN_ONLY = Policy(
    name="github-environment-deploys-from-main-only",
    description="Checks whether every GitHub environment admits jobs from the main branch "
    "only, with no administrator bypass.",
    enforcement=MANDATORY,
    severity="critical",
    controls=("NIST CM-3", "NIST AC-3"),
    stack_validator=_check_main_only,
    subject_types=(ENVIRONMENT,),
    params=(Param("branch", "string", "main", "The one branch that may deploy."),),
)


def _check_reviewers(check: ResourceCheck) -> None:
    name = check.get("environment")
    patterns = check.config["protectedEnvironments"]
    if not any(fnmatchcase(str(name), pattern) for pattern in patterns):
        check.not_applicable(f"environment {name} matches none of {patterns}")
    reviewers = check.get("reviewers") or []
    named = [who for block in reviewers for key in ("teams", "users") for who in block.get(key, [])]
    if not named:
        check.violation(
            "a job must wait for a required reviewer before it gets this environment's role",
            "no reviewers",
            'set reviewers=[{"teams": [<team id>]}] (mlops-github:reviewers)',
        )
    self_review = check.get("preventSelfReview")
    if self_review is not True:
        check.violation(
            "the person who triggered the job must not approve it",
            f"prevent_self_review {shown(self_review)}",
            "set prevent_self_review=True",
        )


PROTECTED_REQUIRE_REVIEWERS = Policy(
    name="github-protected-environment-requires-reviewers",
    description="Checks whether the prod deploy, prod signing and every approval environment "
    "require a reviewer other than the person who triggered the job.",
    enforcement=MANDATORY,
    severity="critical",
    controls=("NIST AC-3", "NIST CM-3", "NIST AC-6"),
    validators={ENVIRONMENT: _check_reviewers},
    params=(
        Param(
            "protectedEnvironments",
            "array",
            ["prod", "model-signing-prod", "model-approval-*"],
            "Environment names (glob patterns) that must require reviewers.",
            items={"type": "string"},
        ),
    ),
)


def _check_default_subject(stack: StackCheck) -> None:
    templates = {_repository(t): t for t in stack.resources(OIDC_TEMPLATE)}
    for template in templates.values():
        check = stack.check(template)
        use_default = check.get("useDefault")
        keys = check.get("includeClaimKeys") or []
        if use_default is not True or keys:
            check.violation(
                "the OIDC subject must keep GitHub's default format "
                "(repo:<owner>/<repo>:environment:<name>), which the IAM trust policies pin",
                f"use_default {shown(use_default)}, include_claim_keys {shown(list(keys))}",
                "set use_default=True and drop include_claim_keys",
            )
    for environment in stack.resources(ENVIRONMENT):
        check = stack.check(environment)
        repository = check.get("repository")
        if repository not in templates:
            check.violation(
                "the repository's OIDC subject template must be declared, or a repository "
                "admin can change the subject format the IAM trust policies pin",
                f"no subject template for repository {repository}",
                "declare ActionsRepositoryOidcSubjectClaimCustomizationTemplate(use_default=True)",
            )


OIDC_DEFAULT_SUBJECT = Policy(
    name="github-oidc-subject-claim-uses-default-format",
    description="Checks whether the repository pins its OIDC subject claim to GitHub's "
    "default format, the one the IAM trust policies are written against.",
    enforcement=MANDATORY,
    severity="high",
    controls=("NIST IA-2", "NIST AC-3"),
    stack_validator=_check_default_subject,
    subject_types=(OIDC_TEMPLATE, ENVIRONMENT),
)


def _check_main_protected(stack: StackCheck) -> None:
    branch, minimum = stack.config["branch"], stack.config["minimumApprovals"]
    protections = {
        _repository(p): p
        for p in stack.resources(BRANCH_PROTECTION)
        if peek(p.props, "pattern") == branch
    }
    for protection in protections.values():
        check = stack.check(protection)
        approvals = check.get("requiredPullRequestReviews.0.requiredApprovingReviewCount", 0)
        if approvals < minimum:
            check.violation(
                f"a pull request to `{branch}` needs at least {minimum} approving review(s)",
                approvals,
                f"set required_pull_request_reviews=[{{'required_approving_review_count': "
                f"{minimum}}}]",
            )
        owners = check.get("requiredPullRequestReviews.0.requireCodeOwnerReviews", False)
        if owners is not True:
            check.violation(
                f"a pull request to `{branch}` that changes the policy pack, its waivers, the "
                "workflows or the infrastructure needs its code owners' review",
                f"require_code_owner_reviews {shown(owners)}",
                "set required_pull_request_reviews=[{'require_code_owner_reviews': True}] and "
                "keep .github/CODEOWNERS",
            )
        contexts = check.get("requiredStatusChecks.0.contexts") or []
        if not contexts:
            check.violation(
                f"a pull request to `{branch}` must pass the CI checks",
                "no required status checks",
                "set required_status_checks=[{'strict': True, 'contexts': [<ci job names>]}]",
            )
        for key, fix in (("allowsForcePushes", "allows_force_pushes"),
                         ("allowsDeletions", "allows_deletions")):  # fmt: skip
            value = check.get(key, False)
            if value is not False:
                check.violation(
                    f"`{branch}` must not be rewritten or deleted",
                    f"{fix} {shown(value)}",
                    f"set {fix}=False",
                )
        admins = check.get("enforceAdmins", False)
        if admins is not True:
            check.violation(
                "administrators must follow the same rules",
                f"enforce_admins {shown(admins)}",
                "set enforce_admins=True",
            )
    for environment in stack.resources(ENVIRONMENT):
        check = stack.check(environment)
        repository = check.get("repository")
        if repository not in protections:
            check.violation(
                f"the environment deploys from `{branch}`, so `{branch}` must be protected",
                f"no BranchProtection with pattern {branch} for repository {repository}",
                f"declare BranchProtection(repository_id=<repo>, pattern='{branch}', ...)",
            )


MAIN_PROTECTED = Policy(
    name="github-main-branch-protected",
    description="Checks whether the branch environments deploy from changes only through "
    "reviewed pull requests (code owners' review included) that pass CI, with no force push, "
    "deletion or admin bypass.",
    enforcement=MANDATORY,
    severity="high",
    controls=("NIST CM-3", "NIST SI-7"),
    stack_validator=_check_main_protected,
    subject_types=(BRANCH_PROTECTION, ENVIRONMENT),
    params=(
        Param("branch", "string", "main", "The branch environments deploy from."),
        Param(
            "minimumApprovals",
            "integer",
            1,
            "Approving reviews a pull request needs.",
            minimum=1,
            maximum=6,
        ),
    ),
)


def _check_trust_covered(stack: StackCheck) -> None:
    declared = {
        (_repository(e), peek(e.props, "environment")) for e in stack.resources(ENVIRONMENT)
    }
    for template in stack.resources(OIDC_TEMPLATE):
        check = stack.check(template)
        repository = check.get("repository")
        names = sorted(str(name) for repo, name in declared if repo == repository)
        check.note("environments", names)
        for subject in stack.config["trustedSubjects"]:
            repo_part, _, environment = subject.partition(ENVIRONMENT_SUBJECT)
            if repo_part.rsplit("/", 1)[-1] != repository or environment not in names:
                check.violation(
                    f"IAM trusts `{subject}`, so environment `{environment}` must be declared "
                    f"(protected) in repository {repository}",
                    f"environments {', '.join(names) or 'none'}",
                    "name it in a stack's mlops:github (deploy, signing or approval "
                    "environment) so infra/github declares it",
                )


ENVIRONMENTS_COVER_TRUST = Policy(
    name="github-environments-cover-iam-trust",
    description="Checks whether every GitHub environment an IAM role's OIDC trust names is "
    "declared, with its protections, in the repository.",
    enforcement=MANDATORY,
    severity="high",
    controls=("NIST AC-3", "NIST CM-3"),
    stack_validator=_check_trust_covered,
    subject_types=(OIDC_TEMPLATE,),
    params=(
        Param(
            "trustedSubjects",
            "array",
            [],
            "OIDC subjects `repo:<owner>/<repo>:environment:<name>` the IAM roles trust "
            "(`mlops infra validate --program github` fills them from the main stacks' graphs).",
            items={"type": "string"},
        ),
    ),
)


def main_only_environments(subjects: Iterable[Subject], branch: str = "main") -> frozenset[str]:
    """Names of the environments GitHub lets only `branch` into: those the
    `github-environment-deploys-from-main-only` rule passes (the same rule, not a copy)."""
    evaluations = evaluate_stack(DEPLOYS_FROM_MAIN_ONLY, list(subjects), {"branch": branch})
    return frozenset(
        str(peek(e.subject.props, "environment"))
        for e in evaluations
        if e.passed and e.subject.type == ENVIRONMENT
    )


def trusted_subjects(graphs: Iterable[Graph]) -> list[str]:
    """Every environment subject a role's trust policy in `graphs` accepts (the other side
    of the seam, read from the rendered main stacks as they are)."""
    subjects: set[str] = set()
    for graph in graphs:
        for resource in graph.of_type("aws:iam/role:Role"):
            try:
                statements = parse_document(resource.inputs.get("assumeRolePolicy") or "{}")
            except MalformedPolicy:
                continue
            for statement in statements:
                subjects.update(
                    value
                    for value in statement.condition_values(SUBJECT_KEY)
                    if ENVIRONMENT_SUBJECT in value
                )
    return sorted(subjects)


POLICIES = (
    DEPLOYS_FROM_MAIN_ONLY,
    PROTECTED_REQUIRE_REVIEWERS,
    OIDC_DEFAULT_SUBJECT,
    MAIN_PROTECTED,
    ENVIRONMENTS_COVER_TRUST,
)
