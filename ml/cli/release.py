"""`mlops release`: release a model version by pull request, verify a stack, watch it.

    mlops release --stack prod --model churn-classifier --version 4   # the release PR's edit
    mlops release verify --stack prod                                  # every model it serves
    mlops release verify --stack prod --registry-only                  # metadata only (PRs)
    mlops release watch --stack prod                                   # after pulumi up
    mlops release revert --stack prod --to churn-classifier=3 --open-pr

The group callback takes the edit's options, so the bare form and the subcommands both
work; options belong after the subcommand (`mlops release verify --stack prod`).
"""

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from common.errors import CheckFailed, MlopsError
from infra.contracts import MODELS_PREFIX, Env, StackOutput
from ml.cli.options import KeyIdOption, PublicKeyOption, StackOption
from ml.cli.usage import LazyConsole, RootOption, sub_app

if TYPE_CHECKING:
    from ml.release.service import WatchResult
    from ml.release.verify import StackVerification

app = sub_app(
    help="Release a model version by pull request (edit the stack file after checking the "
    "version's provenance); verify every model a stack serves; watch the endpoints after "
    "pulumi up; open the revert PR after a rollback.",
)
console: Any = LazyConsole(highlight=False, soft_wrap=True)


@app.callback(invoke_without_command=True)
def release(
    ctx: typer.Context,
    stack: Annotated[
        str | None, typer.Option("--stack", "-s", help="Stack to release to: dev, staging or prod.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Model to release: its name under mlops:models (churn-classifier) or its "
            "package group (mlops-<stack>-churn-classifier).",
        ),
    ] = None,
    version: Annotated[
        int | None,
        typer.Option("--version", min=1, help="Model package version to serve."),
    ] = None,
    root: RootOption = Path("."),
    key_id: KeyIdOption = None,
    public_key: PublicKeyOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and print the diff; do not write the file.")
    ] = False,
) -> None:
    """Set a model's version in Pulumi.<stack>.yaml, once that version passes provenance."""
    if ctx.invoked_subcommand is not None:
        if stack or model or version:
            raise MlopsError(
                f"give the options after the subcommand: mlops release {ctx.invoked_subcommand} "
                "--stack <env> ..."
            )
        return
    if not (stack or model or version):
        console.print(ctx.get_help(), markup=False)
        raise typer.Exit(0)
    missing = [
        flag
        for flag, value in (("--stack", stack), ("--model", model), ("--version", version))
        if not value
    ]
    if missing:
        raise MlopsError(f"mlops release needs {', '.join(missing)} (or a subcommand: verify, "
                         "watch, revert)")  # fmt: skip
    assert stack and model and version
    release_version(stack, model, version, root, key_id, public_key, dry_run)


def release_version(
    stack: str,
    model: str,
    version: int,
    root: Path,
    key_id: str | None,
    public_key: Path | None,
    dry_run: bool,
) -> None:
    from infra.config import load_stack, stack_file
    from ml import aws
    from ml.release.prepare import prepare_release, resolve_model
    from ml.release.service import stack_session, stack_verifier, trusted_source

    cfg = load_stack(stack, root)
    name = resolve_model(cfg, model)  # bad input is refused before any AWS call
    if cfg.models[name].version == version:
        console.print(f"{stack}: {name} already declares v{version}; nothing to release")
        return
    session = stack_session(cfg)
    kms = lambda: aws.client("kms", session)  # noqa: E731 - made only when KMS is needed
    prepared = prepare_release(
        cfg,
        stack_file(stack, root),
        model=name,
        version=version,
        sagemaker=aws.client("sagemaker", session),
        s3=aws.client("s3", session),
        verifier=stack_verifier(cfg, kms, key_id, public_key),
        source=trusted_source(cfg, kms),
    )
    assert prepared.edit is not None and prepared.check is not None
    edit, current = prepared.edit, prepared.current
    typer.echo(edit.diff(), nl=False)
    if dry_run:
        console.print(f"{stack}: {prepared.check.reason}; dry run, {edit.path} not written")
        return
    edit.write()
    kept = (
        f" v{current} stays as previousVersion, so a rollback lands on something that exists."
        if current
        else ""
    )
    console.print(
        f"{stack}: {prepared.check.reason}\nwrote {edit.path}: {edit.changes[0]}.{kept} Commit it "
        "on a branch and open the release pull request; model-release verifies and previews it."
    )


