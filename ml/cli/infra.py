"""`mlops infra`: the stack config and the offline resource graph."""

import json
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from infra.contracts import EXAMPLE_GITHUB_REPOSITORY
from ml.cli.usage import LazyConsole, RootOption, sub_app

app = sub_app(
    help="Validate stack files and render the offline resource graph.", no_args_is_help=True
)
console: Any = LazyConsole(highlight=False)


class Program(StrEnum):
    """The Pulumi programs of this repository."""

    main = "main"
    """`infra/`: the AWS platform, one stack per environment."""
    github = "github"
    """`infra/github/`: the repository's environments, reviewers and OIDC subject."""
    bootstrap = "bootstrap"
    """`infra/bootstrap/`: per account, the OIDC provider, state backend and infra role."""


StackOption = Annotated[
    str | None,
    typer.Option("--stack", "-s", help="Stack name: dev, staging or prod (main program)."),
]
ProgramOption = Annotated[
    Program,
    typer.Option(
        "--program",
        help="main: the AWS stacks (infra/); github: the repository settings (infra/github/); "
        "bootstrap: the account's OIDC provider, state bucket and infra role (infra/bootstrap/).",
    ),
]


def _stack_for(program: Program, stack: str | None) -> str:
    """The stack to work on: `--stack` for the main program, the program's own otherwise."""
    from infra.config import STACKS, ConfigError

    if program is not Program.main:
        if stack is not None:
            raise ConfigError(f"--stack applies to --program main only; drop it for {program}")
        return program.value
    if stack is None:
        raise ConfigError(f"--stack is required: choose one of {', '.join(STACKS)}")
    return stack


@app.command()
def validate(
    stack: StackOption = None,
    root: RootOption = Path("."),
    program: ProgramOption = Program.main,
) -> None:
    """Validate `Pulumi.<stack>.yaml` against the typed schema; with `--program github`,
    also render the GitHub program and the main stacks and run the GitHub policies."""
    from infra.config import PLACEHOLDER_IMAGE_DIGEST, load_stack, load_stacks

    name = _stack_for(program, stack)
    if program is Program.github:
        _validate_github(root)
        return
    if program is Program.bootstrap:
        from infra.bootstrap.offline import program_config
        from infra.bootstrap.settings import load_plan

        plan = load_plan(program_config(root)[0])
        console.print(
            f"bootstrap: config is valid ({plan.owner}/{plan.repository}, infra role trusts "
            f"{', '.join(plan.deploy_subjects)})",
            soft_wrap=True,
        )
        return
    cfg = load_stack(name, root)
    load_stacks(root)  # prod's signing and approval environments are its own
    console.print(f"{name}: stack config is valid ({cfg.environment}, {cfg.region})")
    if cfg.image.digest == PLACEHOLDER_IMAGE_DIGEST:
        console.print(
            f"warning: {name}'s mlops:image.digest is still the all-zero placeholder; set it "
            "to the digest the image workflow pushed before pulumi up (docs/image.md)",
            soft_wrap=True,
        )
    examples = cfg.alerts.placeholders()
    if examples:
        console.print(
            f"warning: {name}'s mlops:alerts still names the examples {', '.join(examples)}; "
            "replace them with your on-call destinations (docs/alerts.md)",
            soft_wrap=True,
        )
    if (cfg.github.org, cfg.github.repo) == EXAMPLE_GITHUB_REPOSITORY:
        console.print(
            f"warning: {name} still trusts the example repository "
            f"{'/'.join(EXAMPLE_GITHUB_REPOSITORY)}; set mlops:github.org and repo to yours "
            "before pulumi up (docs/from-demo-to-aws.md)",
            soft_wrap=True,
        )


