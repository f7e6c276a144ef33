"""`make demo` end to end: the whole release on the embedded emulator, run twice.

The demo runs as `make demo` runs it, the `mlops` console script in a child process
(so its progress display, its output capture and its exit code are the real ones):
first into a given `--out` folder with `--root` from another working directory, then
as README's `make demo` in a scratch copy of the repository with the default folder
(the session's shared run, `readme_demo` in tests/conftest.py, which tests/docs reuses),
which also checks that a fresh run finds a fresh emulator (the registry versions start
again at 1) and that `build/demo/latest` points at it.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Cli, ReadmeDemo

MLOPS = Path(sys.executable).with_name("mlops")
STEPS = (
    "render",
    "emulator",
    "production",
    "train",
    "validate",
    "sign",
    "register",
    "approve",
    "plan",
    "audit",
    "canary",
    "rollback",
    "monitor",
    "promote",
    "approve-target",
    "verify-target",
)
REPORT_SUFFIXES = (".html", ".md", ".json", ".sarif", ".diff", ".log", ".pem", ".yaml")


@dataclass(frozen=True)
class DemoRun:
    returncode: int
    stdout: str
    stderr: str
    folder: Path

    @property
    def summary(self) -> dict:
        return json.loads((self.folder / "summary.json").read_text(encoding="utf-8"))

    def report(self, relative: str) -> dict:
        return json.loads((self.folder / relative).read_text(encoding="utf-8"))


def run_demo(args: list[str], cwd: Path, timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(MLOPS), "demo", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def printed_folder(stdout: str, cwd: Path) -> Path:
    match = re.search(r"^report: (.+)/index\.html$", stdout, re.MULTILINE)
    assert match, f"the demo must print the report path at the end; it printed:\n{stdout}"
    folder = Path(match.group(1))
    return folder if folder.is_absolute() else cwd / folder


@pytest.fixture(scope="module")
def first(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    cwd = tmp_path_factory.mktemp("demo-first")
    done = run_demo(["--out", str(cwd / "report"), "--root", str(repo_root)], cwd=cwd)
    return DemoRun(done.returncode, done.stdout, done.stderr, printed_folder(done.stdout, cwd))


@pytest.fixture(scope="module")
def second(readme_demo: ReadmeDemo) -> DemoRun:
    done, cwd = readme_demo.done, readme_demo.root
    return DemoRun(done.returncode, done.stdout, done.stderr, printed_folder(done.stdout, cwd))


@pytest.mark.slow
def test_demo_first_run_passes_every_step(first: DemoRun) -> None:
    # given / when: the demo ran once
    # then it exited 0, every step passed, in order, and each printed one line
    summary = first.summary
    assert first.returncode == 0, f"demo failed:\n{first.stdout}\n{first.stderr}"
    assert [step["name"] for step in summary["steps"]] == list(STEPS), "the release's steps"
    failed = [s for s in summary["steps"] if s["status"] != "passed"]
    assert not failed, f"every step must pass, these did not: {failed}"
    progress = re.compile(rf"^✓ +\d+/{len(STEPS)} ")
    lines = [line for line in first.stdout.splitlines() if progress.match(line)]
    assert len(lines) == len(STEPS), f"one progress line per step:\n{first.stdout}"


@pytest.mark.slow
def test_demo_keeps_library_output_out_of_the_display(first: DemoRun) -> None:
    # given the demo's output
    # then library logs went to demo.log, not to the terminal (a display, not a wall of logs)
    log = (first.folder / "demo.log").read_text(encoding="utf-8")
    assert "step plan passed" in log, "demo.log must hold the run's log lines"
    assert len(first.stdout.splitlines()) <= len(STEPS) + 4, (
        f"stdout must be the progress display only:\n{first.stdout}"
    )
    assert first.stderr.strip() == "", f"nothing on stderr when all passes: {first.stderr}"


@pytest.mark.slow
def test_demo_index_links_every_report(first: DemoRun) -> None:
    # given the report folder
    index = (first.folder / "index.html").read_text(encoding="utf-8")
    links = set(re.findall(r'href="([^"]+)"', index))
    # then every linked file exists, and every report file outside the work area is linked
    missing = sorted(link for link in links if not (first.folder / link).is_file())
    assert not missing, f"index.html links files that do not exist: {missing}"
    written = {
        path.relative_to(first.folder).as_posix()
        for path in first.folder.rglob("*")
        if path.is_file()
        and path.suffix in REPORT_SUFFIXES
        and path.relative_to(first.folder).parts[0] != "work"
        and path.name != "index.html"
    }
    assert written - links == set(), f"reports not linked from index.html: {written - links}"
    assert {"summary.md", "summary.json"} <= links, "Markdown and JSON summaries are linked"
    for name in ("validation/validation", "audit/staging", "canary-promote/canary"):
        assert {f"{name}.html", f"{name}.md", f"{name}.json"} <= links, (
            f"{name}: HTML, Markdown and JSON renderings must all be linked"
        )


@pytest.mark.slow
def test_demo_trains_through_a_spot_interruption(first: DemoRun) -> None:
    # given the candidate the demo trained as a SageMaker job, and the job's record
    candidate = first.folder / "work" / "candidate"
    card = json.loads((candidate / "model" / "model.json").read_text(encoding="utf-8"))
    record = json.loads((candidate / "training.json").read_text(encoding="utf-8"))
    outcomes = first.summary["outcomes"]
    interrupted = outcomes["interrupted_at_round"]
    # then it resumed from the interruption's checkpoint and has all its rounds
    assert 0 < interrupted < card["training"]["iterations"] == 100, "interrupted mid-run"
    assert record["resumed_from_iteration"] == interrupted, "resumed from its S3 checkpoint"
    log = (first.folder / "logs" / f"{record['job_name']}.log").read_text(encoding="utf-8")
    assert "interrupted after" in log, f"the training process saw the SIGTERM: {log}"
    # and the waiting for a new spot instance was not billed
    assert record["billable_time_seconds"] < record["training_time_seconds"], record
    assert record["spot_savings_percent"] > 0, record
    # and the registry recorded them with the candidate, in minutes
    registry = {k: float(v) for k, v in outcomes["candidate_training_in_registry"].items()}
    assert abs(registry["training_minutes"] - record["training_time_seconds"] / 60) < 1e-3, registry
    assert abs(registry["billable_minutes"] - record["billable_time_seconds"] / 60) < 1e-3, registry
    assert registry["spot_savings_percent"] == record["spot_savings_percent"], registry
    # and the job is an MLflow run (the demo's local store) that the registry entry names
    assert record["tracking"]["run_id"], record
    assert outcomes["candidate_tracking_run_in_registry"] == record["tracking"]["run_id"], outcomes


@pytest.mark.slow
def test_demo_launches_training_as_gh_build_and_the_job_runs_as_the_training_role(
    first: DemoRun,
) -> None:
    # given who launched the candidate's job, and who the job's S3 calls were
    launched = [i for i in first.summary["identities"] if i["step"] == "train"]
    job_caller = first.summary["outcomes"]["training_role"]
    # then CI's build role launched it and the job ran as the stack's execution role
    assert [role_of(i["caller_arn"]) for i in launched] == [
        "mlops-staging-gh-build",
        "mlops-staging-training",
    ], launched
    assert role_of(job_caller) == "mlops-staging-training", job_caller


@pytest.mark.slow
def test_demo_registers_and_releases_version_two(first: DemoRun) -> None:
    # given the release plan on the copy of the stack file
    diff = (first.folder / "release" / "stack-file.diff").read_text(encoding="utf-8")
    outcomes = first.summary["outcomes"]
    # then v1 serves, v2 was registered and approved, and the PR moves the stack to v2
    assert (outcomes["production_version"], outcomes["candidate_version"]) == (1, 2), outcomes
    assert "-      version: 1" in diff and "+      version: 2" in diff, diff
    verify = (first.folder / "release" / "verify.md").read_text(encoding="utf-8")
    assert "passed" in verify and "| ok |" in verify, f"release verify must pass:\n{verify}"
    assert first.report("audit/staging.json")["summary"]["status"] == "pass", "policy pack"


def role_of(caller_arn: str) -> str:
    """The role name in an assumed-role ARN, without Pulumi's random 7-hex-digit suffix."""
    match = re.fullmatch(r"arn:aws:sts::\d{12}:assumed-role/(.+?)(-[0-9a-f]{7})?/[^/]+", caller_arn)
    assert match, f"not an assumed-role session: {caller_arn}"
    return match.group(1)