@app.command()
def verify(
    stack: StackOption,
    root: RootOption = Path("."),
    key_id: KeyIdOption = None,
    public_key: PublicKeyOption = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Also write the result as Markdown (the PR comment)."),
    ] = None,
    require_idle: Annotated[
        bool,
        typer.Option(
            "--require-idle",
            help="Also fail if an endpoint of the stack is still updating or rolling back "
            "(another release in progress); the deploy job runs this before pulumi up.",
        ),
    ] = False,
    registry_only: Annotated[
        bool,
        typer.Option(
            "--registry-only",
            help="Check the registry's record only: approved, approver neither registered nor "
            "signed it, validation gates passed, model data under the artifact bucket's "
            f"{MODELS_PREFIX} prefix. Downloads nothing, so it does NOT check the signature, "
            "that the artifact is the one signed, or the version the statement was signed for; the "
            "deploy job's full verify and the server do. For a metadata-only role (prod PRs).",
        ),
    ] = False,
    artifact_bucket: Annotated[
        str | None,
        typer.Option(
            envvar=Env.ARTIFACT_BUCKET,
            help=f"The stack's artifact bucket (stack output {StackOutput.ARTIFACT_BUCKET}); "
            f"model data must lie under its {MODELS_PREFIX} prefix. Required with "
            "--registry-only.",
        ),
    ] = None,
) -> None:
    """Check every model version the stack declares: registered, approved by a separate
    identity, gates, and (unless --registry-only) the signature and what it was signed for."""
    from infra.config import load_stack
    from ml import aws
    from ml.release.service import stack_session, stack_verifier, trusted_source, verify_release

    cfg = load_stack(stack, root)
    session = stack_session(cfg)
    kms = lambda: aws.client("kms", session)  # noqa: E731 - made only when KMS is needed
    try:
        result = verify_release(
            cfg,
            sagemaker=aws.client("sagemaker", session),
            s3=None if registry_only else aws.client("s3", session),
            verifier=None if registry_only else stack_verifier(cfg, kms, key_id, public_key),
            source=trusted_source(cfg, kms),
            registry_only=registry_only,
            artifact_bucket=artifact_bucket,
            require_idle=require_idle,
            report=report,
        )
    except CheckFailed as failed:
        _print_verification(failed.result)
        raise
    _print_verification(result)
    console.print(result.summary())


def _print_verification(result: "StackVerification") -> None:
    from rich.table import Table

    table = Table(title=f"stack {result.stack}: provenance ({result.verifier})")
    for column in ("model package", "approval", "gates", "verdict"):
        table.add_column(column)
    for check in result.checks:
        gates = {True: "passed", False: "failed", None: "unknown"}[check.gates_passed]
        table.add_row(
            f"{check.group} v{check.version}",
            check.approval_status or "-",
            gates,
            "ok" if check.ok else check.reason,
        )
    console.print(table)


@app.command()
def watch(
    stack: StackOption,
    root: RootOption = Path("."),
    report: Annotated[
        Path | None, typer.Option("--report", help="Also write the result as JSON.")
    ] = None,
    github_output: Annotated[
        bool,
        typer.Option(
            "--github-output",
            help="Write outcome=... and revert=... to $GITHUB_OUTPUT for the next job.",
        ),
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Seconds to wait for the endpoints to settle (default: the stack's "
            "maximumExecutionTimeoutSeconds plus a provisioning margin).",
        ),
    ] = None,
    poll: Annotated[
        float, typer.Option(min=0, help="Seconds between DescribeEndpoint calls.")
    ] = 30,
) -> None:
    """Follow the stack's endpoint updates; exit 0 on promote, 1 on rollback or failure."""
    from infra.config import load_stack, stack_file
    from ml import aws
    from ml.release.service import stack_session, watch_release

    cfg = load_stack(stack, root)

    def show(model: str, state: Any) -> None:
        console.print(f"{model}: {state.describe()}", markup=False)

    try:
        result = watch_release(
            cfg,
            stack_file(stack, root),
            sagemaker=aws.client("sagemaker", stack_session(cfg)),
            timeout_seconds=timeout,
            poll_seconds=poll,
            on_status=show,
        )
    except CheckFailed as failed:
        _print_watch(failed.result, report, github_output)
        proposal = failed.result.revert
        if proposal is not None:
            typer.echo(f"\nproposed revert, so that git says what serves:\n{proposal.describe()}")
        raise
    _print_watch(result, report, github_output)
    console.print(f"stack {stack}: promote: every endpoint serves what the stack file says")


