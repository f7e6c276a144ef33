"""The trust model as policies: what a pull request can reach, and separation of duties.

Both read the one analysis in `policies.reachability`. A stack alone shows which OIDC
subjects each role trusts; whether a GitHub environment is main-only is a repository
setting, judged across graphs by `mlops audit` and the trust-model tests (see
docs/threat-model.md). Here, the subjects any pull-request author or branch writer makes
GitHub issue (`pull_request`, a branch other than main, a tag) are judged.
"""

from __future__ import annotations

from policies.core import MANDATORY, Policy, StackCheck
from policies.reachability import (
    ROLE,
    SEPARATED_DUTIES,
    RoleAccess,
    forbidden_for_pull_requests,
    role_access,
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

POLICIES = (PULL_REQUEST_ROLES_POWERLESS, RELEASE_DUTIES_SEPARATED)
