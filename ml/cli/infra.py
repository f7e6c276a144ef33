"""`mlops infra`: the stack config and the offline resource graph."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from infra.config import load_stack, load_stacks

app = typer.Typer(
    help="Validate stack files and render the offline resource graph.", no_args_is_help=True
)
console = Console(highlight=False)

StackOption = Annotated[
    str, typer.Option("--stack", "-s", help="Stack name: dev, staging or prod.")
]
RootOption = Annotated[
    Path, typer.Option("--root", help="Repository root holding Pulumi.<stack>.yaml files.")
]


@app.command()
def validate(stack: StackOption, root: RootOption = Path(".")) -> None:
    """Validate `Pulumi.<stack>.yaml` against the typed schema, and every stack file of the
    root together (prod's signing and approval environments are its own); print one line."""
    cfg = load_stack(stack, root)
    load_stacks(root)
    console.print(f"{stack}: stack config is valid ({cfg.environment}, {cfg.region})")


@app.command()
def render(
    stack: StackOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the graph JSON.")],
    root: RootOption = Path("."),
    quiet: Annotated[bool, typer.Option(help="Do not print the summary table.")] = False,
) -> None:
    """Run the real Pulumi program under mocks and write its resource graph as JSON."""
    from infra.offline import render_graph  # imports pulumi_aws: only when rendering

    graph = render_graph(stack, root)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(graph, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    if not quiet:
        print_summary(graph)
    console.print(f"wrote {len(graph['resources'])} resources of stack {stack} to {out}")


def print_summary(graph: dict) -> None:
    counts = Counter(resource["type"] for resource in graph["resources"])
    table = Table(title=f"stack {graph['stack']}: resources by type")
    table.add_column("type")
    table.add_column("count", justify="right")
    for token, count in sorted(counts.items()):
        table.add_row(token, str(count))
    console.print(table)
