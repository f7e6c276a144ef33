"""`mlops audit` of what was not rendered here: a graph file, a Pulumi state export, and
what is deployed, read live as the auditor role in the emulator with IAM enforced.

The oracle for the graph file and the export is the audit of the rendered stack (`mlops
audit --stack`); for the live audit, a change made outside Pulumi by the account's
administrator, and AWS's own access levels of the calls the auditor made (parliament's
copy of the IAM service authorization reference).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import parliament
import pytest
from botocore.exceptions import ClientError

from infra.graph import Graph
from ml.artifacts import sse_kms_arguments
from tests.conftest import Cli

STACK = "dev"
ENCRYPTION_POLICY = "s3-bucket-encrypted-with-customer-kms-key"
SIG_KEY = "4dabf18193072939515e22adb298388d"  # Pulumi's secret marker, as state holds it
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
PARLIAMENT = Path(parliament.__file__).parent / "iam_definition.json"
"""AWS's service authorization reference, as parliament ships it: each action's access level."""


def verdicts(report: dict[str, Any]) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """Every evaluation as (policy, URN, status, messages): what an audit concluded."""
    return sorted(
        (e["policy"], e["urn"], e["status"], tuple(e["messages"])) for e in report["evaluations"]
    )


@pytest.fixture(scope="module")
def root(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout with the shipped stack files and waivers."""
    checkout = tmp_path_factory.mktemp("checkout")
    for stack in ("dev", "staging", "prod"):
        shutil.copy(repo_root / f"Pulumi.{stack}.yaml", checkout)
    (checkout / "policies").mkdir()
    shutil.copy(repo_root / "policies" / "waivers.yaml", checkout / "policies")
    return checkout


@pytest.fixture(scope="module")
def declared(repo_root: Path) -> dict[str, Any]:
    """The dev stack rendered, with its stack outputs (as `mlops infra render` writes it)."""
    from infra.offline import render_graph

    return render_graph(STACK, repo_root)


@pytest.fixture(scope="module")
def rendered_report(
    root: Path, tmp_path_factory: pytest.TempPathFactory, cli: Cli
) -> dict[str, Any]:
    """The oracle: `mlops audit --stack dev` of the stack file."""
    out = tmp_path_factory.mktemp("rendered") / "dev.json"
    code, _, err = cli("audit", "--stack", STACK, "-f", "json", "-o", out, "--root", root)
    assert code == 0, f"the shipped dev stack must pass its audit: {err}"
    return json.loads(out.read_text())


# ---- a graph file --------------------------------------------------------------------


def test_graph_file_audits_exactly_as_the_rendered_stack(
    declared, rendered_report, root, tmp_path, cli
):
    # given the rendered graph written to a file
    graph = tmp_path / "dev-graph.json"
    graph.write_text(json.dumps(declared))
    out = tmp_path / "audit.json"
    # when the auditor audits the file
    code, stdout, stderr = cli("audit", "--graph", graph, "-f", "json", "-o", out, "--root", root)
    # then every verdict is the rendered audit's, and the report names its source
    assert code == 0, stderr
    report = json.loads(out.read_text())
    assert verdicts(report) == verdicts(rendered_report), "a graph file must audit as rendered"
    assert report["source"]["kind"] == "graph-file" and report["source"]["detail"] == str(graph)
    assert rendered_report["source"]["kind"] == "rendered", rendered_report["source"]
    assert "audit PASS of graph-file" in stdout, stdout


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("resources: []\n", "not JSON"),
        ('{"stack": "dev"}', "not a resource graph (no resources list)"),
        ("[1, 2]", "not a resource graph"),
        ('{"stack": "dev", "resources": [{"type": "aws:s3/bucket:Bucket"}]}', "has no urn, name"),
        (
            '{"stack": "dev", "resources": [{"urn": "b", "type": "t", "name": "b"}]}',
            "'b' is not a Pulumi URN",
        ),
    ],
)
def test_file_that_is_not_a_graph_fails_in_one_line(content, says, tmp_path, cli):
    # given a file that is not a resource graph
    path = tmp_path / "graph.json"
    path.write_text(content)
    # when it is audited
    code, _, stderr = cli("audit", "--graph", path, "--root", tmp_path)
    # then one line says what is wrong, exit 2, no report
    assert code == 2, stderr
    assert stderr.count("\n") == 1 and stderr.startswith(f"error: {path}: "), stderr
    assert says in stderr, stderr
    assert "Traceback" not in stderr


