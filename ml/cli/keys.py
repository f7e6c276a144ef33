"""`mlops keys`: the signing key's public half, for verification without AWS."""

from pathlib import Path
from typing import Annotated, Any

import typer

from common.errors import MlopsError
from infra.contracts import Env
from ml.cli.usage import LazyConsole, sub_app

app = sub_app(help="Export the model-signing public key.", no_args_is_help=True)
console: Any = LazyConsole(highlight=False, soft_wrap=True)


@app.command("export-public")
def export_public(
    key_id: Annotated[
        str,
        typer.Option(
            "--key-id",
            "-k",
            envvar=Env.SIGNING_KEY_ID,
            help="KMS signing key: key id, key ARN, alias (alias/...) or alias ARN.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the PEM public key.")],
) -> None:
    """Write the KMS signing key's public key as PEM (what `mlops verify --public-key` reads)."""
    from ml import aws
    from ml.provenance.kms import export_public_key_pem

    key, pem = export_public_key_pem(aws.client("kms"), key_id)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(pem)
    except OSError as error:
        raise MlopsError(f"--out {out}: cannot write ({error.strerror})") from None
    console.print(
        f"wrote the public key of {key.arn} ({key.spec}, {key.algorithm}, keyid {key.keyid}) "
        f"to {out}"
    )
