"""`pulumi up` entry point of the GitHub program: read the config once, then declare."""

from infra.github.program import declare, require_config

declare(require_config())