@pytest.mark.slow
def test_demo_signs_approves_and_deploys_as_three_distinct_roles(first: DemoRun) -> None:
    # given who each step of the demo was, as sts:GetCallerIdentity told the step
    identities = first.summary["identities"]
    callers = {step: {i["caller_arn"] for i in identities if i["step"] == step}
               for step in ("sign", "approve", "canary")}  # fmt: skip
    # then sign, approve and deploy each ran as one role session, three different roles
    assert all(len(arns) == 1 for arns in callers.values()), callers
    sign, approve, deploy = (arns.pop() for arns in callers.values())
    assert len({role_of(sign), role_of(approve), role_of(deploy)}) == 3, (sign, approve, deploy)
    assert role_of(sign).endswith("gh-release"), sign
    assert role_of(approve).endswith("gh-approve"), approve
    assert role_of(deploy).endswith("gh-deploy"), deploy
    # and the summary says how many calls IAM enforcement authorised, for how many roles
    enforcement = first.summary["iam_enforcement"]
    line = (
        f"authorised {enforcement['authorised_calls']} calls for {enforcement['identities']} "
        "identities, IAM enforcement: on"
    )
    assert enforcement["on"] and enforcement["first_denial"] is None, enforcement
    assert enforcement["identities"] == first.summary["roles_used"] >= 6, enforcement
    assert line in first.stdout, first.stdout
    assert line in (first.folder / "summary.md").read_text(encoding="utf-8"), "summary.md"


