"""KMS: rotating data keys, key policies that name who may do what, a narrow signing key."""

from __future__ import annotations

from common import minimums
from common.iam_document import (
    MalformedPolicy,
    Statement,
    allow_statements,
    is_account_root,
    parse_document,
    wildcard_actions,
)
from policies.core import MANDATORY, Param, Policy, ResourceCheck
from policies.evaluation import Request, conditions_hold

KEY = "aws:kms/key:Key"
SYMMETRIC = "SYMMETRIC_DEFAULT"


def _usage(check: ResourceCheck) -> str:
    return check.get("keyUsage", "ENCRYPT_DECRYPT")


def _spec(check: ResourceCheck) -> str:
    return check.get("customerMasterKeySpec") or check.get("keySpec") or SYMMETRIC


def _statements(check: ResourceCheck) -> list[Statement] | None:
    """The key policy's statements; None (after recording a violation) when malformed."""
    raw = check.get("policy")
    if raw is None:
        return []  # AWS's default key policy: the account root only
    try:
        return parse_document(raw)
    except MalformedPolicy as error:
        check.violation("the key policy must be a JSON policy document", str(error), "fix it")
        return None


def _check_rotation(check: ResourceCheck) -> None:
    if _usage(check) != "ENCRYPT_DECRYPT" or _spec(check) != SYMMETRIC:
        check.not_applicable("only symmetric encryption keys can rotate automatically")
    if check.get("enableKeyRotation") is not True:
        check.violation(
            "automatic key rotation must be enabled",
            check.get("enableKeyRotation"),
            "set enable_key_rotation=True",
        )
        return
    period = check.get("rotationPeriodInDays", 365)
    limit = check.config["maximumRotationDays"]
    if period > limit:
        check.violation(
            f"keys must rotate at least every {limit} days",
            f"rotation_period_in_days {period:g}",
            f"set rotation_period_in_days={limit}",
        )


ROTATION_ENABLED = Policy(
    name="kms-symmetric-key-rotation-enabled",
    description="Checks whether every symmetric KMS key rotates automatically, at least "
    "once a year.",
    enforcement=MANDATORY,
    controls=("CIS 3.6", "NIST SC-12", "NIST SC-28"),
    validators={KEY: _check_rotation},
    params=(
        Param(
            "maximumRotationDays",
            "integer",
            365,
            "Longest accepted rotation_period_in_days.",
            minimum=90,
            maximum=2560,
        ),
    ),
)


def _check_deletion_window(check: ResourceCheck) -> None:
    window = check.get("deletionWindowInDays", 30)  # AWS's default when unset
    minimum = check.config["minimumDays"]
    if window < minimum:
        check.violation(
            f"the deletion window must be at least {minimum} days",
            f"{window:g} days",
            f"set deletion_window_in_days={minimum}",
        )


DELETION_WINDOW = Policy(
    name="kms-key-deletion-window-minimum",
    description="Checks whether every KMS key keeps a long deletion window, so a scheduled "
    "deletion can be noticed and cancelled.",
    enforcement=MANDATORY,
    # Not FSBP KMS.3, which fails a key pending deletion (a live state), not a short window.
    controls=("NIST SC-12", "NIST CP-9"),
    validators={KEY: _check_deletion_window},
    params=(
        Param(
            "minimumDays",
            "integer",
            minimums.KMS_DELETION_WINDOW_DAYS,
            "Shortest accepted deletion_window_in_days.",
            minimum=7,
            maximum=30,
        ),
    ),
)


def _check_no_wildcard_grants(check: ResourceCheck) -> None:
    statements = _statements(check)
    for statement in allow_statements(statements or []):
        broad = wildcard_actions(statement)
        if not broad:
            continue
        principals = [p for ids in statement.principals.values() for p in ids]
        others = [p for p in principals if not is_account_root(p)]
        if others:
            check.note(f"statement {statement.label}", {"principals": others, "actions": broad})
            check.violation(
                f"statement {statement.label} grants {', '.join(broad)} to "
                f"{', '.join(others)}; only the account root may hold wildcard key rights",
                broad,
                "list the exact kms: actions each principal needs",
            )


NO_WILDCARD_GRANTS = Policy(
    name="kms-key-policy-no-wildcard-grants",
    description="Checks whether a KMS key policy grants wildcard actions (kms:*) to nobody "
    "but the account root.",
    enforcement=MANDATORY,
    severity="high",
    controls=("NIST AC-6", "NIST AC-3", "NIST SC-12"),
    validators={KEY: _check_no_wildcard_grants},
)


def _check_not_public(check: ResourceCheck) -> None:
    for statement in allow_statements(_statements(check) or []):
        if statement.is_public and not statement.scoped_to_account:
            check.violation(
                f"statement {statement.label} must not allow everyone (Principal '*')",
                statement.actions,
                "name the principals, or add a kms:CallerAccount / aws:PrincipalOrgID condition",
            )


NOT_PUBLIC = Policy(
    name="kms-key-not-publicly-accessible",
    description="Checks whether a KMS key policy allows anyone outside the named principals "
    "(Principal '*' with no account condition).",
    enforcement=MANDATORY,
    severity="critical",
    controls=("FSBP KMS.5", "NIST AC-3", "NIST AC-21"),
    validators={KEY: _check_not_public},
)


