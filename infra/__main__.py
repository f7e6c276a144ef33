"""`pulumi up` entry point: read and validate the stack config once, then declare."""

from infra.sdk import load_services_on_demand

load_services_on_demand()  # first: before any `aws.<service>` is touched (see infra/sdk.py)

from infra.program import declare  # noqa: E402
from infra.stack import require_stack_config  # noqa: E402

declare(require_stack_config())
