"""Options several commands declare the same way: one declaration, one help text."""

from pathlib import Path
from typing import Annotated

import typer

from infra.contracts import Env
from ml.cli.usage import existing_path

StackOption = Annotated[str, typer.Option("--stack", "-s", help="Stack: dev, staging or prod.")]
"""A required `--stack`."""
KeyIdOption = Annotated[
    str | None,
    typer.Option(
        "--key-id",
        envvar=Env.SIGNING_KEY_ID,
        help="KMS signing key to verify with (default: alias/mlops-<stack>-signing).",
    ),
]
"""Verify through KMS with this key (commands that check a stack's signatures)."""
PublicKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--public-key",
        callback=existing_path,
        envvar=Env.SIGNING_PUBLIC_KEY,
        help="Verify offline with this exported public key (PEM) instead of KMS.",
    ),
]
"""Verify offline with an exported public key instead of KMS."""