def test_graph_of_another_project_fails_in_one_line(declared, tmp_path, cli):
    # given a graph of another Pulumi project (its URNs name project `shop`)
    other = json.loads(json.dumps(declared).replace("::mlops::", "::shop::"))
    other.pop("project")
    path = tmp_path / "shop.json"
    path.write_text(json.dumps(other))
    # when it is audited
    code, _, stderr = cli("audit", "--graph", path, "--root", tmp_path)
    # then it is refused: this pack judges this repository's stacks
    assert code == 2 and stderr.count("\n") == 1, stderr
    assert "of project 'shop' stack 'dev', not of this repository" in stderr, stderr


# ---- a Pulumi state export -----------------------------------------------------------


def _secret(plaintext: str | None = None) -> dict[str, str]:
    """A secret as `pulumi stack export` writes it: ciphertext, or plaintext with
    `--show-secrets`."""
    if plaintext is None:
        return {SIG_KEY: SECRET_SIG, "ciphertext": "v1:8Rr5aV3mZq0=:v1:Hx1k9Qe0Z2s=:Zm9vYmFy"}
    return {SIG_KEY: SECRET_SIG, "plaintext": json.dumps(plaintext)}


def export_of(graph: dict[str, Any], project: str = "mlops") -> dict[str, Any]:
    """A deployment (version 3) holding the graph's resources the way Pulumi writes them:
    the stack and the default provider first, each custom resource naming its provider,
    secrets as signature objects."""
    stack = graph["stack"]
    stack_urn = f"urn:pulumi:{stack}::{project}::pulumi:pulumi:Stack::{project}-{stack}"
    provider = f"urn:pulumi:{stack}::{project}::pulumi:providers:aws::default_6_66_2"
    provider_ref = f"{provider}::04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    resources: list[dict[str, Any]] = [
        {"urn": stack_urn, "custom": False, "type": "pulumi:pulumi:Stack",
         "outputs": {"dataKeyArn": graph["outputs"]["dataKeyArn"]}},
        {"urn": provider, "custom": True, "id": "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
         "type": "pulumi:providers:aws", "inputs": {"region": "eu-west-1"},
         "outputs": {"region": "eu-west-1"}, "parent": stack_urn},
    ]  # fmt: skip
    for r in graph["resources"]:
        urn = r["urn"].replace("::mlops::", f"::{project}::")
        state: dict[str, Any] = {
            "urn": urn,
            "custom": r["custom"],
            "type": r["type"],
            "inputs": r["inputs"],
            "outputs": r["outputs"],
            "parent": (r["parent"] or stack_urn).replace("::mlops::", f"::{project}::"),
            "dependencies": [],
            "propertyDependencies": {},
            "created": "2026-11-30T09:12:44.123456Z",
            "modified": "2026-11-30T09:12:44.123456Z",
        }
        if r["custom"]:
            state |= {"id": r["id"], "provider": provider_ref}
        resources.append(state)
    return {
        "version": 3,
        "deployment": {
            "manifest": {"time": "2026-11-30T09:13:02Z", "magic": "0" * 64, "version": "v3.140.0"},
            "secrets_providers": {"type": "passphrase", "state": {"salt": "v1:AAAA"}},
            "resources": resources,
        },
    }


@pytest.fixture
def export_file(declared: dict[str, Any], tmp_path: Path) -> Path:
    """The dev stack's export, one output holding a secret in plaintext (--show-secrets)
    and one as ciphertext."""
    export = export_of(declared)
    resources = export["deployment"]["resources"]
    role = next(r for r in resources if r["type"] == "aws:iam/role:Role")
    role["outputs"]["uniqueId"] = _secret("hunter2-do-not-leak")
    role["outputs"]["sessionToken"] = _secret()
    path = tmp_path / "dev-export.json"
    path.write_text(json.dumps(export))
    return path


