"""`mlops canary --stack <env>`: rehearse the stack's canary release on this machine."""

from pathlib import Path
from typing import Annotated, Any

import typer

from common.errors import MlopsError
from infra.contracts import Env
from ml.cli.usage import LazyConsole, RootOption, existing_path

console: Any = LazyConsole(highlight=False, soft_wrap=True)


def canary(
    stack: Annotated[
        str, typer.Option("--stack", "-s", help="Stack whose schedule and alarms to rehearse.")
    ],
    production: Annotated[
        Path,
        typer.Option(
            "--production",
            callback=existing_path,
            help="Artifact directory of the model serving now.",
        ),
    ],
    candidate: Annotated[
        Path,
        typer.Option(
            "--candidate",
            callback=existing_path,
            help="Artifact directory of the model to release.",
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Report folder (canary.md/.json/.html, logs/).")
    ] = Path("build/canary"),
    root: RootOption = Path("."),
    seconds: Annotated[
        float,
        typer.Option("--seconds", help="Rehearsal length: the schedule's baking time, compressed."),
    ] = 20.0,
    rps: Annotated[float, typer.Option("--rps", help="Requests per second, both models.")] = 200.0,
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="Keep-alive connections per server.")
    ] = 4,
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            callback=existing_path,
            envvar=Env.SIGNING_PUBLIC_KEY,
            help="PEM public key both servers verify the signatures with.",
        ),
    ] = None,
    key_id: Annotated[
        str | None,
        typer.Option(
            "--key-id",
            envvar=Env.SIGNING_KEY_ID,
            help="KMS signing key both servers verify the signatures through.",
        ),
    ] = None,
    require_signature: Annotated[
        bool,
        typer.Option(
            "--require-signature/--no-require-signature",
            help="Refuse models without a verified signature (as the endpoint does).",
        ),
    ] = True,
    traffic: Annotated[
        Path | None,
        typer.Option(
            "--traffic",
            callback=existing_path,
            help="CSV rows to send (no header); default seeded random rows.",
        ),
    ] = None,
    inject_latency_ms: Annotated[
        float,
        typer.Option("--inject-latency-ms", help="Drill: delay every candidate answer this much."),
    ] = 0.0,
    inject_error_percent: Annotated[
        float,
        typer.Option(
            "--inject-error-percent", help="Drill: fail this share of candidate requests."
        ),
    ] = 0.0,
) -> None:
    """Serve both models, shift traffic along the stack's schedule, promote or roll back.

    Exits 0 when the candidate is promoted, 1 when it is rolled back (the report says
    which alarm fired, and when).
    """
    from ml.canary.runner import rehearse, validated

    settings = validated(
        stack=stack,
        root=root,
        production=production,
        candidate=candidate,
        out=out,
        rehearsal_seconds=seconds,
        rps=rps,
        concurrency=concurrency,
        public_key=public_key,
        key_id=key_id if public_key is None else None,
        require_signature=require_signature,
        traffic=traffic,
        drill={"latency_ms": inject_latency_ms, "error_percent": inject_error_percent},
    )
    result = rehearse(settings)
    outcome = result.outcome
    console.print(f"canary {stack}: {outcome.decision}: {outcome.reason}", markup=False)
    console.print(f"report: {result.paths.markdown}, {result.paths.html}, {result.paths.json}")
    if outcome.decision != "promoted":
        raise MlopsError(f"canary rolled back: {outcome.reason}", exit_code=1)
