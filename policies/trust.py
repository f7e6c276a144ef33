"""The trust model as policies: what a pull request can reach, and separation of duties.

Both read the one analysis in `policies.reachability`. A stack alone shows which OIDC
subjects each role trusts; whether a GitHub environment is main-only is a repository
setting, judged across graphs by `mlops audit` and the trust-model tests (see
docs/threat-model.md). Here, the subjects any pull-request author or branch writer makes
GitHub issue (`pull_request`, a branch other than main, a tag) are judged.
"""

from __future__ import annotations

from collections import Counter

from policies.core import MANDATORY, Param, Policy, StackCheck, Subject
from policies.reachability import (
    ROLE,
    SEPARATED_DUTIES,
    RoleAccess,
    forbidden_for_pull_requests,
    role_access,
    trust_of,
)


def _repositories(role: RoleAccess) -> set[str]:
    """`org/repo` of every GitHub subject the role trusts (`repo:<org>/<repo>:...`)."""
    return {
        s.split(":", 2)[1]
        for s in role.trust.oidc_subjects
        if s.startswith("repo:") and ":" in s[5:]
    }


def attacker_subject(role: RoleAccess) -> str | None:
    """A subject anyone who can open a pull request or push a branch can produce, that this
    role admits; None when it admits none."""
    repositories = _repositories(role) or {"any/repository"}
    for repository in sorted(repositories):
        for qualifier in ("pull_request", "ref:refs/heads/attacker-branch", "ref:refs/tags/v0"):
            subject = f"repo:{repository}:{qualifier}"
            if role.trust.admits(subject):
                return subject
    return None


def _subject_of(stack: StackCheck, role: RoleAccess):
    return next(s for s in stack.resources(ROLE) if s.name == role.name)


def _check_pull_request_roles(stack: StackCheck) -> None:
    forbidden = forbidden_for_pull_requests(stack.environment)
    for role in role_access(stack.subjects, stack.environment):
        check = stack.check(_subject_of(stack, role))
        check.get("assumeRolePolicy")
        subject = attacker_subject(role)
        if subject is None:
            continue
        held = {p: role.evidence[p] for p in forbidden if p in role.evidence}
        check.note("pull-request subject admitted", subject)
        check.note("release powers", held)
        if held:
            check.violation(
                f"a role that {subject} can assume must hold none of "
                f"{', '.join(forbidden)} in {stack.environment or 'this stack'}",
                "; ".join(f"{p}: {e}" for p, e in held.items()),
                "trust only main or a main-only environment, or remove the grants",
            )


PULL_REQUEST_ROLES_POWERLESS = Policy(
    name="pull-request-roles-hold-no-release-power",
    description="Checks whether every role a pull request (or a non-main branch or tag) can "
    "assume through GitHub OIDC holds no power to sign, approve, register, deploy, write "
    "models or write training data, and in prod none to pass roles, decrypt, or read data "
    "and models.",
    enforcement=MANDATORY,
    severity="critical",
    controls=("NIST AC-6", "NIST CM-5"),
    stack_validator=_check_pull_request_roles,
    subject_types=(ROLE,),
)


def _check_separated_duties(stack: StackCheck) -> None:
    for role in role_access(stack.subjects, stack.environment):
        check = stack.check(_subject_of(stack, role))
        duties = [d for d in SEPARATED_DUTIES if d in role.powers]
        check.note("release duties", duties)
        if len(duties) > 1:
            check.violation(
                f"no role may hold two of {', '.join(SEPARATED_DUTIES)}",
                "; ".join(f"{d}: {role.evidence[d]}" for d in duties),
                "give each duty its own role (sign: gh-release, approve: gh-approve, "
                "deploy: gh-deploy)",
            )


RELEASE_DUTIES_SEPARATED = Policy(
    name="release-duties-held-by-separate-roles",
    description="Checks whether signing, approving and deploying a model are each held by a "
    "different role, so no single identity can release a model on its own.",
    enforcement=MANDATORY,
    severity="high",
    controls=("NIST AC-5", "NIST CM-5"),
    stack_validator=_check_separated_duties,
    subject_types=(ROLE,),
)


def _trusted_repositories(role: Subject) -> set[str]:
    """`org/repo` of every GitHub OIDC subject the role's trust accepts."""
    return {s.split(":", 2)[1] for s in trust_of(role).oidc_subjects if s.startswith("repo:")}


def _check_one_repository(stack: StackCheck) -> None:
    trusted = {role.urn: _trusted_repositories(role) for role in stack.resources(ROLE)}
    configured = set(stack.config["repositories"])
    counts = Counter(repository for found in trusted.values() for repository in found)
    ranked = counts.most_common()
    if configured:
        own = configured
    elif len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        own = set()  # no majority to tell the stack's repository from a stray one
    else:
        own = {ranked[0][0]} if ranked else set()
    for role in stack.resources(ROLE):
        if not trusted[role.urn]:
            stack.skip(role, "the role trusts no GitHub repository")
            continue
        check = stack.check(role)
        check.get("assumeRolePolicy")
        check.note("trusted repositories", sorted(trusted[role.urn]))
        check.note("the stack's repository", sorted(own))
        strays = sorted(trusted[role.urn] - own)
        if strays:
            check.violation(
                f"GitHub OIDC trust must name only the stack's repository {sorted(own) or '?'}",
                strays,
                "trust repo:<the stack's org/repo>:... only (a subject names exactly one "
                "repository, and IAM compares it case-sensitively)",
            )


ROLES_TRUST_ONE_REPOSITORY = Policy(
    name="iam-oidc-roles-trust-stack-repository-only",
    description="Checks whether every GitHub-federated role of a stack trusts the stack's one "
    "repository (configured, else the one its roles name), not a fork, a namesake in "
    "another organisation or another project.",
    enforcement=MANDATORY,
    severity="critical",
    controls=("NIST AC-3", "NIST IA-2"),
    stack_validator=_check_one_repository,
    subject_types=(ROLE,),
    params=(
        Param(
            "repositories",
            "array",
            [],
            "The `org/repo` the stack's roles may trust; empty: the one most of them name.",
            items={"type": "string"},
        ),
    ),
)

POLICIES = (PULL_REQUEST_ROLES_POWERLESS, RELEASE_DUTIES_SEPARATED, ROLES_TRUST_ONE_REPOSITORY)
