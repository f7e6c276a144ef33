"""`mlops image`: push the serving image by digest, sign the digest with KMS, verify it.

    make image IMAGE=mlops-model-server:git-<sha>                # build (docker or podman)
    mlops image push --image mlops-model-server:git-<sha> --repository-url <url> --commit <sha>
    mlops image sign --digest sha256:<hex> --repository-url <url> --stack prod --out image.dsse.json
    mlops image verify --digest sha256:<hex> --signature image.dsse.json --stack prod

`image.yml` runs push as gh-build (ECR push to the stack's repository only) and sign as
gh-release in model-signing-<stack>, the one role the signing key lets sign (docs/image.md).
"""

from pathlib import Path
from typing import Annotated, Any

import typer

from common.errors import MlopsError
from infra.contracts import Env, signing_key_alias
from ml.cli.options import KeyIdOption, PublicKeyOption, StackOption
from ml.cli.usage import LazyConsole, existing_path, sub_app

app = sub_app(
    help="The serving/training image: push it to the stack's ECR repository by digest, "
    "sign the digest with the stack's KMS signing key, verify a signature."
)
console: Any = LazyConsole(highlight=False, soft_wrap=True)

RepositoryOption = Annotated[
    str,
    typer.Option(
        "--repository-url",
        help="The stack's ECR repository (stack output repositoryUrl), without tag or digest.",
    ),
]
DigestOption = Annotated[
    str, typer.Option("--digest", help="Image manifest digest, sha256:<64 hex>.")
]


def _signing_key(key_id: str | None, stack: str) -> str:
    from infra.config import PROJECT

    return key_id or signing_key_alias(f"{PROJECT}-{stack}")


@app.command()
def push(
    image: Annotated[str, typer.Option("--image", help="Local image to push (name:tag).")],
    repository_url: RepositoryOption,
    commit: Annotated[
        str, typer.Option("--commit", help="Full commit id it was built from: tag git-<sha>.")
    ],
    engine: Annotated[
        str | None, typer.Option("--engine", help="docker or podman (default: the one found).")
    ] = None,
    github_output: Annotated[
        str | None,
        typer.Option(
            "--github-output",
            help="Write the digest to $GITHUB_OUTPUT under this key (e.g. digest-prod).",
        ),
    ] = None,
) -> None:
    """Push the image as `<repository>:git-<commit>` and print the digest ECR stored."""
    from ml import aws
    from ml.registry.images import Repository, commit_tag, find_engine, push_image

    repository, tag = Repository.parse(repository_url), commit_tag(commit)
    pushed = push_image(
        aws.client("ecr"),
        local=image,
        repository=repository,
        tag=tag,
        engine=find_engine(engine),
    )
    note = "already pushed for this commit; reusing it" if pushed.already_there else "pushed"
    console.print(f"{pushed.reference} ({tag}, {note})")
    if github_output:
        from ml.release.github import write_github_output

        write_github_output({github_output: pushed.digest})


@app.command()
def sign(
    digest: DigestOption,
    repository_url: RepositoryOption,
    stack: StackOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the DSSE envelope.")],
    key_id: Annotated[
        str | None,
        typer.Option(
            "--key-id",
            envvar=Env.SIGNING_KEY_ID,
            help="KMS signing key (default: alias/mlops-<stack>-signing).",
        ),
    ] = None,
    git_commit: Annotated[
        str | None, typer.Option(help="Commit the image was built from (default: HEAD).")
    ] = None,
    builder_id: Annotated[
        str | None, typer.Option(help="Who built it (default: this GitHub Actions run).")
    ] = None,
) -> None:
    """Sign `<repository>@<digest>` for one stack with the KMS signing key."""
    from ml import aws
    from ml.provenance.builder import git_head, github_run
    from ml.provenance.image import ImageRelease, sign_image
    from ml.provenance.kms import KmsSigner
    from ml.registry.identity import caller_arn
    from ml.registry.images import Repository

    repository = Repository.parse(repository_url)
    commit = git_commit or git_head()
    if not commit:
        raise MlopsError("no commit: pass --git-commit (not in a git checkout)")
    release = ImageRelease(
        repository=repository.url,
        digest=digest,
        stack=stack,
        git_commit=commit,
        builder_id=builder_id or github_run() or "local",
        signed_by=caller_arn(aws.client("sts")),
    )
    signer = KmsSigner.for_key(aws.client("kms"), _signing_key(key_id, stack))
    sign_image(release, signer, out)
    console.print(
        f"signed {repository.url}@{digest} for stack {stack} as {release.signed_by} with KMS "
        f"key {signer.key.arn}; signature: {out}"
    )


@app.command()
def verify(
    digest: DigestOption,
    signature: Annotated[
        Path,
        typer.Option("--signature", callback=existing_path, help="The image's DSSE envelope."),
    ],
    stack: StackOption,
    repository_url: Annotated[
        str | None, typer.Option("--repository-url", help="Require this repository, too.")
    ] = None,
    key_id: KeyIdOption = None,
    public_key: PublicKeyOption = None,
) -> None:
    """Check that the stack's signing key released `digest` to `stack`; exit 1 if not."""
    from ml import aws
    from ml.provenance.check import trusted_verifier
    from ml.provenance.image import verify_image

    verifier = trusted_verifier(public_key, _signing_key(key_id, stack), lambda: aws.client("kms"))
    result = verify_image(signature, digest, verifier, stack=stack, repository=repository_url)
    if not result.ok:
        raise MlopsError(f"image {digest}: {result.reason}", exit_code=1)
    console.print(result.reason)
