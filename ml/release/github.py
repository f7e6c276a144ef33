"""Pull-request comments, issues and pull requests through the GitHub CLI (`gh`).

The workflows call these through `mlops github ...` and `mlops release revert`, so the
logic that would otherwise be shell in YAML (find the comment to update, open or update
the drift issue) is tested Python. `gh` is on every GitHub-hosted runner and reads its
token from `GH_TOKEN`; nothing here handles a token. Bodies go to `gh api` as JSON on
stdin, never on a command line.

One comment (or issue) per purpose: the body starts with a hidden marker,
`<!-- mlops:<key> -->`; the next run finds the item carrying its key and updates it
instead of adding another.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from common.commands import Runner, run_command
from common.errors import MlopsError

_KEY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
MAX_BODY = 65536  # GitHub rejects comment and issue bodies longer than this


def marker(key: str) -> str:
    if not _KEY.match(key):
        raise MlopsError(f"marker {key!r}: use 1-64 of a-z, 0-9, '.', '_', '-'")
    return f"<!-- mlops:{key} -->"


def with_marker(key: str, body: str) -> str:
    text = f"{marker(key)}\n{body.rstrip()}\n"
    if len(text) > MAX_BODY:
        cut = "\n\n_(truncated: the full report is in the workflow run's log)_\n"
        text = text[: MAX_BODY - len(cut)] + cut
    return text


def find_marked(items: Sequence[dict[str, Any]], key: str) -> dict[str, Any] | None:
    """The first item whose body starts with the key's marker (pure)."""
    tag = marker(key)
    return next((item for item in items if str(item.get("body") or "").startswith(tag)), None)


@dataclass(frozen=True)
class Posted:
    action: str  # "created" or "updated"
    url: str


class GitHub:
    """A repository on GitHub, through `gh` (token from GH_TOKEN, as gh reads it)."""

    def __init__(self, repo: str, runner: Runner = run_command):
        if not _REPO.match(repo or ""):
            raise MlopsError(
                f"repository {repo!r}: expected OWNER/NAME (set --repo, or GH_REPO / "
                "GITHUB_REPOSITORY as GitHub Actions does)"
            )
        self.repo = repo
        self._run = runner

    def _api(self, path: str, *, method: str = "GET", payload: dict | None = None) -> Any:
        args = ["gh", "api", "--method", method, f"repos/{self.repo}/{path}"]
        stdin = None
        if payload is not None:
            args += ["--input", "-"]
            stdin = json.dumps(payload)
        out = self._run(args, stdin)
        return json.loads(out) if out.strip() else None

    def _list(self, path: str) -> list[dict[str, Any]]:
        args = ["gh", "api", "--paginate", f"repos/{self.repo}/{path}", "--jq", ".[]"]
        out = self._run(args, None)
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def upsert_comment(self, pr: int, key: str, body: str) -> Posted:
        """Update this key's comment on the pull request, or add it if there is none."""
        text = with_marker(key, body)
        existing = find_marked(self._list(f"issues/{pr}/comments?per_page=100"), key)
        if existing is not None:
            path = f"issues/comments/{existing['id']}"
            data = self._api(path, method="PATCH", payload={"body": text})
            return Posted("updated", (data or {}).get("html_url", ""))
        data = self._api(f"issues/{pr}/comments", method="POST", payload={"body": text})
        return Posted("created", (data or {}).get("html_url", ""))

    def upsert_issue(self, key: str, title: str, body: str, labels: Sequence[str] = ()) -> Posted:
        """Update the open issue carrying this key, or open one."""
        text = with_marker(key, body)
        query = "issues?state=open&per_page=100"
        if labels:
            query += "&labels=" + ",".join(labels)
        issues = [item for item in self._list(query) if "pull_request" not in item]
        existing = find_marked(issues, key)
        if existing is not None:
            payload = {"title": title, "body": text}
            data = self._api(f"issues/{existing['number']}", method="PATCH", payload=payload)
            return Posted("updated", (data or {}).get("html_url", ""))
        payload: dict[str, Any] = {"title": title, "body": text}
        if labels:
            payload["labels"] = list(labels)
        data = self._api("issues", method="POST", payload=payload)
        return Posted("created", (data or {}).get("html_url", ""))


def pr_create_command(repo: str, *, base: str, head: str, title: str, body_file: str) -> list[str]:
    """The `gh pr create` call that opens a pull request from a pushed branch."""
    return [
        "gh", "pr", "create", "--repo", repo, "--base", base, "--head", head,
        "--title", title, "--body-file", body_file,
    ]  # fmt: skip


def write_github_output(values: dict[str, str]) -> None:
    """Append `key=value` lines to $GITHUB_OUTPUT, the step outputs a later job reads."""
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        raise MlopsError("--github-output: GITHUB_OUTPUT is not set (only GitHub Actions sets it)")
    with open(path, "a", encoding="utf-8") as handle:
        for key, value in values.items():
            if "\n" in value:
                raise MlopsError(f"--github-output: {key} must be one line")
            handle.write(f"{key}={value}\n")