def test_imported_state_audits_exactly_as_the_rendered_stack(
    export_file, rendered_report, root, tmp_path, cli
):
    # given Pulumi's export of the deployed dev stack, converted by import-state
    graph = tmp_path / "imported.json"
    code, stdout, stderr = cli("infra", "import-state", export_file, "--out", graph)
    assert code == 0, stderr
    assert "mlops stack dev" in stdout, stdout
    # when the imported graph, and the export itself, are audited
    reports = {}
    for name, path in (("imported", graph), ("export", export_file)):
        out = tmp_path / f"{name}-audit.json"
        code, _, stderr = cli("audit", "--graph", path, "-f", "json", "-o", out, "--root", root)
        assert code == 0, stderr
        reports[name] = json.loads(out.read_text())
    # then both conclude exactly what the audit of the rendered stack concludes
    assert verdicts(reports["imported"]) == verdicts(rendered_report)
    assert verdicts(reports["export"]) == verdicts(rendered_report)
    assert reports["export"]["source"]["kind"] == "state-export", reports["export"]["source"]
    # and the engine's own resources are not audited
    types = {r["type"] for r in json.loads(graph.read_text())["resources"]}
    assert not {"pulumi:pulumi:Stack", "pulumi:providers:aws"} & types, types


def test_imported_state_never_writes_a_secret(export_file, tmp_path, cli):
    # given an export holding a secret in plaintext and one as ciphertext
    graph = tmp_path / "imported.json"
    # when it is imported
    code, _, stderr = cli("infra", "import-state", export_file, "-o", graph)
    # then neither the plaintext nor the ciphertext is in the graph: both are redacted
    assert code == 0, stderr
    text = graph.read_text()
    assert "hunter2-do-not-leak" not in text and "Zm9vYmFy" not in text, "a secret leaked"
    role = next(r for r in json.loads(text)["resources"] if r["type"] == "aws:iam/role:Role")
    assert role["outputs"]["uniqueId"] == {"secret": True, "value": "[secret]"}, role["outputs"]
    assert role["outputs"]["sessionToken"] == {"secret": True, "value": "[secret]"}


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ("project", "of project 'acme-shop' stack 'dev', not of this repository"),
        ("stack", "of project 'mlops' stack 'qa', not of this repository"),
        ("version", "state export version 2; expected 3"),
        ("no-deployment", "not a Pulumi state export"),
        ("no-resources", "the export has no deployment.resources list"),
    ],
)
def test_export_of_another_project_or_not_an_export_fails_in_one_line(
    change, says, declared, tmp_path, cli
):
    # given an export of another project or stack, an old one, or not an export at all
    export = export_of(declared, project="acme-shop" if change == "project" else "mlops")
    if change == "stack":
        export = json.loads(json.dumps(export).replace("urn:pulumi:dev::", "urn:pulumi:qa::"))
    if change == "version":
        export["version"] = 2
    if change == "no-deployment":
        export = {"version": 3, "checkpoint": {}}
    if change == "no-resources":
        export["deployment"].pop("resources")
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export))
    # when it is imported
    code, _, stderr = cli("infra", "import-state", path, "-o", str(tmp_path / "g"))
    # then one line says what is wrong, exit 2, and nothing is written
    assert code == 2 and stderr.count("\n") == 1, stderr
    assert says in stderr, stderr
    assert not (tmp_path / "g").exists(), "nothing is written for a refused export"


# ---- what is deployed, read live ----------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    """The dev stack in the emulator (IAM enforced), its outputs, and who may read it."""

    emulated: Any
    admin: dict[str, Any]
    auditor_env: dict[str, str]
    auditor: boto3.session.Session
    outputs_file: Path
    outputs: dict[str, Any]


