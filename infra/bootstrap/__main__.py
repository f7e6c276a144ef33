"""`pulumi up` entry point of the bootstrap program: read the config once, then declare."""

from infra.bootstrap.program import declare, require_config

declare(require_config())
