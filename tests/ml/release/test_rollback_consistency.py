"""Rollbacks stay consistent: after SageMaker rolls a release back by itself, nothing that
serves is deleted, the watch says so, and the revert brings git back to what serves.

Given/when/then over the real pieces: the stack file in a git repository, the Pulumi
program rendered offline, each apply replayed against the emulator as `pulumi up` runs it
(tests/ml/rollback_support.py), the emulator's blue/green UpdateEndpoint with its
auto-rollback, and `mlops release watch` / `verify --require-idle` / `revert` as the CLI
runs them, as the deploy role, with IAM enforced.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from infra.graph import Graph
from infra.offline import render_graph
from ml.emulator import deployments
from ml.emulator import iam as emulator_iam
from ml.emulator.bootstrap import EmulatedStack, bootstrap_stack
from ml.emulator.identities import credentials_for
from ml.release.endpoints import serving_version
from ml.release.stackfile import plan_edit
from tests.conftest import Cli, wait_until
from tests.ml.provenance_support import REGION, aws_fixture  # noqa: F401 - fixture
from tests.ml.rollback_support import ServingBroken, apply, serving_parts

pytestmark = pytest.mark.slow

STACK = "dev"
MODEL = "churn-classifier"
ENDPOINT = "mlops-dev-churn-classifier"
V1 = "mlops-dev-churn-classifier-v1"
V2 = "mlops-dev-churn-classifier-v2"
GROUP = "mlops-dev-churn-classifier"
ROLLBACK_ALARM = "mlops-dev-churn-classifier-model-errors"
REPO_ROOT = Path(__file__).resolve().parents[3]


class Release:
    """The stack repository, the emulator's administrator (pulumi up) and the deployer."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli):
        self.root, self.monkeypatch, self.cli = root, monkeypatch, cli
        admin = {
            "region_name": REGION,
            "aws_access_key_id": emulator_iam.ADMINISTRATOR_KEY,
            "aws_secret_access_key": "emulator",
        }
        self.sagemaker = boto3.client("sagemaker", **admin)
        self.cloudwatch = boto3.client("cloudwatch", **admin)
        self.sts = boto3.client("sts", **admin)
        self.admin = admin
        self.state: Graph | None = None
        self.emulated: EmulatedStack | None = None

    @property
    def stack_file(self) -> Path:
        return self.root / f"Pulumi.{STACK}.yaml"

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(self.root), "-c", "user.name=t", "-c", "user.email=t@example.com",
             *args],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip

    def render(self) -> Graph:
        return Graph.from_json(render_graph(STACK, self.root))

    def up(self, **hooks: Any) -> Any:
        """`pulumi up` of what git says now, checking after every step that what serves
        exists."""
        graph = self.render()
        done = apply(self.sagemaker, self.cloudwatch, graph, self.state, check=self.check, **hooks)
        self.state = graph
        return done

    def check(self) -> None:
        """Once the endpoint exists, its configuration and models must exist too."""
        if any(e["EndpointName"] == ENDPOINT for e in self.sagemaker.list_endpoints()["Endpoints"]):
            self.serving()

    def serving(self) -> tuple[str, list[str]]:
        return serving_parts(self.sagemaker, ENDPOINT)

    def status(self) -> str:
        return self.sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"]

    def act_as_deployer(self) -> None:
        assert self.emulated is not None, "bootstrap the stack first"
        creds = credentials_for(self.emulated, "deploy", self.sts)
        for name, value in creds.environment().items():
            self.monkeypatch.setenv(name, value)

    def mlops(self, *argv: str) -> tuple[int, str]:
        """Run `mlops` in this process as the deployer, IAM enforced; (exit code, output)."""
        self.act_as_deployer()
        with emulator_iam.enforced():
            code, out, err = self.cli(*argv, "--root", self.root)
        return code, out + err