@pytest.fixture(scope="module")
def deployment(
    declared: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    from ml import aws
    from ml.emulator import Emulator, bootstrap_stack, emulated_environment
    from ml.emulator.identities import credentials_for

    with (
        Emulator(0, "eu-west-1", enforce_iam=True) as emulator,
        emulated_environment(emulator) as environment,
    ):
        # given the dev stack deployed (the bootstrap stands in for `pulumi up`)
        admin = {name: aws.client(name) for name in ("kms", "s3", "sagemaker", "iam")}
        emulated = bootstrap_stack(Graph.from_json(declared), **admin)
        admin["sts"] = aws.client("sts")
        # and its outputs as `pulumi stack output --json` gives them
        rewrite = emulated.rewrite()
        roles = {k: rewrite(v) for k, v in declared["outputs"]["roles"].items()}
        outputs = {**emulated.outputs(), "roles": roles}
        outputs_file = tmp_path_factory.mktemp("live") / "outputs.json"
        outputs_file.write_text(json.dumps(outputs))
        # and the auditor's session
        auditor = credentials_for(emulated, "audit", admin["sts"])
        session = auditor.session("eu-west-1")
        yield Deployment(
            emulated,
            admin,
            {**os.environ, **environment, **auditor.environment()},
            session,
            outputs_file,
            outputs,
        )


def live_report(declared: dict[str, Any], deployment: Deployment, root: Path) -> dict[str, Any]:
    """The live audit, in this process, as the auditor (the ledger sees its calls)."""
    from ml.audit.live import Clients, read_live
    from ml.audit.report import build_report
    from ml.audit.sources import policy_configs
    from policies.pack import BY_NAME
    from policies.waivers import waivers_for

    graph, source = read_live(declared, deployment.outputs, Clients.of(deployment.auditor))
    waivers = waivers_for(root, None, BY_NAME)
    configs = policy_configs(STACK, root)
    return build_report(Graph.from_json(graph), waivers, configs=configs, source=source)


def _failures(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(e["policy"], e["resource"]) for e in report["evaluations"] if e["status"] == "fail"}


def _status(report: dict[str, Any], policy: str, resource: str) -> str:
    (status,) = [
        e["status"]
        for e in report["evaluations"]
        if e["policy"] == policy and e["resource"] == resource
    ]
    return status


def test_live_audit_makes_only_read_calls_as_the_auditor(declared, deployment, root):
    from ml.emulator.iam import LEDGER

    # given an empty ledger of the emulator's IAM decisions
    LEDGER.clear()
    # when the live audit reads the deployed stack as the auditor
    report = live_report(declared, deployment, root)
    # then every call was the auditor's, allowed, and Read or List in AWS's own reference
    levels = {
        f"{service['prefix']}:{p['privilege']}".lower(): p["access_level"]
        for service in json.loads(PARLIAMENT.read_text())
        for p in service["privileges"]
    }
    assert LEDGER.denials == [], [d.line() for d in LEDGER.denials]
    roles = {call.role for call in LEDGER.calls}
    assert len(roles) == 1 and roles.pop().startswith("mlops-dev-auditor-"), roles
    actions = {call.action for call in LEDGER.calls}
    writes = {a for a in actions if levels[a.lower()] not in ("Read", "List")}
    assert writes == set(), f"the live audit must not change anything: {writes}"
    assert {a.split(":")[0] for a in actions} == {"s3", "kms", "iam"}, actions
    assert "s3:GetEncryptionConfiguration" in actions and "iam:GetRolePolicy" in actions
    assert report["source"]["kind"] == "live", report["source"]
    assert ":assumed-role/mlops-dev-auditor-" in report["source"]["detail"], report["source"]


def test_live_audit_of_the_untouched_deployment_fails_only_where_the_emulator_differs(
    declared, deployment, root
):
    # when the deployment, as bootstrapped, is audited live
    report = live_report(declared, deployment, root)
    # then the only failures are access logging, which the emulator cannot set (moto's
    # PutBucketLogging fails on the log bucket's policy; docs/policies.md)
    assert _failures(report) == {
        ("s3-bucket-access-logging-enabled", "mlops-dev-artifacts"),
        ("s3-bucket-access-logging-enabled", "mlops-dev-capture"),
        ("s3-bucket-access-logging-enabled", "mlops-dev-data"),
    }, report["summary"]["failures"]
    assert _status(report, ENCRYPTION_POLICY, "mlops-dev-artifacts") == "pass"


def test_bucket_encryption_changed_outside_pulumi_fails_live_while_the_declaration_passes(
    declared, deployment, root, rendered_report, tmp_path
):
    bucket = deployment.emulated.artifact_bucket
    s3 = deployment.admin["s3"]
    before = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    # given the administrator switches the artifact bucket to SSE-S3, outside Pulumi
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    try:
        out = tmp_path / "live.json"
        # when the auditor runs the live audit (a process, with its own session)
        done = subprocess.run(
            [str(Path(sys.executable).parent / "mlops"), "audit", "--live", "--stack", STACK,
             "--stack-outputs", str(deployment.outputs_file), "-f", "json", "-o", str(out),
             "--root", str(root)],
            env=deployment.auditor_env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        # then it fails on the bucket's encryption, in one line
        assert done.returncode == 1, (done.stdout, done.stderr)
        assert done.stderr.count("\n") == 1 and "audit of dev failed" in done.stderr, done.stderr
        report = json.loads(out.read_text())
        assert _status(report, ENCRYPTION_POLICY, "mlops-dev-artifacts") == "fail"
        assert any(
            f"{ENCRYPTION_POLICY}: S3 bucket `mlops-dev-artifacts`" in f and "AES256" in f
            for f in report["summary"]["failures"]
        ), report["summary"]["failures"]
        assert report["source"]["kind"] == "live", report["source"]
        # while the declared graph, unchanged, passes
        assert rendered_report["summary"]["status"] == "pass"
        assert _status(rendered_report, ENCRYPTION_POLICY, "mlops-dev-artifacts") == "pass"
    finally:
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=before)


def test_inline_policy_added_outside_pulumi_fails_live(declared, deployment, root):
    # given the administrator adds an inline policy to the plan role by hand
    iam = deployment.admin["iam"]
    role = deployment.emulated.roles["gh-plan"].rsplit("/", 1)[1]
    document = {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}  # fmt: skip
    iam.put_role_policy(RoleName=role, PolicyName="hotfix", PolicyDocument=json.dumps(document))
    try:
        # when the auditor audits the deployment live
        report = live_report(declared, deployment, root)
    finally:
        iam.delete_role_policy(RoleName=role, PolicyName="hotfix")
    # then the pack judges the policy the declaration never had
    hand_made = {p for p, r in _failures(report) if r == "mlops-dev-gh-plan-live-hotfix"}
    assert "iam-policy-no-wildcard-resources" in hand_made, report["summary"]["failures"]


# ---- the auditor's reach: attacks ------------------------------------------------------


def test_auditor_cannot_read_datasets_or_decrypt_directly(deployment):
    # given a dataset and a ciphertext under the data key, written by the administrator
    data = deployment.emulated.buckets["data"]
    deployment.admin["s3"].put_object(
        Bucket=data,
        Key="datasets/train.csv",
        Body=b"x,y\n1,2\n",
        **sse_kms_arguments(deployment.emulated.data_key_arn),
    )
    blob = deployment.admin["kms"].encrypt(
        KeyId=deployment.emulated.data_key_arn, Plaintext=b"secret"
    )["CiphertextBlob"]
    s3, kms = deployment.auditor.client("s3"), deployment.auditor.client("kms")
    # when the auditor tries to read the data, or to decrypt without S3
    with pytest.raises(ClientError) as read:
        s3.get_object(Bucket=data, Key="datasets/train.csv")
    with pytest.raises(ClientError) as decrypt:
        kms.decrypt(CiphertextBlob=blob)
    # then both are denied
    assert read.value.response["Error"]["Code"] == "AccessDenied", read.value.response
    assert decrypt.value.response["Error"]["Code"] == "AccessDeniedException"


def test_auditor_cannot_change_what_it_audits(deployment):
    # given the auditor's session
    s3, iam = deployment.auditor.client("s3"), deployment.auditor.client("iam")
    bucket = deployment.emulated.artifact_bucket
    role = deployment.emulated.roles["auditor"].rsplit("/", 1)[1]
    # when it tries to weaken a bucket's encryption, or to grant itself more
    with pytest.raises(ClientError) as encryption:
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
    with pytest.raises(ClientError) as grant:
        iam.put_role_policy(RoleName=role, PolicyName="more", PolicyDocument="{}")
    # then both are denied
    assert encryption.value.response["Error"]["Code"] == "AccessDenied"
    assert grant.value.response["Error"]["Code"] == "AccessDenied", grant.value.response


def test_live_audit_without_credentials_fails_in_one_line(root, tmp_path, monkeypatch, cli):
    # given stack outputs but no AWS credentials anywhere
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"environment": STACK, "region": "eu-west-1"}))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # when the live audit runs
    code, _, stderr = cli(
        "audit", "--live", "--stack", STACK, "--stack-outputs", outputs, "--root", root
    )
    # then one line says what to do
    assert code == 2 and stderr.count("\n") == 1, stderr
    assert "needs AWS credentials of the stack's auditor role" in stderr, stderr
    assert "AWS_PROFILE" in stderr, stderr