def _print_watch(result: "WatchResult", report: Path | None, github_output: bool) -> None:
    from ml.release.revert import format_targets

    for endpoint in result.watch.endpoints:
        console.print(endpoint.describe(), markup=False)
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(result.watch.to_json(), indent=2) + "\n", encoding="utf-8")
    if github_output:
        from ml.release.github import write_github_output

        write_github_output(
            {"outcome": result.outcome, "revert": format_targets(result.revert_targets)}
        )


@app.command()
def revert(
    stack: StackOption,
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="The versions that serve, MODEL=VERSION[,MODEL=VERSION] (watch's revert=).",
        ),
    ],
    root: RootOption = Path("."),
    open_pr: Annotated[
        bool,
        typer.Option(
            "--open-pr", help="Commit on a new branch, push it and open the pull request (gh)."
        ),
    ] = False,
    base: Annotated[str, typer.Option(help="Branch the revert PR targets.")] = "main",
    branch: Annotated[
        str | None, typer.Option(help="Branch for the revert (default: revert/<stack>/...).")
    ] = None,
) -> None:
    """Set the stack file back to the versions that serve after SageMaker rolled back."""
    from infra.config import load_stack, stack_file
    from ml.release.revert import open_pull_request, parse_targets
    from ml.release.service import propose_revert

    cfg = load_stack(stack, root)
    proposal = propose_revert(
        cfg, stack_file(stack, root), parse_targets(to), base=base, branch=branch
    )
    if not proposal.edit.changed:
        console.print(f"stack {stack}: the stack file already says {to}; nothing to revert")
        return
    typer.echo(proposal.edit.diff(), nl=False)
    if not open_pr:
        proposal.edit.write()
        console.print(f"wrote {proposal.edit.path}; to open the pull request run:", markup=False)
        typer.echo("\n".join(shlex.join(command) for command in proposal.commands()))
        return
    url = open_pull_request(proposal, cwd=root.resolve())
    console.print(f"opened the revert pull request: {url}", markup=False)


@app.command()
def fetch(
    stack: StackOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to extract the model into.")],
    model: Annotated[
        str, typer.Option("--model", "-m", help="Model name under mlops:models.")
    ] = "churn-classifier",
    version: Annotated[
        int | None,
        typer.Option(
            "--version", min=1, help="Version to fetch (default: the one the stack serves)."
        ),
    ] = None,
    root: RootOption = Path("."),
    key_id: KeyIdOption = None,
    public_key: PublicKeyOption = None,
) -> None:
    """Download the model the stack serves, check its provenance, extract it (validation's
    production baseline)."""
    from infra.config import load_stack
    from ml import aws
    from ml.release.fetch import fetch_serving_model
    from ml.release.prepare import resolve_model
    from ml.release.service import stack_session, stack_verifier

    cfg = load_stack(stack, root)
    name = resolve_model(cfg, model)
    session = stack_session(cfg)
    check = fetch_serving_model(
        cfg,
        name,
        out,
        sagemaker=aws.client("sagemaker", session),
        s3=aws.client("s3", session),
        verifier=stack_verifier(cfg, lambda: aws.client("kms", session), key_id, public_key),
        version=version,
    )
    console.print(f"{check.reason}; extracted into {out}", markup=False)
