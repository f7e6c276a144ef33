"""Checks shared by every resource-based policy (bucket, topic, repository policies)."""

from __future__ import annotations

from common.iam_document import MalformedPolicy, Statement, allow_statements, parse_document
from policies.core import ResourceCheck


def parsed_policy(check: ResourceCheck, key: str = "policy") -> list[Statement] | None:
    """The policy's statements, or None after recording that the JSON is malformed."""
    try:
        return parse_document(check.get(key))
    except MalformedPolicy as error:
        check.violation("the policy must be a JSON policy document", str(error), "fix the JSON")
        return None


def check_not_public(check: ResourceCheck, statements: list[Statement], remedy: str) -> None:
    """No Allow to everyone (Principal '*') unless an account/org condition scopes it."""
    for statement in allow_statements(statements):
        if statement.is_public and not statement.scoped_to_account:
            check.violation(
                f"statement {statement.label} must not allow everyone (Principal '*')",
                statement.actions,
                remedy,
            )


def check_service_principals_scoped(check: ResourceCheck, statements: list[Statement]) -> None:
    """A service principal acts for any account unless aws:SourceAccount/SourceArn pins it."""
    for statement in allow_statements(statements):
        services = statement.principals.get("Service", ())
        if services and not statement.scoped_to_account:
            check.violation(
                f"statement {statement.label} must scope service principals to this account",
                f"{', '.join(services)} without aws:SourceAccount or aws:SourceArn",
                'add Condition={"StringEquals": {"aws:SourceAccount": <account id>}}',
            )
