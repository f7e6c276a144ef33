"""The floors the mandatory policies enforce, in one place: the stack config (`infra.config`)
refuses a value below them and defaults to one they pass, and the policies (`policies/`) take
them as their parameters' defaults, so a stack file can never validate and then fail the
pack. Raise a floor here and both sides move together."""

from __future__ import annotations

from typing import Final, Literal

KMS_DELETION_WINDOW_DAYS: Final = 30
"""Shortest KMS key deletion window (AWS allows 7-30): a scheduled deletion stays cancellable
for a month (`kms-key-deletion-window-minimum`)."""

OBJECT_LOCK_MODE: Final[Literal["COMPLIANCE"]] = "COMPLIANCE"
"""The only object lock mode accepted for prod model artifacts: GOVERNANCE retention can be
lifted by anyone granted s3:BypassGovernanceRetention (`s3-artifact-bucket-object-lock-in-prod`)."""

OBJECT_LOCK_RETENTION_DAYS: Final = 365
"""Shortest default object lock retention for prod model artifacts."""

LOG_RETENTION_DAYS: Final = 365
"""Shortest CloudWatch Logs retention (`cloudwatch-log-group-retention`)."""
