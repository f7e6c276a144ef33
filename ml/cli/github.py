"""`mlops github`: one pull-request comment or issue per purpose, updated in place.

Used by the workflows instead of shell: the validation report and the provenance result
on the pull request, the drift issue. Needs the `gh` CLI and `GH_TOKEN`, as on GitHub's
runners; the repository comes from `--repo`, `GH_REPO` or `GITHUB_REPOSITORY`.
"""

from pathlib import Path
from typing import Annotated, Any

import typer

from common.errors import MlopsError
from ml.cli.usage import LazyConsole, existing_path, sub_app

app = sub_app(
    help="Pull-request comments and issues through the gh CLI, one per marker, updated in place.",
    no_args_is_help=True,
)
console: Any = LazyConsole(highlight=False, soft_wrap=True)

RepoOption = Annotated[
    str,
    typer.Option(
        "--repo",
        envvar=["GH_REPO", "GITHUB_REPOSITORY"],
        help="OWNER/NAME of the repository (default: GH_REPO or GITHUB_REPOSITORY).",
    ),
]
MarkerOption = Annotated[
    str,
    typer.Option(
        "--marker",
        help="Key of the hidden marker that identifies this comment or issue on later runs.",
    ),
]
BodyOption = Annotated[
    Path, typer.Option("--body-file", callback=existing_path, help="Markdown file with the body.")
]


@app.command()
def comment(
    pr: Annotated[int, typer.Option("--pr", min=1, help="Pull request number.")],
    marker: MarkerOption,
    body_file: BodyOption,
    repo: RepoOption,
) -> None:
    """Add the comment with this marker to the pull request, or update it if it is there."""
    from ml.release.github import GitHub

    posted = GitHub(repo).upsert_comment(pr, marker, _read(body_file))
    console.print(f"{posted.action} comment {marker} on {repo}#{pr}: {posted.url}", markup=False)


@app.command()
def issue(
    marker: MarkerOption,
    title: Annotated[str, typer.Option("--title", help="Issue title.")],
    body_file: BodyOption,
    repo: RepoOption,
    label: Annotated[
        list[str] | None, typer.Option("--label", help="Label to set and to search by.")
    ] = None,
) -> None:
    """Open the issue with this marker, or update the one that is still open."""
    from ml.release.github import GitHub

    posted = GitHub(repo).upsert_issue(marker, title, _read(body_file), labels=label or ())
    console.print(f"{posted.action} issue {marker} in {repo}: {posted.url}", markup=False)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise MlopsError(f"body file {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise MlopsError(f"body file {path}: not UTF-8 text") from None