def _validate_github(root: Path) -> None:
    """The GitHub graph under the GitHub policies, with the environments the main stacks'
    IAM trust policies name (read from their rendered graphs): exit 1 on a violation."""
    from infra.config import ConfigError
    from infra.github.offline import program_config, render_github_graph
    from infra.github.settings import load_plan
    from infra.graph import Graph
    from infra.offline import render_graph
    from ml.audit.engine import failing, run_pack
    from policies import github as policies

    cfg = program_config(root)[0]
    plan = load_plan(cfg)
    graph = Graph.from_json(render_github_graph(root))
    mains = [Graph.from_json(render_graph(stack, root)) for stack in cfg.stacks]
    subjects = policies.trusted_subjects(mains)
    config = {policies.ENVIRONMENTS_COVER_TRUST.name: {"trustedSubjects": subjects}}
    findings = run_pack(graph, None, policies.POLICIES, config)
    problems = failing(findings)
    for finding in problems:
        for message in finding.evaluation.violations:
            console.print(f"{finding.policy.name}: {message}", markup=False)
    environments = len(graph.of_type(policies.ENVIRONMENT))
    if problems:
        raise ConfigError(
            f"github: {len(problems)} GitHub policy finding(s) fail; fix them above", exit_code=1
        )
    if cfg.release_bot is None or "REPLACE" in cfg.release_bot.client_id:
        console.print(
            "warning: mlops-github:releaseBot.clientId is not your GitHub App's yet; revert "
            "pull requests cannot be opened until it is (docs/workflows.md, the release bot)",
            soft_wrap=True,
        )
    console.print(
        f"github: config is valid ({plan.owner}/{plan.repository}, {environments} environments, "
        f"{len(subjects)} IAM-trusted environments covered, "
        f"{sum(f.status == 'pass' for f in findings)} checks passed)"
    )


@app.command()
def render(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the graph JSON.")],
    stack: StackOption = None,
    root: RootOption = Path("."),
    quiet: Annotated[bool, typer.Option(help="Do not print the summary table.")] = False,
    program: ProgramOption = Program.main,
) -> None:
    """Run the real Pulumi program under mocks and write its resource graph as JSON."""
    name = _stack_for(program, stack)
    if program is Program.github:
        from infra.github.offline import render_github_graph

        graph = render_github_graph(root)
    elif program is Program.bootstrap:
        from infra.bootstrap.offline import render_bootstrap_graph

        graph = render_bootstrap_graph(root)
    else:
        from infra.offline import render_graph  # imports pulumi_aws: only when rendering

        graph = render_graph(name, root)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(graph, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    if not quiet:
        print_summary(graph)
    console.print(f"wrote {len(graph['resources'])} resources of stack {name} to {out}")


@app.command("import-state")
def import_state(
    export: Annotated[
        Path, typer.Argument(help="`pulumi stack export --file FILE` of a stack of this repo.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the graph JSON.")],
) -> None:
    """Convert a Pulumi state export to the resource graph format, so `mlops audit --graph`
    judges what Pulumi deployed with the same pack; secrets stay redacted."""
    from ml.audit.sources import graph_from_export, read_json, write_graph

    graph = graph_from_export(read_json(export, "a `pulumi stack export`"), export)
    write_graph(graph, out)
    console.print(
        f"wrote {len(graph['resources'])} resources of {graph['project']} stack "
        f"{graph['stack']} (from the state export {export}) to {out}"
    )


def print_summary(graph: dict) -> None:
    from rich.table import Table

    counts = Counter(resource["type"] for resource in graph["resources"])
    table = Table(title=f"stack {graph['stack']}: resources by type")
    table.add_column("type")
    table.add_column("count", justify="right")
    for token, count in sorted(counts.items()):
        table.add_row(token, str(count))
    console.print(table)


@app.command("publish-manifests")
def publish_manifests(
    remote: Annotated[
        str,
        typer.Option(
            "--remote", help="Git URL of the repository whose gitops branch Argo CD / Flux read."
        ),
    ],
    stack: StackOption = None,
    root: RootOption = Path("."),
    message: Annotated[
        str | None, typer.Option("--message", help="Commit message; default names the stack.")
    ] = None,
) -> None:
    """Commit the manifests `pulumi up` rendered for the stack to deploy/k8s/<stack>/ on the
    gitops branch and push (token from $GH_TOKEN); nothing is committed if unchanged."""
    import os

    from common.errors import MlopsError
    from infra.config import load_stack
    from infra.contracts import GITOPS_BRANCH
    from ml.release.gitops import publish_manifests as publish
    from ml.release.gitops import rendered_directory

    name = _stack_for(Program.main, stack)
    cfg = load_stack(name, root)
    configured = cfg.serving.kubernetes.render_yaml_to_directory
    if not cfg.serving.kubernetes.enabled or configured is None:
        raise MlopsError(
            f"stack {name} renders no Kubernetes manifests: set mlops:serving.kubernetes.enabled "
            "and renderYamlToDirectory"
        )
    published = publish(
        rendered_directory(root, configured),
        name,
        remote,
        message=message or f"{name}: Kubernetes manifests rendered by pulumi up",
        token=os.environ.get("GH_TOKEN") or None,
    )
    if published.commit is None:
        console.print(f"{GITOPS_BRANCH}:{published.path} already holds these manifests")
    else:
        console.print(
            f"published {published.files} manifests to {GITOPS_BRANCH}:{published.path} "
            f"({published.commit[:12]})"
        )
