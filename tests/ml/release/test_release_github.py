"""One PR comment / issue per purpose, updated in place; the revert pull request."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from common.errors import MlopsError
from ml.release.github import GitHub, marker
from ml.release.revert import RevertProposal, open_pull_request, parse_targets
from ml.release.stackfile import plan_edit
from tests.ml.release_support import MODEL, REPO_ROOT

REPO = "acme/mlops-gitops"


class FakeGh:
    """Answers `gh api` like GitHub would, from a list of existing comments or issues."""

    def __init__(self, existing: list[dict]):
        self.existing = existing
        self.calls: list[tuple[list[str], dict | None]] = []

    def __call__(self, args: Sequence[str], stdin: str | None) -> str:
        self.calls.append((list(args), json.loads(stdin) if stdin else None))
        if "--paginate" in args:
            return "".join(json.dumps(item) + "\n" for item in self.existing)
        return json.dumps({"html_url": "https://github.com/acme/mlops-gitops/x"})

    @property
    def writes(self) -> list[tuple[str, str, dict | None]]:
        return [
            (a[a.index("--method") + 1], a[4], body) for a, body in self.calls if "--method" in a
        ]


def test_upsert_comment_without_a_marked_comment_creates_one():
    # Given a pull request with someone else's comment only,
    gh = FakeGh([{"id": 11, "body": "LGTM"}])
    # when the validation report is posted,
    posted = GitHub(REPO, gh).upsert_comment(7, "model-validation", "## Validation\npassed")
    # then one comment is created, starting with the hidden marker.
    assert posted.action == "created", posted
    [(method, path, body)] = gh.writes
    assert (method, path) == ("POST", f"repos/{REPO}/issues/7/comments"), gh.writes
    assert body["body"].startswith(marker("model-validation") + "\n## Validation"), body


def test_upsert_comment_with_a_marked_comment_updates_it_instead_of_adding_one():
    # Given the pull request already carries this workflow's comment from the last push,
    previous = {"id": 42, "body": f"{marker('model-validation')}\nold report"}
    gh = FakeGh([{"id": 11, "body": "LGTM"}, previous])
    # when the new report is posted,
    posted = GitHub(REPO, gh).upsert_comment(7, "model-validation", "new report")
    # then that comment is edited and no comment is added.
    assert posted.action == "updated", posted
    writes = [(m, p) for m, p, _ in gh.writes]
    assert writes == [("PATCH", f"repos/{REPO}/issues/comments/42")], writes


def test_upsert_issue_with_the_stacks_drift_issue_open_updates_it():
    # Given the prod drift issue is still open (and a pull request in the list is ignored),
    gh = FakeGh(
        [
            {"number": 5, "body": f"{marker('drift-prod')}\nold", "pull_request": {}},
            {"number": 9, "body": f"{marker('drift-prod')}\nold"},
        ]
    )
    # when drift is found again, then issue 9 is updated with the new title and body.
    posted = GitHub(REPO, gh).upsert_issue("drift-prod", "Drift in prod", "new", labels=["drift"])
    assert posted.action == "updated", posted
    [(method, path, body)] = gh.writes
    got = (method, path, body["title"])
    assert got == ("PATCH", f"repos/{REPO}/issues/9", "Drift in prod"), got


def test_marker_with_characters_outside_the_key_alphabet_is_refused():
    # Given a marker key that could close the HTML comment early, when used, then refused.
    with pytest.raises(MlopsError):
        marker("x --><script>")


def test_github_comment_cli_calls_gh_with_the_body_on_stdin(tmp_path: Path, monkeypatch, cli):
    # Given a fake `gh` on PATH that records its arguments and stdin,
    log = tmp_path / "gh.log"
    fake = tmp_path / "bin" / "gh"
    fake.parent.mkdir()
    fake.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    f.write(json.dumps([sys.argv[1:], sys.stdin.read() if '--input' in sys.argv else ''])"
        " + '\\n')\n"
        "print('' if '--paginate' in sys.argv else json.dumps({'html_url': 'u'}))\n",
        encoding="utf-8",
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("GH_REPO", REPO)
    body = tmp_path / "report.md"
    body.write_text("| gate | result |\n", encoding="utf-8")
    # when the workflow step runs,
    code = cli(
        "github", "comment", "--pr", "3", "--marker", "release-verify-prod", "--body-file", body
    ).exit_code
    # then gh lists the comments, then creates one with the body as JSON on stdin.
    assert code == 0, "the comment step must succeed"
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    listing = ["api", "--paginate", f"repos/{REPO}/issues/3/comments?per_page=100"]
    assert calls[0][0][:3] == listing, calls[0]
    assert json.loads(calls[1][1])["body"].endswith("| gate | result |\n"), calls[1]


def test_parse_targets_of_watch_output_gives_versions_per_model():
    # Given watch's revert= output, when parsed, then each model maps to its version.
    parsed = parse_targets("churn-classifier=3,fraud-detector=12")
    assert parsed == {"churn-classifier": 3, "fraud-detector": 12}, parsed


@pytest.mark.parametrize("bad", ["", "churn-classifier", "churn-classifier=0", "a=1;rm -rf /"])
def test_parse_targets_of_malformed_text_is_refused(bad: str):
    # Given a malformed --to value, when parsed, then it is a one-line error.
    with pytest.raises(MlopsError):
        parse_targets(bad)


def test_open_pull_request_commits_the_revert_on_a_new_branch(tmp_path: Path):
    # Given a clone of the repository at main, whose staging file declares the rolled-back v2,
    repo = tmp_path / "clone"
    repo.mkdir()
    stack = repo / "Pulumi.staging.yaml"
    stack.write_text((REPO_ROOT / "Pulumi.staging.yaml").read_text(), encoding="utf-8")
    plan_edit(stack, {MODEL: 2}).write()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    for command in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "release v2"]):
        subprocess.run([*git, *command], check=True, capture_output=True)
    remote_calls: list[list[str]] = []

    def runner(args: Sequence[str], stdin: str | None) -> str:
        # git runs for real; pushing and GitHub are recorded instead.
        if args[0] == "gh" or "push" in args:
            remote_calls.append(list(args))
            return "https://github.com/acme/mlops-gitops/pull/8\n" if "pr" in args else ""
        return subprocess.run(list(args), check=True, capture_output=True, text=True).stdout

    proposal = RevertProposal(
        stack="staging",
        edit=plan_edit(stack, {MODEL: 1}),
        branch="revert/staging/churn-classifier-v1",
        base="main",
        repo=REPO,
    )
    # when the revert pull request is opened,
    url = open_pull_request(proposal, cwd=repo, runner=runner)
    # then the revert is one commit on the new branch, changing the version line only,
    show = subprocess.run(
        ["git", "-C", str(repo), "show", "--format=%s", "revert/staging/churn-classifier-v1"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert show.startswith("Revert staging: churn-classifier back to v1"), show
    assert "-      version: 2\n+      version: 1\n" in show, show
    # and the branch is pushed and proposed against main.
    assert remote_calls[-1][:3] == ["gh", "pr", "create"], remote_calls
    head = remote_calls[-1][remote_calls[-1].index("--head") + 1]
    assert head == proposal.branch, remote_calls[-1]
    assert url.endswith("/pull/8"), url