def test_live_audit_without_stack_outputs_says_how_to_get_them(root, cli):
    # when the live audit is asked for without the deployed names
    code, _, stderr = cli("audit", "--live", "--stack", STACK, "--root", root)
    # then one line says how to write them
    assert code == 2 and stderr.count("\n") == 1, stderr
    assert "pulumi stack output --json --stack dev" in stderr, stderr


def test_resource_the_outputs_name_but_the_account_lacks_fails_the_live_audit(
    declared, deployment, root
):
    from ml.audit.live import Clients, read_live
    from ml.audit.report import build_report

    # given stack outputs naming a monitor role that is not in the account (deleted by hand)
    outputs = json.loads(json.dumps(deployment.outputs))
    gone = outputs["roles"]["monitor"].rsplit("-", 1)[0] + "-0000000"
    outputs["roles"]["monitor"] = gone
    # when the deployment is audited live
    graph, source = read_live(declared, outputs, Clients.of(deployment.auditor))
    report = build_report(Graph.from_json(graph), None, source=source)
    # then the audit fails, naming the missing role
    missing = f"not deployed: mlops-dev-gh-monitor: role {gone.rsplit('/', 1)[1]} is not deployed"
    assert report["summary"]["status"] == "fail", report["summary"]
    assert missing in report["summary"]["failures"], report["summary"]["failures"]