@pytest.mark.slow
def test_demo_monitors_drift_as_the_monitor_role(first: DemoRun) -> None:
    # given the drift monitor's report and identity
    report = first.report("monitor/drift.json")
    monitor = [i for i in first.summary["identities"] if i["step"] == "monitor"]
    # then it read the captured requests from S3 as gh-monitor, and found no drift
    assert report["current"].startswith("s3://mlops-staging-capture-"), report["current"]
    assert [role_of(i["caller_arn"]) for i in monitor] == ["mlops-staging-gh-monitor"], monitor
    assert report["drift_detected"] is False, f"held-out rows must not drift: {report['summary']}"


@pytest.mark.slow
def test_demo_never_edits_the_repository_stack_file(first: DemoRun, repo_root: Path) -> None:
    # given the repository's own stack file after the demo
    text = (repo_root / "Pulumi.staging.yaml").read_text(encoding="utf-8")
    copy = (first.folder / "release-pr" / "Pulumi.staging.yaml").read_text(encoding="utf-8")
    # then the release PR was planned on the copy only
    assert "version: 2" in copy, "the copy in the report folder carries the release"
    assert "version: 2" not in text, "the repository's Pulumi.staging.yaml must be untouched"


@pytest.mark.slow
def test_demo_promotes_the_candidate(first: DemoRun) -> None:
    # given the canary rehearsal of the validated candidate
    canary = first.report("canary-promote/canary.json")
    # then the real servers carried the stack's canary schedule to the end: promoted
    assert canary["decision"] == "promoted", f"expected promote: {canary['reason']}"
    assert canary["traffic_routing"]["type"] == "CANARY", "staging releases canary-first"


@pytest.mark.slow
def test_demo_promotes_staging_candidate_into_prod_account_as_prod_roles(first: DemoRun) -> None:
    # given the promotion steps after the staging release
    promoted = first.summary["outcomes"]["promoted"]
    by_step = {i["step"]: i["caller_arn"] for i in first.summary["identities"]}
    # then staging's approved v2 became prod's v1 in prod's own account, pending approval
    assert promoted == {
        "stack": "prod",
        "account": "555566667777",
        "version": 1,
        "status": "PendingManualApproval",
        "source_package_arn": (
            "arn:aws:sagemaker:eu-west-1:123456789012:model-package/"
            "mlops-staging-churn-classifier/2"
        ),
    }, promoted
    # and each step ran as the prod role that does it on AWS, in prod's account
    assert by_step["promote"] == (
        "arn:aws:sts::555566667777:assumed-role/mlops-prod-gh-promote/demo-promote"
    ), by_step["promote"]
    assert role_of(by_step["approve-target"]) == "mlops-prod-gh-approve", by_step
    assert role_of(by_step["verify-target"]) == "mlops-prod-gh-deploy", by_step
    assert ":555566667777:" in by_step["approve-target"] + by_step["verify-target"], by_step
    # and prod's release verify passed for the promoted version
    assert first.summary["outcomes"]["target_verified"] == (
        "stack prod: 1 model(s) verified: registered, approved by a separate identity, gates "
        "passed, signature valid and for this version"
    )