def _check_signing_spec(check: ResourceCheck) -> None:
    usage, spec = _usage(check), _spec(check)
    if usage != "SIGN_VERIFY":
        check.not_applicable("not a signing key")
    allowed = check.config["allowedSpecs"]
    if spec not in allowed:
        check.violation(
            f"a signing key's spec must be one of {allowed}",
            spec,
            f'set customer_master_key_spec="{allowed[0]}"',
        )
    if check.get("enableKeyRotation") is True:
        check.violation(
            "asymmetric keys cannot rotate; rotation must be off (a new key is a new alias target)",
            True,
            "set enable_key_rotation=False",
        )


SIGNING_KEY_SPEC = Policy(
    name="kms-signing-key-spec-and-usage",
    description="Checks whether every SIGN_VERIFY KMS key uses an approved asymmetric key "
    "spec (elliptic curve by default).",
    enforcement=MANDATORY,
    controls=("NIST SC-12", "NIST SC-13", "NIST SI-7"),
    validators={KEY: _check_signing_spec},
    params=(
        Param(
            "allowedSpecs",
            "array",
            ["ECC_NIST_P256", "ECC_NIST_P384"],
            "Key specs accepted for signing keys.",
            items={"type": "string"},
        ),
    ),
)


def _check_signers(check: ResourceCheck) -> None:
    if _usage(check) != "SIGN_VERIFY":
        check.not_applicable("not a signing key")
    statements = _statements(check)
    if statements is None:
        return
    signers: set[str] = set()
    for statement in allow_statements(statements):
        if statement.grants("kms:Sign") or any(
            a.startswith("NotAction") for a in wildcard_actions(statement)
        ):
            signers |= statement.principal_ids()
    if not statements:
        signers.add("the account root (AWS default key policy)")
    check.note("signers", sorted(signers))
    if not check.config["allowRootToSign"]:
        roots = sorted(p for p in signers if is_account_root(p) or p.startswith("the account"))
        if roots:
            check.violation(
                "kms:Sign must go to named signer roles only, not the account root "
                "(which lets any IAM policy in the account sign)",
                roots,
                "grant the account root key administration without kms:Sign",
            )
    if "*" in signers:
        check.violation("kms:Sign must not be granted to everyone", "*", "name the signer role")
    _check_signing_algorithms(check, statements)
    limit = check.config["maximumSigners"]
    if len(signers) > limit:
        check.violation(
            f"at most {limit} principal(s) may sign",
            sorted(signers),
            "keep kms:Sign for the release signer role alone",
        )


# Every KMS signing algorithm (KMS API reference, Sign: SigningAlgorithm).
SIGNING_ALGORITHMS = (
    "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
    "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
    "ECDSA_SHA_256", "ECDSA_SHA_384", "ECDSA_SHA_512", "SM2DSA", "ML_DSA_SHAKE_256",
)  # fmt: skip


def _check_signing_algorithms(check: ResourceCheck, statements: list[Statement]) -> None:
    """Each Allow of kms:Sign must hold only for the accepted algorithms, judged by putting
    a Sign request with every other algorithm to the evaluator."""
    allowed = check.config["allowedSigningAlgorithms"]
    others = [a for a in SIGNING_ALGORITHMS if a not in allowed]
    for statement in allow_statements(statements):
        if not statement.grants("kms:Sign"):
            continue
        admitted = [
            algorithm
            for algorithm in others
            if conditions_hold(
                statement,
                Request("", "kms:Sign", "*", {"kms:signingalgorithm": [algorithm]}),
            )
        ]
        check.note(f"statement {statement.label} also signs with", admitted)
        if admitted:
            check.violation(
                f"statement {statement.label} must allow kms:Sign only with {allowed}",
                admitted,
                'add Condition={"StringEquals": {"kms:SigningAlgorithm": '
                f'"{allowed[0]}"}}}} (the algorithm verifiers expect)',
            )


SIGN_RESTRICTED = Policy(
    name="kms-signing-key-sign-restricted",
    description="Checks whether only the named release signer may call kms:Sign on a signing key.",
    enforcement=MANDATORY,
    severity="high",
    controls=("NIST AC-6", "NIST SC-12", "NIST SI-7"),
    validators={KEY: _check_signers},
    params=(
        Param(
            "maximumSigners",
            "integer",
            1,
            "How many principals may hold kms:Sign.",
            minimum=1,
            maximum=10,
        ),
        Param("allowRootToSign", "boolean", False, "Accept the account root holding kms:Sign."),
        Param(
            "allowedSigningAlgorithms",
            "array",
            ["ECDSA_SHA_256", "ECDSA_SHA_384"],
            "The kms:SigningAlgorithm values a kms:Sign grant may admit.",
            items={"type": "string", "enum": list(SIGNING_ALGORITHMS)},
        ),
    ),
)

POLICIES = (
    ROTATION_ENABLED,
    DELETION_WINDOW,
    NO_WILDCARD_GRANTS,
    NOT_PUBLIC,
    SIGNING_KEY_SPEC,
    SIGN_RESTRICTED,
)