@pytest.fixture
def release(aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli) -> Release:
    """A stack repository with the shipped dev stack file (v1), its roles and keys in the
    emulator; deployment time runs 100x faster."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / f"Pulumi.{STACK}.yaml").write_text(
        (REPO_ROOT / f"Pulumi.{STACK}.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    rel = Release(root, monkeypatch, cli)
    rel.git("init", "-q", "-b", "main")
    rel.git("add", ".")
    rel.git("commit", "-qm", "dev serves churn-classifier v1")
    clients = {name: boto3.client(name, **rel.admin) for name in ("kms", "s3", "sagemaker", "iam")}
    rel.emulated = bootstrap_stack(rel.render(), **clients)
    with deployments.scaled(0.01):
        yield rel
        deployments.settle()


def _wait_for(release: Release, status: str, timeout: float = 10.0) -> None:
    wait_until(
        lambda: release.status() == status,
        timeout,
        lambda: f"endpoint never {status}: {release.status()}",
    )


def test_rolled_back_release_deletes_nothing_serving_and_git_ends_saying_what_serves(
    release: Release, tmp_path: Path
) -> None:
    # given dev serving v1, created from the rendered graph's v1 configuration
    first = release.up()
    assert release.serving() == (V1, [V1]), "v1's configuration and model serve"
    assert first.created == [V1, V1], first

    # when the release PR (v2, previousVersion 1) is merged and applied, and a rollback
    # alarm fires while SageMaker shifts traffic to v2
    plan_edit(release.stack_file, {MODEL: 2}, keep_previous=True).write()
    release.git("commit", "-qam", "Release churn-classifier v2 to dev")
    seen: dict[str, tuple[int, str]] = {}

    def mid_deployment() -> None:
        with deployments.paused():
            assert release.status() == "Updating", release.status()
            seen["verify while updating"] = release.mlops(
                "release", "verify", "--stack", STACK, "--require-idle"
            )
            seen["watch while updating"] = release.mlops(
                "release", "watch", "--stack", STACK, "--timeout", "0"
            )
            assert release.serving() == (V1, [V1]), "v1 serves while v2 deploys"
            release.cloudwatch.set_alarm_state(
                AlarmName=ROLLBACK_ALARM, StateValue="ALARM", StateReason="errors above 1%"
            )
        _wait_for(release, "RollingBack")
        with deployments.paused():
            seen["verify while rolling back"] = release.mlops(
                "release", "verify", "--stack", STACK, "--require-idle"
            )

    second = release.up(on_updating=mid_deployment)

    # then the graph held v1 (retained) and v2, the endpoint went back to v1, and the
    # apply deleted nothing (`check` asserted after every step that what serves exists)
    assert second.created == [V2, V2] and second.updated_to == V2, second
    assert second.deleted == [], f"pulumi up deleted {second.deleted}"
    assert release.serving() == (V1, [V1]), "SageMaker's rollback landed on v1, which exists"
    # and while the deployment ran, no other release could start and the watch said so
    code, out = seen["verify while updating"]
    assert code == 2 and f"endpoint {ENDPOINT} is Updating" in out, out
    code, out = seen["watch while updating"]
    assert code == 1 and "timeout" in out, out
    code, out = seen["verify while rolling back"]
    assert code == 2 and f"endpoint {ENDPOINT} is RollingBack" in out, out

    # when the deploy job watches the endpoints
    report = tmp_path / "watch.json"
    code, out = release.mlops("release", "watch", "--stack", STACK, "--report", str(report))
    # then it reports the rollback and proposes the revert to what serves
    assert code == 1, out
    assert "rollback: endpoint mlops-dev-churn-classifier serves v1" in out, out
    assert "--to churn-classifier=1" in out, out
    assert json.loads(report.read_text())["revert"] == {MODEL: 1}, report.read_text()

    # when the revert PR is made and merged, and applied
    code, out = release.mlops("release", "revert", "--stack", STACK, "--to", "churn-classifier=1")
    assert code == 0, out
    release.git("commit", "-qam", "Revert dev: churn-classifier back to v1")
    third = release.up()

    # then the stack file is the one that served v1 before the release: previousVersion gone
    shipped = (REPO_ROOT / f"Pulumi.{STACK}.yaml").read_text(encoding="utf-8")
    assert release.git("show", f"HEAD:Pulumi.{STACK}.yaml") == shipped, "git says v1 again"
    # and only v2, which does not serve, was deleted
    assert sorted(third.deleted) == [V2, V2], third
    assert release.serving() == (V1, [V1]), "v1 still serves"
    # and what git says is what serves
    declared = yaml.safe_load(release.git("show", f"HEAD:Pulumi.{STACK}.yaml"))
    version = declared["config"]["mlops:models"][MODEL]["version"]
    assert serving_version(release.sagemaker, V1, GROUP) == version == 1
    code, out = release.mlops("release", "watch", "--stack", STACK)
    assert code == 0 and "promote" in out, out


def test_release_without_previous_version_deletes_what_the_rollback_lands_on(
    release: Release,
) -> None:
    # given dev serving v1
    release.up()
    # when a release PR forgot previousVersion (only `version: 2`), and its canary rolls back
    plan_edit(release.stack_file, {MODEL: 2}).write()

    def fire() -> None:
        release.cloudwatch.set_alarm_state(
            AlarmName=ROLLBACK_ALARM, StateValue="ALARM", StateReason="errors above 1%"
        )

    # then pulumi up deletes v1's configuration, which the endpoint went back to: the
    # check that guards the real release catches it
    with pytest.raises(ServingBroken, match=f"serves {V1}, which was deleted"):
        release.up(on_updating=fire)