@pytest.mark.slow
def test_demo_rolls_back_the_faulty_candidate(first: DemoRun) -> None:
    # given the rehearsal of a candidate with injected errors
    canary = first.report("canary-rollback/canary.json")
    revert = (first.folder / "release" / "revert-pr.md").read_text(encoding="utf-8")
    # then the error-rate alarm rolled it back, and the revert PR restores v1 in git
    assert canary["decision"] == "rolled back", f"expected rollback: {canary['reason']}"
    assert canary["alarm"] == "error-rate", f"the error alarm fired: {canary['reason']}"
    assert "+      version: 1" in revert, f"revert PR sets the stack back to v1:\n{revert}"
    # and its pulumi up, run as the deployer on the emulated endpoint, was rolled back by
    # SageMaker on the endpoint's alarm: release watch saw it and proposed that revert
    watch = first.report("release/watch-rollback.json")
    (endpoint,) = watch["endpoints"]
    assert (endpoint["outcome"], endpoint["desired_version"], endpoint["serving_version"]) == (
        "rollback",
        2,
        1,
    ), endpoint
    assert "alarm mlops-staging-churn-classifier-invocation-5xx-errors is in ALARM" in (
        endpoint["failure_reason"] or ""
    ), endpoint
    assert watch["revert"] == {"churn-classifier": 1}, watch


@pytest.mark.slow
def test_demo_deploys_the_release_and_watches_it_promoted(first: DemoRun) -> None:
    # given the deploy job's pulumi up of the release PR (the emulated endpoint's
    # blue/green update) and its release watch, both as the deployer
    watch = first.report("release/watch.json")
    (endpoint,) = watch["endpoints"]
    # then the endpoint serves the released version, and nothing is to be reverted
    assert endpoint["endpoint"] == "mlops-staging-churn-classifier", endpoint
    assert (endpoint["outcome"], endpoint["serving_version"]) == ("promote", 2), endpoint
    assert endpoint["statuses"][-1] == "InService" and watch["revert"] == {}, watch


@pytest.mark.slow
def test_demo_release_reaches_prod_as_prods_deployer(first: DemoRun) -> None:
    # given prod's deploy job after the promotion: pulumi up in prod's account, then watch
    watch = first.report("release/watch-prod.json")
    (endpoint,) = watch["endpoints"]
    by_step = {i["step"]: i["caller_arn"] for i in first.summary["identities"]}
    # then prod's own endpoint serves the promoted version, deployed by prod's deployer
    assert (watch["stack"], endpoint["endpoint"]) == ("prod", "mlops-prod-churn-classifier")
    assert (endpoint["outcome"], endpoint["serving_version"]) == ("promote", 1), endpoint
    assert "assumed-role/mlops-prod-gh-deploy-" in by_step["verify-target"], by_step
    assert ":555566667777:" in by_step["verify-target"], by_step


@pytest.mark.slow
def test_demo_second_run_starts_from_a_fresh_emulator(second: DemoRun) -> None:
    # given a second run, README's `make demo` in a scratch copy, with the default folder
    summary = second.summary
    latest = second.folder.parent / "latest"
    # then it passes again with versions 1 and 2 (no state leaked), and latest points at it
    assert second.returncode == 0, f"second run failed:\n{second.stdout}\n{second.stderr}"
    assert summary["passed"], f"second run steps: {summary['steps']}"
    outcomes = summary["outcomes"]
    assert (outcomes["production_version"], outcomes["candidate_version"]) == (1, 2), outcomes
    assert latest.resolve() == second.folder.resolve(), "build/demo/latest -> newest run"


@pytest.mark.slow
def test_demo_with_the_emulator_port_taken_fails_with_one_line(
    repo_root: Path, tmp_path: Path
) -> None:
    # given a port something else listens on
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # when the demo is asked to start its emulator there
        done = run_demo(["--out", str(tmp_path / "report"), "--port", str(port)], cwd=repo_root)
    # then it exits 1 naming the step and the reason in one line, and skips the rest
    assert done.returncode == 1, f"must fail:\n{done.stdout}\n{done.stderr}"
    assert done.stderr.count("\n") == 1 and "in use" in done.stderr, done.stderr
    summary = json.loads((tmp_path / "report" / "summary.json").read_text(encoding="utf-8"))
    statuses = [step["status"] for step in summary["steps"]]
    assert statuses[:2] == ["passed", "failed"] and set(statuses[2:]) == {"skipped"}, statuses


