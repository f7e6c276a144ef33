"""`mlops cost`: a month of a stack (or of every stack) from its offline graph."""

from pathlib import Path
from typing import Annotated, Any

import typer

from common.errors import MlopsError
from ml.cli.usage import LazyConsole, RootOption, existing_path

console: Any = LazyConsole(highlight=False, soft_wrap=True)
progress: Any = LazyConsole(stderr=True, highlight=False)
FORMATS = ("md", "json")


def cost(
    stack: Annotated[
        str | None, typer.Option("--stack", "-s", help="Stack to estimate: dev, staging or prod.")
    ] = None,
    all_stacks: Annotated[
        bool, typer.Option("--all", help="Estimate every shipped stack, one after the other.")
    ] = False,
    base: Annotated[
        Path | None,
        typer.Option(
            "--base",
            callback=existing_path,
            help="An earlier version of the stack file (the release PR's base): report the "
            "difference the stack file under --root makes to it.",
        ),
    ] = None,
    base_ref: Annotated[
        str | None,
        typer.Option(
            "--base-ref",
            help="Like --base, with the stack file as this git commit has it "
            "(model-release.yml passes the pull request's base).",
        ),
    ] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="md or json.")] = "md",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the report here (default: print).")
    ] = None,
    prices: Annotated[
        Path | None,
        typer.Option(
            "--prices", callback=existing_path, help="Price table (default: ml/cost/prices.yaml)."
        ),
    ] = None,
    root: RootOption = Path("."),
) -> None:
    """Estimate a month of a stack from its rendered graph and the shipped, dated price table:
    endpoint instances (autoscaling min to max), the tracking server, storage, keys, VPC
    interface endpoints, trail data events and spot training. Exit 2 on bad input."""
    if (stack is None) == (not all_stacks):
        raise MlopsError("choose exactly one of --stack S and --all")
    if format not in FORMATS:
        raise MlopsError(f"unknown format {format!r}: choose one of {', '.join(FORMATS)}")
    if (base is not None or base_ref is not None) and all_stacks:
        raise MlopsError("--base and --base-ref compare one stack: use them with --stack")
    if base is not None and base_ref is not None:
        raise MlopsError("choose one of --base and --base-ref")
    import json

    from infra.config import STACKS
    from ml.cost.estimate import PRICES, load_prices
    from ml.cost.report import diff_json, render_diff, render_markdown
    from ml.cost.service import estimate_change, estimate_stacks

    table = load_prices(prices or PRICES)
    if stack is not None:
        before, proposed = estimate_change(stack, root, table, base, base_ref)
        if before is None:
            data, text = proposed.to_json(), render_markdown(proposed)
        else:
            data, text = diff_json(before, proposed), render_diff(before, proposed)
    else:
        with progress.status("estimating") as status:
            estimates = estimate_stacks(
                STACKS,
                root,
                table,
                on_stack=lambda name, i, n: status.update(f"rendering {name} ({i}/{n})"),
            )
        data = [e.to_json() for e in estimates]
        text = "\n".join(render_markdown(e) for e in estimates)
    body = json.dumps(data, indent=2) + "\n" if format == "json" else text
    if out is None:
        console.print(body, markup=False, end="")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    console.print(f"wrote {out}")
