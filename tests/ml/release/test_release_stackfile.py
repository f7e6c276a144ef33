"""The release PR's edit: only the version line changes, or the edit is refused."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from common.errors import MlopsError
from infra.config import STACKS, parse_stack_config
from ml.release.stackfile import detect_indent, plan_edit, set_versions

REPO_ROOT = Path(__file__).resolve().parents[3]

# A stack file in another style than the shipped ones: 4-space sequences under their
# key, quoted strings, a flow sequence, comments everywhere, a model without a version.
STYLED = """\
# prod-like, hand-formatted
config:
  aws:region: "eu-west-1"   # pinned region
  mlops:environment: staging
  mlops:owner: 'ml-platform'
  mlops:github:
    org: acme
    repo: mlops-gitops
    deployEnvironment: staging
  mlops:iam:
    auditorPrincipalArns:
      - arn:aws:iam::123456789012:role/auditor   # the audit team
      - "arn:aws:iam::123456789012:role/security"
  mlops:serving:
    alarms:
      rollbackAlarms: [model-latency-p99, invocation-5xx-errors]
  mlops:models:
    # the shipped model
    churn-classifier:
      version: 3  # approved by the release board
    fraud-detector:
  mlops:image: {digest: "sha256:1111111111111111111111111111111111111111111111111111111111111111"}
  mlops:tags: {cost-center: ml-staging}
