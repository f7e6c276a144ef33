"""After a rollback, git must say again what serves: propose, or open, the revert PR.

The proposal is the stack-file edit that writes back the versions that serve (from
`mlops release watch`) plus the commands that turn it into a pull request. The revert
needs no provenance check: it declares what SageMaker already serves, which passed its
checks when it was released.
"""

from __future__ import annotations

import os
import re
import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path

from common.commands import Runner, run_command
from common.errors import MlopsError
from ml.release.github import pr_create_command
from ml.release.stackfile import StackEdit

BOT_NAME = "github-actions[bot]"
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"
_TARGET = re.compile(r"^(?P<model>[a-z][a-z0-9-]{1,38}[a-z0-9])=(?P<version>[1-9]\d*)$")


def parse_targets(text: str) -> dict[str, int]:
    """`churn-classifier=3,fraud=7` -> {"churn-classifier": 3, "fraud": 7}."""
    targets: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",")):
        match = _TARGET.match(part)
        if match is None:
            raise MlopsError(f"--to {text!r}: expected MODEL=VERSION[,MODEL=VERSION...]")
        if match["model"] in targets:
            raise MlopsError(f"--to {text!r}: model {match['model']} is given twice")
        targets[match["model"]] = int(match["version"])
    return targets


def format_targets(targets: dict[str, int]) -> str:
    return ",".join(f"{model}={version}" for model, version in sorted(targets.items()))


@dataclass(frozen=True)
class RevertProposal:
    stack: str
    edit: StackEdit
    branch: str
    base: str
    repo: str

    @property
    def title(self) -> str:
        changes = ", ".join(f"{change.model} back to v{change.new}" for change in self.edit.changes)
        return f"Revert {self.stack}: {changes} (SageMaker rolled back)"

    def body(self) -> str:
        rows = "\n".join(
            f"| `{c.model}` | v{c.old} | v{c.new} |" if c.old else f"| `{c.model}` | - | v{c.new} |"
            for c in self.edit.changes
        )
        return (
            f"SageMaker rolled the release in `{self.stack}` back: its rollback alarms fired "
            "during the canary. The endpoints serve the previous version again, so this pull "
            f"request sets `Pulumi.{self.stack}.yaml` back to what serves, keeping git the "
            "source of truth.\n\n"
            "| model | released (rolled back) | serving (restored here) |\n|---|---|---|\n"
            f"{rows}\n\n```diff\n{self.edit.diff().rstrip()}\n```\n\n"
            "Merging it runs model-release: provenance is verified again and `pulumi up` "
            "finds nothing to change on the endpoints.\n"
        )

    def commands(
        self, body_file: str = "revert-body.md", cwd: Path | None = None
    ) -> list[list[str]]:
        """What turns the edit into a pull request, in order (after writing the file)."""
        git = ["git", "-C", str(cwd)] if cwd is not None else ["git"]
        path = self.edit.path.name
        return [
            [*git, "switch", "-c", self.branch],
            [*git, "add", "--", path],
            [
                *git, "-c", f"user.name={BOT_NAME}", "-c", f"user.email={BOT_EMAIL}",
                "commit", "-m", self.title,
            ],
            ["gh", "auth", "setup-git"],
            [*git, "push", "origin", f"HEAD:refs/heads/{self.branch}"],
            pr_create_command(
                self.repo, base=self.base, head=self.branch, title=self.title, body_file=body_file
            ),
        ]  # fmt: skip

    def describe(self) -> str:
        """The proposal as a person reads it in the job log: the diff, then the commands."""
        shown = "\n".join(shlex.join(command) for command in self.commands())
        return f"{self.edit.diff()}\nto open the revert pull request:\n{shown}\n"


def default_branch(stack: str, targets: dict[str, int]) -> str:
    names = "-".join(f"{model}-v{version}" for model, version in sorted(targets.items()))
    run = os.environ.get("GITHUB_RUN_ID", "")
    return f"revert/{stack}/{names}" + (f"-run{run}" if run.isdigit() else "")


def open_pull_request(proposal: RevertProposal, *, cwd: Path, runner: Runner = run_command) -> str:
    """Branch, write the edit, commit, push, open the PR; returns what gh prints (its URL)."""
    if not proposal.edit.changed:
        raise MlopsError(f"stack {proposal.stack}: nothing to revert; the file already says it")
    with tempfile.TemporaryDirectory(prefix="mlops-revert-") as tmp:
        body = Path(tmp, "body.md")
        body.write_text(proposal.body(), encoding="utf-8")
        branch, *rest = proposal.commands(str(body), cwd=cwd)
        runner(branch, None)  # the branch first: the edit never lands on the checked-out one
        proposal.edit.write()
        out = ""
        for command in rest:
            out = runner(command, None)
    lines = out.strip().splitlines()
    return lines[-1] if lines else ""