def test_demo_refuses_an_out_folder_that_is_not_a_demo_report(
    tmp_path: Path, repo_root: Path, cli: Cli
) -> None:
    # given a folder with someone's files in it
    keep = tmp_path / "notes.txt"
    keep.write_text("mine", encoding="utf-8")
    # when the demo is pointed at it
    code, _, error = cli("demo", "--out", tmp_path, "--root", repo_root)
    # then it refuses in one line, before any work, and leaves the folder alone
    assert code == 2, f"bad input exits 2, got {code}"
    assert error.startswith("error: --out") and error.count("\n") == 1, error
    assert keep.read_text(encoding="utf-8") == "mine", "nothing in the folder may be touched"


def declared_statements(stack: str, root: Path) -> dict[str, dict[str, object]]:
    """`<role>/<policy name>` -> {Sid: Statement} as the program declares them for `stack`
    (the typed statements, with their `unused_in_demo_because`), read while rendering."""
    from unittest import mock

    from infra.components.permissions import Permissions
    from infra.graph import Graph
    from infra.offline import render_graph

    built: list[tuple[str, Permissions]] = []
    original = Permissions.__init__

    def record(self, name, args, opts=None):  # type: ignore[no-untyped-def]
        original(self, name, args, opts)
        built.append((name, self))

    with mock.patch.object(Permissions, "__init__", record):
        graph = Graph.from_json(render_graph(stack, root))
    policies = {p.name: p for p in graph.of_type("aws:iam/rolePolicy:RolePolicy")}
    declared: dict[str, dict[str, object]] = {}
    for name, component in built:
        for purpose, document in component.documents.items():
            policy = policies[f"{name}-{purpose}"]
            key = f"{policy.inputs['role']}/{policy.id}"
            declared[key] = {statement.sid: statement for statement in document.statements}
    return declared


@pytest.mark.slow
def test_every_grant_of_the_demo_roles_is_used_or_justified(
    first: DemoRun, repo_root: Path
) -> None:
    # given every call IAM enforcement authorised, with the statements that allowed it
    calls = first.report("emulator/authorised-calls.json")["calls"]
    used = {(s["policy"], s["sid"]) for call in calls for s in call["statements"]}
    acting = {call["role"] for call in calls}
    # and every Allow the program declares for the roles the demo acts as
    # (the demo also acts in prod, the stack it promotes to, as prod's roles)
    declared = declared_statements(first.summary["stack"], repo_root) | declared_statements(
        "prod", repo_root
    )
    in_scope = {key: sids for key, sids in declared.items() if key.split("/")[0] in acting}
    assert len(in_scope) == len(acting) >= 6, (sorted(acting), sorted(declared))
    # then each was used by some call, or says where it is declared why the demo cannot
    unjustified = [
        f"{key} {sid}"
        for key, statements in in_scope.items()
        for sid, statement in statements.items()
        if statement.effect == "Allow"
        and (key, sid) not in used
        and not statement.unused_in_demo_because
    ]
    assert not unjustified, f"grants no demo call used and nothing justifies: {unjustified}"
    # and a justification is not left on a grant the demo does use
    stale = [
        f"{key} {sid}"
        for key, statements in in_scope.items()
        for sid, statement in statements.items()
        if statement.unused_in_demo_because and (key, sid) in used
    ]
    assert not stale, f"justified as unused but used: {stale}"


@pytest.mark.slow
def test_drill_deny_stops_the_demo_at_the_step_that_needs_the_grant(
    repo_root: Path, tmp_path: Path
) -> None:
    # given the release role loses kms:Sign in the emulated policies
    done = run_demo(["--out", str(tmp_path / "drill"), "--drill-deny", "gh-release:kms:Sign"],
                    cwd=repo_root)  # fmt: skip
    summary = json.loads((tmp_path / "drill" / "summary.json").read_text(encoding="utf-8"))
    # then the demo fails at production v1's signing, naming identity, action and key
    assert done.returncode == 1, done.stdout + done.stderr
    failed = [step for step in summary["steps"] if step["status"] == "failed"]
    assert [step["name"] for step in failed] == ["production"], failed
    detail = failed[0]["detail"]
    assert re.match(
        r"denied: arn:aws:sts::\d{12}:assumed-role/mlops-staging-gh-release-[0-9a-f]{7}/"
        r"demo-release may not kms:Sign on arn:aws:kms:[a-z0-9-]+:\d{12}:key/",
        detail,
    ), detail
    assert summary["iam_enforcement"]["first_denial"] == detail