"""


def _changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    old, new = before.splitlines(), after.splitlines()
    assert len(old) == len(new), "the edit must not add or remove lines here"
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


@pytest.mark.parametrize("stack", STACKS)
def test_set_versions_on_shipped_stack_changes_only_the_version_line(stack: str):
    # Given a shipped stack file,
    before = (REPO_ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")
    # when the release sets churn-classifier to version 42,
    after, changes = set_versions(before, {"churn-classifier": 42})
    # then exactly one line changed, and it is the version.
    changed = _changed_lines(before, after)
    assert len(changed) == 1, f"expected one changed line, got {changed}"
    assert changed[0][1].strip() == "version: 42", f"unexpected new line {changed[0][1]!r}"
    assert [str(c) for c in changes] == ["churn-classifier: v1 -> v42"], f"changes: {changes}"


def test_set_versions_keeps_comments_quotes_and_flow_style():
    # Given a hand-formatted stack file,
    # when the release bumps churn-classifier,
    after, _ = set_versions(STYLED, {"churn-classifier": 4})
    # then only the version value changed; its comment, the quotes, the sequence
    # indentation and the flow collections are as they were.
    assert _changed_lines(STYLED, after) == [
        ("      version: 3  # approved by the release board",
         "      version: 4  # approved by the release board")
    ], f"unexpected diff:\n{after}"  # fmt: skip


def test_set_versions_for_model_without_version_inserts_the_line():
    # Given a model declared without a version (never released),
    # when the release gives it version 1,
    after, changes = set_versions(STYLED, {"fraud-detector": 1})
    # then a version line is inserted under it and nothing else changes.
    added = [line for line in after.splitlines() if line not in STYLED.splitlines()]
    assert added == ["      version: 1"], f"added lines: {added}"
    assert len(after.splitlines()) == len(STYLED.splitlines()) + 1, "only one line added"
    assert changes[0].old is None, f"old version should be None, got {changes[0].old}"


def test_set_versions_for_undeclared_model_names_the_declared_ones():
    # Given a stack file that declares churn-classifier and fraud-detector,
    # when a release targets a model the stack does not declare,
    with pytest.raises(MlopsError) as raised:
        set_versions(STYLED, {"price-model": 1}, source="Pulumi.staging.yaml")
    # then the one-line error names the stack file and what it declares.
    message = str(raised.value)
    assert "price-model" in message and "churn-classifier, fraud-detector" in message, message
    assert "\n" not in message, "one line"


def test_set_versions_to_the_declared_version_changes_nothing():
    # Given churn-classifier already at version 3, when the release asks for 3,
    after, changes = set_versions(STYLED, {"churn-classifier": 3})
    # then the text is unchanged and no change is reported.
    assert after == STYLED and changes == (), "a no-op release must not touch the file"


def test_set_versions_that_would_reformat_other_lines_is_refused():
    # Given a file whose mappings are indented inconsistently (2 here, 4 there), which the
    # round-trip writer would normalise,
    text = STYLED.replace(
        "    org: acme\n    repo: mlops-gitops\n", "      org: acme\n      repo: mlops-gitops\n"
    )
    text = text.replace("    deployEnvironment: staging\n", "      deployEnvironment: staging\n")
    # when the release edits it,
    with pytest.raises(MlopsError) as raised:
        set_versions(text, {"churn-classifier": 4}, source="Pulumi.staging.yaml")
    # then it refuses rather than slip reformatting into the release PR.
    assert "reformat" in str(raised.value), str(raised.value)


def test_set_versions_result_validates_against_the_stack_schema():
    # Given the edited text, when it is parsed with the typed schema,
    import yaml

    after, _ = set_versions(STYLED, {"churn-classifier": 9})
    cfg = parse_stack_config(yaml.safe_load(after)["config"])
    # then the stack declares the new version.
    assert cfg.models["churn-classifier"].version == 9, cfg.models


def test_detect_indent_reads_sequence_offset_from_the_file():
    # Given a file with `key:` then `  - item` (dash 2 right of the key),
    # when its indentation is detected, then ruamel gets mapping 2, sequence 4, offset 2.
    assert detect_indent(STYLED) == (2, 4, 2), detect_indent(STYLED)


def test_plan_edit_diff_is_the_release_pull_request_diff(tmp_path: Path):
    # Given a stack file on disk,
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(STYLED, encoding="utf-8")
    # when the release is planned,
    edit = plan_edit(path, {"churn-classifier": 4})
    # then its diff is a unified diff of that file, and planning wrote nothing.
    diff = edit.diff()
    assert diff.startswith("--- a/Pulumi.staging.yaml\n+++ b/Pulumi.staging.yaml\n"), diff
    assert "-      version: 3" in diff and "+      version: 4" in diff, diff
    assert path.read_text(encoding="utf-8") == STYLED, "planning must not write"


@pytest.mark.parametrize("stack", STACKS)
def test_release_on_shipped_stack_records_the_version_it_replaces(stack: str):
    # Given a shipped stack file serving churn-classifier v1,
    before = (REPO_ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")
    # when the release PR sets version 2 and keeps the previous one,
    after, _ = set_versions(before, {"churn-classifier": 2}, keep_previous=True)
    # then the diff is the version line and a previousVersion line right under it.
    diff = [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert diff == ["-      version: 1", "+      version: 2", "+      previousVersion: 1"], diff


def test_next_release_replaces_the_previous_version():
    # Given v2 promoted with v1 kept,
    text, _ = set_versions(STYLED, {"churn-classifier": 4}, keep_previous=True)
    # when v5 is released,
    after, _ = set_versions(text, {"churn-classifier": 5}, keep_previous=True)
    # then v4 is the one kept and v3 lets go.
    assert "      version: 5  # approved by the release board\n      previousVersion: 4\n" in after
    assert "previousVersion: 3" not in after, after


def test_revert_drops_the_previous_version():
    # Given a release of v4 that SageMaker rolled back to v3,
    released, _ = set_versions(STYLED, {"churn-classifier": 4}, keep_previous=True)
    # when the revert sets v3 again,
    after, _ = set_versions(released, {"churn-classifier": 3})
    # then the file is as before the release, previousVersion gone.
    assert after == STYLED, after


def test_release_and_revert_keep_the_comment_that_follows_the_models_block(repo_root):
    # Given the shipped staging file, whose models block is followed by the comment that
    # belongs to mlops:promotesTo,
    shipped = (repo_root / "Pulumi.staging.yaml").read_text(encoding="utf-8")
    comment = "  # prod (its own AWS account) promotes staging's approved packages: its role\n"
    assert comment in shipped
    # when v2 is released, previousVersion lands under version, above that comment
    released, _ = set_versions(shipped, {"churn-classifier": 2}, keep_previous=True)
    assert "      version: 2\n      previousVersion: 1\n" + comment in released, released
    # and the revert gives back the shipped file byte for byte.
    reverted, _ = set_versions(released, {"churn-classifier": 1})
    assert reverted == shipped