def test_live_audit_as_a_role_without_the_reads_fails_in_one_line(declared, deployment):
    from common.errors import MlopsError
    from ml.audit.live import Clients, read_live
    from ml.emulator.identities import credentials_for

    # given the drift monitor's session instead of the auditor's
    monitor = credentials_for(deployment.emulated, "monitor", deployment.admin["sts"])
    session = monitor.session("eu-west-1")
    # when it runs the live audit
    with pytest.raises(MlopsError) as refused:
        read_live(declared, deployment.outputs, Clients.of(session))
    # then the first read it may not make stops it, in one line that says where to look
    message = str(refused.value)
    assert "\n" not in message and message.startswith("live audit, "), message
    assert "AccessDenied" in message and "check the IAM role" in message, message


@pytest.fixture
def prod_declared(repo_root: Path) -> dict[str, Any]:
    """prod's declared alarm topic and trail (with the stack outputs naming them)."""
    from infra.offline import render_graph

    graph = render_graph("prod", repo_root)
    kinds = ("aws:sns/topic:Topic", "aws:sns/topicPolicy:TopicPolicy", "aws:cloudtrail/trail:Trail")
    graph["resources"] = [r for r in graph["resources"] if r["type"] in kinds]
    return graph


def test_topic_and_trail_changed_outside_pulumi_fail_live(prod_declared, deployment):
    from ml import aws
    from ml.audit.live import Clients, read_live
    from ml.audit.report import build_report

    # given prod's alarm topic and trail deployed as declared, in the emulator (read here
    # with the administrator's session: the reader's fidelity, not the auditor's reach)
    admin = aws.session()
    kms, s3 = admin.client("kms"), admin.client("s3")
    sns, trails = admin.client("sns"), admin.client("cloudtrail")
    key = kms.create_key(Description="logs")["KeyMetadata"]["Arn"]
    name = next(r for r in prod_declared["resources"] if r["type"].endswith("Topic"))
    topic = sns.create_topic(Name=name["inputs"]["name"], Attributes={"KmsMasterKeyId": key})
    bucket = "mlops-prod-trail-live"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    trail = trails.create_trail(
        Name="mlops-prod-trail",
        S3BucketName=bucket,
        IsMultiRegionTrail=True,
        IncludeGlobalServiceEvents=True,
        EnableLogFileValidation=True,
        KmsKeyId=key,
    )["TrailARN"]
    trails.start_logging(Name=trail)
    outputs = {"environment": "prod", "servingAlarmTopicArn": topic["TopicArn"], "trailArn": trail}

    def audit() -> dict[str, Any]:
        graph, source = read_live(prod_declared, outputs, Clients.of(admin))
        return build_report(Graph.from_json(graph), None, source=source)

    try:
        before = audit()
        # when someone switches the topic to the AWS managed key and turns log file
        # validation off, outside Pulumi
        sns.set_topic_attributes(
            TopicArn=topic["TopicArn"],
            AttributeName="KmsMasterKeyId",
            AttributeValue="alias/aws/sns",
        )
        trails.update_trail(Name=trail, EnableLogFileValidation=False)
        after = audit()
    finally:
        trails.delete_trail(Name=trail)
        sns.delete_topic(TopicArn=topic["TopicArn"])
        s3.delete_bucket(Bucket=bucket)
    # then the live audit, which passed on both, fails on both
    checks = (
        ("sns-topic-encrypted-with-customer-kms-key", "mlops-prod-alarms"),
        ("cloudtrail-log-file-validation", "mlops-prod-trail"),
    )
    for policy, resource in checks:
        assert _status(before, policy, resource) == "pass", (policy, before["summary"])
        assert _status(after, policy, resource) == "fail", (policy, after["summary"])
    assert _status(after, "cloudtrail-encrypted-with-customer-kms-key", "mlops-prod-trail") == (
        "pass"
    )


