"""`pulumi up` entry point: read and validate the stack config once, then declare."""

from infra.program import declare
from infra.stack import require_stack_config

declare(require_stack_config())