@pytest.mark.parametrize(
    ("outputs", "says"),
    [
        ({"environment": "prod"}, "the stack outputs are of stack 'prod', not 'dev'"),
        (
            {"environment": "dev", "repositoryUrl": "x"},
            "name none of stack dev's declared resources",
        ),
    ],
)
def test_live_audit_with_outputs_of_another_stack_fails_in_one_line(
    outputs, says, declared, deployment
):
    from common.errors import MlopsError
    from ml.audit.live import Clients, read_live

    # when the live audit is given outputs that are not the deployed dev stack's
    with pytest.raises(MlopsError) as refused:
        read_live(declared, outputs, Clients.of(deployment.auditor))
    # then one line says so, and how to get the right ones
    assert "\n" not in str(refused.value) and says in str(refused.value), str(refused.value)


def test_every_report_format_says_it_audited_the_deployment(declared, deployment, root):
    from ml.audit.writers import render_report

    # given the live audit's report
    report = live_report(declared, deployment, root)
    # when it is written in each format
    markdown = render_report(report, "md", root)
    html = render_report(report, "html", root)
    sarif = json.loads(render_report(report, "sarif", root))
    # then each says what it audited, and who read it
    said = "Audited: the deployed resources, read with read-only calls (arn:aws:sts::"
    assert said in markdown and ":assumed-role/mlops-dev-auditor-" in markdown, markdown[:600]
    assert "Audited: the deployed resources, read with read-only calls" in html, html[:1500]
    assert sarif["runs"][0]["properties"]["source"]["kind"] == "live", sarif["runs"][0]
    assert "- not read (declared, outside what the live audit reads" in markdown, markdown[:1500]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["audit"], "name what to audit: --stack S (add --live for what is deployed) or --graph"),
        (["audit", "--graph", "g.json", "--live"], "--graph audits the file alone"),
        (["audit", "--stack", "dev", "--stack-outputs", "o.json"], "applies to --live only"),
    ],
)
def test_audit_options_that_do_not_fit_together_fail_in_one_line(argv, says, tmp_path, cli):
    # when the audit is asked for nothing, or for two sources at once
    code, _, stderr = cli(*argv, "--root", tmp_path)
    # then one line says what to pass
    assert code == 2 and stderr.count("\n") == 1 and says in stderr, stderr
